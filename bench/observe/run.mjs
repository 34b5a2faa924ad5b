#!/usr/bin/env node
/**
 * `node bench/observe/run.mjs`: the service graph of a generated mesh (default 1,000 services, 5,000 edges) from a
 * real Prometheus, end to end, with the number of queries next to what a per-edge approach would issue.
 *
 *   1. compiles src/ into a private folder (tsc; another engineer's half-written file elsewhere does not stop it),
 *   2. serves Istio's standard metrics for the generated edges from an exporter in this process (counters grow by
 *      rate × time; latency uniform around each version's profile; as test/observe-exporter.ts does),
 *   3. starts Debian's `prometheus` scraping it every --scrape seconds (its own TSDB folder, removed afterwards),
 *   4. once a rate window is full, builds the graph --runs times (collectGraph: services, versions, edges, 3
 *      quantiles at each level) and reports wall time, query count, series returned; then times --sample per-edge
 *      queries (the 5 a per-edge approach issues for one edge: rate, error rate, p50, p95, p99) and extrapolates,
 *   5. prints a table and writes bench/observe/out/results.json.
 *
 * Usage: node bench/observe/run.mjs [--services N] [--edges N] [--scrape S] [--runs N] [--sample N] [--keep-data] [--meshsim]
 *
 * --rules: Prometheus also evaluates the recording rules of `meshops prometheus rules` (window 4 × scrape, interval
 * --rule-interval seconds, default 30); the graph is read both from them (the headline) and from the raw series, alternately.
 * --hold: once the series are ready, print {"prometheus": URL, "windowS", "at"} and keep everything running until
 * SIGINT/SIGTERM (to try queries by hand).
 * --pause-emulator (with --meshsim): stop meshsim once the window is full and read the graph as of that moment.
 * --meshsim: the series come from meshsim (the telemetry emulator, `--no-kube`: traffic split by replicas, Istio
 * destination reporter only) instead of the in-process exporter; one caller per generated edge's client and service.
 * Target (issue 6 item 9): under 2 s end to end, ≤ 10 queries (constant in the size of the mesh).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as netServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");

function parseArgs(argv) {
  const o = { services: 1000, edges: 5000, scrape: 5, runs: 5, sample: 20, keepData: false, meshsim: false, pauseEmulator: false, ruleInterval: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === "--services") o.services = next();
    else if (a === "--edges") o.edges = next();
    else if (a === "--scrape") o.scrape = next();
    else if (a === "--runs") o.runs = next();
    else if (a === "--sample") o.sample = next();
    else if (a === "--keep-data") o.keepData = true;
    else if (a === "--meshsim") o.meshsim = true;
    else if (a === "--pause-emulator") o.pauseEmulator = true;
    else if (a === "--hold") o.hold = true;
    else if (a === "--rules") o.rules = true;
    else if (a === "--rule-interval") o.ruleInterval = next();
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Services in 10 namespaces, one in five with a second version; edges from a service's v1 to another's version. */
function generateMesh(nServices, nEdges) {
  const r = rng(20261126);
  const services = Array.from({ length: nServices }, (_, i) => ({ name: `svc-${String(i).padStart(4, "0")}`, ns: `team-${i % 10}`, versions: i % 5 === 0 ? ["v1", "v2"] : ["v1"], latencyMs: 5 + Math.floor(r() * 200) }));
  const seen = new Set();
  const edges = [];
  while (edges.length < nEdges) {
    const src = services[Math.floor(r() * nServices)];
    const dst = services[Math.floor(r() * nServices)];
    if (src === dst) continue;
    const version = dst.versions[Math.floor(r() * dst.versions.length)];
    const key = `${src.name}.${src.ns}>${dst.name}.${dst.ns}@${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ src, dst, version, rps: 0.5 + r() * 20, errorRatio: r() < 0.1 ? r() * 0.2 : 0, latencyMs: dst.latencyMs * (version === "v2" ? 1.5 : 1), mtls: r() < 0.9 });
  }
  return { services, edges };
}

const BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** Child processes (meshsim, Prometheus) and temporary folders: killed and removed when this process exits however it exits. */
const children = new Set();
const dirs = new Set();
function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}
function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}
process.once("exit", () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill("SIGCONT");
      c.kill("SIGKILL");
    }
  }
  // (a --keep-data folder was reported and is kept)
  for (const d of dirs) if (!keptDirs.has(d)) rmSync(d, { recursive: true, force: true });
});
const keptDirs = new Set();
// interrupted (except while --hold waits for exactly that): exit, which kills the children (above)
let holding = false;
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => holding || process.exit(130));

/**
 * meshsim serving the generated mesh: every service with its versions (latency from its profile, v2 1.5× slower),
 * one caller per (client, service) pair of the generated edges (their rates summed); meshsim splits each call
 * between the service's versions by replicas, so the series are (client, service, version) edges.
 */
async function startMeshsim(mesh) {
  const dir = tempDir("meshops-bench-meshsim-");
  const callers = new Map();
  for (const e of mesh.edges) {
    const k = `${e.src.ns}/${e.src.name}>${e.dst.ns}/${e.dst.name}`;
    const c = callers.get(k) ?? { source: `${e.src.name}-v1`, namespace: e.src.ns, version: "v1", service: `${e.dst.ns}/${e.dst.name}`, rps: 0 };
    c.rps += e.rps;
    callers.set(k, c);
  }
  const lines = ["mesh: istio", "mtls: 0.9", "stepMs: 1000", "reporters: [destination]", "services:"];
  for (const sv of mesh.services) {
    lines.push(`  - namespace: ${sv.ns}`, `    name: ${sv.name}`, "    versions:");
    for (const v of sv.versions) {
      const l = sv.latencyMs * (v === "v2" ? 1.5 : 1);
      lines.push(`      ${v}: { latency: { p50Ms: ${l.toFixed(1)}, p95Ms: ${(2 * l).toFixed(1)}, p99Ms: ${(3 * l).toFixed(1)} }, errorRatio: 0.01 }`);
    }
  }
  lines.push("callers:");
  for (const c of callers.values()) lines.push(`  - { source: ${c.source}, namespace: ${c.namespace}, version: v1, service: ${c.service}, rps: ${c.rps.toFixed(2)} }`);
  writeFileSync(join(dir, "sim.yaml"), `${lines.join("\n")}\n`);
  // the repository's own build (npm run build): meshsim needs node_modules beside it
  const child = track(spawn(process.execPath, [join(repoRoot, "dist", "meshsim", "main.js"), "--config", join(dir, "sim.yaml"), "--no-kube", "--listen", "127.0.0.1:0", "--seed", "1"], { stdio: ["ignore", "pipe", "inherit"] }));
  const first = await new Promise((resolvePromise, reject) => {
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolvePromise(JSON.parse(buf.slice(0, nl)));
    });
    child.once("exit", (code) => reject(new Error(`meshsim exited (${code}) before serving`)));
  });
  const url = new URL(first.metrics ?? first.url);
  // (client, service, version) rows of the 200 responses, as the readiness check counts them
  const byService = new Map(mesh.services.map((sv) => [`${sv.ns}/${sv.name}`, sv.versions.length]));
  const expectedSeries = [...callers.values()].reduce((n, c) => n + (byService.get(c.service) ?? 1), 0);
  console.error(`meshsim: ${callers.size} callers over ${mesh.services.length} services at ${url.host} (expect ${expectedSeries} request series)`);
  let paused = false;
  return {
    target: url.host,
    expectedSeries,
    pause: () => {
      child.kill("SIGSTOP");
      paused = true;
      return Math.floor(Date.now() / 1000) - 1;
    },
    close: async () => {
      if (paused) child.kill("SIGCONT");
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An exporter of istio_requests_total and istio_request_duration_milliseconds_bucket for the edges. */
async function startExporter(edges) {
  const start = Date.now() / 1000;
  const prefix = edges.map((e) => {
    const l = `reporter="destination",source_workload="${e.src.name}-v1",source_workload_namespace="${e.src.ns}",destination_service="${e.dst.name}.${e.dst.ns}.svc.cluster.local",destination_workload="${e.dst.name}-${e.version}",destination_workload_namespace="${e.dst.ns}",destination_version="${e.version}",connection_security_policy="${e.mtls ? "mutual_tls" : "none"}"`;
    const frac = BUCKETS.map((b) => Math.min(1, Math.max(0, (b - 0.5 * e.latencyMs) / e.latencyMs)));
    return { l, frac };
  });
  const server = createServer((req, res) => {
    const t = Date.now() / 1000 - start + 60; // as if the proxies had been running for a minute
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    const chunks = ["# TYPE istio_requests_total counter\n# TYPE istio_request_duration_milliseconds histogram\n"];
    edges.forEach((e, i) => {
      const { l, frac } = prefix[i];
      const n = e.rps * t;
      const lines = [`istio_requests_total{${l},response_code="200"} ${(n * (1 - e.errorRatio)).toFixed(3)}`, `istio_requests_total{${l},response_code="503"} ${(n * e.errorRatio).toFixed(3)}`];
      BUCKETS.forEach((b, k) => lines.push(`istio_request_duration_milliseconds_bucket{${l},response_code="200",le="${b}"} ${(n * frac[k]).toFixed(3)}`));
      lines.push(`istio_request_duration_milliseconds_bucket{${l},response_code="200",le="+Inf"} ${n.toFixed(3)}`);
      chunks.push(`${lines.join("\n")}\n`);
      if (chunks.length > 200) res.write(chunks.splice(0).join(""));
    });
    res.end(chunks.join(""));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { target: `127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = netServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolvePort(p));
    });
  });
}

async function startPrometheus(target, scrapeS, rules) {
  const dir = tempDir("meshops-bench-observe-");
  const port = await freePort();
  // rule files are YAML; JSON is YAML
  if (rules) writeFileSync(join(dir, "rules.yml"), JSON.stringify(rules, null, 1));
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global: { scrape_interval: ${scrapeS}s, evaluation_interval: ${scrapeS}s }\n${rules ? `rule_files: ["${join(dir, "rules.yml")}"]\n` : ""}scrape_configs:\n  - job_name: bench\n    scrape_timeout: ${scrapeS}s\n    sample_limit: 0\n    static_configs: [{ targets: ["${target}"] }]\n`,
  );
  const child = track(spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: ["ignore", "ignore", "inherit"] }));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // starting
    }
    if (i > 100) throw new Error("prometheus did not become ready");
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    close: async (keep) => {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      if (!keep) rmSync(dir, { recursive: true, force: true });
      else {
        keptDirs.add(dir);
        console.error(`data kept in ${dir}`);
      }
    },
  };
}

async function instant(url, query, time) {
  const r = await fetch(`${url}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query, ...(time !== undefined ? { time: String(time) } : {}) }) });
  return (await r.json()).data?.result ?? [];
}

/** How far the recorded graph is from the raw one: same edges, and the relative differences of rps and p95. */
function compareGraphs(a, b) {
  if (!a || !b) return undefined;
  const key = (e) => `${e.from}>${e.to}`;
  const bEdges = new Map(b.edges.map((e) => [key(e), e]));
  const rel = (x, y) => (x === undefined || y === undefined ? undefined : Math.abs(x - y) / Math.max(Math.abs(y), 1e-9));
  const rps = [];
  const p95 = [];
  let common = 0;
  for (const e of a.edges) {
    const o = bEdges.get(key(e));
    if (!o) continue;
    common++;
    rps.push(rel(e.signals.rps, o.signals.rps));
    const d = rel(e.signals.p95Ms, o.signals.p95Ms);
    if (d !== undefined) p95.push(d);
  }
  const med = (xs) => (xs.length ? xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] : undefined);
  return { recordedEdges: a.edges.length, rawEdges: b.edges.length, commonEdges: common, medianRelDiffRps: med(rps), medianRelDiffP95: med(p95) };
}

/** Compiles src/ into a private folder; errors in files observe does not import are reported but do not stop the bench. */
function build() {
  // inside the repository (bench/observe/out/, git-ignored), so the compiled modules find node_modules
  mkdirSync(join(here, "out"), { recursive: true });
  const out = mkdtempSync(join(here, "out", "dist-"));
  dirs.add(out);
  const r = spawnSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", join(repoRoot, "tsconfig.build.json"), "--outDir", out], { cwd: repoRoot, encoding: "utf8" });
  if (!existsSync(join(out, "observe", "graph.js"))) throw new Error(`tsc did not emit observe/: ${r.stdout}${r.stderr}`);
  if (r.status !== 0) console.error(`(tsc reported errors outside what the bench uses; continuing)\n${r.stdout.split("\n").slice(0, 5).join("\n")}`);
  return out;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dist = build();
  const graphMod = await import(pathToFileURL(join(dist, "observe", "graph.js")).href);
  const meshMod = await import(pathToFileURL(join(dist, "observe", "mesh.js")).href);
  const promMod = await import(pathToFileURL(join(dist, "observe", "prometheus.js")).href);
  const rulesMod = await import(pathToFileURL(join(dist, "observe", "rules.js")).href);
  const mesh = generateMesh(o.services, o.edges);
  const versions = mesh.services.reduce((n, s) => n + s.versions.length, 0);
  console.error(`mesh: ${o.services} services (${versions} versions), ${mesh.edges.length} edges; scrape every ${o.scrape}s`);
  const exporter = o.meshsim ? await startMeshsim(mesh) : await startExporter(mesh.edges);
  const windowS = 4 * o.scrape;
  // --rules: the recording rules `meshops prometheus rules --window <windowS>s --interval <rule-interval>s` writes
  const rules = o.rules ? { groups: rulesMod.recordingRuleGroups(meshMod.istioAdapter(), [windowS], o.ruleInterval) } : undefined;
  const prom = await startPrometheus(exporter.target, o.scrape, rules);
  const results = { services: o.services, versions, edges: mesh.edges.length, scrapeS: o.scrape, ...(o.rules ? { ruleIntervalS: o.ruleInterval } : {}), cpus: cpus().length, load: loadavg()[0], rules: Boolean(rules), runs: [], rawRuns: [] };
  try {
    // wait until every edge has two scrapes inside the rate window
    const t0 = Date.now();
    for (;;) {
      const [c] = await instant(prom.url, `count(rate(istio_requests_total{response_code="200"}[${windowS}s]))`);
      if (c && Number(c.value[1]) >= (exporter.expectedSeries ?? mesh.edges.length)) break;
      if (Date.now() - t0 > 180_000) throw new Error("prometheus did not collect the series within 3 minutes");
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, 2 * o.scrape * 1000));
    console.error(`series ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const adapter = meshMod.istioAdapter();
    let evalAt;
    if (rules) {
      // two evaluations of the rule group that started after the window was full: the recorded series are complete
      const client = promMod.createPromClient(prom.url);
      const readyAt = Date.now();
      let evaluations = 0;
      let last = "";
      evalAt = undefined;
      for (;;) {
        const verdict = await graphMod.recordingRulesVerdict(client, adapter, { windowS });
        const [group] = await client.rules();
        if (verdict.usable && group.lastEvaluation !== last && Date.parse(group.lastEvaluation) > readyAt) {
          evaluations++;
          last = group.lastEvaluation;
        }
        if (evaluations >= 2) {
          evalAt = Math.floor(Date.parse(last) / 1000);
          break;
        }
        if (Date.now() - readyAt > 300_000) throw new Error(`the recording rules were not usable within 5 minutes: ${verdict.reason ?? "evaluations missing"}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      console.error(`recording rules evaluated twice after ${((Date.now() - readyAt) / 1000).toFixed(1)} s`);
    }
    // with --meshsim --pause-emulator: the emulator stops (SIGSTOP) once the window is full and the graph is read
    // as of that moment: the emulator writing ~100 MB of exposition per scrape is test equipment competing for the
    // same 2 cores, which no production Prometheus shares with the emulated mesh
    if (rules) {
      // the CLI end to end (process start, rules lookup, 2 queries, JSON out), as a user runs it: while the
      // emulator still serves (it reads "now", which a paused emulator's recorded series stop covering), with the
      // repository's own build (npm run build: dist/bundle/)
      results.cliRuns = [];
      const args = [join(repoRoot, "bin", "meshops.js"), "graph", "--prometheus", prom.url, "--mesh", "istio", "--window", `${windowS}s`, "--format", "json", "--recording-rules", "require"];
      for (let i = 0; i < Math.min(3, o.runs); i++) {
        const start = performance.now();
        const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
        const ms = performance.now() - start;
        if (r.status !== 0) throw new Error(`meshops graph exited ${r.status}: ${r.stderr}`);
        const g = JSON.parse(r.stdout);
        results.cliRuns.push({ ms, source: g.source, queries: g.queries, edges: g.edges.length });
        console.error(`cli ${i + 1}: meshops graph --recording-rules require: ${ms.toFixed(0)} ms, ${g.queries} queries, ${g.edges.length} edges (emulator running)`);
      }
    }
    let at = o.pauseEmulator && exporter.pause ? exporter.pause() : undefined;
    if (rules) {
      // the recorded series must hold every edge at the time the graph is read; if the pause fell between an
      // evaluation's start and its samples, read as of the last evaluation's own time instead
      const recorded = rulesMod.recordedQueries(adapter, windowS, []).requests;
      const countAt = async (time) => Number((await instant(prom.url, `count(${recorded})`, time))[0]?.value?.[1] ?? 0);
      if ((await countAt(at)) < (exporter.expectedSeries ?? mesh.edges.length)) {
        const [group] = await promMod.createPromClient(prom.url).rules();
        const evalAt = Math.ceil(Date.parse(group.lastEvaluation) / 1000);
        console.error(`recorded series incomplete at ${at ?? "now"} (${await countAt(at)}); reading as of the last rule evaluation (${new Date(evalAt * 1000).toISOString()}, ${await countAt(evalAt)} series)`);
        if (at !== undefined) at = Math.min(at, evalAt);
      }
    }
    if (at !== undefined) console.error(`emulator paused; the graph is read as of ${new Date(at * 1000).toISOString()}`);
    if (o.hold) {
      // for experiments: keep Prometheus (and the series source) running until interrupted
      console.log(JSON.stringify({ prometheus: prom.url, windowS, ...(at !== undefined ? { at } : {}) }));
      holding = true;
      await new Promise((r) => {
        process.once("SIGINT", r);
        process.once("SIGTERM", r);
      });
      return;
    }
    const oneGraph = async (mode, time = at) => {
      const client = promMod.createPromClient(prom.url);
      const start = performance.now();
      const g = await graphMod.collectGraph(client, adapter, { windowS, levels: ["edge", "version", "service"], recordingRules: mode, ...(time !== undefined ? { at: time } : {}) });
      const ms = performance.now() - start;
      return { g, run: { ms, queries: client.queryCount, source: g.source, services: g.services.length, edges: g.edges.length } };
    };
    for (let i = 0; i < o.runs; i++) {
      // with --rules: the recorded and the raw graph alternately, the order flipped every run
      const modes = rules ? (i % 2 ? ["off", "require"] : ["require", "off"]) : ["off"];
      for (const mode of modes) {
        const { run } = await oneGraph(mode);
        if (mode === "require") results.runs.push(run);
        else (rules ? results.rawRuns : results.runs).push(run);
        console.error(`run ${i + 1} ${run.source}: ${run.ms.toFixed(0)} ms, ${run.queries} queries, ${run.services} services, ${run.edges} edges`);
      }
    }
    if (rules) {
      results.ruleEvaluation = (await promMod.createPromClient(prom.url).rules()).map((gr) => ({ group: gr.name, intervalS: gr.interval, evaluationS: gr.evaluationTime, rules: gr.rules.map((r) => ({ name: r.name, evaluationS: r.evaluationTime })) }));
      // both read as of the rule evaluation before the pause: the recorded graph is that evaluation's result, the raw
      // one recomputes it (samples scraped during the evaluation may differ)
      results.agreement = { at: evalAt, ...compareGraphs((await oneGraph("require", evalAt)).g, (await oneGraph("off", evalAt)).g) };
      console.error(`recorded vs raw: ${JSON.stringify(results.agreement)}`);
    }
    // where the time goes: each query alone, one after the other; then the 9 histogram_quantile queries the
    // graph would need if Prometheus computed the quantiles (what collectGraph did before it read bucket rates)
    const q = graphMod.graphQueries(adapter, { windowS, levels: ["edge", "version", "service"] });
    results.perQuery = [];
    const serverSide = ["edge", "version", "service"].flatMap((level) => [0.5, 0.95, 0.99].map((quantile) => adapter.latencyQuery(quantile, windowS, level)));
    for (const query of [q.requests, q.buckets.query, ...serverSide]) {
      const start = performance.now();
      const rows = await instant(prom.url, query, at);
      results.perQuery.push({ ms: performance.now() - start, rows: rows.length, query });
      console.error(`  ${(performance.now() - start).toFixed(0).padStart(6)} ms ${String(rows.length).padStart(5)} rows  ${query.slice(0, 90)}`);
    }
    // a per-edge approach: rate, error rate and three quantiles per edge, sequentially (as a naive loop would)
    const sample = mesh.edges.slice(0, o.sample);
    const perEdgeStart = performance.now();
    for (const e of sample) {
      const sel = `reporter="destination",source_workload="${e.src.name}-v1",source_workload_namespace="${e.src.ns}",destination_service="${e.dst.name}.${e.dst.ns}.svc.cluster.local",destination_version="${e.version}"`;
      await instant(prom.url, `sum(rate(istio_requests_total{${sel}}[${windowS}s]))`, at);
      await instant(prom.url, `sum(rate(istio_requests_total{${sel},response_code=~"5.."}[${windowS}s]))`, at);
      for (const q of [0.5, 0.95, 0.99]) await instant(prom.url, `histogram_quantile(${q}, sum by (le) (rate(istio_request_duration_milliseconds_bucket{${sel}}[${windowS}s])))`, at);
    }
    const perEdgeMs = (performance.now() - perEdgeStart) / sample.length;
    results.perEdge = { queriesPerEdge: 5, queries: 5 * mesh.edges.length, sampledEdges: sample.length, msPerEdge: perEdgeMs, extrapolatedMs: perEdgeMs * mesh.edges.length };
  } finally {
    await prom.close(o.keepData);
    await exporter.close();
    rmSync(dist, { recursive: true, force: true });
  }
  if (o.hold) return;
  const summary = (runs) => {
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
    return { ms, median: ms[Math.floor(ms.length / 2)] };
  };
  const { ms, median } = summary(results.runs);
  results.medianMs = median;
  if (rules) results.rawMedianMs = summary(results.rawRuns).median;
  if (results.cliRuns?.length) results.cliMedianMs = summary(results.cliRuns).median;
  results.targets = { under2s: median < 2000, atMost10Queries: results.runs.every((r) => r.queries <= 10) };
  const rows = [
    ["approach", "queries", "wall time"],
    [rules ? "recorded (meshops graph, recording rules)" : "grouped (meshops graph)", String(results.runs[0]?.queries ?? "-"), `${median.toFixed(0)} ms (median of ${ms.length}; min ${ms[0].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)})`],
    ...(rules && results.cliRuns?.length
      ? [["recorded, the CLI end to end (meshops graph, process start to JSON)", String(results.cliRuns[0].queries), (({ ms: r, median: m }) => `${m.toFixed(0)} ms (median of ${r.length}; min ${r[0].toFixed(0)}, max ${r[r.length - 1].toFixed(0)}; emulator running)`)(summary(results.cliRuns))]]
      : []),
    ...(rules
      ? [["grouped raw (meshops graph --recording-rules off)", String(results.rawRuns[0]?.queries ?? "-"), (({ ms: r, median: m }) => `${m.toFixed(0)} ms (median of ${r.length}; min ${r[0].toFixed(0)}, max ${r[r.length - 1].toFixed(0)})`)(summary(results.rawRuns))]]
      : []),
    ["per edge (5 per edge)", String(results.perEdge.queries), `~${(results.perEdge.extrapolatedMs / 1000).toFixed(0)} s (extrapolated from ${results.perEdge.sampledEdges} edges, ${results.perEdge.msPerEdge.toFixed(1)} ms each, sequential)`],
  ];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log(rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd()).join("\n"));
  if (rules) {
    for (const gr of results.ruleEvaluation) console.log(`rule group ${gr.group}: last evaluation ${gr.evaluationS?.toFixed(2)} s every ${gr.intervalS} s (${gr.rules.map((r) => `${r.name.replace(/^meshops_/, "")} ${r.evaluationS?.toFixed(2)} s`).join(", ")})`);
  }
  console.log(`targets: under 2 s ${results.targets.under2s ? "met" : "MISSED"}; ≤ 10 queries ${results.targets.atMost10Queries ? "met" : "MISSED"} (${o.services} services, ${results.edges} edges, ${cpus().length} CPUs, load ${results.load.toFixed(1)})`);
  mkdirSync(join(here, "out"), { recursive: true });
  writeFileSync(join(here, "out", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
