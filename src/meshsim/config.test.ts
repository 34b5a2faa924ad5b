import { describe, expect, it } from "vitest";
import { parseSimConfig, SimConfigError } from "./config.js";

function problems(text: string): string[] {
  try {
    parseSimConfig(text, "sim.yaml");
  } catch (e) {
    if (e instanceof SimConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe("meshsim config", () => {
  it("defaults", () => {
    const c = parseSimConfig("mesh: linkerd\nservices:\n  - { namespace: a, name: web, versions: { v1: {} } }\n");
    expect(c.mtls).toBe(1);
    expect(c.stepMs).toBe(250);
    expect(c.callers).toEqual([]);
    expect(c.services[0]!.port).toBe(9080);
    expect(c.services[0]!.versions.v1).toMatchObject({ replicas: 1, errorRatio: 0, errorCode: 503, latency: { p50Ms: 10 } });
  });
  it("reports problems with file:line:column", () => {
    const text = [
      "mesh: istio", //                           1
      "services:", //                             2
      "  - namespace: shop", //                   3
      "    name: reviews", //                     4
      "    versions:", //                         5
      "      v1:", //                             6
      "        errorRatio: 2", //                 7
      "        latency: { p50Ms: 50, p99Ms: 10 }", // 8
      "      v2: { colour: blue }", //            9
      "callers:", //                              10
      "  - { source: web, namespace: shop, service: ratings, rps: 5 }", // 11
    ].join("\n");
    expect(problems(text)).toEqual([
      "sim.yaml:8:31: services.0.versions.v1.latency.p99Ms: p99Ms must not be below p50Ms",
      "sim.yaml:7:9: services.0.versions.v1.errorRatio: Too big: expected number to be <=1",
      'sim.yaml:9:13: unknown key "colour" in services.0.versions.v2',
    ]);
    const fixed = text.replace("errorRatio: 2", "errorRatio: 0.2").replace("p99Ms: 10", "p99Ms: 100").replace("{ colour: blue }", "{}");
    expect(problems(fixed)).toEqual(["sim.yaml:11:37: callers.0.service: no configured service shop/ratings"]);
  });
  it("malformed YAML and duplicate keys", () => {
    expect(problems("mesh: istio\nmesh: linkerd\n")[0]).toMatch(/^sim\.yaml:2:1: duplicate key/);
    expect(problems("mesh: [istio\n")[0]).toMatch(/^sim\.yaml:\d+:\d+: malformed YAML/);
  });
});

describe("meshsim example", () => {
  it("examples/meshsim/bookinfo.yaml is valid", async () => {
    const { loadSimConfig } = await import("./config.js");
    const { join, resolve } = await import("node:path");
    const c = loadSimConfig(join(resolve(import.meta.dirname, "..", ".."), "examples", "meshsim", "bookinfo.yaml"));
    expect(c.services.map((s) => s.name)).toEqual(["productpage", "details", "reviews", "ratings"]);
  });
});
