/**
 * Apply ordering as data (Flux's ApplyAllStaged, kapp's change groups): kinds that others depend on
 * (Namespaces, CRDs, then cluster-wide and RBAC objects) go first; deletions run in the reverse order.
 */
import type { ResourceRef } from "../model/resource.js";

/** Stage per kind; kinds not listed go to the last stage. Lower stages are applied first. */
export const kindStages: Readonly<Record<string, number>> = {
  Namespace: 0,
  CustomResourceDefinition: 1,
  PriorityClass: 2,
  StorageClass: 2,
  GatewayClass: 2,
  ClusterRole: 2,
  ClusterRoleBinding: 3,
  ServiceAccount: 3,
  Role: 3,
  RoleBinding: 4,
  ConfigMap: 4,
  Secret: 4,
};

const LAST_STAGE = 10;

/** The stage of a kind (Namespaces 0, CRDs 1, ..., everything else 10). */
export function stageOf(ref: Pick<ResourceRef, "kind">): number {
  return kindStages[ref.kind] ?? LAST_STAGE;
}

/** Groups items into stages in apply order (ascending), or deletion order (descending) when reverse. */
export function stages<T>(items: T[], refOf: (t: T) => Pick<ResourceRef, "kind">, reverse = false): T[][] {
  const by = new Map<number, T[]>();
  for (const it of items) {
    const s = stageOf(refOf(it));
    by.set(s, [...(by.get(s) ?? []), it]);
  }
  const keys = [...by.keys()].sort((a, b) => (reverse ? b - a : a - b));
  return keys.map((k) => by.get(k)!);
}
