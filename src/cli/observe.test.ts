import { describe, expect, it } from "vitest";
import { buildMeshModel } from "../model/mesh-model.js";
import type { Anomaly } from "../observe/anomaly.js";
import { parseManifests } from "../source/yaml.js";
import { collapseAnomalies } from "./observe-correlate.js";
import { detectMesh, parseDurationS, workloadHints } from "./observe.js";

const manifests = (text: string) => parseManifests(text, "m.yaml").manifests;

describe("observe command helpers", () => {
  it("parses durations as Prometheus writes them, and rejects the rest naming the flag", () => {
    expect(parseDurationS("5m", "--window")).toBe(300);
    expect(parseDurationS("1h30m", "--since")).toBe(5400);
    expect(parseDurationS("90", "--since")).toBe(90);
    expect(parseDurationS("500ms", "--step")).toBe(0.5);
    expect(() => parseDurationS("5 minutes", "--window")).toThrow('--window "5 minutes" is not a duration (e.g. 30s, 5m, 6h)');
    expect(() => parseDurationS("0s", "--window")).toThrow(/not a duration/);
    expect(() => parseDurationS("", "--since")).toThrow(/not a duration/);
  });

  it("tells Istio from Linkerd by the environment's objects", () => {
    expect(detectMesh(manifests("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a, namespace: b}\n"))).toBe("istio");
    expect(detectMesh(manifests("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: a, namespace: b}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b, annotations: {linkerd.io/inject: enabled}}\n"))).toBe("linkerd");
    expect(detectMesh(manifests("apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: a, namespace: b}\n"))).toBe("linkerd");
    expect(detectMesh(manifests("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n"))).toBeUndefined();
  });

  it("maps workloads to their Service and version label for Linkerd's metrics", () => {
    const model = buildMeshModel(
      manifests(`apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-canary, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template: {metadata: {labels: {app: cart, version: "2.1"}}, spec: {containers: [{name: c, image: c}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart-v1, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  template: {metadata: {labels: {app: cart}}, spec: {containers: [{name: c, image: c}]}}
`),
    );
    expect(Object.fromEntries(workloadHints(model).byWorkload)).toEqual({ "shop/cart-canary": { service: "cart.shop", version: "2.1" }, "shop/cart-v1": { service: "cart.shop", version: "v1" } });
  });

  it("leaves out edge anomalies that repeat their service's or version's", () => {
    const a = (level: "service" | "version" | "edge", start: number, version?: string, service = "reviews.bookinfo"): Anomaly => ({
      subject: { level, id: `${level}-${service}-${version}`, service, ...(version ? { version } : {}) },
      metric: "p95_latency_ms",
      start,
      baseline: 1,
      current: 10,
      magnitude: 10,
      confidence: 1,
      z: 10,
    });
    const list = [a("version", 100, "v3"), a("edge", 101, "v3"), a("edge", 400, "v3"), a("edge", 100, "v1", "ratings.bookinfo")];
    expect(collapseAnomalies(list, 10).map((x) => `${x.subject.level}@${x.start}`)).toEqual(["version@100", "edge@400", "edge@100"]);
  });
});
