#!/usr/bin/env node
/**
 * `npm run bench:cluster`: meshops plan/apply vs kubectl apply/diff --server-side against a real API server
 * (scripts/testenv.sh: kube-apiserver + etcd with the ../shared/crds CRDs), side by side in one run.
 *
 *   1. builds meshops (npm run build), uses the test environment in KUBECONFIG_TESTENV or starts its own,
 *   2. generates the same objects twice with bench/check/generate.mjs (default 1,000 objects): a git repository
 *      with a meshops.yaml for meshops and a folder for kubectl, in disjoint namespaces of one cluster,
 *   3. per repetition (tool order alternating): initial apply (objects deleted before), no-change re-apply,
 *      plan/diff with no change, plan/diff with one changed object; then drift detection latency (if the
 *      `meshops drift` command exists),
 *   4. prints a table, the kubectl/meshops ratios and the targets, writes out/results.json, deletes everything.
 *
 * Usage: node bench/cluster/run.mjs [--runs N] [--objects N] [--per-file N] [--seed N] [--context NAME]
 *          [--only initial-apply,reapply,plan-nochange,plan-change,drift] [--drift-samples N]
 *          [--kubectl-diff-concurrency N] [--rev REV|worktree | --no-build] [--keep] [--fail-on-targets]
 *        node bench/cluster/run.mjs --cleanup ID   (removes what a --keep or killed run ID left; without ID: lists them)
 * Env:   KUBECONFIG_TESTENV  kubeconfig of a running test environment (else: scripts/testenv.sh up --dir <tmp>)
 *        MESHOPS_SHARED_DIR  folder holding crds/ (for a test environment the bench starts itself)
 *        MESHOPS_BENCH_BUILD_DIR  where --rev builds meshops (default: $TMPDIR/meshops-bench-cluster)
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { generate } from "../check/generate.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const outDir = join(here, "out");
const SCENARIOS = ["initial-apply", "reapply", "plan-nochange", "plan-change", "drift"];

// ---------------------------------------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { runs: 3, objects: 1000, perFile: 50, seed: 20240501, context: "staging", only: SCENARIOS, driftSamples: 5, diffConcurrency: 1, build: true, keep: false, failOnTargets: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min = 0) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min) throw new Error(`${a} needs an integer ≥ ${min}`);
      return v;
    };
    if (a === "--runs") o.runs = num(1);
    else if (a === "--objects") o.objects = num(1);
    else if (a === "--per-file") o.perFile = num(1);
    else if (a === "--seed") o.seed = num();
    else if (a === "--context") o.context = argv[++i];
    else if (a === "--only") o.only = (argv[++i] ?? "").split(",");
    else if (a === "--drift-samples") o.driftSamples = num(1);
    else if (a === "--kubectl-diff-concurrency") o.diffConcurrency = num(1);
    else if (a === "--no-build") o.build = false;
    else if (a === "--rev") o.rev = argv[++i];
    else if (a === "--keep") o.keep = true;
    else if (a === "--fail-on-targets") o.failOnTargets = true;
    else if (a === "--cleanup") o.cleanup = argv[i + 1] && !argv[i + 1].startsWith("-") ? argv[++i] : "";
    else if (a === "-h" || a === "--help") {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 21).join("\n").replace(/^ ?\*\/?/gm, "") + "\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  const unknown = o.only.filter((s) => !SCENARIOS.includes(s));
  if (unknown.length) throw new Error(`--only: unknown scenario(s) ${unknown.join(", ")} (scenarios: ${SCENARIOS.join(", ")})`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (s = "") => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(cmd, args, { cwd = repoRoot, input, env } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, input, env: env ?? process.env });
  if (r.error) throw r.error;
  return r;
}

function buildMeshops() {
  const cli = join(repoRoot, "dist", "cli", "main.js");
  if (!opts.build) {
    if (!existsSync(cli)) throw new Error("dist/ is missing: run without --no-build (or npm run build)");
    log("meshops: using the existing dist/ (--no-build)");
    return;
  }
  log("meshops: npm run build");
  const r = sh("npm", ["run", "--silent", "build"]);
  if (r.status === 0) return;
  if (!existsSync(cli)) {
    process.stderr.write(r.stdout + r.stderr);
    throw new Error("npm run build failed and there is no dist/ to fall back on");
  }
  log(`  WARNING: npm run build failed (${(r.stdout + r.stderr).trim().split("\n")[0]}); benchmarking the existing dist/`);
}

/**
 * `--rev REV`: meshops as committed at REV, exported with `git archive` to <buildRoot>/meshops-<commit>/ and built
 * there (node_modules linked), so uncommitted work in the tree does not end up in the numbers; `--rev worktree`
 * copies the working tree's sources instead (built apart from dist/). Returns the folder holding bin/ and dist/.
 */
// outside the repository: eslint and tsc must not see these copies of src/
const buildRoot = process.env.MESHOPS_BENCH_BUILD_DIR ? resolve(process.env.MESHOPS_BENCH_BUILD_DIR) : join(tmpdir(), "meshops-bench-cluster");

function meshopsAtRevision(rev) {
  if (rev === "worktree") {
    // the working tree as it is now (uncommitted and untracked sources included), built apart from dist/
    const dir = join(buildRoot, "meshops-worktree");
    log(`meshops: the working tree, copied to ${dir} and built there`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const p of ["src", "bin", "schemas", "package.json", "tsconfig.json", "tsconfig.build.json"]) cpSync(join(repoRoot, p), join(dir, p), { recursive: true });
    buildIn(dir, "the working tree");
    return { root: dir, commit: `${sh("git", ["rev-parse", "HEAD"]).stdout.trim()}+worktree` };
  }
  const commit = sh("git", ["rev-parse", "--verify", `${rev}^{commit}`]).stdout.trim();
  if (!commit) throw new Error(`--rev ${rev}: not a commit`);
  const dir = join(buildRoot, `meshops-${commit.slice(0, 12)}`);
  if (existsSync(join(dir, "dist", "cli", "main.js"))) {
    log(`meshops: ${rev} (${commit.slice(0, 12)}), built before in ${dir}`);
    return { root: dir, commit };
  }
  log(`meshops: ${rev} (${commit.slice(0, 12)}): git archive → ${dir}, tsc`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const x = sh("bash", ["-c", `git archive ${commit} | tar -x -C "$1"`, "-", dir]);
  if (x.status !== 0) throw new Error(`git archive ${commit}: ${x.stderr}`);
  buildIn(dir, commit.slice(0, 12));
  return { root: dir, commit };
}

/** Links node_modules into a copy of the repository and compiles it (tsc -p tsconfig.build.json). */
function buildIn(dir, what) {
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
  const b = sh(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: dir });
  if (b.status !== 0) {
    rmSync(join(dir, "dist"), { recursive: true, force: true });
    throw new Error(`tsc of ${what} failed: ${(b.stdout + b.stderr).slice(0, 500)}`);
  }
}

// ---------------------------------------------------------------------------------------------- test environment

/** The test environment: KUBECONFIG_TESTENV, or one started here (and stopped by stop()). */
function testEnvironment() {
  if (process.env.KUBECONFIG_TESTENV) {
    const kubeconfig = resolve(process.env.KUBECONFIG_TESTENV);
    if (!existsSync(kubeconfig)) throw new Error(`KUBECONFIG_TESTENV=${kubeconfig} does not exist`);
    return { kubeconfig, own: false, stop: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), "meshops-bench-testenv-"));
  log(`testenv: bash scripts/testenv.sh up --dir ${dir} (no KUBECONFIG_TESTENV given)`);
  const r = sh("bash", ["scripts/testenv.sh", "up", "--dir", dir]);
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error("scripts/testenv.sh up failed");
  }
  const last = r.stdout.trim().split("\n").pop() ?? "";
  const m = /^export KUBECONFIG=(.+)$/.exec(last);
  if (!m) throw new Error(`scripts/testenv.sh up: unexpected last line ${JSON.stringify(last)}`);
  return {
    kubeconfig: m[1],
    own: true,
    stop: () => {
      log(`testenv: bash scripts/testenv.sh down --dir ${dir}`);
      sh("bash", ["scripts/testenv.sh", "down", "--dir", dir]);
    },
  };
}

/** PIDs of the context's kube-apiserver and of etcd, from the environment's `env` file (for server CPU time). */
function serverPids(kubeconfig, context) {
  const envFile = join(dirname(kubeconfig), "env");
  if (!existsSync(envFile)) return [];
  const vars = Object.fromEntries(
    readFileSync(envFile, "utf8")
      .split("\n")
      .map((l) => /^([A-Z_]+)=(.*)$/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], m[2]]),
  );
  return [vars[`${context.toUpperCase()}_PID`], vars.ETCD_PID].filter((p) => p && existsSync(`/proc/${p}/stat`)).map(Number);
}

const CLK_TCK = Number(sh("getconf", ["CLK_TCK"]).stdout.trim()) || 100;

/** user+sys CPU ms of the given processes (0 for a process that is gone). */
function cpuOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

// ---------------------------------------------------------------------------------------------- cluster access (setup, cleanup, drift patches)

/** One raw API request with the kubeconfig's credentials (for what KubeClient has no verb for). */
async function rawRequest(kc, method, path, body, contentType = "application/json") {
  const cluster = kc.getCurrentCluster();
  const url = new URL(path, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const ro = { method, headers: { Accept: "application/json", ...(payload ? { "Content-Type": contentType, "Content-Length": String(Buffer.byteLength(payload)) } : {}) }, timeout: 30_000 };
  await kc.applyToHTTPSOptions(ro);
  return new Promise((res, rej) => {
    const req = httpsRequest(url, ro, (r) => {
      const chunks = [];
      r.on("data", (c) => chunks.push(c));
      r.on("end", () => res({ status: r.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", rej);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Object identities in the generated files (apiVersion, kind, namespace, name). */
function refsOf(dir, files) {
  const refs = [];
  for (const f of files) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), "utf8"))) {
      const o = d.toJS();
      if (o) refs.push({ apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name });
    }
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------- measuring

const gnuTime = ["/usr/bin/time", "/bin/time"].find((p) => existsSync(p) && spawnSync(p, ["-f", "%M", "true"]).status === 0);
const timeDir = mkdtempSync(join(tmpdir(), "meshops-bench-cluster-"));
process.on("exit", () => rmSync(timeDir, { recursive: true, force: true }));

/** Runs one command: wall time spawn → exit, the child's CPU (GNU time) and the API server's + etcd's CPU meanwhile. */
function measure(cmd, args, { cwd, env, pids }) {
  return new Promise((resolvePromise, reject) => {
    const timeFile = join(timeDir, "time.txt");
    rmSync(timeFile, { force: true });
    const argv = gnuTime ? [gnuTime, ["-f", "%M %U %S", "-o", timeFile, cmd, ...args]] : [cmd, args];
    const stdout = [];
    const stderr = [];
    const server0 = cpuOf(pids);
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv[1], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => stdout.push(d));
    child.stderr.on("data", (d) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const serverCpuMs = pids.length ? Math.round(cpuOf(pids) - server0) : null;
      let cpuMs = null;
      if (gnuTime && existsSync(timeFile)) {
        const [, u, s] = (readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "").split(" ").map(Number);
        if (Number.isFinite(u) && Number.isFinite(s)) cpuMs = Math.round((u + s) * 1000);
      }
      resolvePromise({ ms, cpuMs, serverCpuMs, exit: code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? null : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// ---------------------------------------------------------------------------------------------- checks of each run's output

/** meshops --format json change set → summary counts, or an error string. */
function meshopsSummary(r) {
  try {
    const j = JSON.parse(r.stdout);
    return { summary: j.summary, failed: j.failed ?? 0, configured: j.entries.filter((e) => e.action === "configured").map((e) => e.subject) };
  } catch (e) {
    return { error: `unparsable output (${e.message}); exit ${r.exit}; stderr: ${r.stderr.slice(0, 400)}` };
  }
}

/** Checks a run's output says it did the expected work; returns a problem string or undefined. */
function verify(scenario, side, r, n, changed) {
  if (side === "meshops") {
    const s = meshopsSummary(r);
    if (s.error) return s.error;
    const want = scenario === "initial-apply" ? { created: n } : scenario === "plan-change" ? { configured: 1, unchanged: n - 1 } : { unchanged: n };
    for (const [k, v] of Object.entries(want)) if (s.summary[k] !== v) return `summary.${k} ${s.summary[k]} ≠ ${v} (exit ${r.exit}; ${JSON.stringify(s.summary)}; stderr: ${r.stderr.slice(0, 300)})`;
    if (r.exit !== 0) return `exit ${r.exit}: ${r.stderr.slice(0, 300)}`;
    if (scenario === "plan-change" && !s.configured[0]?.endsWith(`/${changed.namespace}/${changed.name}`)) return `configured ${s.configured.join(", ")}, expected ${changed.kind}/${changed.namespace}/${changed.name}`;
    return undefined;
  }
  if (scenario === "initial-apply" || scenario === "reapply") {
    const applied = r.stdout.split("\n").filter((l) => l.endsWith(" serverside-applied")).length;
    if (r.exit !== 0) return `exit ${r.exit}: ${r.stderr.slice(0, 300)}`;
    if (applied !== n) return `${applied} "serverside-applied" lines ≠ ${n}`;
    return undefined;
  }
  // kubectl diff: exit 0 = no differences, 1 = differences, > 1 = error
  const files = r.stdout.split("\n").filter((l) => l.startsWith("diff -u ")).length;
  if (scenario === "plan-nochange") return r.exit === 0 && files === 0 ? undefined : `exit ${r.exit}, ${files} differing objects (expected none); ${(r.stderr || r.stdout).slice(0, 300)}`;
  if (r.exit !== 1 || files !== 1) return `exit ${r.exit}, ${files} differing objects (expected 1); ${(r.stderr || r.stdout).slice(0, 300)}`;
  if (!r.stdout.includes(changed.name)) return `the diff does not name ${changed.name}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------- cleanup

/** Every apiVersion/kind bench/check/generate.mjs writes (what removeRun deletes). */
const KINDS = [
  "apps/v1/Deployment",
  "gateway.networking.k8s.io/v1/HTTPRoute",
  "networking.istio.io/v1/DestinationRule",
  "networking.istio.io/v1/VirtualService",
  "policy.linkerd.io/v1alpha1/AuthorizationPolicy",
  "policy.linkerd.io/v1alpha1/MeshTLSAuthentication",
  "policy.linkerd.io/v1beta3/Server",
  "security.istio.io/v1/AuthorizationPolicy",
  "security.istio.io/v1/PeerAuthentication",
  "v1/Service",
  "v1/ServiceAccount",
];

/**
 * Removes what run `id` created: the objects in its namespaces (labelled meshops.dev/bench=<id>), its meshops
 * inventory and lease, the namespaces (finalized here: the test environment runs no namespace controller)
 * and out/<id>/.
 */
async function removeRun({ kube, rawKc, cluster, id }) {
  const namespaces = (await kube.list("v1", "Namespace", { labelSelector: `meshops.dev/bench=${id}` })).map((n) => n.metadata.name);
  log(`\ncleanup of run ${id}: objects in ${namespaces.length} namespaces, the inventory and lease of bench-${id}, the namespaces`);
  let deleted = 0;
  await Promise.all(
    namespaces.flatMap((ns) =>
      KINDS.map(async (k) => {
        const i = k.lastIndexOf("/");
        const items = await kube.list(k.slice(0, i), k.slice(i + 1), { namespace: ns });
        await Promise.all(
          items.map(async (o) => {
            if (await kube.delete({ apiVersion: k.slice(0, i), kind: k.slice(i + 1), namespace: ns, name: o.metadata.name })) deleted++;
          }),
        );
      }),
    ),
  );
  await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: cluster.SYSTEM_NAMESPACE, name: cluster.inventoryName(`bench-${id}`) });
  await kube.delete({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: cluster.SYSTEM_NAMESPACE, name: cluster.leaseName(`bench-${id}`) });
  await Promise.all(
    namespaces.map(async (ns) => {
      await kube.delete({ apiVersion: "v1", kind: "Namespace", name: ns });
      const got = await rawRequest(rawKc, "GET", `/api/v1/namespaces/${ns}`);
      if (got.status !== 200) return;
      const obj = JSON.parse(got.body);
      obj.spec = { ...obj.spec, finalizers: [] };
      const r = await rawRequest(rawKc, "PUT", `/api/v1/namespaces/${ns}/finalize`, obj);
      if (r.status >= 300) log(`  could not finalize namespace ${ns}: ${r.status} ${r.body.slice(0, 200)}`);
    }),
  );
  rmSync(join(outDir, id), { recursive: true, force: true });
  log(`  deleted ${deleted} objects and ${namespaces.length} namespaces`);
}

// ---------------------------------------------------------------------------------------------- main

async function main() {
  const started = new Date();
  const loadBefore = loadavg();
  if (opts.cleanup !== undefined) {
    if (!process.env.KUBECONFIG_TESTENV) throw new Error("--cleanup needs KUBECONFIG_TESTENV (the environment the run used)");
    opts.build = false;
    opts.rev = undefined;
  }
  let meshopsRoot = repoRoot;
  let meshopsCommit;
  if (opts.rev) ({ root: meshopsRoot, commit: meshopsCommit } = meshopsAtRevision(opts.rev));
  else buildMeshops();
  const env = testEnvironment();
  const { KubeConfig } = await import("@kubernetes/client-node");
  const cluster = await import(join(meshopsRoot, "dist", "cluster", "index.js"));
  const kc = cluster.loadKubeConfig({ kubeconfig: env.kubeconfig, context: opts.context });
  const kube = cluster.createKubeClient(kc, { fieldManager: "meshops-bench-setup", concurrency: 16 });
  const rawKc = new KubeConfig();
  rawKc.loadFromFile(env.kubeconfig);
  rawKc.setCurrentContext(opts.context);
  if (opts.cleanup !== undefined) {
    if (opts.cleanup) await removeRun({ kube, rawKc, cluster, id: opts.cleanup });
    else {
      const ids = [...new Set((await kube.list("v1", "Namespace", { labelSelector: "meshops.dev/bench" })).map((n) => n.metadata.labels["meshops.dev/bench"]))];
      log(ids.length ? `runs with namespaces left in context ${opts.context}: ${ids.join(" ")} (remove one with --cleanup ID)` : `no bench/cluster namespaces in context ${opts.context}`);
    }
    kube.close();
    return;
  }
  const pids = serverPids(env.kubeconfig, opts.context);
  const childEnv = { ...process.env, KUBECONFIG: env.kubeconfig, NO_COLOR: "1" };
  const node = process.execPath;
  const meshopsBin = join(meshopsRoot, "bin", "meshops.js");

  // a run id keeps namespaces and the meshops environment (inventory, lease) apart from other runs and users
  const id = `cb${Date.now().toString(36).slice(-6)}`;
  const envName = `bench-${id}`;
  const runDir = join(outDir, id);
  // meshops adds this label to everything it applies; kubectl's copy carries the same key with a value that is no
  // meshops environment, so the objects are alike but meshops never sees kubectl's copy as its own (drift, prune)
  const labels = { meshops: { [cluster.ENV_LABEL]: envName }, kubectl: { [cluster.ENV_LABEL]: `kubectl-${id}` } };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (opts.keep) {
      log(`\n--keep: run ${id} left in place (repository ${relative(repoRoot, join(runDir, "meshops"))}); remove it with: node bench/cluster/run.mjs --cleanup ${id}`);
    } else {
      await removeRun({ kube, rawKc, cluster, id });
    }
    kube.close();
  };
  const onSignal = () => {
    log("interrupted: cleaning up");
    cleanup().finally(() => {
      env.stop();
      process.exit(130);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    log(`run ${id}: generate ${opts.objects} objects (${opts.perFile} per file, seed ${opts.seed}) twice, namespaces ${id}-m-* (meshops) and ${id}-k-* (kubectl), context ${opts.context}`);
    const sides = {
      meshops: generate({ out: join(runDir, "meshops"), seed: opts.seed, objects: opts.objects, perFile: opts.perFile, nsPrefix: `${id}-m-`, labels: labels.meshops }),
      kubectl: generate({ out: join(runDir, "kubectl"), seed: opts.seed, objects: opts.objects, perFile: opts.perFile, nsPrefix: `${id}-k-`, labels: labels.kubectl }),
    };
    const repo = sides.meshops.dir;
    writeFileSync(
      join(repo, "meshops.yaml"),
      `# bench/cluster run ${id}: ${opts.objects} objects (bench/check/generate.mjs, seed ${opts.seed})\nversion: 1\nenvironments:\n  ${envName}:\n    path: manifests\n    cluster: { context: ${opts.context} }\n`,
    );
    rmSync(join(sides.kubectl.dir, "meshops.yaml"));
    for (const args of [["init", "-q"], ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", `bench/cluster ${id}`]]) {
      const r = sh("git", args, { cwd: repo });
      if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
    }
    const refs = { meshops: refsOf(repo, sides.meshops.files), kubectl: refsOf(sides.kubectl.dir, sides.kubectl.files) };
    const n = opts.objects;
    if (refs.meshops.length !== n || refs.kubectl.length !== n) throw new Error(`generated ${refs.meshops.length}/${refs.kubectl.length} objects, expected ${n}`);
    const namespaces = [...sides.meshops.namespaces, ...sides.kubectl.namespaces];
    const unknownKinds = Object.keys(sides.meshops.kinds).filter((k) => !KINDS.includes(k));
    if (unknownKinds.length) throw new Error(`the generator makes kinds removeRun() does not delete: ${unknownKinds.join(", ")} (add them to KINDS)`);

    // the one change of plan-change: the first DestinationRule's maxEjectionPercent, in both copies of the same file
    const changeIdx = sides.meshops.files.findIndex((f) => readFileSync(join(repo, f), "utf8").includes("maxEjectionPercent: 50"));
    const edit = (side, on) => {
      const p = join(sides[side].dir, sides[side].files[changeIdx]);
      const text = readFileSync(p, "utf8");
      writeFileSync(p, on ? text.replace("maxEjectionPercent: 50", "maxEjectionPercent: 40") : text.replace("maxEjectionPercent: 40", "maxEjectionPercent: 50"));
    };
    // the DestinationRule edited is the first in that file (String.replace changes the first occurrence)
    const firstDr = (side) => {
      const docs = parseAllDocuments(readFileSync(join(sides[side].dir, sides[side].files[changeIdx]), "utf8")).map((d) => d.toJS());
      const dr = docs.find((o) => o.kind === "DestinationRule" && o.spec.trafficPolicy?.outlierDetection?.maxEjectionPercent === 50);
      return { kind: dr.kind, namespace: dr.metadata.namespace, name: dr.metadata.name };
    };
    if (changeIdx < 0) throw new Error("no DestinationRule with maxEjectionPercent: 50 to change");
    const changed = { meshops: firstDr("meshops"), kubectl: firstDr("kubectl") };

    const deleteSide = async (side) => {
      await Promise.all(refs[side].map((r) => kube.delete(r)));
      if (side === "meshops") await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: cluster.SYSTEM_NAMESPACE, name: cluster.inventoryName(envName) });
    };
    log(`setup: ${namespaces.length} namespaces`);
    await Promise.all(namespaces.map((name) => kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { "meshops.dev/bench": id } } })));
    // warm caches that are not part of the measured work: kubectl's discovery cache, Node's module cache
    sh("kubectl", ["--context", opts.context, "api-resources"], { env: childEnv });
    sh(node, [meshopsBin, "--version"]);

    const kubectlVersion = sh("kubectl", ["version", "--context", opts.context, "-o", "json"], { env: childEnv });
    let versions = {};
    try {
      const v = JSON.parse(kubectlVersion.stdout);
      versions = { kubectl: v.clientVersion?.gitVersion, server: v.serverVersion?.gitVersion };
    } catch {
      /* keep going without versions */
    }

    const kubectlDir = join(sides.kubectl.dir, "manifests");
    const kubectlApply = ["--context", opts.context, "apply", "--server-side", "--field-manager=kubectl", "-R", "-f", kubectlDir];
    const kubectlDiff = ["--context", opts.context, "diff", "--server-side", "--field-manager=kubectl", `--concurrency=${opts.diffConcurrency}`, "-R", "-f", kubectlDir];
    const commands = {
      "initial-apply": { meshops: [node, [meshopsBin, "apply", "--env", envName, "--format", "json"]], kubectl: ["kubectl", kubectlApply] },
      reapply: { meshops: [node, [meshopsBin, "apply", "--env", envName, "--format", "json"]], kubectl: ["kubectl", kubectlApply] },
      "plan-nochange": { meshops: [node, [meshopsBin, "plan", "--env", envName, "--format", "json"]], kubectl: ["kubectl", kubectlDiff] },
      "plan-change": { meshops: [node, [meshopsBin, "plan", "--env", envName, "--format", "json"]], kubectl: ["kubectl", kubectlDiff] },
    };
    const measured = SCENARIOS.filter((s) => s !== "drift" && opts.only.includes(s));
    // re-apply and plans need the objects in the cluster: every repetition starts with the initial apply unless excluded
    const runs = Object.fromEntries(measured.map((s) => [s, { meshops: [], kubectl: [] }]));
    const problems = [];
    const cwdOf = { meshops: repo, kubectl: sides.kubectl.dir };

    log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, kubectl ${versions.kubectl ?? "?"}, server ${versions.server ?? "?"}`);
    log(`load average before: ${loadBefore.map((x) => x.toFixed(2)).join(" ")}${loadBefore[0] > cpus().length ? `  WARNING: busy machine (load > ${cpus().length} cores): wall times will be noisy` : ""}`);
    log(`server CPU: ${pids.length ? `kube-apiserver '${opts.context}' + etcd (pids ${pids.join(", ")})` : "not measured (no env file beside the kubeconfig)"}`);
    log(`repetitions: ${opts.runs}, tool order alternating; scenarios: ${opts.only.join(", ")}\n`);

    if (!opts.only.includes("initial-apply") && measured.length) {
      // the other scenarios need the objects: apply them once, untimed
      log("setup: applying both sides once (initial-apply not measured)");
      for (const side of ["meshops", "kubectl"]) {
        const [cmd, args] = commands["initial-apply"][side];
        const r = await measure(cmd, args, { cwd: cwdOf[side], env: childEnv, pids: [] });
        if (r.exit !== 0) throw new Error(`${side} initial apply failed: ${r.stderr.slice(0, 500)}`);
      }
    }

    for (let rep = 0; rep < (measured.length ? opts.runs : 0); rep++) {
      const order = rep % 2 === 0 ? ["meshops", "kubectl"] : ["kubectl", "meshops"];
      const line = [];
      for (const scenario of measured) {
        if (scenario === "initial-apply") {
          // fresh state: the objects (and meshops' inventory) are absent
          for (const side of order) await deleteSide(side);
          await sleep(1000);
        }
        if (scenario === "plan-change") for (const side of order) edit(side, true);
        try {
          for (const side of order) {
            const [cmd, args] = commands[scenario][side];
            const r = await measure(cmd, args, { cwd: cwdOf[side], env: childEnv, pids });
            const problem = verify(scenario, side, r, n, changed[side]);
            if (problem) problems.push(`${scenario} ${side} run ${rep + 1}: ${problem}`);
            runs[scenario][side].push({ ms: Math.round(r.ms), cpuMs: r.cpuMs, serverCpuMs: r.serverCpuMs, exit: r.exit, ok: !problem });
            line.push(`${scenario} ${side} ${(r.ms / 1000).toFixed(1)}s${problem ? " (!)" : ""}`);
          }
        } finally {
          if (scenario === "plan-change") for (const side of order) edit(side, false);
        }
      }
      log(`run ${rep + 1}/${opts.runs}: ${line.join(", ")}`);
    }

    // -------------------------------------------------------------------------- drift detection latency
    let drift = { status: "not run (--only)" };
    if (opts.only.includes("drift")) drift = await measureDrift({ node, meshopsBin, envName, repo, childEnv, rawKc, kube, cluster, refs: refs.meshops, commands, problems });

    const loadAfter = loadavg();
    report({ meshopsCommit, started, loadBefore, loadAfter, runs, measured, drift, problems, id, envName, n, sides, versions, pids, changed, commands });
  } finally {
    await cleanup();
    env.stop();
  }
}

/**
 * Time from an out-of-band PATCH (field manager "bench-drift", another engineer's kubectl edit) to the first
 * line of `meshops drift --watch --format json` that names the object. Skipped when the command does not exist.
 */
async function measureDrift({ node, meshopsBin, envName, repo, childEnv, rawKc, kube, refs, commands, problems }) {
  const help = sh(node, [meshopsBin, "drift", "--help"], { env: childEnv });
  if (help.status !== 0 || !/drift/.test(help.stdout.split("\n")[0] ?? "")) {
    log("\ndrift: skipped: drift command not available (`meshops drift --help` does not describe a drift command)");
    return { status: "skipped: drift command not available" };
  }
  // the objects must be there, applied by meshops
  const lastApply = await measure(commands.reapply.meshops[0], commands.reapply.meshops[1], { cwd: repo, env: childEnv, pids: [] });
  if (lastApply.exit !== 0) return { status: `skipped: meshops apply before the drift measurement failed: ${lastApply.stderr.slice(0, 300)}` };
  log(`\ndrift: node bin/meshops.js drift --env ${envName} --watch --format json; ${opts.driftSamples} PATCHes by field manager bench-drift`);
  const child = spawn(node, [meshopsBin, "drift", "--env", envName, "--watch", "--format", "json"], { cwd: repo, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  let stderr = "";
  let waiter;
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d.toString("utf8");
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push({ at: process.hrtime.bigint(), text: l });
      waiter?.();
    }
  });
  child.stderr.on("data", (d) => (stderr += d.toString("utf8")));
  let exited = false;
  child.on("exit", () => {
    exited = true;
    waiter?.();
  });
  const samples = [];
  let initialMs = null;
  try {
    // the watch is established when the initial report (the first line) is out; then a short settle
    const tStart = Date.now();
    while (lines.length === 0 && !exited && Date.now() - tStart < 120_000) await Promise.race([new Promise((r) => (waiter = r)), sleep(200)]);
    if (exited || lines.length === 0) return { status: `failed: meshops drift ${exited ? "exited" : "printed nothing within 120 s"}: ${stderr.slice(0, 400)}` };
    initialMs = Date.now() - tStart;
    log(`  initial report after ${initialMs} ms`);
    await sleep(1000);
    const candidates = refs.filter((r) => r.kind === "VirtualService" || r.kind === "DestinationRule" || r.kind === "HTTPRoute");
    for (let i = 0; i < opts.driftSamples; i++) {
      const ref = candidates[(i * 7) % candidates.length];
      const info = await kube.resource(ref.apiVersion, ref.kind);
      const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
      const path = `${base}/namespaces/${ref.namespace}/${info.plural}/${ref.name}?fieldManager=bench-drift`;
      const from = lines.length;
      const t0 = process.hrtime.bigint();
      const res = await rawRequest(rawKc, "PATCH", path, { metadata: { annotations: { "bench.meshops.dev/drift": `sample-${i}` } }, spec: ref.kind === "HTTPRoute" ? { hostnames: [`drift-${i}.example.com`] } : { exportTo: ["."] } }, "application/merge-patch+json");
      if (res.status >= 300) {
        problems.push(`drift sample ${i}: PATCH ${ref.kind}/${ref.namespace}/${ref.name}: ${res.status} ${res.body.slice(0, 200)}`);
        continue;
      }
      const deadline = Date.now() + 30_000;
      let hit;
      while (!hit && !exited && Date.now() < deadline) {
        hit = lines.slice(from).find((l) => l.text.includes(ref.name) && l.text.includes(ref.namespace));
        if (!hit) await Promise.race([new Promise((r) => (waiter = r)), sleep(100)]);
      }
      if (!hit) {
        problems.push(`drift sample ${i}: no line naming ${ref.kind}/${ref.namespace}/${ref.name} within 30 s${exited ? " (meshops drift exited)" : ""}`);
        samples.push({ object: `${ref.kind}/${ref.namespace}/${ref.name}`, ms: null });
        continue;
      }
      const ms = Number(hit.at - t0) / 1e6;
      samples.push({ object: `${ref.kind}/${ref.namespace}/${ref.name}`, ms: Math.round(ms), line: hit.text.slice(0, 300) });
      log(`  sample ${i + 1}/${opts.driftSamples}: ${ref.kind}/${ref.namespace}/${ref.name} reported after ${Math.round(ms)} ms`);
      await sleep(1000);
    }
  } finally {
    child.kill("SIGTERM");
  }
  const ms = samples.map((s) => s.ms).filter((x) => x !== null);
  return { status: ms.length ? "measured" : "failed", initialReportMs: initialMs, samples, medianMs: median(ms), minMs: ms.length ? Math.min(...ms) : null, maxMs: ms.length ? Math.max(...ms) : null };
}

const TARGETS = { "initial-apply": 2, reapply: 5, "plan-nochange": 3, "plan-change": 3 };
const LABELS = {
  "initial-apply": "initial apply (objects absent)",
  reapply: "no-change re-apply",
  "plan-nochange": "plan / diff, no change",
  "plan-change": "plan / diff, one object changed",
};

function report({ meshopsCommit, started, loadBefore, loadAfter, runs, measured, drift, problems, id, envName, n, sides, versions, pids, changed, commands }) {
  const pad = (s, w, right = false) => (right ? String(s).padStart(w) : String(s).padEnd(w));
  const s1 = (ms) => (ms === null || ms === undefined ? "-" : (ms / 1000).toFixed(2));
  const stat = (rs, k = "ms") => {
    const xs = rs.map((r) => r[k]).filter((x) => x !== null && x !== undefined);
    return { median: median(xs), min: xs.length ? Math.min(...xs) : null, max: xs.length ? Math.max(...xs) : null };
  };
  const rows = measured.map((s) => {
    const m = stat(runs[s].meshops);
    const k = stat(runs[s].kubectl);
    const ratio = m.median && k.median ? k.median / m.median : null;
    const cm = stat(runs[s].meshops, "cpuMs");
    const ck = stat(runs[s].kubectl, "cpuMs");
    const sm = stat(runs[s].meshops, "serverCpuMs");
    const sk = stat(runs[s].kubectl, "serverCpuMs");
    return {
      scenario: s,
      label: LABELS[s],
      meshops: { command: commands[s].meshops[1].slice(1).join(" "), medianMs: m.median, minMs: m.min, maxMs: m.max, medianCpuMs: cm.median, medianServerCpuMs: sm.median, runs: runs[s].meshops },
      kubectl: { command: `kubectl ${commands[s].kubectl[1].join(" ")}`, medianMs: k.median, minMs: k.min, maxMs: k.max, medianCpuMs: ck.median, medianServerCpuMs: sk.median, runs: runs[s].kubectl },
      ratio: ratio === null ? null : Math.round(ratio * 100) / 100,
      target: TARGETS[s],
      pass: ratio !== null && ratio >= TARGETS[s],
    };
  });

  log(`\nResults: ${n} objects per tool (${Object.entries(sides.meshops.kinds).map(([k, c]) => `${c} ${k.split("/").pop()}`).join(", ")}) in ${sides.meshops.namespaces.length} namespaces, ${opts.runs} repetition(s)\n`);
  const head = `${pad("scenario", 34)} ${pad("meshops s", 10, true)} ${pad("(min–max)", 13, true)} ${pad("kubectl s", 10, true)} ${pad("(min–max)", 13, true)} ${pad("kubectl/meshops", 16, true)} ${pad("target", 7, true)}`;
  log(head);
  log("-".repeat(head.length));
  for (const r of rows) {
    log(
      `${pad(r.label, 34)} ${pad(s1(r.meshops.medianMs), 10, true)} ${pad(`${s1(r.meshops.minMs)}–${s1(r.meshops.maxMs)}`, 13, true)} ${pad(s1(r.kubectl.medianMs), 10, true)} ${pad(`${s1(r.kubectl.minMs)}–${s1(r.kubectl.maxMs)}`, 13, true)} ${pad(r.ratio === null ? "-" : `${r.ratio.toFixed(2)}×`, 16, true)} ${pad(`≥ ${r.target}×`, 7, true)}  ${r.pass ? "PASS" : "FAIL"}`,
    );
  }
  if (drift.status === "measured") log(`${pad("drift detection latency", 34)} ${pad(s1(drift.medianMs), 10, true)} ${pad(`${s1(drift.minMs)}–${s1(drift.maxMs)}`, 13, true)} ${pad("", 10, true)} ${pad("", 13, true)} ${pad("", 16, true)} ${pad("< 2 s", 7, true)}  ${drift.medianMs !== null && drift.medianMs < 2000 ? "PASS" : "FAIL"}`);
  else log(`${pad("drift detection latency", 34)} ${drift.status}`);
  log("(median wall time in seconds over the repetitions, spawn → exit of the command; ratio = kubectl median ÷ meshops median, > 1: meshops faster)");

  log(`\nCPU (median ms): the client process (user+sys) and the API server + etcd during the run${pids.length ? "" : " (server not measured)"}\n`);
  log(`${pad("scenario", 34)} ${pad("meshops", 9, true)} ${pad("kubectl", 9, true)}   ${pad("server:meshops", 15, true)} ${pad("server:kubectl", 15, true)}`);
  for (const r of rows) log(`${pad(r.label, 34)} ${pad(r.meshops.medianCpuMs ?? "-", 9, true)} ${pad(r.kubectl.medianCpuMs ?? "-", 9, true)}   ${pad(r.meshops.medianServerCpuMs ?? "-", 15, true)} ${pad(r.kubectl.medianServerCpuMs ?? "-", 15, true)}`);

  const uniqueProblems = [...new Set(problems)];
  log(`\nEquivalence: ${uniqueProblems.length === 0 ? `OK: every run did the expected work (${n} objects created, ${n} unchanged, or 1 changed: ${changed.meshops.kind} ${changed.meshops.name}; the drift lines named the patched objects), 0 errors` : "FAILED"}`);
  for (const p of uniqueProblems.slice(0, 15)) log(`  - ${p}`);

  const targets = rows.map((r) => ({ name: `${r.label}: kubectl/meshops ≥ ${r.target}×`, pass: r.pass, detail: `${r.ratio ?? "-"}×` }));
  if (drift.status === "measured") targets.push({ name: "drift detection latency < 2 s", pass: drift.medianMs !== null && drift.medianMs < 2000, detail: `median ${drift.medianMs} ms` });
  else targets.push({ name: "drift detection latency < 2 s", pass: null, detail: drift.status });
  log(`\nTargets:`);
  for (const t of targets) log(`  ${t.pass === null ? "SKIP" : t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.detail}`);
  log(`\nload average after: ${loadAfter.map((x) => x.toFixed(2)).join(" ")}`);

  // --rev: the exported commit; otherwise the working tree (HEAD, and whether src/ had uncommitted changes)
  const commit = meshopsCommit ? meshopsCommit.slice(0, 12) : sh("git", ["rev-parse", "--short", "HEAD"]).stdout.trim();
  const dirty = meshopsCommit ? false : sh("git", ["status", "--porcelain", "--", "src"]).stdout.trim() !== "";
  const json = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, loadBefore, loadAfter },
    meshops: { commit, srcDirty: dirty, ...(opts.rev ? { rev: opts.rev } : {}) },
    versions,
    options: { ...opts, only: opts.only },
    run: { id, env: envName, context: opts.context, objects: n, namespacesPerTool: sides.meshops.namespaces.length, kinds: sides.meshops.kinds, changed },
    scenarios: rows,
    drift,
    equivalence: { ok: uniqueProblems.length === 0, problems: uniqueProblems },
    targets,
  };
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `results-${started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${relative(repoRoot, file)} (and out/results.json)`);
  if (uniqueProblems.length) process.exitCode = 1;
  else if (opts.failOnTargets && targets.some((t) => t.pass === false)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench:cluster: ${e.stack ?? e.message}\n`);
  process.exitCode = 2;
});
