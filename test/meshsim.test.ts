/**
 * meshsim (the telemetry emulator) against the real test environment: routing objects applied to the staging
 * API server, meshsim following them live, the test environment's Prometheus scraping it, and the split,
 * latency and errors read back through Prometheus' HTTP API as observe will read them.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createKubeClient, type KubeClient, type KubeObject } from "../src/cluster/client.js";
import { loadKubeConfig } from "../src/cluster/kubeconfig.js";
import { repoRoot, unique } from "./helpers.js";

const promUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");
const kubeconfig = inject("kubeconfig");
const mainJs = join(repoRoot, "dist", "meshsim", "main.js");

interface Meshsim {
  proc: ChildProcess;
  url: string;
  targetFile: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const tmp = mkdtempSync(join(tmpdir(), "meshsim-test-"));
let kube: KubeClient;
let istioNs: string;
let linkerdNs: string;
let istio: Meshsim;
let linkerd: Meshsim;

async function startMeshsim(name: string, config: string): Promise<Meshsim> {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, config);
  const proc = spawn(process.execPath, [mainJs, "--config", file, "--kubeconfig", kubeconfig, "--context", "staging", "--listen", "127.0.0.1:0", "--seed", "7", "--targets-dir", targetsDir], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const line = await Promise.race([
    new Promise<string>((r) => createInterface({ input: proc.stdout! }).once("line", r)),
    exited.then((code) => Promise.reject(new Error(`meshsim exited (${code}) before serving: ${err}`))),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`meshsim did not start within 30s: ${err}`)), 30_000)),
  ]);
  const info = JSON.parse(line) as { url: string; targetFile: string };
  return { proc, url: info.url, targetFile: info.targetFile, stderr: () => err, exited };
}

async function stopMeshsim(m: Meshsim | undefined): Promise<number | null | undefined> {
  if (!m) return undefined;
  m.proc.kill("SIGTERM");
  return m.exited;
}

type Vector = { metric: Record<string, string>; value: [number, string] }[];

async function query(q: string): Promise<Vector> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; error?: string; data: { resultType: string; result: Vector } };
  if (body.status !== "success") throw new Error(`${q}: ${body.error}`);
  return body.data.result;
}

/** Polls `fn` until it returns a value (not undefined); fails with the last value seen after `timeoutMs`. */
async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, last?: () => unknown): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last?.())})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Shares of each label value in a `sum by (label)` vector. */
function shares(v: Vector, label: string): Record<string, number> {
  const total = v.reduce((a, s) => a + Number(s.value[1]), 0);
  return Object.fromEntries(v.map((s) => [s.metric[label] ?? "", total > 0 ? Number(s.value[1]) / total : 0]));
}

async function waitShares(q: string, label: string, want: Record<string, number>, tolerance: number, timeoutMs: number): Promise<Record<string, number>> {
  let seen: Record<string, number> = {};
  return eventually(`${q} ≈ ${JSON.stringify(want)}`, timeoutMs, async () => {
    seen = shares(await query(q), label);
    const ok = Object.keys(seen).length === Object.keys(want).length && Object.entries(want).every(([k, w]) => Math.abs((seen[k] ?? -1) - w) <= tolerance);
    return ok ? seen : undefined;
  }, () => seen);
}

async function control(m: Meshsim, path: string, body: unknown): Promise<Response> {
  return fetch(`${m.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

const versions = `
    versions:
      v1: { workload: reviews-v1, latency: { p50Ms: 8, p95Ms: 20, p99Ms: 40 } }
      v2: { workload: reviews-v2, latency: { p50Ms: 10, p95Ms: 25, p99Ms: 45 } }`;

function virtualService(ns: string, w1: number, w2: number): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "reviews", namespace: ns },
    spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: w1 }, { destination: { host: "reviews", subset: "v2" }, weight: w2 }] }] },
  };
}

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig({ kubeconfig, context: "staging" }), { fieldManager: "meshsim-test" });
  istioNs = unique("meshsim-istio");
  linkerdNs = unique("meshsim-l5d");
  for (const ns of [istioNs, linkerdNs]) await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await kube.apply(virtualService(istioNs, 90, 10));
  await kube.apply({
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "reviews", namespace: istioNs },
    spec: { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] },
  });
  await kube.apply({
    apiVersion: "split.smi-spec.io/v1alpha2",
    kind: "TrafficSplit",
    metadata: { name: "reviews-split", namespace: linkerdNs },
    spec: { service: "reviews", backends: [{ service: "reviews-v1", weight: 90 }, { service: "reviews-v2", weight: 10 }] },
  });
  // both at once: most of the wait is Prometheus discovering the targets
  [istio, linkerd] = await Promise.all([
    startMeshsim("istio", `mesh: istio\nmtls: 0.8\nservices:\n  - namespace: ${istioNs}\n    name: reviews${versions}\ncallers:\n  - { source: productpage-v1, namespace: ${istioNs}, version: v1, service: reviews, rps: 200 }\n`),
    startMeshsim("linkerd", `mesh: linkerd\nservices:\n  - namespace: ${linkerdNs}\n    name: reviews${versions}\ncallers:\n  - { source: productpage-v1, namespace: ${linkerdNs}, service: reviews, rps: 300 }\n`),
  ]);
}, 60_000);

afterAll(async () => {
  const codes = await Promise.all([stopMeshsim(istio), stopMeshsim(linkerd)]);
  for (const ns of [istioNs, linkerdNs]) if (ns) await kube.delete({ apiVersion: "v1", kind: "Namespace", name: ns }).catch(() => undefined);
  kube?.close();
  rmSync(tmp, { recursive: true, force: true });
  expect(codes.filter((c) => c !== undefined)).toEqual(codes.filter((c) => c !== undefined).map(() => 0));
  for (const m of [istio, linkerd]) if (m) expect(existsSync(m.targetFile), `${m.targetFile} is removed on exit`).toBe(false);
});

describe("meshsim (telemetry emulator) with the test environment's Prometheus", () => {
  it("registers itself with Prometheus through the targets folder", () => {
    expect(promUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const m of [istio, linkerd]) {
      expect(m.targetFile.startsWith(targetsDir)).toBe(true);
      expect(existsSync(m.targetFile)).toBe(true);
    }
  });

  it("Istio: follows a 90/10 VirtualService, then the patch to 50/50", async () => {
    const svc = `reviews.${istioNs}.svc.cluster.local`;
    const q = (window: string): string => `sum by (destination_version) (rate(istio_requests_total{reporter="destination",destination_service=~"${svc}"}[${window}]))`;
    const t0 = Date.now();
    await waitShares(q("10s"), "destination_version", { v1: 0.9, v2: 0.1 }, 0.02, 30_000);
    const firstSplitMs = Date.now() - t0;
    // the configured 200 rps (a window longer than the series' life underestimates: a short one)
    let rps: number | undefined;
    await eventually("≈200 rps into reviews", 10_000, async () => {
      rps = Number((await query(`sum(rate(istio_requests_total{reporter="destination",destination_service="${svc}"}[3s]))`))[0]?.value[1]);
      return rps > 170 && rps < 230 ? rps : undefined;
    }, () => rps);
    const mtls = await query(`sum by (connection_security_policy) (rate(istio_requests_total{reporter="destination",destination_service="${svc}"}[10s]))`);
    const mtlsShare = shares(mtls, "connection_security_policy").mutual_tls!;
    expect(mtlsShare).toBeGreaterThan(0.7); // 0.8 configured; a few hundred sampled requests so far
    expect(mtlsShare).toBeLessThan(0.9);

    await kube.jsonPatch({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: istioNs, name: "reviews" }, [
      { op: "replace", path: "/spec/http/0/route/0/weight", value: 50 },
      { op: "replace", path: "/spec/http/0/route/1/weight", value: 50 },
    ]);
    const t1 = Date.now();
    await eventually("meshsim's /state shows 50/50", 3_000, async () => {
      const st = (await (await fetch(`${istio.url}/state`)).json()) as { services: { routing: string; weights: Record<string, number> }[] };
      return st.services[0]!.weights.v2 === 0.5 && st.services[0]!.routing === `VirtualService ${istioNs}/reviews` ? true : undefined;
    });
    await waitShares(q("4s"), "destination_version", { v1: 0.5, v2: 0.5 }, 0.05, 15_000);
    const followMs = Date.now() - t1;
    expect(followMs).toBeLessThan(15_000);
    console.log(`meshsim istio: first 90/10 split in Prometheus after ${firstSplitMs} ms, 50/50 followed in ${followMs} ms`);
  }, 60_000);

  it("Istio: latency injected into v2 through the control API raises its p95", async () => {
    const p95 = (): Promise<number | undefined> =>
      query(`histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.${istioNs}.svc.cluster.local",destination_version="v2"}[4s])))`).then((v) => {
        const x = Number(v[0]?.value[1]);
        return Number.isFinite(x) ? x : undefined;
      });
    const before = await eventually("a p95 for v2", 15_000, p95);
    expect(before).toBeLessThan(60);
    const r = await control(istio, `/control/versions/${istioNs}/reviews/v2`, { latencyMultiplier: 20 });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { services: { versions: { v2: { latencyMultiplier: number } } }[] }).services[0]!.versions.v2.latencyMultiplier).toBe(20);
    let after: number | undefined;
    await eventually("v2's p95 rises", 15_000, async () => ((after = await p95()) !== undefined && after > 5 * before ? after : undefined), () => after);
    // v1 is untouched
    const v1 = await query(`histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.${istioNs}.svc.cluster.local",destination_version="v1"}[4s])))`);
    expect(Number(v1[0]!.value[1])).toBeLessThan(60);
    expect((await control(istio, `/control/versions/${istioNs}/reviews/v9`, { latencyMultiplier: 2 })).status).toBe(404);
    expect((await control(istio, `/control/versions/${istioNs}/reviews/v2`, { errorRatio: 3 })).status).toBe(400);
  }, 40_000);

  it("Linkerd: response_total follows a 90/10 TrafficSplit; errors injected into v2 show as failures", async () => {
    await waitShares(`sum by (dst_deployment) (rate(response_total{direction="outbound",deployment="productpage-v1",dst_namespace="${linkerdNs}"}[10s]))`, "dst_deployment", { "reviews-v1": 0.9, "reviews-v2": 0.1 }, 0.02, 30_000);
    const inbound = await query(`sum by (deployment, tls) (rate(response_total{direction="inbound",namespace="${linkerdNs}"}[10s]))`);
    expect(inbound.map((s) => `${s.metric.deployment} tls=${s.metric.tls}`).sort()).toEqual(["reviews-v1 tls=true", "reviews-v2 tls=true"]);
    const hist = await query(`count(response_latency_ms_bucket{direction="outbound",dst_namespace="${linkerdNs}",dst_deployment="reviews-v1",le="50000"})`);
    expect(Number(hist[0]!.value[1])).toBeGreaterThan(0);

    expect((await control(linkerd, `/control/versions/${linkerdNs}/reviews/v2`, { errorRatio: 0.5 })).status).toBe(200);
    const ratio = `sum(rate(response_total{direction="inbound",namespace="${linkerdNs}",deployment="reviews-v2",classification="failure"}[4s])) / sum(rate(response_total{direction="inbound",namespace="${linkerdNs}",deployment="reviews-v2"}[4s]))`;
    let seen: number | undefined;
    await eventually("half of v2's responses fail", 15_000, async () => {
      seen = Number((await query(ratio))[0]?.value[1]);
      return seen > 0.35 && seen < 0.65 ? seen : undefined;
    }, () => seen);
    const codes = await query(`sum by (status_code) (rate(response_total{direction="inbound",namespace="${linkerdNs}",deployment="reviews-v2",classification="failure"}[4s]))`);
    expect(codes.map((s) => s.metric.status_code)).toEqual(["503"]);
  }, 50_000);
});

describe("meshsim command line", () => {
  it("names itself an emulator, and reports configuration errors with file:line and exit 2", () => {
    const help = spawnSync(process.execPath, [mainJs, "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/telemetry EMULATOR for tests and demos/);
    const bad = join(tmp, "bad.yaml");
    writeFileSync(bad, "mesh: istio\nservices:\n  - { namespace: a, name: web, versions: { v1: { errorRatio: -1 } } }\n");
    const r = spawnSync(process.execPath, [mainJs, "--config", bad, "--no-kube"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:3:50: services.0.versions.v1.errorRatio: Too small: expected number to be >=0`);
    expect(r.stdout).toBe("");
  });
});
