/**
 * Executes a plan: server-side apply in stages (Namespaces, CRDs, ... see order.ts), waiting for CRDs to be
 * Established before the objects that use them, then deletions in reverse stage order. Deletions run only
 * when every apply succeeded (Flux garbage-collects only after a successful apply).
 */
import type { KubeClient, KubeObject } from "./client.js";
import { KubeError } from "./errors.js";
import type { Clock } from "./lease.js";
import { stages } from "./order.js";
import { locateError, type Plan, type PlanEntry } from "./plan.js";

export interface ExecuteOptions {
  force: boolean;
  /** Run the deletions of the plan. */
  prune: boolean;
  clock: Clock;
  /** How long to wait for a CRD to become Established. */
  crdTimeoutMs: number;
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

async function waitEstablished(kube: KubeClient, crd: KubeObject, clock: Clock, timeoutMs: number): Promise<void> {
  const name = String(crd.metadata?.name ?? "");
  const start = clock.now().getTime();
  for (;;) {
    const live = await kube.get({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", name });
    const conds = ((live?.status ?? {}) as { conditions?: { type?: string; status?: string }[] }).conditions ?? [];
    if (conds.some((c) => c.type === "Established" && c.status === "True")) return;
    if (clock.now().getTime() - start > timeoutMs) throw new KubeError("api_error", `CustomResourceDefinition/${name}: not Established after ${timeoutMs} ms`, { subject: `CustomResourceDefinition/${name}` });
    await clock.sleep(250);
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
  for (const stage of stages(toApply, (e) => e.ref)) {
    await Promise.all(
      stage.map(async (e) => {
        try {
          const applied = await kube.apply(e.desired!, { force: opts.force });
          if (e.ref.kind === "CustomResourceDefinition") await waitEstablished(kube, applied, opts.clock, opts.crdTimeoutMs);
          const { desired: _d, ...rest } = e;
          record(e, rest);
        } catch (err) {
          failures++;
          record(e, failed(e, err));
        }
      }),
    );
    if (stage.some((e) => e.ref.kind === "CustomResourceDefinition")) kube.resetDiscovery();
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
            failures++;
            record(e, failed(e, err));
          }
        }),
      );
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
