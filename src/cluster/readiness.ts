/**
 * Readiness as pure functions per kind, `(obj) => { done, ok, message }` (DESIGN §5), with a
 * conditions-based fallback (kstatus-like): objects whose API reports nothing are ready at once; a
 * controller that has not observed the latest generation is waited for; Ready/Available/Programmed/Accepted
 * conditions decide; Istio's `status.validationMessages` at ERROR level fail.
 */
import type { KubeObject } from "./client.js";

/** Whether an object has settled, and how. */
export interface Readiness {
  done: boolean;
  ok: boolean;
  message: string;
}

/** A `status.conditions` entry (metav1.Condition), as far as meshops reads it. */
export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

type Check = (obj: KubeObject) => Readiness;

function statusOf(obj: KubeObject): { conditions?: Condition[]; observedGeneration?: number; phase?: string; validationMessages?: { level?: string; type?: { code?: string }; documentationUrl?: string }[] } {
  return (obj.status ?? {}) as ReturnType<typeof statusOf>;
}

const ready: Readiness = { done: true, ok: true, message: "ready" };

const crd: Check = (obj) => {
  const conds = statusOf(obj).conditions ?? [];
  if (conds.some((c) => c.type === "Established" && c.status === "True")) return ready;
  const names = conds.find((c) => c.type === "NamesAccepted" && c.status === "False");
  if (names) return { done: true, ok: false, message: `names not accepted: ${names.message ?? names.reason ?? ""}` };
  return { done: false, ok: false, message: "waiting for Established" };
};

const namespace: Check = (obj) => {
  const phase = statusOf(obj).phase;
  return !phase || phase === "Active" ? ready : { done: true, ok: false, message: `namespace is ${phase}` };
};

/** Kind-specific checks; everything else uses the conditions fallback. */
export const readinessChecks: Readonly<Record<string, Check>> = { CustomResourceDefinition: crd, Namespace: namespace };

/** Condition types that mean "this object works" when True, in order of preference. */
const POSITIVE = ["Ready", "Available", "Programmed", "Accepted", "ResolvedRefs", "Reconciled"];

/** The conditions-based fallback for any kind. */
export function conditionsReadiness(obj: KubeObject): Readiness {
  const status = statusOf(obj);
  const generation = (obj.metadata as { generation?: number } | undefined)?.generation;
  const errors = (status.validationMessages ?? []).filter((m) => m.level === "ERROR");
  if (errors.length) return { done: true, ok: false, message: `istio validation: ${errors.map((m) => m.type?.code ?? "error").join(", ")}` };
  if (generation !== undefined && status.observedGeneration !== undefined && status.observedGeneration < generation) {
    return { done: false, ok: false, message: `waiting for the controller to observe generation ${generation} (observed ${status.observedGeneration})` };
  }
  const conds = status.conditions ?? [];
  const stalled = conds.find((c) => c.type === "Stalled" && c.status === "True");
  if (stalled) return { done: true, ok: false, message: `stalled: ${stalled.message ?? stalled.reason ?? ""}` };
  const relevant = conds.filter((c) => c.type && POSITIVE.includes(c.type) && (c.observedGeneration === undefined || generation === undefined || c.observedGeneration >= generation));
  if (relevant.length === 0) return ready;
  const notTrue = relevant.find((c) => c.status !== "True");
  if (!notTrue) return ready;
  const detail = notTrue.message || notTrue.reason || notTrue.status || "";
  return { done: false, ok: false, message: `${notTrue.type} is ${notTrue.status ?? "Unknown"}${detail && detail !== notTrue.status ? `: ${detail}` : ""}` };
}

/** Readiness of any object. */
export function readinessOf(obj: KubeObject): Readiness {
  return (readinessChecks[String(obj.kind ?? "")] ?? conditionsReadiness)(obj);
}
