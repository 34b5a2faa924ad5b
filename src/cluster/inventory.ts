/**
 * The inventory of an environment: what meshops applied, at which Git revision, when and by whom. It lives
 * in the cluster ("the cluster is the database", DESIGN §1) as a ConfigMap `meshops-inventory-<env>` in
 * namespace `meshops-system`, so the CLI and a later controller share it. A ConfigMap (not a Secret: it holds
 * no secret data and operators should be able to read it; not a CRD: nothing to install first) with one JSON
 * key (gzip-compressed under binaryData when the JSON would not fit: see encodeInventory); newest revision
 * first, the last `keepRevisions` kept. At ~115 bytes per object identity, the JSON of 10 revisions of 1,000
 * objects is already over the limit; compressed, 10 revisions of ~15,000 objects fit.
 *
 * Before an apply changes anything it records what it is about to apply as the inventory's `pending` apply
 * (cli-utils' inventory does the same: add before apply, set after). If the apply never finishes (the API
 * server or the process dies half-way), the objects it created are still inventoried: the next apply treats
 * them as its own (prunes those that left Git) instead of orphaning them. Recording the outcome as a revision
 * clears `pending`.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { identityKey, type ResourceRef } from "../model/resource.js";
import type { KubeClient, KubeObject } from "./client.js";
import { KubeError } from "./errors.js";

/** Namespace holding inventories and locks. */
export const SYSTEM_NAMESPACE = "meshops-system";
/** Annotation that protects an object from pruning. */
export const PRUNE_ANNOTATION = "meshops.dev/prune";
const DATA_KEY = "inventory.json";
/** The inventory gzip-compressed, when the JSON would not fit in a ConfigMap. */
const GZ_KEY = "inventory.json.gz";
/** What the inventory may take in its ConfigMap (objects are limited to 1 MiB in etcd; leave room for metadata). */
export const INVENTORY_MAX_BYTES = 900 * 1024;

/**
 * The ConfigMap body of an inventory: readable JSON under `data` while it fits, else gzip-compressed under
 * `binaryData` (object identities compress ~20×: 10 revisions of 1,000 objects are ~1.1 MiB of JSON, ~60 KiB
 * compressed); past even that, the oldest revisions are dropped (never the newest, which prune relies on).
 */
export function encodeInventory(inv: Inventory, maxBytes = INVENTORY_MAX_BYTES): { data: Record<string, string> } | { binaryData: Record<string, string> } {
  let next = inv;
  for (;;) {
    const json = JSON.stringify(next);
    if (Buffer.byteLength(json) <= maxBytes) return { data: { [DATA_KEY]: json } };
    const gz = gzipSync(json, { level: 9 }).toString("base64");
    if (gz.length <= maxBytes) return { binaryData: { [GZ_KEY]: gz } };
    if (next.revisions.length <= 1) throw new KubeError("invalid", `the inventory of environment ${inv.env} does not fit in a ConfigMap even compressed (${gz.length} bytes)`);
    next = { ...next, revisions: next.revisions.slice(0, -1) };
  }
}

/** One applied revision. */
export interface InventoryRevision {
  /** Increasing number, 1 for the first apply. */
  revision: number;
  /** The Git revision asked for (`--rev`, or "working tree"). */
  gitRevision?: string;
  commit?: string;
  author?: string;
  subject?: string;
  /** ISO time the apply finished. */
  appliedAt: string;
  /** Kubernetes user (from SelfSubjectReview) or the local user. */
  appliedBy: string;
  /** The CI job that applied it (GitLab's CI_JOB_URL), when run from CI. */
  job?: string;
  /** Why this revision was applied, when it was not a plain apply (an --atomic rollback). */
  note?: string;
  /** For a rollback: the revision that was current (undone) and the earlier revision whose commit was applied. */
  rollback?: { of: number; to: number };
  /** "complete", or "partial" when some objects failed (the list is then what is really in the cluster). */
  status: "complete" | "partial";
  objects: ResourceRef[];
}

/** An apply that started and has not (yet) recorded its outcome: what it may have created or changed. */
export interface PendingApply {
  /** ISO time the apply started changing the cluster. */
  startedAt: string;
  /** The lock holder (`user@host/pid`). */
  by: string;
  commit?: string;
  /** Objects it applies; with the newest revision's objects, a superset of what meshops has in the cluster. */
  objects: ResourceRef[];
}

export interface Inventory {
  env: string;
  revisions: InventoryRevision[];
  /** Set while an apply runs, and left behind by one that was interrupted (see the file comment). */
  pending?: PendingApply;
}

/** Name of an environment's inventory ConfigMap. */
export function inventoryName(env: string): string {
  return `meshops-inventory-${env}`;
}

/** Reads the inventory; undefined when the environment was never applied. */
export async function readInventory(kube: KubeClient, env: string): Promise<{ inventory?: Inventory; resourceVersion?: string }> {
  const cm = await kube.get({ apiVersion: "v1", kind: "ConfigMap", namespace: SYSTEM_NAMESPACE, name: inventoryName(env) });
  if (!cm) return {};
  const data = (cm.data ?? {}) as Record<string, string>;
  const binary = (cm.binaryData ?? {}) as Record<string, string>;
  if (!data[DATA_KEY] && !binary[GZ_KEY]) return { ...(cm.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}) };
  let inventory: Inventory;
  try {
    const raw = data[DATA_KEY] ?? gunzipSync(Buffer.from(binary[GZ_KEY]!, "base64")).toString("utf8");
    inventory = JSON.parse(raw) as Inventory;
    if (!Array.isArray(inventory.revisions)) throw new Error("no revisions list");
  } catch (e) {
    // never guess what to prune from an inventory that cannot be read
    throw new KubeError("invalid", `ConfigMap/${SYSTEM_NAMESPACE}/${inventoryName(env)}: the inventory is unreadable (${(e as Error).message}); nothing was applied or pruned: repair it or delete it (the next apply then prunes nothing)`);
  }
  return { inventory, ...(cm.metadata?.resourceVersion ? { resourceVersion: cm.metadata.resourceVersion } : {}) };
}

/**
 * Objects meshops may have in the cluster: the newest revision's plus those of an interrupted (pending) apply
 * (empty without an inventory). These are the prune candidates.
 */
export function currentObjects(inv: Inventory | undefined): ResourceRef[] {
  const newest = inv?.revisions[0]?.objects ?? [];
  return inv?.pending ? normalizeRefs([...newest, ...inv.pending.objects]) : newest;
}

/** Inventory objects that are not in `desired` (kustomize-controller's inventory.Diff). */
export function staleObjects(previous: ResourceRef[], desired: ResourceRef[]): ResourceRef[] {
  const keep = new Set(desired.map(identityKey));
  return previous.filter((r) => !keep.has(identityKey(r)));
}

/** Sorted, de-duplicated identities (stable output, smaller diffs between revisions). */
export function normalizeRefs(refs: ResourceRef[]): ResourceRef[] {
  const by = new Map<string, ResourceRef>();
  for (const r of refs) by.set(identityKey(r), { apiVersion: r.apiVersion, kind: r.kind, ...(r.namespace ? { namespace: r.namespace } : {}), name: r.name });
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

/** Ensures the meshops-system namespace exists. */
export async function ensureSystemNamespace(kube: KubeClient): Promise<void> {
  await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: SYSTEM_NAMESPACE, labels: { "app.kubernetes.io/managed-by": "meshops" } } });
}

/** Reads, changes and writes the inventory with optimistic concurrency (re-reading after a lost race). */
async function updateInventory<T>(kube: KubeClient, env: string, change: (inv: Inventory | undefined) => { next: Inventory; result: T }): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const { inventory, resourceVersion } = await readInventory(kube, env);
    const { next, result } = change(inventory);
    const cm: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: inventoryName(env),
        namespace: SYSTEM_NAMESPACE,
        labels: { "app.kubernetes.io/managed-by": "meshops", "meshops.dev/environment": env },
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      ...encodeInventory(next),
    };
    try {
      if (resourceVersion) await kube.replace(cm);
      else await kube.create(cm);
      return result;
    } catch (e) {
      // another writer got there first: read again and retry (the lease makes this rare)
      if (e instanceof KubeError && (e.code === "conflict" || e.code === "already_exists") && attempt < 5) continue;
      throw e;
    }
  }
}

/** Adds a revision (newest first, keeping `keepRevisions`), clears the pending apply and writes the inventory. */
export async function writeInventory(kube: KubeClient, env: string, rev: Omit<InventoryRevision, "revision">, keepRevisions = 10): Promise<InventoryRevision> {
  return updateInventory(kube, env, (inventory) => {
    const revisions = inventory?.revisions ?? [];
    const entry: InventoryRevision = { revision: (revisions[0]?.revision ?? 0) + 1, ...rev, objects: normalizeRefs(rev.objects) };
    return { next: { env, revisions: [entry, ...revisions].slice(0, keepRevisions) }, result: entry };
  });
}

/**
 * Records an apply about to start (before it changes anything). An earlier interrupted apply's objects are
 * kept in it: they may still be in the cluster, and only a recorded revision can account for them.
 */
export async function markPending(kube: KubeClient, env: string, pending: PendingApply): Promise<void> {
  await updateInventory(kube, env, (inventory) => {
    const objects = normalizeRefs([...(inventory?.pending?.objects ?? []), ...pending.objects]);
    return { next: { env, revisions: inventory?.revisions ?? [], pending: { ...pending, objects } }, result: undefined };
  });
}

/**
 * What the inventory records after an apply: on success, every object in Git (objects left alone because of
 * prune: disabled are no longer managed) plus deletions that failed; after failures, exactly what is in the
 * cluster: the previous objects that were not deleted plus those applied now.
 */
export function objectsAfterApply(previous: ResourceRef[], entries: { ref: ResourceRef; action: string; origin?: unknown; error?: unknown }[], partial: boolean): ResourceRef[] {
  const inGit = entries.filter((e) => e.origin !== undefined);
  const deleted = new Set(entries.filter((e) => e.action === "deleted").map((e) => identityKey(e.ref)));
  const failedDeletes = entries.filter((e) => e.origin === undefined && e.error !== undefined).map((e) => e.ref);
  const applied = inGit.filter((e) => e.action !== "skipped").map((e) => e.ref);
  if (!partial) return [...applied, ...failedDeletes];
  return [...previous.filter((r) => !deleted.has(identityKey(r))), ...applied];
}
