import { describe, expect, it } from "vitest";
import { diffObjects, formatValue, normalizeForDiff } from "./diff.js";

const live = {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "r", namespace: "n", uid: "u", resourceVersion: "7", generation: 2, creationTimestamp: "t", managedFields: [{ manager: "meshops" }], labels: { a: "1" } },
  spec: { hosts: ["r"], http: [{ route: [{ destination: { host: "r" }, weight: 90 }, { destination: { host: "r" }, weight: 10 }] }] },
  status: { observedGeneration: 2 },
};

describe("diffObjects", () => {
  it("ignores what the server owns: managedFields, resourceVersion, uid, generation, creationTimestamp, status", () => {
    const dry = { ...live, metadata: { ...live.metadata, resourceVersion: "8", generation: 3, managedFields: [] }, status: {} };
    expect(diffObjects(live, dry)).toEqual([]);
    expect(Object.keys(normalizeForDiff(live).metadata ?? {})).toEqual(["name", "namespace", "labels"]);
  });

  it("reports exactly the changed fields with paths and old → new", () => {
    const dry = structuredClone(live);
    dry.spec.http[0]!.route[0]!.weight = 75;
    dry.spec.http[0]!.route[1]!.weight = 25;
    (dry.metadata as { labels: Record<string, string> }).labels = { a: "1", "meshops.dev/environment": "staging" };
    expect(diffObjects(live, dry)).toEqual([
      { path: '.metadata.labels["meshops.dev/environment"]', new: "staging" },
      { path: ".spec.http[0].route[0].weight", old: 90, new: 75 },
      { path: ".spec.http[0].route[1].weight", old: 10, new: 25 },
    ]);
  });

  it("reports added and removed list items by index", () => {
    const dry = structuredClone(live);
    dry.spec.hosts = ["r", "r.example.com"];
    dry.spec.http[0]!.route.pop();
    expect(diffObjects(live, dry)).toEqual([
      { path: ".spec.hosts[1]", new: "r.example.com" },
      { path: ".spec.http[0].route[1]", old: { destination: { host: "r" }, weight: 10 } },
    ]);
  });

  it("never carries Secret values", () => {
    const a = { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { password: "aHVudGVyMg==" } };
    const b = { ...a, data: { password: "Y29ycmVjdA==", user: "YQ==" } };
    const changes = diffObjects(a, b);
    expect(changes).toEqual([
      { path: ".data.password", masked: true },
      { path: ".data.user", masked: true },
    ]);
    expect(JSON.stringify(changes)).not.toContain("aHVudGVyMg");
  });
});

describe("formatValue", () => {
  it("prints scalars bare and the rest as JSON", () => {
    expect(formatValue(80)).toBe("80");
    expect(formatValue("reviews.default.svc")).toBe("reviews.default.svc");
    expect(formatValue("two words")).toBe('"two words"');
    expect(formatValue(undefined)).toBe("(absent)");
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
  });
});
