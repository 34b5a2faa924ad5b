/**
 * observe against a real Prometheus (the test environment's, or one started for this file) scraping a small
 * exporter of Istio and Linkerd request metrics every second: the client, the grouped queries, the graph, the
 * commands, and an injected latency regression found and attributed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { createKubeClient, loadKubeConfig, writeInventory, SYSTEM_NAMESPACE, inventoryName } from "../src/cluster/index.js";
import { detectAnomalies } from "../src/observe/anomaly.js";
import { attribute } from "../src/observe/correlate.js";
import { collectGraph } from "../src/observe/graph.js";
import { collectHistory } from "../src/observe/history.js";
import { istioAdapter, linkerdAdapter } from "../src/observe/mesh.js";
import { createPromClient, PromQueryError } from "../src/observe/prometheus.js";
import { bookinfoEdges, startExporter, type Exporter } from "./observe-exporter.js";
import { prometheusFor, waitForSeries, type TestPrometheus } from "./observe-prometheus.js";

let exporter: Exporter;
let prom: TestPrometheus;
let started: number;
let cwd: string;
let repo: string;
const envName = `obs${process.pid}${Math.floor(Math.random() * 1e6)}`;
const commits: string[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, { cwd, stdout: (s) => (out += s), stderr: (s) => (err += s), isTty: false, env: {} });
  return { code, out, err };
}

beforeAll(async () => {
  exporter = await startExporter(bookinfoEdges());
  prom = await prometheusFor(exporter.target);
  started = Date.now() / 1000;
  cwd = mkdtempSync(join(tmpdir(), "meshops-observe-cli-"));
  repo = makeRepo(prom.url);
  await waitForSeries(prom.url, `istio_requests_total{${prom.matchers}}`, 8);
  // a 10s rate window full of samples (a series younger than the window reads low: rate() extrapolates only half an interval)
  await sleep(11_000);
}, 60_000);

afterAll(async () => {
  await prom?.close();
  await exporter?.close();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
  if (repo) rmSync(repo, { recursive: true, force: true });
  const kc = process.env.KUBECONFIG_TESTENV;
  if (kc) {
    const kube = createKubeClient(loadKubeConfig({ context: "staging", kubeconfig: kc }));
    await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: SYSTEM_NAMESPACE, name: inventoryName(envName) }).catch(() => false);
    kube.close();
  }
});

const vs = (v1: number, v2: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: ${v1}}
    - {destination: {host: reviews, subset: v2}, weight: ${v2}}
`;

const app = ["productpage", "reviews", "ratings"]
  .map((s) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${s}, namespace: bookinfo}\nspec: {selector: {app: ${s}}, ports: [{name: http, port: 9080}]}\n`)
  .concat(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`)
  .join("---\n");

/** A mesh repository with two commits: everything on reviews v1, then a 50/50 shift merged as MR !42. */
function makeRepo(promUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), "meshops-observe-repo-"));
  const git = (...args: string[]): string =>
    execFileSync("git", args, { cwd: dir, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "Alice", GIT_AUTHOR_EMAIL: "alice@example.com", GIT_COMMITTER_NAME: "Alice", GIT_COMMITTER_EMAIL: "alice@example.com" } }).trim();
  git("init", "-q", "-b", "main");
  mkdirSync(join(dir, "mesh"));
  writeFileSync(join(dir, "meshops.yaml"), `version: 1\nmeshes: [istio]\nenvironments:\n  ${envName}:\n    path: mesh\n    cluster: { context: staging }\n    prometheus: { url: "${promUrl}" }\n`);
  writeFileSync(join(dir, "mesh", "app.yaml"), app);
  writeFileSync(join(dir, "mesh", "reviews-vs.yaml"), vs(100, 0));
  git("add", ".");
  git("commit", "-q", "-m", "bookinfo on reviews v1");
  commits.push(git("rev-parse", "HEAD"));
  writeFileSync(join(dir, "mesh", "reviews-vs.yaml"), vs(50, 50));
  git("commit", "-q", "-am", "shift 50% of reviews to v2\n\nSee merge request platform/mesh!42");
  commits.push(git("rev-parse", "HEAD"));
  return dir;
}

describe("observe against a real Prometheus", () => {
  it("builds the Istio service graph in 2 queries: services, versions, edges with rps, errors, latency, mTLS", async () => {
    const client = createPromClient(prom.url);
    const g = await collectGraph(client, istioAdapter({ matchers: prom.matchers }), { windowS: 10, levels: ["edge", "version", "service"] });
    expect(g.queries).toBe(2);
    expect(client.queryCount).toBe(2);
    expect(g.services.map((s) => s.id)).toEqual(["productpage.bookinfo", "ratings.bookinfo", "reviews.bookinfo"]);
    const reviews = g.services.find((s) => s.id === "reviews.bookinfo")!;
    // the source reporter's duplicate series are not counted
    expect(reviews.signals.rps).toBeGreaterThan(8);
    expect(reviews.signals.rps).toBeLessThan(12);
    expect(reviews.signals.errorRatio).toBeCloseTo(0.04, 2);
    expect(reviews.signals.mtlsShare).toBe(1);
    expect(reviews.versions.map((v) => [v.version, v.workload])).toEqual([
      ["v1", "bookinfo/reviews-v1"],
      ["v2", "bookinfo/reviews-v2"],
    ]);
    const v2 = reviews.versions[1]!;
    expect(v2.signals.errorRatio).toBeCloseTo(0.1, 2);
    expect(v2.signals.p50Ms).toBeGreaterThan(30);
    expect(v2.signals.p50Ms).toBeLessThan(55);
    expect(v2.signals.p99Ms!).toBeGreaterThan(v2.signals.p95Ms!);
    expect(g.services.find((s) => s.id === "productpage.bookinfo")!.signals.mtlsShare).toBe(0);
    expect(g.clients).toEqual(["istio-system/istio-ingressgateway"]);
    expect(g.edges.map((e) => `${e.from} -> ${e.to}`)).toEqual([
      "productpage.bookinfo@v1 -> reviews.bookinfo@v1",
      "productpage.bookinfo@v1 -> reviews.bookinfo@v2",
      "reviews.bookinfo@v2 -> ratings.bookinfo@v1",
      "workload:istio-system/istio-ingressgateway -> productpage.bookinfo@v1",
    ]);
    expect(g.edges[0]!.signals.p95Ms).toBeGreaterThan(25);
  });

  it("computes the same quantiles from bucket rates as Prometheus' histogram_quantile", async () => {
    const client = createPromClient(prom.url);
    const at = Math.floor(Date.now() / 1000) - 1;
    const adapter = istioAdapter({ matchers: prom.matchers });
    const g = await collectGraph(client, adapter, { windowS: 10, at, levels: ["edge", "version", "service"] });
    for (const level of ["edge", "version", "service"] as const) {
      for (const q of [0.5, 0.95, 0.99]) {
        const server = await client.instant(adapter.latencyQuery(q, 10, level), { time: at });
        expect(server.length).toBeGreaterThan(0);
        for (const row of server) {
          const k = adapter.latencyKey(row.metric, level);
          const sig = level === "service" ? g.services.find((s) => s.id === k.service)!.signals : level === "version" ? g.services.find((s) => s.id === k.service)!.versions.find((x) => x.version === k.version)!.signals : g.edges.find((e) => e.source === k.source && e.to === `${k.service}@${k.version}`)!.signals;
          const mine = q === 0.5 ? sig.p50Ms : q === 0.95 ? sig.p95Ms : sig.p99Ms;
          expect(mine, `${level} ${JSON.stringify(row.metric)} q${q}`).toBeCloseTo(row.value, 6);
        }
      }
    }
  });

  it("reads the same traffic from Linkerd's metrics", async () => {
    const client = createPromClient(prom.url);
    const g = await collectGraph(client, linkerdAdapter(undefined, { matchers: prom.matchers }), { windowS: 10, levels: ["version", "service"] });
    expect(g.queries).toBe(2);
    const reviews = g.services.find((s) => s.id === "reviews.bookinfo")!;
    expect(reviews.versions.map((v) => v.version)).toEqual(["v1", "v2"]);
    expect(reviews.signals.errorRatio).toBeCloseTo(0.04, 2);
    expect(reviews.signals.mtlsShare).toBe(1);
    expect(reviews.signals.p95Ms).toBeGreaterThan(30);
  });

  it("meshops graph, top and metrics read Prometheus from --prometheus without a repository", async () => {
    const base = ["--prometheus", prom.url, "--mesh", "istio", "--match", prom.matchers, "--window", "10s"];
    const graph = await cli(["graph", ...base, "--format", "json"]);
    expect(graph.err).toBe("");
    expect(graph.code).toBe(0);
    const doc = JSON.parse(graph.out) as { queries: number; edges: unknown[]; services: { id: string }[] };
    expect(doc.queries).toBe(2);
    expect(doc.edges).toHaveLength(4);
    const dot = await cli(["graph", ...base]);
    expect(dot.out).toContain('"productpage.bookinfo@v1" -> "reviews.bookinfo@v2"');
    const mermaid = await cli(["graph", ...base, "--format", "mermaid"]);
    expect(mermaid.out.startsWith("flowchart LR\n")).toBe(true);
    const top = await cli(["top", ...base]);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/^SERVICE\s+VERSION\s+RPS\s+SUCCESS\s+P50 MS\s+P95 MS\s+P99 MS\s+MTLS$/m);
    expect(top.out).toMatch(/^reviews\.bookinfo\s+\*\s+\d+\.\d\d\s+96\.\d%/m);
    expect(top.out).toContain("2 Prometheus queries");
    const metrics = await cli(["metrics", ...base, "--format", "openmetrics"]);
    expect(metrics.code).toBe(0);
    expect(metrics.out).toMatch(/^mesh_reviews_bookinfo_p95_latency_ms \d+(\.\d+)?$/m);
    expect(metrics.out).toMatch(/^mesh_reviews_bookinfo_error_ratio 0\.04\d*$/m);
    expect(metrics.out.endsWith("# EOF\n")).toBe(true);
    for (const line of metrics.out.trim().split("\n").slice(0, -1)) expect(line).toMatch(/^[A-Za-z0-9_]+ -?\d+(\.\d+)?$/);
  });

  it("an unreachable Prometheus is exit 3 naming the URL", async () => {
    const r = await cli(["top", "--prometheus", "http://127.0.0.1:9", "--mesh", "istio"]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^meshops: Prometheus at http:\/\/127\.0\.0\.1:9 is unreachable: /);
  });

  it("no Prometheus URL at all is a usage error naming both ways to give one", async () => {
    const r = await cli(["top", "--mesh", "istio"]);
    expect(r.code).toBe(2);
    const withConfig = await cli(["top", "--prometheus", "not-a-url"]);
    expect(withConfig.code).toBe(2);
    expect(withConfig.err).toContain("is not an http(s) URL");
  });

  it("a PromQL error names the query and the URL", async () => {
    const client = createPromClient(prom.url);
    const e = await client.instant("sum(rate(istio_requests_total[5m])").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PromQueryError);
    expect((e as PromQueryError).code).toBe("promql_invalid");
    expect((e as Error).message).toContain(prom.url);
    expect((e as Error).message).toContain("sum(rate(istio_requests_total[5m])");
  });

  it("finds a 10× latency regression of one version within two scrape+evaluation intervals, attributes it to the change, and sees the recovery", async () => {
    // a baseline of at least 16 s of data before the change
    const wait = started + 16 - Date.now() / 1000;
    if (wait > 0) await sleep(wait * 1000);
    const changedAt = Date.now() / 1000;
    exporter.set({ service: "reviews", version: "v2" }, { latencyMs: 400 });
    // the environment's inventory says revision 2 (the 50/50 shift) was applied just now
    const kubeconfig = process.env.KUBECONFIG_TESTENV;
    if (!kubeconfig) throw new Error("KUBECONFIG_TESTENV is not set: run the tests through vitest's global setup");
    const kube = createKubeClient(loadKubeConfig({ context: "staging", kubeconfig }));
    try {
      const rev = { appliedBy: "ci", status: "complete" as const, objects: [{ apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "bookinfo", name: "reviews" }] };
      await writeInventory(kube, envName, { ...rev, commit: commits[0]!, author: "Alice", subject: "bookinfo on reviews v1", appliedAt: new Date((changedAt - 90) * 1000).toISOString() });
      await writeInventory(kube, envName, { ...rev, commit: commits[1]!, author: "Alice", subject: "shift 50% of reviews to v2", appliedAt: new Date(changedAt * 1000).toISOString() });
    } finally {
      kube.close();
    }
    await sleep(12_000);
    const client = createPromClient(prom.url);
    const end = Math.floor(Date.now() / 1000);
    const { series, queries } = await collectHistory(client, istioAdapter({ matchers: prom.matchers }), { start: Math.ceil(started), end, stepS: 1, windowS: 3, levels: ["service", "version", "edge"] });
    expect(queries).toBe(4);
    const anomalies = detectAnomalies(series, { minBaselinePoints: 6 });
    const v2 = anomalies.find((a) => a.subject.id === "reviews.bookinfo@v2" && a.metric === "p95_latency_ms");
    expect(v2, JSON.stringify(anomalies.map((a) => [a.subject.id, a.metric, a.start - changedAt]))).toBeDefined();
    // two scrape (1s) + evaluation (1s) intervals, plus the rate window's own smear of one step
    expect(v2!.start).toBeGreaterThanOrEqual(Math.floor(changedAt));
    expect(v2!.start - changedAt).toBeLessThanOrEqual(4);
    expect(v2!.magnitude).toBeGreaterThan(5);
    expect(v2!.confidence).toBeGreaterThan(0.95);
    // nothing else changed
    expect(anomalies.filter((a) => a.subject.service !== "reviews.bookinfo")).toEqual([]);
    const [at] = attribute([v2!], [
      { revision: 1, appliedAt: changedAt - 600, added: [], removed: [], modified: [], services: ["reviews.bookinfo"] },
      { revision: 2, appliedAt: changedAt - 0.5, added: [], removed: [], modified: [], services: ["reviews.bookinfo"], subject: "shift reviews to v2" },
      { revision: 3, appliedAt: changedAt - 0.2, added: [], removed: [], modified: [], services: ["details.bookinfo"] },
    ], new Map());
    expect(at!.cause?.revision).toBe(2);

    // the command: inventory from the cluster, commits rendered from the repository, history from Prometheus
    const flags = ["--env", envName, "--kubeconfig", kubeconfig, "--since", "2m", "--step", "1s", "--window", "3s", "--match", prom.matchers];
    let out = "";
    let err = "";
    const code = await main(["correlate", ...flags, "--format", "json"], { cwd: repo, stdout: (x) => (out += x), stderr: (x) => (err += x), isTty: false, env: {} });
    expect(err).toBe("");
    expect(code).toBe(0);
    const doc = JSON.parse(out) as { queries: number; changes: { revision: number; mergeRequest?: string; services?: string[] }[]; anomalies: { subject: { id: string }; metric: string; cause: { revision: number; relation: string } | null }[] };
    expect(doc.queries).toBe(5);
    expect(doc.changes.map((c) => [c.revision, c.mergeRequest ?? null, c.services])).toEqual([
      [1, null, ["productpage.bookinfo", "ratings.bookinfo", "reviews.bookinfo"]],
      [2, "!42", ["reviews.bookinfo"]],
    ]);
    const found = doc.anomalies.find((a) => a.subject.id === "reviews.bookinfo@v2" && a.metric === "p95_latency_ms");
    expect(found?.cause).toMatchObject({ revision: 2, relation: "touches-service" });
    let text = "";
    await main(["correlate", ...flags], { cwd: repo, stdout: (x) => (text += x), stderr: () => undefined, isTty: false, env: {} });
    expect(text).toMatch(new RegExp(`reviews\\.bookinfo v2  p95 latency \\d+ ms → \\d+ ms \\(×\\d+(\\.\\d)?, confidence (0\\.9\\d|1\\.00)\\)\\n {10}most likely cause: revision 2, commit ${commits[1]!.slice(0, 7)} "shift 50% of reviews to v2" \\(MR !42, by Alice\\), applied \\d\\d:\\d\\d:\\d\\d`));
    let md = "";
    await main(["correlate", ...flags, "--format", "markdown"], { cwd: repo, stdout: (x) => (md += x), stderr: () => undefined, isTty: false, env: {} });
    expect(md).toContain(`| reviews.bookinfo v2 | p95 latency`);

    // the revert: v2 is fast again, and the anomaly ends (recovery) within a few scrape intervals
    const revertedAt = Date.now() / 1000;
    exporter.set({ service: "reviews", version: "v2" }, { latencyMs: 40 });
    await sleep(9000);
    const after = await collectHistory(client, istioAdapter({ matchers: prom.matchers }), { start: Math.ceil(started), end: Math.floor(Date.now() / 1000), stepS: 1, windowS: 3, levels: ["version"] });
    const recovered = detectAnomalies(after.series, { minBaselinePoints: 6 }).find((a) => a.subject.id === "reviews.bookinfo@v2" && a.metric === "p95_latency_ms");
    expect(recovered?.end).toBeDefined();
    expect(recovered!.end! - revertedAt).toBeGreaterThanOrEqual(0);
    expect(recovered!.end! - revertedAt).toBeLessThanOrEqual(6);
  }, 90_000);
});
