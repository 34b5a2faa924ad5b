/**
 * Executes a plan: server-side apply in stages (Namespaces, CRDs, ... see order.ts), waiting for CRDs to be
 * Established before the objects that use them, then deletions in reverse stage order. Deletions run only
 * when every apply succeeded (Flux garbage-collects only after a successful apply).
 *
 * A cluster that stops answering (UnreachableError) ends the run: the requests already in flight in the
 * stage are let finish (so `onResult` has reported everything that reached the server), then it is thrown.
 */
import type { KubeClient } from "./client.js";
import { KubeError } from "./errors.js";
import type { Clock } from "./lease.js";
import { stages } from "./order.js";
import { locateError, type Plan, type PlanEntry } from "./plan.js";
import { readinessOf, type Readiness } from "./readiness.js";

export interface ExecuteOptions {
  force: boolean;
  /** Run the deletions of the plan. */
  prune: boolean;
  clock: Clock;
  /** How long to wait for a CRD to become Established. */
  crdTimeoutMs: number;
  /** Wait this long for applied objects to become ready (0: only CRDs are waited for). */
  waitTimeoutMs: number;
  pollMs: number;
  /** Called as each object finishes (progress output). */
  onResult?: (r: PlanEntry) => void;
}

/** The outcome: one entry per object with the action taken (failures are "skipped" with an error). */
export interface ApplyResult {
  entries: PlanEntry[];
  failed: number;
  /** True when deletions were held back because something failed. */
  pruneHeldBack: boolean;
}

function failed(entry: PlanEntry, e: unknown): PlanEntry {
  if (!(e instanceof KubeError)) throw e;
  const { desired: _d, ...rest } = entry;
  const at = entry.manifest ? locateError(entry.manifest, e) : undefined;
  return { ...rest, ...(at ? { origin: at } : {}), action: "skipped", reason: e.message, error: { code: e.code, message: e.message, ...(e.details.conflicts ? { conflicts: e.details.conflicts } : {}) } };
}

/** Polls an object until its readiness check is done or the timeout passes; the message names the object. */
async function waitReady(kube: KubeClient, entry: PlanEntry, clock: Clock, timeoutMs: number, pollMs: number): Promise<Readiness> {
  const start = clock.now().getTime();
  let last: Readiness = { done: false, ok: false, message: "not found" };
  for (;;) {
    const live = await kube.get(entry.ref);
    if (live) last = readinessOf(live);
    if (last.done) return last;
    if (clock.now().getTime() - start >= timeoutMs) return { done: true, ok: false, message: `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${entry.subject}: ${last.message}` };
    await clock.sleep(pollMs);
  }
}

/** Applies and prunes what the plan says, in order; never throws for per-object API errors. */
export async function executePlan(kube: KubeClient, plan: Plan, opts: ExecuteOptions): Promise<ApplyResult> {
  const results = new Map<PlanEntry, PlanEntry>();
  const record = (from: PlanEntry, to: PlanEntry): void => {
    results.set(from, to);
    opts.onResult?.(to);
  };
  const toApply = plan.entries.filter((e) => (e.action === "created" || e.action === "configured") && e.desired);
  let failures = plan.entries.filter((e) => e.action === "skipped" && e.error).length;
  // the first error that is not a per-object API error (the cluster went away): thrown once the stage settles
  let fatal: { error: unknown } | undefined;
  const settle = (err: unknown, e: PlanEntry): void => {
    if (!(err instanceof KubeError)) {
      fatal ??= { error: err };
      return;
    }
    failures++;
    record(e, failed(e, err));
  };
  for (const stage of stages(toApply, (e) => e.ref)) {
    await Promise.all(
      stage.map(async (e) => {
        try {
          await kube.apply(e.desired!, { force: opts.force });
          const { desired: _d, ...rest } = e;
          if (e.ref.kind === "CustomResourceDefinition") {
            // objects of the CRD's kinds come in later stages: they need it Established
            const r = await waitReady(kube, e, opts.clock, opts.crdTimeoutMs, opts.pollMs);
            if (!r.ok) {
              failures++;
              record(e, { ...rest, reason: `not ready: ${r.message}` });
              return;
            }
          }
          record(e, rest);
        } catch (err) {
          settle(err, e);
        }
      }),
    );
    if (fatal) throw fatal.error;
    if (stage.some((e) => e.ref.kind === "CustomResourceDefinition")) kube.resetDiscovery();
  }
  if (opts.waitTimeoutMs > 0) {
    const applied = [...results.entries()].filter(([from, to]) => !to.error && from.ref.kind !== "CustomResourceDefinition");
    await Promise.all(
      applied.map(async ([from, to]) => {
        const r = await waitReady(kube, to, opts.clock, opts.waitTimeoutMs, opts.pollMs);
        if (!r.ok) {
          failures++;
          results.set(from, { ...to, reason: `not ready: ${r.message}` });
        }
      }),
    );
  }
  const deletions = plan.entries.filter((e) => e.action === "deleted");
  const pruneHeldBack = deletions.length > 0 && (failures > 0 || !opts.prune);
  if (!pruneHeldBack) {
    for (const stage of stages(deletions, (e) => e.ref, true)) {
      await Promise.all(
        stage.map(async (e) => {
          try {
            await kube.delete(e.ref, e.live?.resourceVersion ? { resourceVersion: e.live.resourceVersion } : {});
            record(e, e);
          } catch (err) {
            settle(err, e);
          }
        }),
      );
      if (fatal) throw fatal.error;
    }
  }
  const entries = plan.entries.map((e) => {
    const r = results.get(e);
    if (r) return r;
    const { desired: _d, ...rest } = e;
    if (e.action === "deleted") return { ...rest, action: "skipped" as const, reason: failures > 0 ? "not pruned: the apply had failures" : "not pruned (--prune=false)" };
    return rest;
  });
  return { entries, failed: failures, pruneHeldBack };
}
