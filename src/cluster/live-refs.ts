/**
 * Live references (issue 3 item 6): the cluster's Services, workloads, ServiceAccounts and Namespaces, read
 * with one list call per kind (read-only: RBAC `list` is all it needs), so that `meshops check` can resolve
 * references to objects that application teams deploy from elsewhere. The objects become "external"
 * manifests of the MeshModel: they resolve references and take part in label selection, but never get
 * findings of their own and are never counted as the repository's files.
 */
import { externalFile } from "../model/mesh-model.js";
import type { Manifest } from "../model/resource.js";
import { KubeError } from "./errors.js";
import type { KubeClient, KubeObject } from "./client.js";

/** The kinds read, as "group/Kind" (the MeshModel's kind keys). */
export const liveKinds: readonly { apiVersion: string; kind: string }[] = [
  { apiVersion: "v1", kind: "Namespace" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "v1", kind: "ServiceAccount" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "apps/v1", kind: "StatefulSet" },
  { apiVersion: "apps/v1", kind: "DaemonSet" },
  { apiVersion: "v1", kind: "Pod" },
];

/** What one cluster told us. */
export interface LiveReferences {
  /** The kubeconfig context, for messages ("not in the repository nor in cluster staging"). */
  context: string;
  /** The cluster's objects as manifests whose origin is `externalFile(context)`. */
  manifests: Manifest[];
  /** "group/Kind" of every kind listed completely: absence from `manifests` means absence from the cluster. */
  kinds: Set<string>;
  /** Kinds that could not be listed, with why (RBAC 403, an API error): their references keep repository-only semantics. */
  unknown: { kind: string; reason: string }[];
}

/** Where external objects come from, and how their findings are recognised (defined with the MeshModel). */
export { externalFile, isExternalFile } from "../model/mesh-model.js";

/** Controller kinds whose pods are described by a workload meshops lists itself (their pod templates). */
const coveredOwners = new Set(["ReplicaSet", "StatefulSet", "DaemonSet"]);

/** A Pod created by a ReplicaSet, StatefulSet or DaemonSet is already represented by its controller's template. */
function coveredPod(o: KubeObject): boolean {
  const owners = (o.metadata?.ownerReferences ?? []) as { kind?: string; controller?: boolean }[];
  return owners.some((r) => r.controller === true && coveredOwners.has(r.kind ?? ""));
}

function toManifest(o: KubeObject, context: string): Manifest {
  const meta = { ...(o.metadata ?? {}) };
  delete meta.managedFields;
  const object: Record<string, unknown> = { ...o, metadata: meta };
  delete object.status;
  return {
    ref: { apiVersion: String(o.apiVersion), kind: String(o.kind), name: String(meta.name ?? ""), ...(meta.namespace ? { namespace: meta.namespace } : {}) },
    object,
    origin: { file: externalFile(context), line: 0, column: 0, renderer: "plain" },
    locate: () => undefined,
  };
}

/**
 * Lists every live kind at once (the client bounds concurrency and times each request out). A kind that
 * fails with an API error (403 Forbidden above all) becomes unknown; an unreachable cluster rejects with
 * the client's UnreachableError, which the caller turns into "live references were not consulted".
 */
export async function fetchLiveReferences(kube: KubeClient): Promise<LiveReferences> {
  const out: LiveReferences = { context: kube.context, manifests: [], kinds: new Set(), unknown: [] };
  const results = await Promise.all(
    liveKinds.map(async (k) => {
      try {
        return { k, items: await kube.list(k.apiVersion, k.kind) };
      } catch (e) {
        if (e instanceof KubeError) return { k, error: e.code === "forbidden" ? "forbidden" : e.code === "unauthorized" ? "unauthorized (401)" : e.message };
        throw e;
      }
    }),
  );
  for (const r of results) {
    const group = r.k.apiVersion.includes("/") ? (r.k.apiVersion.split("/")[0] ?? "") : "";
    if ("error" in r) {
      out.unknown.push({ kind: r.k.kind, reason: r.error ?? "" });
      continue;
    }
    out.kinds.add(`${group}/${r.k.kind}`);
    for (const o of r.items) if (r.k.kind !== "Pod" || !coveredPod(o)) out.manifests.push(toManifest(o, kube.context));
  }
  return out;
}
