import { describe, expect, it } from "vitest";
import { readinessOf } from "./readiness.js";

const gw = (status: unknown, generation = 2): Record<string, unknown> => ({ apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", metadata: { name: "g", generation }, status });
const cond = (type: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type, status, ...extra });

describe("readinessOf", () => {
  it("is ready at once when the API reports no status", () => {
    expect(readinessOf({ kind: "ConfigMap", metadata: { name: "c" } })).toEqual({ done: true, ok: true, message: "ready" });
  });
  it("waits for a CRD to be Established and fails on rejected names", () => {
    expect(readinessOf({ kind: "CustomResourceDefinition", status: { conditions: [cond("NamesAccepted", "True")] } }).done).toBe(false);
    expect(readinessOf({ kind: "CustomResourceDefinition", status: { conditions: [cond("Established", "True")] } }).ok).toBe(true);
    expect(readinessOf({ kind: "CustomResourceDefinition", status: { conditions: [cond("NamesAccepted", "False", { message: "clash" })] } })).toEqual({ done: true, ok: false, message: "names not accepted: clash" });
  });
  it("waits for Gateway API conditions set by a controller", () => {
    expect(readinessOf(gw({ conditions: [cond("Accepted", "Unknown", { reason: "Pending", message: "Waiting for controller" })] }))).toEqual({ done: false, ok: false, message: "Accepted is Unknown: Waiting for controller" });
    expect(readinessOf(gw({ conditions: [cond("Accepted", "True", { observedGeneration: 2 }), cond("Programmed", "True", { observedGeneration: 2 })] })).ok).toBe(true);
    // conditions about an older generation do not count
    expect(readinessOf(gw({ conditions: [cond("Accepted", "True", { observedGeneration: 2 }), cond("Programmed", "False", { observedGeneration: 1 })] })).ok).toBe(true);
  });
  it("waits until the controller observed the latest generation", () => {
    expect(readinessOf(gw({ observedGeneration: 1, conditions: [cond("Ready", "True")] })).message).toBe("waiting for the controller to observe generation 2 (observed 1)");
  });
  it("fails on Istio validation errors and Stalled", () => {
    expect(readinessOf({ kind: "VirtualService", status: { validationMessages: [{ level: "ERROR", type: { code: "IST0101" } }] } })).toEqual({ done: true, ok: false, message: "istio validation: IST0101" });
    expect(readinessOf({ kind: "X", status: { conditions: [cond("Stalled", "True", { message: "bad spec" })] } })).toEqual({ done: true, ok: false, message: "stalled: bad spec" });
  });
});
