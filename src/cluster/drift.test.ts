import { describe, expect, it } from "vitest";
import type { KubeObject } from "./client.js";
import { driftFromPlan, healthOf, needsAttention } from "./drift.js";
import type { PlanEntry } from "./plan.js";

const cond = (type: string, status: string, reason = "", message = "", observedGeneration?: number): Record<string, unknown> => ({ type, status, reason, message, ...(observedGeneration !== undefined ? { observedGeneration } : {}) });

describe("healthOf", () => {
  it("is undefined when the API reports nothing", () => {
    expect(healthOf({ kind: "VirtualService", metadata: {} })).toBeUndefined();
    expect(healthOf({ kind: "VirtualService", metadata: {}, status: {} })).toBeUndefined();
  });

  it("reads Gateway API route parents, gateway conditions and generations", () => {
    const route: KubeObject = {
      kind: "HTTPRoute",
      metadata: { namespace: "web", generation: 2 },
      status: { parents: [{ parentRef: { name: "gw", sectionName: "https" }, conditions: [cond("Accepted", "True", "Accepted", "", 2), cond("ResolvedRefs", "False", "BackendNotFound", "no svc", 2)] }] },
    };
    expect(healthOf(route)).toEqual({ status: "Degraded", messages: ["parent Gateway web/gw:https: ResolvedRefs=False (BackendNotFound): no svc"] });
    const gw: KubeObject = { kind: "Gateway", metadata: { generation: 3 }, status: { conditions: [cond("Accepted", "True", "", "", 3), cond("Programmed", "True", "", "", 2)] } };
    expect(healthOf(gw)).toEqual({ status: "Progressing", messages: ["Programmed not yet observed for generation 3"] });
    const ok: KubeObject = { kind: "Gateway", metadata: { generation: 3 }, status: { conditions: [cond("Accepted", "True", "", "", 3), cond("Programmed", "True", "", "", 3)] } };
    expect(healthOf(ok)).toEqual({ status: "Healthy", messages: [] });
    const unknown: KubeObject = { kind: "Gateway", metadata: {}, status: { conditions: [cond("Programmed", "Unknown", "Pending")] } };
    expect(healthOf(unknown)?.status).toBe("Progressing");
  });

  it("reads Istio validation messages (ERROR degrades, WARNING is a remark)", () => {
    const vs: KubeObject = { kind: "VirtualService", metadata: {}, status: { validationMessages: [{ level: "WARNING", type: { code: "IST0162", name: "GatewayPortNotDefinedOnService" } }] } };
    expect(healthOf(vs)).toEqual({ status: "Healthy", messages: ["warning: istio IST0162 GatewayPortNotDefinedOnService"] });
    const bad: KubeObject = { kind: "VirtualService", metadata: {}, status: { validationMessages: [{ level: "ERROR", type: { code: "IST0101", name: "ReferencedResourceNotFound" } }] } };
    expect(healthOf(bad)?.status).toBe("Degraded");
  });
});

describe("driftFromPlan", () => {
  const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: "n", name: "c" };
  const live: KubeObject = {
    kind: "ConfigMap",
    metadata: {
      managedFields: [
        { manager: "meshops", operation: "Apply", time: "t1", fieldsV1: { "f:data": { "f:a": {} } } },
        { manager: "kubectl-edit", operation: "Update", time: "t2", fieldsV1: { "f:data": { "f:b": {} } } },
      ],
    },
    data: { a: "1", b: "2" },
  };
  const entry = (p: Partial<PlanEntry>): PlanEntry => ({ subject: "ConfigMap/n/c", ref, action: "unchanged", liveObject: live, ...p });

  it("maps plan actions to drift states, attributes changes and lists foreign fields", () => {
    const [d] = driftFromPlan([entry({ action: "configured", changes: [{ path: ".data.b", old: "2", new: "3" }] })], {});
    expect(d).toMatchObject({ state: "drifted", changes: [{ path: ".data.b", old: "2", new: "3", manager: "kubectl-edit", operation: "Update", time: "t2" }] });
    // the changed field is not listed again as foreign
    expect(d!.foreign).toBeUndefined();
    const [f] = driftFromPlan([entry({})], {});
    expect(f).toMatchObject({ state: "drifted", foreign: [{ path: ".data.b", value: "2", manager: "kubectl-edit" }] });
    expect(driftFromPlan([entry({})], { ignoreManagers: ["kubectl-edit"] })[0]!.state).toBe("in-sync");
    // a field removed from the live object: blamed on the last writer
    const [r] = driftFromPlan([entry({ action: "configured", changes: [{ path: ".data.z", new: "9" }] })], {});
    expect(r!.changes![0]).toMatchObject({ manager: "kubectl-edit" });
    expect(driftFromPlan([entry({ action: "created", liveObject: undefined })], {})[0]!.state).toBe("missing");
    expect(driftFromPlan([entry({ action: "deleted" })], {})[0]!.state).toBe("extra");
    const err = driftFromPlan([entry({ action: "skipped", error: { code: "forbidden", message: "forbidden: cannot get" }, reason: "forbidden: cannot get" })], {})[0]!;
    expect(err.state).toBe("error");
    expect(needsAttention(err)).toBe(true);
    expect(needsAttention({ subject: "x", ref, state: "in-sync", health: { status: "Degraded", messages: [] } })).toBe(true);
    expect(needsAttention({ subject: "x", ref, state: "in-sync", health: { status: "Progressing", messages: [] } })).toBe(false);
  });
});
