/**
 * Drift as data: the live objects of an environment compared with the desired state of the revision that was
 * applied (not with newer commits: those are pending changes, `meshops status`), per object and field:
 *
 * - **drifted**: a field Git sets has another value in the cluster; the manager that owns it now (from
 *   managedFields: `kubectl-edit`, `kubectl-patch`, a controller) is named. Computed like plan, with a
 *   server-side dry-run apply taking ownership (`force`), so defaults and conversions cancel out.
 * - **foreign fields**: fields another manager set that Git does not set (a client-side `kubectl apply`,
 *   Helm, `kubectl edit` adding a field). A server-side apply keeps them, so a plan never shows them: the
 *   blind spot of SSA-based diffs. `meshops adopt` moves them to meshops, after which the next apply removes
 *   what Git does not set.
 * - **missing**: desired, absent from the cluster. **extra**: in the inventory, not desired, still there.
 * - **health**, where the API carries it: Gateway API `Accepted`/`Programmed`/`ResolvedRefs` conditions
 *   (per parent for routes), Istio's `status.validationMessages`, `Ready`-style conditions, a controller
 *   that has not observed the newest generation.
 */
import type { Manifest, ResourceRef } from "../model/resource.js";
import type { KubeClient, KubeObject } from "./client.js";
import type { FieldChange } from "./diff.js";
import { foreignFields, lastUpdater, overlaps, ownersOf, ownership, type ForeignField } from "./fields.js";
import { computePlan, type PlanEntry } from "./plan.js";
import type { Condition } from "./readiness.js";

export type DriftState = "in-sync" | "drifted" | "missing" | "extra" | "error";

/** A field whose live value differs from Git's: `old` is the live value, `new` Git's. */
export interface DriftChange extends FieldChange {
  /** The field manager that owns the live value (or wrote the object last, for a removed field). */
  manager?: string;
  operation?: string;
  time?: string;
}

export type HealthStatus = "Healthy" | "Progressing" | "Degraded";

export interface Health {
  status: HealthStatus;
  /** Why, one line each (empty when healthy without remarks). */
  messages: string[];
}

export interface DriftEntry {
  subject: string;
  ref: ResourceRef;
  state: DriftState;
  origin?: { file: string; line: number };
  changes?: DriftChange[];
  /** Fields other managers set that Git does not. */
  foreign?: ForeignField[];
  health?: Health;
  reason?: string;
  error?: { code: string; message: string };
  /** What to apply to heal (not part of the JSON output). */
  desired?: KubeObject;
}

export interface DriftOptions {
  env: string;
  /** Objects of the current inventory revision. */
  inventory: ResourceRef[];
  /** Our field manager. */
  manager?: string;
  /** Managers whose fields are never reported as foreign (controllers that legitimately write spec fields). */
  ignoreManagers?: readonly string[];
}

const GATEWAY_POSITIVE = ["Accepted", "Programmed", "ResolvedRefs"];
const GENERIC_POSITIVE = ["Ready", "Available", "Reconciled"];

function conditionText(c: Condition): string {
  const detail = c.message || c.reason;
  return `${c.type}=${c.status ?? "Unknown"}${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message}` : detail && !c.reason ? `: ${detail}` : ""}`;
}

/** Health of a live object from what its API reports; undefined when it reports nothing. */
export function healthOf(obj: KubeObject): Health | undefined {
  const status = obj.status as
    | {
        conditions?: Condition[];
        parents?: { parentRef?: { kind?: string; namespace?: string; name?: string; sectionName?: string }; conditions?: Condition[] }[];
        observedGeneration?: number;
        validationMessages?: { level?: string; type?: { code?: string; name?: string }; documentationUrl?: string }[];
      }
    | undefined;
  if (!status || typeof status !== "object") return undefined;
  const generation = (obj.metadata as { generation?: number } | undefined)?.generation;
  const degraded: string[] = [];
  const progressing: string[] = [];
  const remarks: string[] = [];
  let reported = false;
  for (const m of status.validationMessages ?? []) {
    reported = true;
    const text = `istio ${m.type?.code ?? ""} ${m.type?.name ?? ""}`.replace(/\s+/g, " ").trim() + (m.documentationUrl ? ` (${m.documentationUrl})` : "");
    if (m.level === "ERROR") degraded.push(text);
    else remarks.push(`${(m.level ?? "info").toLowerCase()}: ${text}`);
  }
  const stale = (c: Condition): boolean => c.observedGeneration !== undefined && generation !== undefined && c.observedGeneration < generation;
  const judge = (conds: Condition[], positive: string[], where: string): void => {
    for (const c of conds) {
      if (!c.type || !positive.includes(c.type)) continue;
      reported = true;
      if (stale(c)) progressing.push(`${where}${c.type} not yet observed for generation ${generation}`);
      else if (c.status === "False") degraded.push(`${where}${conditionText(c)}`);
      else if (c.status !== "True") progressing.push(`${where}${conditionText(c)}`);
    }
  };
  for (const p of status.parents ?? []) {
    const r = p.parentRef ?? {};
    const ns = r.namespace ?? obj.metadata?.namespace;
    judge(p.conditions ?? [], GATEWAY_POSITIVE, `parent ${r.kind ?? "Gateway"} ${ns ? `${ns}/` : ""}${r.name ?? "?"}${r.sectionName ? `:${r.sectionName}` : ""}: `);
  }
  judge(status.conditions ?? [], [...GATEWAY_POSITIVE, ...GENERIC_POSITIVE], "");
  const stalled = (status.conditions ?? []).find((c) => c.type === "Stalled" && c.status === "True");
  if (stalled) {
    reported = true;
    degraded.push(conditionText(stalled));
  }
  if (generation !== undefined && status.observedGeneration !== undefined) {
    reported = true;
    if (status.observedGeneration < generation) progressing.push(`the controller has observed generation ${status.observedGeneration}, not ${generation}`);
  }
  if (!reported) return undefined;
  if (degraded.length) return { status: "Degraded", messages: [...degraded, ...progressing, ...remarks] };
  if (progressing.length) return { status: "Progressing", messages: [...progressing, ...remarks] };
  return { status: "Healthy", messages: remarks };
}

/** The manager behind each changed field: the owner of the live value, else the last writer. */
function attribute(live: KubeObject, changes: FieldChange[], self: string): DriftChange[] {
  const owned = ownership(live);
  const last = lastUpdater(live, self);
  return changes.map((c) => {
    const owner = ownersOf(owned, c.path).find((e) => e.manager !== self) ?? (c.old === undefined || !ownersOf(owned, c.path).length ? last : undefined);
    return owner ? { ...c, ...(owner.manager ? { manager: owner.manager } : {}), ...(owner.operation ? { operation: owner.operation } : {}), ...(owner.time ? { time: owner.time } : {}) } : { ...c };
  });
}

/** Turns plan entries (planned with force against the applied revision) into drift entries. */
export function driftFromPlan(entries: PlanEntry[], opts: Pick<DriftOptions, "manager" | "ignoreManagers">): DriftEntry[] {
  const self = opts.manager ?? "meshops";
  const ignore = new Set(opts.ignoreManagers ?? []);
  return entries.map((e): DriftEntry => {
    const base = { subject: e.subject, ref: e.ref, ...(e.origin ? { origin: e.origin } : {}) };
    const live = e.liveObject;
    const health = live ? healthOf(live) : undefined;
    const withHealth = health ? { health } : {};
    if (e.error) return { ...base, state: "error", reason: e.reason ?? e.error.message, error: { code: e.error.code, message: e.error.message } };
    switch (e.action) {
      case "created":
        return { ...base, state: "missing", reason: "not in the cluster", ...(e.desired ? { desired: e.desired } : {}) };
      case "deleted":
        return { ...base, state: "extra", reason: "in the inventory but not in the applied revision (left by a partial apply?)", ...withHealth };
      case "skipped":
        // prunes held back (prune disabled, not meshops') are not drift of the desired state
        return { ...base, state: "in-sync", ...(e.reason ? { reason: e.reason } : {}), ...withHealth };
      default: {
        const changes = live && e.changes?.length ? attribute(live, e.changes, self) : [];
        // a field Git sets that another manager changed is a change, not a foreign field
        const foreign = live ? foreignFields(live, self).filter((f) => !ignore.has(f.manager) && !changes.some((c) => overlaps(c.path, f.path))) : [];
        const drifted = changes.length > 0 || foreign.length > 0 || e.action === "configured";
        const reason = e.action === "configured" && changes.length === 0 && e.reason ? "not managed by meshops: no field belongs to its field manager" : undefined;
        return {
          ...base,
          state: drifted ? "drifted" : "in-sync",
          ...(changes.length ? { changes } : {}),
          ...(foreign.length ? { foreign } : {}),
          ...(reason ? { reason } : {}),
          ...withHealth,
          ...(drifted && e.desired ? { desired: e.desired } : {}),
        };
      }
    }
  });
}

/** Drift of `manifests` (the applied revision, rendered) against the cluster. Nothing is changed. */
export async function computeDrift(kube: KubeClient, manifests: Manifest[], opts: DriftOptions): Promise<DriftEntry[]> {
  const plan = await computePlan(kube, manifests, { env: opts.env, inventory: opts.inventory, force: true });
  return driftFromPlan(plan.entries, opts);
}

export type DriftSummary = Record<DriftState, number> & { degraded: number; progressing: number };

export function summarizeDrift(entries: DriftEntry[]): DriftSummary {
  const s: DriftSummary = { "in-sync": 0, drifted: 0, missing: 0, extra: 0, error: 0, degraded: 0, progressing: 0 };
  for (const e of entries) {
    s[e.state]++;
    if (e.health?.status === "Degraded") s.degraded++;
    if (e.health?.status === "Progressing") s.progressing++;
  }
  return s;
}

/** Out of sync or unhealthy: what makes `meshops drift` exit 1. */
export function needsAttention(e: DriftEntry): boolean {
  return e.state !== "in-sync" || e.health?.status === "Degraded";
}

/** A stable fingerprint of what is reported for an entry (watch prints an entry again only when this changes). */
export function fingerprint(e: DriftEntry): string {
  return JSON.stringify([e.state, e.changes?.map((c) => [c.path, c.old, c.new, c.manager]), e.foreign?.map((f) => [f.path, f.value, f.manager]), e.health, e.error?.message]);
}
