/**
 * `meshops correlate` end to end (issue 6, item 8): a real git repository applied to the staging test cluster
 * with `meshops apply`, meshsim following the applied VirtualService and serving Istio metrics, the test
 * environment's Prometheus scraping it every second. Commit 2 shifts 50% of reviews to v2, whose meshsim
 * profile is 10× slower; once applied, `correlate` must report the service's p95 latency anomaly attributed to
 * revision 2 (its commit and MR !42) within a few seconds of it being detectable. Commit 3 reverts it, and
 * `correlate` shows the recovery.
 *
 * Only asynchronous child processes while meshsim runs (spawnSync would block the worker's event loop).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, inject, it } from "vitest";
import { repoRoot, reviewsVirtualService, unique, writeTree } from "./helpers.js";

const promUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");
const kubeconfig = inject("kubeconfig");
const jaegerUrl = inject("jaegerUrl");
const jaegerOtlpUrl = inject("jaegerOtlpUrl");
const meshsimJs = join(repoRoot, "dist", "meshsim", "main.js");
const meshopsJs = join(repoRoot, "bin", "meshops.js");

const envName = unique("corr");
const ns = unique("corr-bookinfo");
const service = `reviews.${ns}`;
const tmp = mkdtempSync(join(tmpdir(), "meshops-correlate-e2e-"));
let repo: string | undefined;
let sim: { proc: ChildProcess; url: string; targetFile: string; stderr: () => string; exited: Promise<number | null> } | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => Date.now() / 1000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A child process to completion, asynchronously. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, NO_COLOR: "1", ...opts.env }, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

const meshops = (args: string[]): Promise<Run> => run(process.execPath, [meshopsJs, ...args], { cwd: repo!, env: { KUBECONFIG: kubeconfig } });

async function git(...args: string[]): Promise<string> {
  const r = await run("git", args, { cwd: repo!, env: { GIT_AUTHOR_NAME: "Alice", GIT_AUTHOR_EMAIL: "alice@example.com", GIT_COMMITTER_NAME: "Alice", GIT_COMMITTER_EMAIL: "alice@example.com" } });
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

async function apply(): Promise<{ appliedAt: number; ms: number }> {
  const t0 = Date.now();
  const r = await meshops(["apply", "--env", envName]);
  expect(r.code, `meshops apply: ${r.stdout}${r.stderr}`).toBe(0);
  return { appliedAt: now(), ms: Date.now() - t0 };
}

/** The reviews split between v1 and v2, in this test's namespace. */
const vs = (v1: number, v2: number): string => reviewsVirtualService(ns, v1, v2);

const deployment = (v: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-${v}, namespace: ${ns}, labels: {app: reviews, version: ${v}}}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: ${v}}}
  template:
    metadata: {labels: {app: reviews, version: ${v}}}
    spec:
      containers:
      - name: reviews
        image: docker.io/istio/examples-bookinfo-reviews-${v}:1.20.2
        ports: [{containerPort: 9080}]
`;

const app = [
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {istio-injection: enabled}}\n`,
  `apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: ${ns}}\nspec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}\n`,
  deployment("v1"),
  deployment("v2"),
  `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${ns}}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`,
].join("---\n");

/** meshsim: productpage calls reviews at 100 rps; v2 is 10× slower than v1 at every quantile. */
const simConfig = `mesh: istio
reporters: [destination]
services:
  - namespace: ${ns}
    name: reviews
    versions:
      v1: { workload: reviews-v1, latency: { p50Ms: 8, p95Ms: 20, p99Ms: 40 } }
      v2: { workload: reviews-v2, latency: { p50Ms: 80, p95Ms: 200, p99Ms: 400 } }
callers:
  - { source: productpage-v1, namespace: ${ns}, version: v1, service: reviews, rps: 100 }
`;

async function startMeshsim(): Promise<NonNullable<typeof sim>> {
  const file = join(tmp, "sim.yaml");
  writeFileSync(file, simConfig);
  const proc = spawn(process.execPath, [meshsimJs, "--config", file, "--kubeconfig", kubeconfig, "--context", "staging", "--listen", "127.0.0.1:0", "--targets-dir", targetsDir, "--seed", "1", "--otlp-url", jaegerOtlpUrl], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const started = { proc, url: "", targetFile: "", stderr: () => err, exited };
  sim = started; // killed in afterAll even if it never prints its line
  const line = await Promise.race([
    new Promise<string>((r) => createInterface({ input: proc.stdout! }).once("line", r)),
    exited.then((code) => Promise.reject(new Error(`meshsim exited (${code}) before serving: ${err}`))),
    sleep(30_000).then(() => Promise.reject(new Error(`meshsim did not start within 30s: ${err}`))),
  ]);
  const info = JSON.parse(line) as { url: string; targetFile: string };
  return Object.assign(started, { url: info.url, targetFile: info.targetFile });
}

async function promQuery(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== "success") throw new Error(`${q}: ${body.error}`);
  return body.data.result;
}

interface JsonAnomaly {
  subject: { level: string; id: string; service: string; version?: string };
  metric: string;
  start: string;
  end?: string;
  baseline: number;
  current: number;
  magnitude: number;
  confidence: number;
  cause: { revision: number; score: number; relation: string; lagS: number } | null;
  traces?: { service: string; slowest: { traceId: string; durationMs: number; version?: string; error: boolean; url: string }[]; failing: unknown[]; error?: string };
}
interface JsonReport {
  to: string;
  stepS: number;
  queries: number;
  changes: { revision: number; commit?: string; subject?: string; author?: string; mergeRequest?: string; appliedAt: string; services?: string[] }[];
  anomalies: JsonAnomaly[];
}

const unix = (iso: string): number => Date.parse(iso) / 1000;

/** `meshops correlate` over the last 5 minutes at 1 s resolution (3 s rate windows), restricted to our namespace. */
async function correlate(): Promise<{ report: JsonReport; ranAt: number; doneAt: number }> {
  const ranAt = now();
  const r = await meshops(["correlate", "--env", envName, "--since", "5m", "--step", "1s", "--window", "3s", "--match", `destination_service_namespace="${ns}"`, "--jaeger", jaegerUrl, "--format", "json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return { report: JSON.parse(r.stdout) as JsonReport, ranAt, doneAt: now() };
}

/** Polls correlate until `pick` finds the anomaly; returns it with the report and timings. */
async function pollCorrelate(what: string, timeoutMs: number, pick: (r: JsonReport) => JsonAnomaly | undefined): Promise<{ anomaly: JsonAnomaly; report: JsonReport; ranAt: number; doneAt: number; runs: number }> {
  const until = Date.now() + timeoutMs;
  let last: JsonReport | undefined;
  for (let runs = 1; ; runs++) {
    const c = await correlate();
    last = c.report;
    const anomaly = pick(c.report);
    if (anomaly) return { anomaly, ...c, runs };
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms; last report's anomalies: ${JSON.stringify(last.anomalies)}`);
    await sleep(250);
  }
}

afterAll(async () => {
  if (sim) {
    sim.proc.kill("SIGTERM");
    const code = await Promise.race([sim.exited, sleep(10_000).then(() => "timeout" as const)]);
    if (code === "timeout") sim.proc.kill("SIGKILL");
    if (sim.targetFile && existsSync(sim.targetFile)) rmSync(sim.targetFile, { force: true });
  }
  // the inventory, its lease and the namespace's objects (the namespace itself stays Terminating without controllers)
  const kubectl = (...args: string[]): Promise<Run> => run("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", ...args]).catch(() => ({ code: -1, stdout: "", stderr: "" }));
  await kubectl("delete", "configmap,lease", "-n", "meshops-system", `meshops-inventory-${envName}`, `meshops-apply-${envName}`, "--ignore-not-found", "--wait=false");
  await kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false");
  if (repo) rmSync(repo, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}, 30_000);

describe("meshops correlate against meshsim, Prometheus and the staging cluster", () => {
  it("attributes a 10× p95 regression to the commit that shifted traffic to the slow version, then sees the revert recover it", async () => {
    const t0 = now();
    // commit 1: reviews on v1 only, applied with meshops
    repo = writeTree({
      "meshops.yaml": `version: 1\nmeshes: [istio]\nenvironments:\n  ${envName}:\n    path: mesh\n    cluster: { context: staging }\n    prometheus: { url: "${promUrl}" }\n`,
      "mesh/app.yaml": app,
      "mesh/reviews-vs.yaml": vs(100, 0),
    });
    await git("init", "-q", "-b", "main");
    await git("add", "-A");
    await git("commit", "-q", "-m", "bookinfo on reviews v1");
    const commit1 = await git("rev-parse", "HEAD");
    const rev1 = await apply();

    // meshsim follows the applied VirtualService; Prometheus scrapes it every second
    const m = await startMeshsim();
    expect(m.targetFile.startsWith(targetsDir)).toBe(true);
    // a baseline: 25 s of samples of reviews (the detector needs at least 6 points of 1 s, uses up to 30)
    const q = `count_over_time(istio_requests_total{reporter="destination",destination_service_namespace="${ns}",destination_version="v1"}[1m])`;
    const tScrape = Date.now();
    let firstSampleAt: number | undefined;
    for (;;) {
      const samples = Number((await promQuery(q))[0]?.value[1] ?? 0);
      if (samples > 0 && firstSampleAt === undefined) firstSampleAt = now();
      if (samples >= 25) break;
      if (Date.now() - tScrape > 60_000) throw new Error(`no 25 s baseline in Prometheus within 60 s (${samples} samples); meshsim: ${m.stderr()}`);
      await sleep(500);
    }
    const baselineS = now() - (firstSampleAt ?? now());
    // no anomaly yet: the steady v1-only traffic is the baseline
    const before = await correlate();
    expect(before.report.anomalies.filter((a) => a.subject.service === service)).toEqual([]);

    // commit 2: 50% of reviews to v2 (10× slower), merged as MR !42
    writeFileSync(join(repo, "mesh", "reviews-vs.yaml"), vs(50, 50));
    await git("commit", "-q", "-am", "shift 50% of reviews to v2\n\nSee merge request mesh/config!42");
    const commit2 = await git("rev-parse", "HEAD");
    const rev2 = await apply();

    const found = await pollCorrelate("the p95 anomaly of reviews attributed to revision 2", 30_000, (r) =>
      r.anomalies.find((a) => a.subject.id === service && a.metric === "p95_latency_ms" && a.cause?.revision === 2),
    );
    const a = found.anomaly;
    const start = unix(a.start);
    const to = unix(found.report.to);
    // the anomaly starts after the apply (one step of rounding), and is reported soon after its first point is in
    // Prometheus: the detector's 3-point window (up to 2 more points at a 1 s step) plus two scrape+evaluation
    // intervals (2 × (1 s + 1 s)); on the wall clock, one correlate run (~1 s) more
    expect(start).toBeGreaterThanOrEqual(Math.floor(rev2.appliedAt) - 1 - rev2.ms / 1000);
    const reportDelay = to - start;
    const printedDelay = found.doneAt - start;
    expect(reportDelay, `report up to ${found.report.to}, anomaly from ${a.start}`).toBeLessThanOrEqual(2 + 4);
    expect(printedDelay, "wall clock from the anomaly's first point to the attribution printed").toBeLessThanOrEqual(2 + 4 + 2);
    expect(a.magnitude).toBeGreaterThan(3);
    expect(a.confidence).toBeGreaterThanOrEqual(0.9);
    expect(a.cause).toMatchObject({ revision: 2, relation: "touches-service" });
    const change2 = found.report.changes.find((c) => c.revision === 2);
    expect(change2).toMatchObject({ commit: commit2, subject: "shift 50% of reviews to v2", author: "Alice <alice@example.com>", mergeRequest: "!42", services: [service] });
    expect(found.report.changes.find((c) => c.revision === 1)?.commit).toBe(commit1);
    // the traces through reviews in the anomaly's window, from the real Jaeger meshsim sends spans to: the slowest are
    // the slow version's, far above the baseline p95
    expect(a.traces?.error).toBeUndefined();
    expect(a.traces!.service).toBe(service);
    expect(a.traces!.slowest.length).toBeGreaterThan(0);
    expect(a.traces!.slowest[0]).toMatchObject({ version: "v2", error: false, url: `${jaegerUrl.replace(/\/+$/, "")}/trace/${a.traces!.slowest[0]!.traceId}` });
    expect(a.traces!.slowest[0]!.durationMs).toBeGreaterThan(3 * a.baseline);

    // commit 3: the revert; the anomaly ends (recovered), still attributed to revision 2
    await git("revert", "--no-edit", "HEAD");
    const commit3 = await git("rev-parse", "HEAD");
    const rev3 = await apply();
    const recovered = await pollCorrelate("the recovery of reviews' p95", 30_000, (r) =>
      r.anomalies.find((x) => x.subject.id === service && x.metric === "p95_latency_ms" && x.start === a.start && x.end !== undefined),
    );
    const end = unix(recovered.anomaly.end!);
    expect(end).toBeGreaterThanOrEqual(Math.floor(rev3.appliedAt) - 1 - rev3.ms / 1000);
    // meshsim follows the revert (≤ 1 s), the 3 s rate window drains v2's slow requests, two scrape+evaluation intervals
    expect(end - rev3.appliedAt).toBeLessThanOrEqual(1 + 3 + 4 + 2);
    expect(recovered.anomaly.cause?.revision).toBe(2);
    expect(recovered.report.changes.find((c) => c.revision === 3)?.commit).toBe(commit3);
    // nothing else in the namespace was anomalous (edges repeating the service are collapsed)
    expect(recovered.report.anomalies.filter((x) => x.subject.service === service && x.start !== a.start).map((x) => [x.subject.id, x.metric, x.start])).toEqual([]);

    console.log(
      [
        `correlate e2e (${envName}):`,
        `revision 1 applied in ${rev1.ms} ms; first sample ${((firstSampleAt ?? 0) - rev1.appliedAt).toFixed(1)} s after meshsim was started, baseline ${baselineS.toFixed(1)} s`,
        `revision 2 applied in ${rev2.ms} ms; anomaly starts ${(start - rev2.appliedAt).toFixed(1)} s after the apply returned (p95 ${a.baseline.toFixed(1)} → ${a.current.toFixed(1)} ms, ×${a.magnitude.toFixed(1)}, confidence ${a.confidence.toFixed(3)})`,
        `attribution: first report with it ends ${reportDelay.toFixed(1)} s after the anomaly's first point, printed ${printedDelay.toFixed(1)} s after it, ${(found.doneAt - rev2.appliedAt).toFixed(1)} s after the apply returned (${found.runs} correlate runs)`,
        `revert applied in ${rev3.ms} ms; recovered at ${(end - rev3.appliedAt).toFixed(1)} s after it, reported ${(recovered.doneAt - rev3.appliedAt).toFixed(1)} s after it (${recovered.runs} runs)`,
        `total ${(now() - t0).toFixed(1)} s`,
      ].join("\n  "),
    );
  }, 180_000);
});
