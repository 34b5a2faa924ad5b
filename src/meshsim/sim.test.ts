import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSimConfig } from "./config.js";
import { parseBehaviour } from "./main.js";
import { emptyObjects, Simulator } from "./sim.js";

const yaml = (mesh: string): string => `
mesh: ${mesh}
mtls: 0.75
services:
  - namespace: shop
    name: reviews
    rps: 10
    versions:
      v1: { latency: { p50Ms: 10, p95Ms: 20, p99Ms: 40 } }
      v2: { latency: { p50Ms: 10, p95Ms: 20, p99Ms: 40 }, errorRatio: 0.5, errorCode: 500 }
callers:
  - { source: productpage-v1, namespace: shop, version: v1, service: reviews, rps: 100 }
`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, line).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return out;
}
const sum = (xs: Sample[]): number => xs.reduce((a, s) => a + s.value, 0);

describe("meshsim emulation", () => {
  it("Istio: both reporters, the label set, weights, errors and mTLS share", () => {
    const sim = new Simulator(parseSimConfig(yaml("istio")), 7);
    sim.applyRouting({
      ...emptyObjects(),
      virtualServices: [{ metadata: { name: "r", namespace: "shop" }, spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "a" }, weight: 80 }, { destination: { host: "reviews", subset: "b" }, weight: 20 }] }] } }],
      destinationRules: [{ metadata: { name: "r", namespace: "shop" }, spec: { host: "reviews", subsets: [{ name: "a", labels: { version: "v1" } }, { name: "b", labels: { version: "v2" } }] } }],
    });
    for (let i = 0; i < 40; i++) sim.step(0.25); // 10 s
    const samples = parse(sim.render());
    const total = samples.filter((s) => s.name === "istio_requests_total");
    const dest = total.filter((s) => s.labels.reporter === "destination");
    const src = total.filter((s) => s.labels.reporter === "source");
    expect(sum(dest)).toBe(1100); // (100 + 10 ingress) rps × 10 s
    expect(sum(src)).toBe(1000); // ingress traffic has no client-side proxy
    expect(Object.keys(dest[0]!.labels).sort()).toEqual(
      ["reporter", "source_workload", "source_workload_namespace", "source_app", "source_version", "destination_service", "destination_service_name", "destination_service_namespace", "destination_workload", "destination_workload_namespace", "destination_app", "destination_version", "request_protocol", "response_code", "response_flags", "connection_security_policy"].sort(),
    );
    const v2 = dest.filter((s) => s.labels.destination_version === "v2");
    expect(sum(v2)).toBe(220);
    expect(v2.every((s) => s.labels.destination_workload === "reviews-v2" && s.labels.destination_service === "reviews.shop.svc.cluster.local")).toBe(true);
    const errors = sum(v2.filter((s) => s.labels.response_code === "500")) / sum(v2);
    expect(errors).toBeGreaterThan(0.35);
    expect(errors).toBeLessThan(0.65);
    const fromPage = dest.filter((s) => s.labels.source_workload === "productpage-v1");
    const mtls = sum(fromPage.filter((s) => s.labels.connection_security_policy === "mutual_tls")) / sum(fromPage);
    expect(mtls).toBeGreaterThan(0.68);
    expect(mtls).toBeLessThan(0.82);
    expect(dest.filter((s) => s.labels.source_workload === "unknown").every((s) => s.labels.connection_security_policy === "none")).toBe(true);
    expect(src.every((s) => s.labels.connection_security_policy === "unknown")).toBe(true);
    // histograms: one per counter series, cumulative buckets ending in +Inf == _count
    const buckets = samples.filter((s) => s.name === "istio_request_duration_milliseconds_bucket");
    const counts = samples.filter((s) => s.name === "istio_request_duration_milliseconds_count");
    expect(counts).toHaveLength(total.length);
    expect(sum(counts)).toBe(sum(total));
    const one = counts[0]!;
    const own = buckets.filter((b) => JSON.stringify({ ...b.labels, le: undefined }) === JSON.stringify(one.labels));
    expect(own.map((b) => b.labels.le)).toEqual(["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"]);
    expect(own.map((b) => b.value)).toEqual([...own.map((b) => b.value)].sort((a, b) => a - b));
    expect(own.at(-1)!.value).toBe(one.value);
  });

  it("Linkerd: inbound and outbound response_total and response_latency_ms", () => {
    const sim = new Simulator(parseSimConfig(yaml("linkerd")), 7);
    sim.applyRouting({ ...emptyObjects(), trafficSplits: [{ metadata: { name: "t", namespace: "shop" }, spec: { service: "reviews", backends: [{ service: "reviews-v1", weight: 50 }, { service: "reviews-v2", weight: 50 }] } }] });
    for (let i = 0; i < 20; i++) sim.step(0.5);
    const samples = parse(sim.render());
    const total = samples.filter((s) => s.name === "response_total");
    const out = total.filter((s) => s.labels.direction === "outbound");
    const inb = total.filter((s) => s.labels.direction === "inbound");
    expect(sum(out)).toBe(1000);
    expect(sum(inb)).toBe(1100);
    expect(Object.keys(out[0]!.labels).sort()).toEqual(["authority", "classification", "deployment", "direction", "dst_deployment", "dst_namespace", "dst_service", "namespace", "status_code", "tls"].sort());
    expect(Object.keys(inb[0]!.labels).sort()).toEqual(["authority", "classification", "deployment", "direction", "namespace", "status_code", "tls"].sort());
    expect(out.every((s) => s.labels.deployment === "productpage-v1" && s.labels.authority === "reviews.shop.svc.cluster.local:9080")).toBe(true);
    expect(sum(out.filter((s) => s.labels.dst_deployment === "reviews-v2"))).toBe(500);
    expect(out.every((s) => (s.labels.classification === "failure") === (s.labels.status_code === "500"))).toBe(true);
    expect(new Set(out.map((s) => s.labels.tls))).toEqual(new Set(["true", "false"]));
    const le = samples.filter((s) => s.name === "response_latency_ms_bucket").map((s) => s.labels.le);
    expect(le).toContain("50000");
    expect(samples.some((s) => s.name === "response_latency_ms_bucket" && "classification" in s.labels)).toBe(false);
  });

  it("counters are monotonic, behaviour changes apply from the next step, the same seed gives the same output", () => {
    const a = new Simulator(parseSimConfig(yaml("istio")), 11);
    const b = new Simulator(parseSimConfig(yaml("istio")), 11);
    let prev = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      a.step(0.25);
      b.step(0.25);
      const now = new Map(parse(a.render()).map((s) => [`${s.name}${JSON.stringify(s.labels)}`, s.value]));
      for (const [k, v] of prev) expect(now.get(k)!, k).toBeGreaterThanOrEqual(v);
      prev = now;
    }
    expect(a.render()).toBe(b.render());
    expect(a.setBehaviour("shop", "reviews", "v1", { errorRatio: 1, latencyMultiplier: 100 })).toBe(true);
    expect(a.setBehaviour("shop", "reviews", "v9", { errorRatio: 1 })).toBe(false);
    const before = a.state() as { services: { versions: Record<string, { errors: number }> }[] };
    const e0 = before.services[0]!.versions.v1!.errors;
    a.step(1);
    const after = a.state() as { services: { versions: Record<string, { errors: number; requests: number }> }[] };
    expect(after.services[0]!.versions.v1!.errors - e0).toBeGreaterThan(40);
    a.reset();
    expect((a.state() as { services: { versions: Record<string, { errorRatio: number }> }[] }).services[0]!.versions.v1!.errorRatio).toBe(0);
  });

  it("reporters: only the server side", () => {
    const sim = new Simulator(parseSimConfig(yaml("istio") + "reporters: [destination]\n"), 7);
    sim.step(1);
    const total = parse(sim.render()).filter((s) => s.name === "istio_requests_total");
    expect(new Set(total.map((s) => s.labels.reporter))).toEqual(new Set(["destination"]));
    expect(() => parseSimConfig(yaml("linkerd") + "reporters: [source]\n", "x.yaml")).toThrow(/x\.yaml:13:\d+: reporters\.0: linkerd reporters are inbound and outbound, not source/);
  });

  it("control bodies are validated", () => {
    expect(parseBehaviour({ latencyMultiplier: 10, errorRatio: 0.2 })).toEqual({ latencyMultiplier: 10, errorRatio: 0.2 });
    expect(() => parseBehaviour({ errorRatio: 2 })).toThrow(/errorRatio must be a number in \[0, 1\]/);
    expect(() => parseBehaviour({ latency: 3 })).toThrow(/unknown field "latency"/);
    expect(() => parseBehaviour([])).toThrow(/JSON object/);
  });
});

describe("meshsim stays out of production code", () => {
  it("no file outside src/meshsim imports it", () => {
    const root = resolve(import.meta.dirname, "..", "..");
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) {
          if (p !== join(root, "src", "meshsim")) walk(p);
        } else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith(".test.ts") && /(from|import\()\s*["'][^"']*meshsim[^"']*["']/.test(readFileSync(p, "utf8"))) {
          offenders.push(relative(root, p));
        }
      }
    };
    walk(join(root, "src"));
    walk(join(root, "bin"));
    expect(offenders).toEqual([]);
  });
});
