/**
 * `meshops prometheus rules` against the test environment's real Prometheus: the rule files pass `promtool check
 * rules`; loaded into Prometheus (file + POST /-/reload) they evaluate healthy; `graph`/`top` then read the
 * recorded series (2 queries, source "recording-rules") and agree with the raw-series graph of the same moment;
 * a window without rules, or the rules removed, falls back to the raw series; `--recording-rules require` fails
 * with exit 3 when the rules are not usable. meshsim (the telemetry emulator, --no-kube) serves the traffic under
 * a job label of its own, and every query selects it with --match, so other test files' series never mix in.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildDashboard } from "../src/observe/grafana.js";
import { collectGraph, type ServiceGraph } from "../src/observe/graph.js";
import { istioAdapter, linkerdAdapter } from "../src/observe/mesh.js";
import { createPromClient } from "../src/observe/prometheus.js";
import { recordedNames } from "../src/observe/rules.js";
import { meshops, repoRoot, unique } from "./helpers.js";

const promUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");
const rulesDir = inject("prometheusRulesDir");
const job = unique("rules");
const match = `job="${job}"`;
const tmp = mkdtempSync(join(tmpdir(), "meshops-rules-test-"));
const rulesFile = join(rulesDir || tmp, `${job}.yml`);
let sim: ChildProcess | undefined;

const simConfig = `mesh: istio
mtls: 0.8
stepMs: 250
reporters: [destination]
services:
  - namespace: shop
    name: cart
    versions:
      v1: { latency: { p50Ms: 20, p95Ms: 60, p99Ms: 120 }, errorRatio: 0.05 }
      v2: { latency: { p50Ms: 200, p95Ms: 600, p99Ms: 900 } }
  - namespace: shop
    name: pay
    versions:
      v1: { latency: { p50Ms: 8, p95Ms: 30, p99Ms: 50 } }
callers:
  - { source: web-v1, namespace: shop, version: v1, service: shop/cart, rps: 40 }
  - { source: cart-v1, namespace: shop, version: v1, service: shop/pay, rps: 20 }
`;

async function reload(): Promise<void> {
  const r = await fetch(`${promUrl}/-/reload`, { method: "POST" });
  expect(r.status, await r.text()).toBe(200);
}

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function graphJson(args: string[]): { code: number; graph?: ServiceGraph; stderr: string } {
  const r = meshops(["graph", "--prometheus", promUrl, "--mesh", "istio", "--match", match, "--format", "json", ...args]);
  return { code: r.code, stderr: r.stderr, ...(r.code === 0 ? { graph: JSON.parse(r.stdout) as ServiceGraph } : {}) };
}

const near = (a: number | undefined, b: number | undefined, rel: number): boolean => a !== undefined && b !== undefined && Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-9);

beforeAll(async () => {
  expect(rulesDir, "the test environment has no PROMETHEUS_RULES_DIR: restart it (npm run testenv -- down && npm run testenv -- up)").not.toBe("");
  writeFileSync(join(tmp, "sim.yaml"), simConfig);
  sim = spawn(process.execPath, [join(repoRoot, "dist", "meshsim", "main.js"), "--config", join(tmp, "sim.yaml"), "--no-kube", "--listen", "127.0.0.1:0", "--seed", "3", "--job", job, "--targets-dir", targetsDir], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  sim.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  await Promise.race([
    new Promise<string>((r) => createInterface({ input: sim!.stdout! }).once("line", r)),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`meshsim did not start: ${err}`)), 30_000)),
  ]);
  // a full 10 s rate window of every edge
  const prom = createPromClient(promUrl);
  await eventually("meshsim's series in Prometheus", 60_000, async () => {
    const [row] = await prom.instant(`count(rate(istio_requests_total{${match}}[10s]) > 0)`);
    return row && row.value >= 4 ? true : undefined;
  });
  await new Promise((r) => setTimeout(r, 10_000));
}, 120_000);

afterAll(async () => {
  sim?.kill("SIGTERM");
  rmSync(rulesFile, { force: true });
  if (rulesDir) await fetch(`${promUrl}/-/reload`, { method: "POST" }).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

describe("meshops prometheus rules", () => {
  it("writes rule files promtool accepts, for Istio and Linkerd, as a file or a PrometheusRule", () => {
    const istio = meshops(["prometheus", "rules", "--mesh", "istio", "--match", 'cluster="prod"', "--window", "1m,5m", "-o", join(tmp, "istio.yml")], { cwd: tmp });
    expect(istio.code, istio.stderr).toBe(0);
    expect(istio.stderr).toContain("wrote 26 recording rules in 2 group(s)");
    const linkerd = meshops(["prometheus", "rules", "--mesh", "linkerd", "--interval", "1m", "-o", join(tmp, "linkerd.yml")], { cwd: tmp });
    expect(linkerd.code, linkerd.stderr).toBe(0);
    const check = spawnSync("promtool", ["check", "rules", join(tmp, "istio.yml"), join(tmp, "linkerd.yml")], { encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain("SUCCESS: 26 rules found");
    expect(check.stdout).toContain("SUCCESS: 13 rules found");
    const op = meshops(["prometheus", "rules", "--mesh", "istio", "--format", "prometheusrule", "--namespace", "monitoring"], { cwd: tmp });
    expect(op.code, op.stderr).toBe(0);
    expect(op.stdout).toMatch(/^apiVersion: monitoring\.coreos\.com\/v1\nkind: PrometheusRule\nmetadata:\n {2}name: meshops-graph\n {2}namespace: monitoring/m);
    expect(op.stdout).toContain("meshops_edge:istio_requests:rate5m");
    expect(op.stdout).not.toContain("*a1"); // no YAML aliases: every rule spells its labels
    const bad = meshops(["prometheus", "rules", "--mesh", "istio", "--window", "5 minutes"], { cwd: tmp });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--window "5 minutes" is not a duration');
  });

  it("loaded into Prometheus, graph reads the recorded series and agrees with the raw graph of the same moment", async () => {
    const w = meshops(["prometheus", "rules", "--mesh", "istio", "--match", match, "--window", "10s", "--interval", "1s", "-o", rulesFile], { cwd: tmp });
    expect(w.code, w.stderr).toBe(0);
    await reload();
    const recorded = await eventually("a graph from recording rules", 60_000, () => {
      const r = graphJson(["--window", "10s", "--recording-rules", "require"]);
      return r.graph && r.graph.edges.length >= 3 ? r.graph : undefined;
    });
    expect(recorded.source).toBe("recording-rules");
    expect(recorded.queries).toBe(2);
    expect(recorded.services.map((s) => s.id)).toEqual(["cart.shop", "pay.shop"]);
    expect(recorded.edges.map((e) => `${e.from} -> ${e.to}`)).toEqual(["cart.shop@v1 -> pay.shop@v1", "workload:shop/web-v1 -> cart.shop@v1", "workload:shop/web-v1 -> cart.shop@v2"]);

    // the same moment both ways: the recorded graph is the rule evaluation's result, the raw one recomputes it
    const prom = createPromClient(promUrl);
    const adapter = istioAdapter({ matchers: match });
    const names = recordedNames(adapter, 10);
    const id = names.id;
    const loadedAt = Date.now();
    // a few evaluations (every second) later, read as of 2 s before the last: an evaluation's result for sure,
    // and every scrape before it ingested
    const group = await eventually("rule evaluations", 30_000, async () => {
      const g = (await prom.rules!()).find((x) => x.rules.some((r) => r.labels?.meshops_rules === id));
      return g && Date.parse(g.lastEvaluation ?? "") > loadedAt + 4000 ? g : undefined;
    });
    expect(group.rules.every((r) => r.health === "ok"), JSON.stringify(group.rules.map((r) => [r.name, r.health, r.lastError]))).toBe(true);
    // exactly the timestamp of one evaluation (the latest at least 2 s old): the recorded graph is that evaluation's
    // result and the raw one is computed at the same instant, so the quantiles see the same bucket counts (at a
    // second nearby, a 10 s window's few slow requests can move p95 across a whole bucket)
    const probe = Date.parse(group.lastEvaluation!) / 1000 - 2;
    const [evaluated] = await prom.instant(`max(timestamp(${names.requests}{meshops_rules="${id}"}))`, { time: probe });
    expect(evaluated?.value).toBeGreaterThan(loadedAt / 1000);
    const at = evaluated!.value;
    const a = await collectGraph(prom, adapter, { windowS: 10, levels: ["edge", "version", "service"], recordingRules: "require", at });
    const b = await collectGraph(prom, adapter, { windowS: 10, levels: ["edge", "version", "service"], recordingRules: "off", at });
    expect(a.source).toBe("recording-rules");
    expect(b.source).toBe("raw");
    expect(a.edges.map((e) => e.to)).toEqual(b.edges.map((e) => e.to));
    const pairs: [string, ServiceGraph["services"][number]["signals"], ServiceGraph["services"][number]["signals"]][] = [
      ...a.edges.map((e, i) => [`edge ${e.from}>${e.to}`, e.signals, b.edges[i]!.signals] as [string, typeof e.signals, typeof e.signals]),
      ...a.services.flatMap((s, i) => [[`service ${s.id}`, s.signals, b.services[i]!.signals] as [string, typeof s.signals, typeof s.signals], ...s.versions.map((v, j) => [`version ${v.id}`, v.signals, b.services[i]!.versions[j]!.signals] as [string, typeof v.signals, typeof v.signals])]),
    ];
    for (const [what, x, y] of pairs) {
      // rule evaluations lag scrapes by up to a second: allow a little, catch a wrong expression or level
      expect(near(x.rps, y.rps, 0.15), `${what} rps ${x.rps} vs ${y.rps}`).toBe(true);
      expect(Math.abs(x.errorRatio - y.errorRatio), `${what} error ratio`).toBeLessThan(0.03);
      expect(Math.abs(x.mtlsShare - y.mtlsShare), `${what} mTLS`).toBeLessThan(0.08);
      for (const q of ["p50Ms", "p95Ms", "p99Ms"] as const) expect(near(x[q], y[q], 0.2), `${what} ${q} ${x[q]} vs ${y[q]}`).toBe(true);
    }
    // the profiles show through: cart v2 is 10x slower than v1, v1 fails 5%
    const cart = a.services.find((s) => s.id === "cart.shop")!;
    expect(cart.versions[1]!.signals.p50Ms! / cart.versions[0]!.signals.p50Ms!).toBeGreaterThan(4);
    expect(cart.versions[0]!.signals.errorRatio).toBeGreaterThan(0.01);

    // top reads them too
    const top = meshops(["top", "--prometheus", promUrl, "--mesh", "istio", "--match", match, "--window", "10s", "--format", "json"]);
    expect(top.code, top.stderr).toBe(0);
    expect(JSON.parse(top.stdout)).toMatchObject({ source: "recording-rules", queries: 2 });

    // another window has no rules: the raw series, and why; `require` fails with exit 3
    const other = graphJson(["--window", "20s"]);
    expect(other.code, other.stderr).toBe(0);
    expect(other.graph!.source).toBe("raw");
    expect(other.graph!.rulesNote).toMatch(/^no recording rules for this graph \(meshops_rules="[0-9a-f]{12}", window 20s\)/);
    const req = graphJson(["--window", "20s", "--recording-rules", "require"]);
    expect(req.code).toBe(3);
    expect(req.stderr).toContain("--recording-rules require: no recording rules for this graph");
    // so do other matchers, even for the same window
    expect(graphJson(["--window", "10s", "--match", `${match}, reporter="destination"`]).graph!.source).toBe("raw");
    // and `off` never looks
    const off = graphJson(["--window", "10s", "--recording-rules", "off"]);
    expect(off.graph!.source).toBe("raw");
    expect(off.graph!.rulesNote).toBeUndefined();

    // the Grafana dashboard reads the same recorded series: every panel query returns a line per service
    const dashboard = buildDashboard(adapter, { title: "t", uid: "u", annotationTags: [], recordedWindowS: 10 }) as { panels: { title: string; targets: { expr: string }[] }[] };
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        expect(t.expr, p.title).toContain(`meshops_rules="${id}"`);
        expect(t.expr, p.title).not.toContain("rate_interval");
        const rows = await prom.instant(t.expr);
        expect(rows.map((r) => r.metric.destination_service).sort(), `${p.title}: ${t.expr}`).toEqual(["cart.shop.svc.cluster.local", "pay.shop.svc.cluster.local"]);
      }
    }

    // rules removed from Prometheus: back to the raw series
    rmSync(rulesFile, { force: true });
    await reload();
    const after = await eventually("the raw graph once the rules are gone", 30_000, () => {
      const r = graphJson(["--window", "10s"]);
      return r.graph?.source === "raw" ? r.graph : undefined;
    });
    expect(after.rulesNote).toContain("no recording rules for this graph");
    expect(after.edges).toHaveLength(3);
  }, 180_000);

  it("rules for Linkerd name Linkerd's metrics and keep its labels", () => {
    const n = recordedNames(linkerdAdapter(), 300);
    expect([n.requests, n.bucketsAt("edge"), n.quantile("service", 0.99)]).toEqual(["meshops_edge:response:rate5m", "meshops_edge:response_latency_ms_bucket:rate5m", "meshops_service:response_latency_ms:p99_rate5m"]);
  });
});
