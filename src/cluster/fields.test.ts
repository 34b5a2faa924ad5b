import { describe, expect, it } from "vitest";
import { adoptedManagedFields } from "./adopt.js";
import { foreignFields, lastUpdater, mergeFieldSets, overlaps, ownedFields, ownersOf, ownership, type FieldSet } from "./fields.js";
import type { KubeObject } from "./client.js";

const vs: KubeObject = {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: {
    name: "reviews",
    labels: { app: "reviews", team: "payments" },
    managedFields: [
      { manager: "meshops", operation: "Apply", time: "2026-01-01T00:00:00Z", fieldsV1: { "f:metadata": { "f:labels": { "f:app": {} } }, "f:spec": { "f:hosts": {}, "f:http": {} } } },
      { manager: "kubectl-label", operation: "Update", time: "2026-01-02T00:00:00Z", fieldsV1: { "f:metadata": { "f:labels": { "f:team": {} } } } },
      { manager: "istiod", operation: "Update", subresource: "status", time: "2026-01-03T00:00:00Z", fieldsV1: { "f:status": { "f:validationMessages": {} } } },
    ],
  },
  spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews" } }] }] },
  status: { validationMessages: [] },
};

const svc: KubeObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "s" },
  spec: {
    ports: [
      { name: "http", port: 80, protocol: "TCP" },
      { name: "grpc", port: 90, protocol: "TCP", appProtocol: "grpc" },
    ],
    externalIPs: ["1.2.3.4", "5.6.7.8"],
  },
};

describe("managedFields", () => {
  it("resolves f:, k: and v: keys against the object into diff-style paths", () => {
    const set: FieldSet = {
      "f:spec": {
        "f:ports": { 'k:{"port":90,"protocol":"TCP"}': { ".": {}, "f:appProtocol": {}, "f:name": {} } },
        "f:externalIPs": { 'v:"5.6.7.8"': {} },
      },
    };
    expect(ownedFields(set, svc).map((f) => [f.path, f.value])).toEqual([
      [".spec.ports[1].appProtocol", "grpc"],
      [".spec.ports[1].name", "grpc"],
      [".spec.externalIPs[1]", "5.6.7.8"],
    ]);
    // a key naming an element that no longer exists owns nothing
    expect(ownedFields({ "f:spec": { "f:ports": { 'k:{"port":1,"protocol":"TCP"}': { "f:name": {} } } } }, svc)).toEqual([]);
  });

  it("names the owner of a changed field, finds fields only another manager set, and the last updater", () => {
    const owned = ownership(vs);
    expect(ownersOf(owned, ".spec.http[0].route[0].weight").map((e) => e.manager)).toEqual(["meshops"]);
    expect(ownersOf(owned, ".metadata.labels.team").map((e) => e.manager)).toEqual(["kubectl-label"]);
    expect(foreignFields(vs, "meshops")).toEqual([{ path: ".metadata.labels.team", value: "payments", manager: "kubectl-label", operation: "Update", time: "2026-01-02T00:00:00Z" }]);
    // status written through the status subresource is the controller's, never foreign
    expect(lastUpdater(vs, "meshops")?.manager).toBe("kubectl-label");
    expect(overlaps(".spec.http", ".spec.http[0].route")).toBe(true);
    expect(overlaps(".spec.http", ".spec.hosts")).toBe(false);
    expect(overlaps(".spec.h", ".spec.http")).toBe(false);
  });

  it("adopt merges the other managers' entries into meshops' Apply entry and keeps status entries", () => {
    const { managedFields, managers } = adoptedManagedFields(vs, "meshops", () => true, "2026-02-01T00:00:00Z");
    expect(managers).toEqual(["kubectl-label"]);
    expect(managedFields.map((e) => [e.manager, e.operation, e.subresource])).toEqual([
      ["meshops", "Apply", undefined],
      ["istiod", "Update", "status"],
    ]);
    expect(managedFields[0]!.fieldsV1).toEqual({ "f:metadata": { "f:labels": { "f:app": {}, "f:team": {} } }, "f:spec": { "f:hosts": {}, "f:http": {} } });
    expect(foreignFields({ ...vs, metadata: { ...vs.metadata, managedFields } }, "meshops")).toEqual([]);
    // only the chosen managers
    expect(adoptedManagedFields(vs, "meshops", (e) => e.manager === "helm", "t").managers).toEqual([]);
    expect(mergeFieldSets({ "f:a": { "f:b": {} } }, { "f:a": { "f:c": {} } }, undefined)).toEqual({ "f:a": { "f:b": {}, "f:c": {} } });
  });
});
