/**
 * An environment's status as data: what its inventory says was applied last (revision, commit, time,
 * author) and what applying the repository now would change (a server-side dry-run plan, counted).
 */
import type { Manifest } from "../model/resource.js";
import type { KubeClient } from "./client.js";
import { currentObjects, readInventory, type InventoryRevision } from "./inventory.js";
import { readLeaseHolder } from "./lease.js";
import { computePlan, summarize, type ChangeAction } from "./plan.js";

/** The newest inventory revision, without its object list. */
export type AppliedRevision = Omit<InventoryRevision, "objects"> & { objects: number };

/** What one reachable environment runs and what is pending. */
export interface ClusterStatus {
  /** Newest inventory revision; absent when the environment was never applied. */
  applied?: AppliedRevision;
  /** Revisions the inventory keeps. */
  revisions: number;
  /** Plan counts of the desired state against the live cluster. */
  pending: Record<ChangeAction, number>;
  /** True when an apply would create, change or delete something. */
  changes: boolean;
  /** Objects the plan could not check (per-object API errors). */
  errors: number;
  /**
   * An apply recorded as started (the inventory's pending apply) that has not recorded its outcome: `running`
   * while its holder still holds the environment's Lease, `interrupted` when the Lease expired or its process is
   * provably gone (a re-run of apply converges it).
   */
  inFlight?: { state: "running" | "interrupted"; startedAt: string; by: string; commit?: string; objects: number };
}

/** Reads the inventory and plans `manifests` against the cluster (nothing is changed); `identity` is the reader's `user@host/pid`. */
export async function clusterStatus(kube: KubeClient, env: string, manifests: Manifest[], identity = "unknown/0"): Promise<ClusterStatus> {
  const { inventory } = await readInventory(kube, env);
  let inFlight: ClusterStatus["inFlight"];
  if (inventory?.pending) {
    const p = inventory.pending;
    const lease = await readLeaseHolder(kube, env, identity);
    const running = lease !== undefined && lease.holder === p.by && !lease.gone;
    inFlight = { state: running ? "running" : "interrupted", startedAt: p.startedAt, by: p.by, ...(p.commit ? { commit: p.commit } : {}), objects: p.objects.length };
  }
  const plan = await computePlan(kube, manifests, { env, inventory: currentObjects(inventory) });
  const pending = summarize(plan);
  const newest = inventory?.revisions[0];
  const applied = newest ? { ...newest, objects: newest.objects.length } : undefined;
  return {
    ...(applied ? { applied } : {}),
    revisions: inventory?.revisions.length ?? 0,
    pending,
    changes: pending.created + pending.configured + pending.deleted > 0,
    errors: plan.entries.filter((e) => e.error).length,
    ...(inFlight ? { inFlight } : {}),
  };
}
