/** The environment's default namespace for rendered objects (a module of its own: check's worker thread needs only this of rendering). */
import type { Manifest } from "../model/resource.js";
import { isClusterScoped } from "../model/scope.js";

/** Namespaced objects without a namespace get the environment's default namespace (as kubectl -n would). */
export function applyNamespaceDefault(manifests: Manifest[], ns: string | undefined): void {
  if (!ns) return;
  const crdScopes = new Map<string, string>();
  for (const m of manifests) {
    if (m.ref.kind === "CustomResourceDefinition") {
      const spec = m.object.spec as { group?: string; names?: { kind?: string }; scope?: string } | undefined;
      if (spec?.group && spec.names?.kind && spec.scope) crdScopes.set(`${spec.group}/${spec.names.kind}`, spec.scope);
    }
  }
  for (const m of manifests) {
    if (m.ref.namespace) continue;
    const group = m.ref.apiVersion.includes("/") ? m.ref.apiVersion.split("/")[0] : "";
    const scope = crdScopes.get(`${group}/${m.ref.kind}`);
    if (scope === "Cluster" || (scope === undefined && isClusterScoped(m.ref.apiVersion, m.ref.kind))) continue;
    m.ref = { ...m.ref, namespace: ns };
    const meta = m.object.metadata as Record<string, unknown>;
    meta.namespace = ns;
  }
}
