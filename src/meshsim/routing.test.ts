import { describe, expect, it } from "vitest";
import { parseSimConfig, type ServiceConfig } from "./config.js";
import { defaultRouting, hostMatches, parseWeight, resolveSplit, type Obj, type RouteObjects } from "./routing.js";

const cfg = parseSimConfig(`
mesh: istio
services:
  - namespace: shop
    name: reviews
    versions:
      v1: {}
      v2: { replicas: 3 }
      v3: { labels: { version: v3, track: canary }, service: reviews-canary }
`);
const svc: ServiceConfig = cfg.services[0]!;
const none = (): RouteObjects => ({ virtualServices: [], destinationRules: [], httpRoutes: [], trafficSplits: [] });
const istio = defaultRouting("istio");
const linkerd = defaultRouting("linkerd");
const close = (w: Record<string, number>, want: Record<string, number>): void => {
  expect(Object.keys(w).sort()).toEqual(Object.keys(want).sort());
  for (const [k, v] of Object.entries(want)) expect(w[k]).toBeCloseTo(v, 9);
};

const dr: Obj = {
  kind: "DestinationRule",
  metadata: { name: "reviews", namespace: "shop" },
  spec: { host: "reviews.shop.svc.cluster.local", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }, { name: "canary", labels: { track: "canary" } }] },
};
function vs(route: unknown[], extra: Record<string, unknown> = {}, ns = "shop"): Obj {
  return { kind: "VirtualService", metadata: { name: "reviews", namespace: ns }, spec: { hosts: ["reviews"], http: [{ route }], ...extra } };
}

describe("meshsim routing: VirtualService", () => {
  it("weights per subset through the DestinationRule's labels", () => {
    const s = resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews", subset: "v1" }, weight: 90 }, { destination: { host: "reviews", subset: "canary" }, weight: 10 }])], destinationRules: [dr] });
    expect(s.source).toBe("VirtualService shop/reviews");
    close(s.weights, { v1: 0.9, v3: 0.1 });
  });
  it("a single destination without weight takes everything; without subset it spreads by replicas", () => {
    close(resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews", subset: "v2" } }])], destinationRules: [dr] }).weights, { v2: 1 });
    close(resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews.shop.svc.cluster.local" } }])] }).weights, { v1: 0.2, v2: 0.6, v3: 0.2 });
  });
  it("an unknown subset receives nothing (Istio answers 503), a missing weight among several counts 0", () => {
    close(resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews", subset: "v1" }, weight: 50 }, { destination: { host: "reviews", subset: "nope" }, weight: 50 }, { destination: { host: "reviews", subset: "v2" } }])], destinationRules: [dr] }).weights, { v1: 1 });
  });
  it("uses the first catch-all http entry, not one with a header match", () => {
    const v: Obj = { metadata: { name: "r", namespace: "shop" }, spec: { hosts: ["reviews"], http: [{ match: [{ headers: { "end-user": { exact: "jason" } } }], route: [{ destination: { host: "reviews", subset: "v2" } }] }, { match: [{ uri: { prefix: "/" } }], route: [{ destination: { host: "reviews", subset: "v1" } }] }] } };
    close(resolveSplit(svc, istio, { ...none(), virtualServices: [v], destinationRules: [dr] }).weights, { v1: 1 });
  });
  it("ignores VirtualServices for other hosts, other namespaces' short names and gateway-only ones", () => {
    const other = vs([{ destination: { host: "ratings" } }]);
    (other.spec as { hosts: string[] }).hosts = ["ratings"];
    const elsewhere = vs([{ destination: { host: "reviews", subset: "v2" } }], {}, "other");
    const gw = vs([{ destination: { host: "reviews", subset: "v2" } }], { gateways: ["shop/gw"] });
    const s = resolveSplit(svc, istio, { ...none(), virtualServices: [other, elsewhere, gw], destinationRules: [dr] });
    expect(s.source).toBe("replicas");
  });
  it("a destination naming a version's own Service", () => {
    close(resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews", subset: "v1" }, weight: 75 }, { destination: { host: "reviews-canary.shop.svc.cluster.local" }, weight: 25 }])], destinationRules: [dr] }).weights, { v1: 0.75, v3: 0.25 });
  });
  it("host matching", () => {
    const s = { namespace: "shop", name: "reviews" };
    expect(hostMatches("reviews", "shop", s)).toBe(true);
    expect(hostMatches("reviews", "other", s)).toBe(false);
    expect(hostMatches("reviews.shop", "other", s)).toBe(true);
    expect(hostMatches("reviews.shop.svc.cluster.local", "x", s)).toBe(true);
    expect(hostMatches("reviews.other.svc.cluster.local", "shop", s)).toBe(false);
  });
});

describe("meshsim routing: HTTPRoute and TrafficSplit", () => {
  const hr = (refs: unknown[], parent: Record<string, unknown> = { group: "", kind: "Service", name: "reviews" }): Obj => ({
    kind: "HTTPRoute",
    metadata: { name: "reviews", namespace: "shop" },
    spec: { parentRefs: [parent], rules: [{ backendRefs: refs }] },
  });
  it("HTTPRoute backendRefs weights (default 1) to version Services", () => {
    const s = resolveSplit(svc, istio, { ...none(), httpRoutes: [hr([{ name: "reviews-v1", port: 9080, weight: 80 }, { name: "reviews-v2", port: 9080, weight: 20 }])] });
    expect(s.source).toBe("HTTPRoute shop/reviews");
    close(s.weights, { v1: 0.8, v2: 0.2 });
    close(resolveSplit(svc, istio, { ...none(), httpRoutes: [hr([{ name: "reviews-v1" }, { name: "reviews-canary" }])] }).weights, { v1: 0.5, v3: 0.5 });
  });
  it("HTTPRoutes attached to a Gateway are not mesh routes", () => {
    expect(resolveSplit(svc, istio, { ...none(), httpRoutes: [hr([{ name: "reviews-v2" }], { name: "gw" })] }).source).toBe("replicas");
  });
  it("VirtualService wins over HTTPRoute for Istio", () => {
    const s = resolveSplit(svc, istio, { ...none(), virtualServices: [vs([{ destination: { host: "reviews", subset: "v1" } }])], destinationRules: [dr], httpRoutes: [hr([{ name: "reviews-v2" }])] });
    close(s.weights, { v1: 1 });
  });
  it("TrafficSplit backends with number and quantity weights", () => {
    const ts = (backends: unknown[]): Obj => ({ kind: "TrafficSplit", metadata: { name: "reviews-split", namespace: "shop" }, spec: { service: "reviews", backends } });
    const s = resolveSplit(svc, linkerd, { ...none(), trafficSplits: [ts([{ service: "reviews-v1", weight: 90 }, { service: "reviews-v2", weight: 10 }])] });
    expect(s.source).toBe("TrafficSplit shop/reviews-split");
    close(s.weights, { v1: 0.9, v2: 0.1 });
    close(resolveSplit(svc, linkerd, { ...none(), trafficSplits: [ts([{ service: "reviews-v1", weight: "500m" }, { service: "reviews-canary", weight: "500m" }])] }).weights, { v1: 0.5, v3: 0.5 });
    // Istio's default order does not read TrafficSplits
    expect(resolveSplit(svc, istio, { ...none(), trafficSplits: [ts([{ service: "reviews-v1", weight: 1 }])] }).source).toBe("replicas");
  });
  it("no routing object: by replicas", () => {
    close(resolveSplit(svc, istio, none()).weights, { v1: 0.2, v2: 0.6, v3: 0.2 });
  });
  it("parseWeight", () => {
    expect(parseWeight(90, 0)).toBe(90);
    expect(parseWeight("900m", 0)).toBe(0.9);
    expect(parseWeight("7", 0)).toBe(7);
    expect(parseWeight("x", 3)).toBe(3);
    expect(parseWeight(undefined, 1)).toBe(1);
  });
});
