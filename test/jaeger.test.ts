/**
 * meshsim's spans in a real Jaeger (v2, the test environment's, in-memory storage): meshsim follows a 50/50
 * VirtualService on the staging API server between a fast v1 and a 10× slower v2 of reviews and sends spans with
 * --otlp-url; the traces are read back through Jaeger's HTTP query API as correlate reads them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createKubeClient, type KubeClient } from "../src/cluster/client.js";
import { loadKubeConfig } from "../src/cluster/kubeconfig.js";
import { repoRoot, unique } from "./helpers.js";

const jaegerUrl = inject("jaegerUrl");
const otlpUrl = inject("jaegerOtlpUrl");
const kubeconfig = inject("kubeconfig");
const mainJs = join(repoRoot, "dist", "meshsim", "main.js");

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: { key: string; type: string; value: unknown }[];
  processID: string;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

const tmp = mkdtempSync(join(tmpdir(), "jaeger-test-"));
let kube: KubeClient;
let ns: string;
let proc: ChildProcess | undefined;
let exited: Promise<number | null> | undefined;
let simUrl = "";
let stderr = "";

async function get<T>(path: string): Promise<T> {
  const r = await fetch(`${jaegerUrl}${path}`);
  if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { data: T }).data;
}

const tag = (s: JaegerSpan, key: string): unknown => s.tags.find((t) => t.key === key)?.value;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The server spans of reviews.<ns> in the traces Jaeger returns (the query also brings their client spans). */
async function reviewsSpans(extra = ""): Promise<{ traces: JaegerTrace[]; server: JaegerSpan[] }> {
  const traces = await get<JaegerTrace[]>(`/api/traces?service=${encodeURIComponent(`reviews.${ns}`)}&limit=200&lookback=5m${extra}`);
  const server = traces.flatMap((t) => t.spans.filter((s) => t.processes[s.processID]?.serviceName === `reviews.${ns}` && tag(s, "span.kind") === "server"));
  return { traces, server };
}

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, last?: () => unknown): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last?.())}); meshsim said: ${stderr}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig({ kubeconfig, context: "staging" }), { fieldManager: "jaeger-test" });
  ns = unique("jaeger");
  await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await kube.apply({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "reviews", namespace: ns },
    spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: 50 }, { destination: { host: "reviews", subset: "v2" }, weight: 50 }] }] },
  });
  await kube.apply({
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "reviews", namespace: ns },
    spec: { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] },
  });
  const file = join(tmp, "sim.yaml");
  writeFileSync(
    file,
    `mesh: istio
stepMs: 100
services:
  - namespace: ${ns}
    name: reviews
    versions:
      v1: { workload: reviews-v1, latency: { p50Ms: 10, p95Ms: 20, p99Ms: 30 } }
      v2: { workload: reviews-v2, latency: { p50Ms: 100, p95Ms: 200, p99Ms: 300 } }
callers:
  - { source: productpage-v1, namespace: ${ns}, version: v1, service: reviews, rps: 100 }
`,
  );
  proc = spawn(
    process.execPath,
    [mainJs, "--config", file, "--kubeconfig", kubeconfig, "--context", "staging", "--listen", "127.0.0.1:0", "--otlp-url", otlpUrl, "--traces-per-second", "20"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  proc.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  exited = new Promise<number | null>((r) => proc!.once("exit", (code) => r(code)));
  const line = await Promise.race([
    new Promise<string>((r) => createInterface({ input: proc!.stdout! }).once("line", r)),
    exited.then((code) => Promise.reject(new Error(`meshsim exited (${code}) before serving: ${stderr}`))),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`meshsim did not start within 30s: ${stderr}`)), 30_000)),
  ]);
  const info = JSON.parse(line) as { url: string; otlpEndpoint: string };
  expect(info.otlpEndpoint).toBe(`${otlpUrl}/v1/traces`);
  simUrl = info.url;
}, 60_000);

afterAll(async () => {
  if (proc) {
    proc.kill("SIGTERM");
    await exited;
  }
  if (ns) await kube.delete({ apiVersion: "v1", kind: "Namespace", name: ns }).catch(() => undefined);
  kube?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("meshsim → Jaeger (OTLP/HTTP JSON)", () => {
  it("lists the emulated services in Istio's naming (<app>.<namespace>)", async () => {
    let seen: string[] = [];
    const services = await eventually("reviews and productpage in /api/services", 10_000, async () => {
      const s = (seen = (await get<string[] | null>("/api/services")) ?? []);
      return s.includes(`reviews.${ns}`) && s.includes(`productpage.${ns}`) ? s : undefined;
    }, () => seen);
    expect(services).toContain(`reviews.${ns}`);
    const ops = await get<string[]>(`/api/services/${encodeURIComponent(`reviews.${ns}`)}/operations`);
    expect(ops).toContain(`reviews.${ns}.svc.cluster.local:9080/*`);
  });

  it("traces: a client span in the caller, the server span with the version, v2's ~10× longer than v1's", async () => {
    const { traces, server } = await eventually("≥ 15 server spans of each version", 15_000, async () => {
      const r = await reviewsSpans();
      const n = (v: string): number => r.server.filter((s) => tag(s, "version") === v).length;
      return n("v1") >= 15 && n("v2") >= 15 ? r : undefined;
    });
    for (const t of traces.slice(0, 20)) {
      expect(t.spans).toHaveLength(2);
      const srv = t.spans.find((s) => tag(s, "span.kind") === "server")!;
      const cli = t.spans.find((s) => tag(s, "span.kind") === "client")!;
      expect(t.processes[cli.processID]!.serviceName).toBe(`productpage.${ns}`);
      expect(srv.references).toEqual([{ refType: "CHILD_OF", traceID: t.traceID, spanID: cli.spanID }]);
      expect(t.traceID).toMatch(/^[0-9a-f]{32}$/);
      expect(srv.operationName).toBe(`reviews.${ns}.svc.cluster.local:9080/*`);
      expect(tag(srv, "http.status_code")).toBe(200);
      expect(tag(srv, "upstream_cluster")).toBe("inbound|9080||");
      expect(tag(srv, "istio.canonical_revision")).toBe(tag(srv, "version"));
      expect(String(tag(srv, "node_id"))).toContain(`reviews-${String(tag(srv, "version"))}.${ns}`);
      expect(cli.duration).toBeGreaterThanOrEqual(srv.duration);
    }
    const d = (v: string): number => median(server.filter((s) => tag(s, "version") === v).map((s) => s.duration));
    const ratio = d("v2") / d("v1");
    expect(d("v1")).toBeGreaterThan(5_000); // µs: p50 10 ms
    expect(d("v1")).toBeLessThan(20_000);
    expect(ratio).toBeGreaterThan(6);
    expect(ratio).toBeLessThan(16);
  });

  it("errors injected through meshsim's control API become error spans (status ERROR, HTTP 503)", async () => {
    const r = await fetch(`${simUrl}/control/versions/${ns}/reviews/v2`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ errorRatio: 0.5 }) });
    expect(r.status).toBe(200);
    // Jaeger's tag search on the HTTP status (its {"error":"true"} search does not work on v2's memory storage:
    // the query's tag values are strings and that storage reads the error filter as a bool, so filter on the spans)
    const failed = await eventually("error spans of reviews v2", 15_000, async () => {
      const { server } = await reviewsSpans(`&tags=${encodeURIComponent(JSON.stringify({ "http.status_code": "503" }))}`);
      return server.length >= 3 ? server : undefined;
    });
    for (const s of failed) {
      expect(tag(s, "version")).toBe("v2");
      expect(tag(s, "error")).toBe(true);
      expect(tag(s, "otel.status_code")).toBe("ERROR");
    }
    const { server } = await reviewsSpans();
    const errors = server.filter((s) => tag(s, "error") === true);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((s) => tag(s, "version") === "v2" && tag(s, "http.status_code") === 503)).toBe(true);
  });
});
