import { describe, expect, it } from "vitest";
import { staleObjects, normalizeRefs } from "./inventory.js";
import { stages } from "./order.js";

describe("stages", () => {
  const kinds = ["VirtualService", "Namespace", "CustomResourceDefinition", "ServiceAccount", "Namespace", "HTTPRoute"].map((kind) => ({ kind }));
  it("applies Namespaces, then CRDs, then the rest", () => {
    expect(stages(kinds, (k) => k).map((s) => s.map((k) => k.kind))).toEqual([["Namespace", "Namespace"], ["CustomResourceDefinition"], ["ServiceAccount"], ["VirtualService", "HTTPRoute"]]);
  });
  it("deletes in the reverse order", () => {
    expect(stages(kinds, (k) => k, true).map((s) => s[0]!.kind)).toEqual(["VirtualService", "ServiceAccount", "CustomResourceDefinition", "Namespace"]);
  });
});

describe("staleObjects", () => {
  const a = { apiVersion: "v1", kind: "ConfigMap", namespace: "n", name: "a" };
  const b = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "n", name: "b" };
  it("prunes only objects in the inventory that left Git, whatever their API version", () => {
    expect(staleObjects([a, b], [a])).toEqual([b]);
    expect(staleObjects([a, b], [a, { ...b, apiVersion: "networking.istio.io/v1beta1" }])).toEqual([]);
    expect(staleObjects([], [a])).toEqual([]);
  });
  it("stores sorted, de-duplicated identities", () => {
    expect(normalizeRefs([b, a, { ...a }])).toEqual(normalizeRefs([a, b]));
    expect(normalizeRefs([b, a, { ...a }])).toHaveLength(2);
  });
});
