#!/usr/bin/env node
/**
 * `npm run bench:check`: meshops check vs kubeconform (and istioctl analyze) on the same generated repository, in one run.
 *
 *   1. builds meshops (npm run build) and the pinned kubeconform (scripts/setup-tools.sh, a no-op when built),
 *   2. generates the repository (bench/check/generate.mjs: 10,000 objects in 500 files), its Istio + core subset
 *      (out/istio) and a git repository with two revisions of it (out/diff; the second from revise.mjs),
 *   3. exports kubeconform schemas once with `meshops schemas export` from the shared CRDs + bundled core schemas,
 *   4. runs every command N times (after W warm-up runs), alternating the order each repetition,
 *      measuring wall time, CPU time and the child's peak RSS (GNU time %M, else /proc/<pid>/status VmHWM),
 *   5. prints a table, the kubeconform/meshops and istioctl/meshops time ratios and the targets, and writes
 *      out/results.json.
 * istioctl is never built here (bash bench/check/build-istioctl.sh, 10-20+ minutes once); without it its row is skipped.
 *
 * Usage: node bench/check/run.mjs [--runs N] [--warmup N] [--seed N] [--objects N] [--per-file N]
 *                                 [--only id,id] [--no-build] [--fail-on-targets] [--istioctl PATH] [--timeout S]
 *                                 [--revise shifts=N,added=N,removed=N,linkerdRemoved=N]
 * Env:   MESHOPS_SHARED_DIR  folder holding crds/ (default: ../shared beside the repository)
 *        MESHOPS_TOOLS_DIR   tool cache whose bin/ holds istioctl (default: ~/.cache/meshops/tools)
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "./generate.mjs";
import { describeRevision, revise } from "./revise.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const outDir = join(here, "out");

// ---------------------------------------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { runs: 5, warmup: 1, seed: 20240501, objects: 10000, perFile: 20, build: true, only: undefined, failOnTargets: false, istioctl: undefined, timeout: 120, revise: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === "--runs") o.runs = Math.max(1, num());
    else if (a === "--warmup") o.warmup = num();
    else if (a === "--seed") o.seed = num();
    else if (a === "--objects") o.objects = num();
    else if (a === "--per-file") o.perFile = num();
    else if (a === "--only") o.only = (argv[++i] ?? "").split(",");
    else if (a === "--no-build") o.build = false;
    else if (a === "--fail-on-targets") o.failOnTargets = true;
    else if (a === "--istioctl") o.istioctl = argv[++i];
    else if (a === "--timeout") o.timeout = Math.max(1, num());
    else if (a === "--revise") {
      for (const kv of (argv[++i] ?? "").split(",").filter(Boolean)) {
        const [k, v] = kv.split("=");
        if (!["shifts", "added", "removed", "linkerdRemoved"].includes(k) || !/^\d+$/.test(v ?? "")) throw new Error(`--revise ${kv}: expected shifts|added|removed|linkerdRemoved=N`);
        o.revise[k] = Number(v);
      }
    }
    else if (a === "-h" || a === "--help") {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 21).join("\n").replace(/^ ?\*\/?/gm, "") + "\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (s = "") => process.stdout.write(`${s}\n`);

// ---------------------------------------------------------------------------------------------- setup

function sh(cmd, args, { cwd = repoRoot, quiet = false } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (!quiet && r.status !== 0) process.stderr.write(r.stdout + r.stderr);
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
  const r = sh("npm", ["run", "--silent", "build"], { quiet: true });
  if (r.status === 0) return;
  if (!existsSync(cli)) {
    process.stderr.write(r.stdout + r.stderr);
    throw new Error("npm run build failed and there is no dist/ to fall back on");
  }
  log(`  WARNING: npm run build failed (${(r.stdout + r.stderr).trim().split("\n")[0]}); benchmarking the existing dist/`);
}

/** Runs setup-tools.sh (builds helm + kubeconform once) and evaluates its last line, `export PATH=...`. */
function findKubeconform() {
  log("tools: bash scripts/setup-tools.sh");
  const r = sh("bash", ["scripts/setup-tools.sh"]);
  if (r.status !== 0) throw new Error("scripts/setup-tools.sh failed");
  const exportLine = r.stdout.trim().split("\n").pop() ?? "";
  if (!exportLine.startsWith("export PATH=")) throw new Error(`setup-tools.sh: unexpected last line ${JSON.stringify(exportLine)}`);
  const w = sh("bash", ["-c", `${exportLine}\ncommand -v kubeconform`]);
  const bin = w.stdout.trim();
  if (w.status !== 0 || !bin) throw new Error("kubeconform not found on the PATH setup-tools.sh printed");
  return { bin, version: sh(bin, ["-v"]).stdout.trim() };
}

function sharedCrds() {
  const envDir = process.env.MESHOPS_SHARED_DIR;
  const dir = envDir ? resolve(envDir, "crds") : resolve(repoRoot, "..", "shared", "crds");
  if (!existsSync(dir)) throw new Error(`CRD folder ${dir} not found (set MESHOPS_SHARED_DIR to the folder that holds crds/)`);
  // relative to the repository, as the docs and tests reference it (../shared/crds); absolute if elsewhere
  const rel = relative(repoRoot, dir);
  return rel.startsWith("..") && !rel.startsWith("../..") ? rel : dir;
}

function dirBytes(p) {
  let n = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(join(p, e.name)) : statSync(join(p, e.name)).size;
  return n;
}

/**
 * The istioctl to compare with: --istioctl PATH, else the one bench/check/build-istioctl.sh caches, else `istioctl`
 * on PATH. Never builds it (10-20+ minutes). Returns { bin, version } or { missing: reason }.
 */
function findIstioctl() {
  const cacheRoot = process.env.MESHOPS_TOOLS_DIR ?? (process.env.HOME ? join(process.env.HOME, ".cache", "meshops", "tools") : undefined);
  const cached = cacheRoot ? join(cacheRoot, "bin", "istioctl") : undefined;
  let bin = opts.istioctl;
  if (!bin && cached && existsSync(cached)) bin = cached;
  if (!bin) {
    const w = sh("bash", ["-c", "command -v istioctl"], { quiet: true });
    if (w.status === 0 && w.stdout.trim()) bin = w.stdout.trim();
  }
  if (!bin) return { missing: `istioctl not found (${cached ?? "no tool cache"}, PATH); build it once with: bash bench/check/build-istioctl.sh` };
  const v = spawnSync(bin, ["version", "--remote=false", "--short"], { encoding: "utf8" });
  if (v.error || v.status !== 0) return { missing: `${bin} does not run: ${v.error?.message ?? (v.stderr || v.stdout).trim().split("\n")[0]}` };
  const stampFile = cached && bin === cached ? join(dirname(cached), ".istioctl.version") : undefined;
  const stamp = stampFile && existsSync(stampFile) ? readFileSync(stampFile, "utf8").trim() : undefined;
  return { bin, version: v.stdout.trim().split("\n")[0] + (stamp ? ` (build stamp ${stamp})` : "") };
}

/** The groups istioctl analyze understands among the generated kinds: core, apps and *.istio.io. */
const istioctlKind = (apiVersion) => apiVersion === "v1" || apiVersion.startsWith("apps/") || /^[a-z.]+\.istio\.io\//.test(apiVersion);

/**
 * out/istio: the documents of the generated repository that istioctl understands (Istio + core kinds; Linkerd and
 * Gateway API objects dropped), same files and order, plus a meshops.yaml — the input of both the istioctl row and
 * its meshops counterpart. Returns { dir, files, objects, dropped }.
 */
function istioSubset(gen) {
  const dir = join(outDir, "istio");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "meshops.yaml"), `# bench/check/run.mjs: the Istio + core objects of ../repo (what istioctl analyze understands).\nversion: 1\nenvironments:\n  bench:\n    path: manifests\n`);
  let objects = 0;
  let dropped = 0;
  const files = [];
  for (const rel of gen.files) {
    // generate.mjs writes every document as "---\n" + YAML with apiVersion on its first line
    const docs = readFileSync(join(gen.dir, rel), "utf8").split(/^---\n/m).filter((d) => d.trim() !== "");
    const kept = docs.filter((d) => istioctlKind(/^apiVersion: (\S+)$/m.exec(d)?.[1] ?? ""));
    dropped += docs.length - kept.length;
    if (kept.length === 0) continue;
    objects += kept.length;
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), kept.map((d) => `---\n${d}`).join(""));
    files.push(rel);
  }
  return { dir, files, objects, dropped };
}

/**
 * Organisation rules for the `meshops-policies` row: ValidatingAdmissionPolicies (+ bindings) of the kind a platform
 * team keeps beside its mesh configuration. The generated repository satisfies the Deny rules; the Warn rule on
 * HTTPRoute timeouts fires on the routes without one (warnings, not errors).
 */
const ORG_POLICIES = [
  ["mesh-images-from-registry", "apps", "deployments", "Deny", "object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example.com/'))", "images must come from registry.example.com"],
  ["mesh-memory-limits", "apps", "deployments", "Deny", "object.spec.template.spec.containers.all(c, has(c.resources.limits) && 'memory' in c.resources.limits)", "every container needs a memory limit"],
  ["mesh-bounded-retries", "networking.istio.io", "virtualservices", "Deny", "!has(object.spec.http) || object.spec.http.all(h, !has(h.retries) || h.retries.attempts <= 5)", "at most 5 retry attempts"],
  ["mesh-no-wildcard-principals", "security.istio.io", "authorizationpolicies", "Deny", "!has(object.spec.rules) || object.spec.rules.all(r, !has(r.from) || r.from.all(f, !has(f.source.principals) || !f.source.principals.exists(p, p == '*')))", "principals must not be '*'"],
  ["mesh-route-timeouts", "gateway.networking.k8s.io", "httproutes", "Warn", "object.spec.rules.all(r, has(r.timeouts))", "every HTTPRoute rule should set timeouts"],
]
  .map(
    ([name, group, resource, action, expression, message]) => `---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${name}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [${JSON.stringify(group)}]
        apiVersions: ["*"]
        operations: [CREATE, UPDATE]
        resources: [${resource}]
  validations:
    - expression: ${JSON.stringify(expression)}
      message: ${JSON.stringify(message)}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ${name}
spec:
  policyName: ${name}
  validationActions: [${action}]
`,
  )
  .join("");

/**
 * out/policies: the generated manifests (copied) with a meshops.yaml that turns the policies on: the zero-trust
 * pack (its findings turned down to warnings, so the run still expects 0 errors: the generated repository has no
 * mesh-wide STRICT mTLS or default-deny, by design) and ORG_POLICIES. Returns { dir, policyObjects }.
 */
function policyRepo(gen) {
  const dir = join(outDir, "policies");
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(gen.dir, "manifests"), join(dir, "manifests"), { recursive: true });
  mkdirSync(join(dir, "policies"), { recursive: true });
  writeFileSync(join(dir, "policies", "organisation.yaml"), ORG_POLICIES);
  writeFileSync(
    join(dir, "meshops.yaml"),
    `# bench/check/run.mjs: ../repo's manifests with every policy on (zero-trust pack + organisation.yaml).
version: 1
policy:
  policies: [policies]
  zeroTrust:
    enabled: true
    sensitiveNamespaces: [payments-0, payments-1, payments-2, identity-0]
  rules: { MSH6001: warning, MSH6002: warning, MSH6003: warning, MSH6010: warning, MSH6020: warning }
environments:
  bench:
    path: manifests
`,
  );
  return { dir, policyObjects: ORG_POLICIES.split(/^---$/m).filter((d) => d.trim()).length };
}

/**
 * out/diff: a git repository whose tag rev1 is the generated repository and rev2 the same after revise.mjs
 * (weights shifted, policies added and removed). Returns { dir, revision } (revision: revise()'s summary).
 */
function diffRepo(gen) {
  const dir = join(outDir, "diff");
  rmSync(dir, { recursive: true, force: true });
  cpSync(gen.dir, dir, { recursive: true });
  const git = (...args) => {
    const r = sh("git", ["-c", "user.name=meshops bench", "-c", "user.email=bench@meshops.invalid", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", ...args], { cwd: dir });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed in ${dir}`);
  };
  git("init", "-q");
  git("add", "-A");
  git("commit", "-q", "-m", "rev1: generated");
  git("tag", "rev1");
  const revision = revise({ dir, files: gen.files, seed: opts.seed + 1, ...opts.revise });
  git("add", "-A");
  git("commit", "-q", "-m", `rev2: ${describeRevision(revision)}`);
  git("tag", "rev2");
  return { dir, revision };
}

// ---------------------------------------------------------------------------------------------- measuring

const gnuTime = ["/usr/bin/time", "/bin/time"].find((p) => existsSync(p) && spawnSync(p, ["-f", "%M", "true"]).status === 0);
const timeDir = mkdtempSync(join(tmpdir(), "meshops-bench-"));
process.on("exit", () => rmSync(timeDir, { recursive: true, force: true }));

/**
 * Runs one command; wall time from Node (spawn → exit), peak RSS and CPU time of the child from GNU time
 * (its own fork/exec adds ~1 ms), or, without GNU time, peak RSS by polling /proc/<pid>/status VmHWM.
 */
function measure(cmd, args, cwd, timeoutMs = opts.timeout * 1000) {
  return new Promise((resolvePromise, reject) => {
    const timeFile = join(timeDir, "time.txt");
    rmSync(timeFile, { force: true });
    const argv = gnuTime ? [gnuTime, ["-f", "%M %U %S", "-o", timeFile, cmd, ...args]] : [cmd, args];
    const stdout = [];
    const stderr = [];
    const t0 = process.hrtime.bigint();
    // its own process group, so a timeout kills GNU time and the command under it together
    const child = spawn(argv[0], argv[1], { cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    let hwmKb = 0;
    let poll;
    if (!gnuTime) {
      poll = setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
          if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
        } catch {
          /* exited */
        }
      }, 5);
    }
    child.stdout.on("data", (d) => stdout.push(d));
    child.stderr.on("data", (d) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      let rssKb = hwmKb || null;
      let cpuMs = null;
      if (gnuTime && existsSync(timeFile)) {
        const last = readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "";
        const [m, u, s] = last.split(" ").map(Number);
        if (Number.isFinite(m)) rssKb = m;
        if (Number.isFinite(u) && Number.isFinite(s)) cpuMs = Math.round((u + s) * 1000);
      }
      resolvePromise({ ms, timedOut, rssMb: rssKb === null ? null : rssKb / 1024, cpuMs, exit: code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
  });
}

/**
 * meshops --format json → counts; the whole report is checked for parseability on every run. With `detail`, also
 * the findings per code and the keys "ISTCODE Kind namespace/name" of those that carry an istioctl code.
 */
function parseMeshops(r, detail = false) {
  try {
    const rep = JSON.parse(r.stdout);
    const s = rep.summary;
    const out = { objects: s.objects, errors: s.errors, warnings: s.warnings, infos: s.infos, unvalidated: s.unvalidated, findings: rep.findings.length, sample: rep.findings.slice(0, 5).map((f) => `${f.file}:${f.line} ${f.code} ${f.message}`) };
    if (detail) {
      out.byCode = countBy(rep.findings, (f) => (f.istio ? `${f.code}/${f.istio}` : f.code));
      out.istioKeys = rep.findings.filter((f) => f.istio).map((f) => `${f.istio} ${f.resource?.kind} ${f.resource?.namespace ?? ""}/${f.resource?.name}`);
    }
    return out;
  } catch (e) {
    return { parseError: `${e.message}; exit ${r.exit}; stderr: ${r.stderr.slice(0, 500)}` };
  }
}

function countBy(xs, key) {
  const m = {};
  for (const x of xs) m[key(x)] = (m[key(x)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => a.localeCompare(b)));
}

/** meshops diff --format json → { changes: [{ subject, kind, change, risk }] } → counts per kind and risk. */
function parseDiff(r) {
  try {
    const rep = JSON.parse(r.stdout);
    return { exit: r.exit, changes: rep.changes.length, byKind: countBy(rep.changes, (c) => c.kind), byRisk: countBy(rep.changes, (c) => c.risk), sample: rep.changes.slice(0, 5).map((c) => `${c.subject}: ${c.change}`) };
  } catch (e) {
    return { parseError: `${e.message}; exit ${r.exit}; stderr: ${r.stderr.slice(0, 500)}` };
  }
}

/**
 * istioctl analyze -o json → a JSON array of messages { code, level, origin: "Kind namespace/name", message, ... }.
 * Exit 0 (nothing at or above --failure-threshold) and 79 (something is) are both a completed analysis.
 */
function parseIstioctl(r) {
  try {
    const text = r.stdout.trim();
    const msgs = text === "" ? [] : JSON.parse(text);
    if (!Array.isArray(msgs)) throw new Error("not a JSON array");
    return {
      exit: r.exit,
      messages: msgs.length,
      byLevel: countBy(msgs, (m) => m.level),
      byCode: countBy(msgs, (m) => m.code),
      istioKeys: msgs.map((m) => `${m.code} ${m.origin ?? ""}`),
      sample: msgs.slice(0, 5).map((m) => `${m.level} [${m.code}] (${m.origin}) ${m.message}`),
    };
  } catch (e) {
    return { parseError: `${e.message}; exit ${r.exit}; stdout: ${r.stdout.slice(0, 300)} stderr: ${r.stderr.slice(0, 500)}` };
  }
}

/** kubeconform -summary text → counts ("Summary: N resources found in F files - Valid: V, Invalid: I, Errors: E, Skipped: S"). */
function parseKubeconform(r) {
  const m = /Summary: (\d+) resources? found in (\d+) files? - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)/.exec(r.stdout);
  if (!m) return { parseError: `no summary line; exit ${r.exit}; stdout: ${r.stdout.slice(-500)} stderr: ${r.stderr.slice(0, 500)}` };
  const [resources, files, valid, invalid, errors, skipped] = m.slice(1).map(Number);
  const sample = r.stdout.split("\n").filter((l) => l && !l.startsWith("Summary:")).slice(0, 5);
  return { resources, files, valid, invalid, errors, skipped, sample };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/**
 * One bench:check at a time per checkout: every run regenerates out/repo, out/istio, out/diff and out/policies, and
 * two runs at once would delete each other's inputs mid-run (and share the two cores). out/.lock holds the owner's
 * pid; a lock whose process is gone is taken over.
 */
async function lockOut() {
  mkdirSync(outDir, { recursive: true });
  const lock = join(outDir, ".lock");
  let waiting = false;
  for (;;) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: "wx" });
      process.on("exit", () => {
        try {
          if (readFileSync(lock, "utf8").trim() === String(process.pid)) rmSync(lock, { force: true });
        } catch {
          /* gone */
        }
      });
      for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));
      return;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    }
    const owner = Number(readFileSync(lock, "utf8").trim());
    let alive = false;
    try {
      process.kill(owner, 0);
      alive = Number.isInteger(owner) && owner > 0;
    } catch {
      alive = false;
    }
    if (!alive) {
      rmSync(lock, { force: true });
      continue;
    }
    if (!waiting) log(`waiting for the bench:check run of pid ${owner} to finish (${relative(repoRoot, lock)}) ...`);
    waiting = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main() {
  await lockOut();
  const started = new Date();
  const loadBefore = loadavg();
  buildMeshops();
  const kc = findKubeconform();
  const crds = sharedCrds();

  log(`generate: ${opts.objects} objects, ${opts.perFile} per file, seed ${opts.seed}`);
  const gen = generate({ out: join(outDir, "repo"), seed: opts.seed, objects: opts.objects, perFile: opts.perFile });
  const repoRel = relative(repoRoot, gen.dir);

  const schemaDir = join(outDir, "schemas");
  rmSync(schemaDir, { recursive: true, force: true });
  const meshopsBin = join(repoRoot, "bin", "meshops.js");
  const exp = sh(process.execPath, [meshopsBin, "schemas", "export", relative(repoRoot, schemaDir), "--crds", crds, "--format", "kubeconform"]);
  if (exp.status !== 0) throw new Error("meshops schemas export failed");
  const flag = /-schema-location '([^']+)'/.exec(exp.stdout);
  if (!flag) throw new Error(`meshops schemas export printed no -schema-location: ${exp.stdout}`);
  const schemaLocation = flag[1];
  log(`schemas: ${exp.stdout.split("\n")[0]}`);

  // kubeconform runs in the generated repo with relative file names (shorter argv)
  const files = gen.files;
  const want = (id) => !opts.only || opts.only.includes(id);

  // the Istio + core subset (istioctl's input and its meshops counterpart), and two revisions for `meshops diff`
  const istio = want("meshops-istio") || want("istioctl") ? istioSubset(gen) : undefined;
  if (istio) log(`istio subset: ${istio.objects} Istio + core objects in ${istio.files.length} files (${istio.dropped} Linkerd / Gateway API objects left out) in ${relative(repoRoot, istio.dir)}`);
  const ictl = want("istioctl") ? findIstioctl() : undefined;
  if (ictl?.missing) log(`istioctl: SKIPPED — ${ictl.missing}`);
  else if (ictl) log(`istioctl: ${ictl.bin} ${ictl.version}`);
  const diff = want("meshops-diff") ? diffRepo(gen) : undefined;
  const pol = want("meshops-policies") ? policyRepo(gen) : undefined;
  if (diff) log(`diff repository: ${relative(repoRoot, diff.dir)}, rev1 = the generated repository, rev2 = ${describeRevision(diff.revision)}`);

  const kcArgs = ["-strict", "-summary", "-schema-location", schemaLocation];
  const node = process.execPath;
  const mc = (...extra) => [meshopsBin, "check", repoRel, "--crds", crds, ...extra];
  const tools = [
    { id: "meshops-schema", side: "meshops", label: "meshops check --schema-only (CEL)", cmd: node, args: mc("--schema-only", "--format", "json"), cwd: repoRoot },
    { id: "meshops-nocel", side: "meshops", label: "meshops check --schema-only --no-cel", cmd: node, args: mc("--schema-only", "--no-cel", "--format", "json"), cwd: repoRoot },
    { id: "meshops-full", side: "meshops", label: "meshops check (full)", cmd: node, args: mc("--format", "json"), cwd: repoRoot },
    ...(pol ? [{ id: "meshops-policies", side: "meshops", label: "meshops check (full + all policies)", cmd: node, args: [meshopsBin, "check", relative(repoRoot, pol.dir), "--crds", crds, "--format", "json"], cwd: repoRoot }] : []),
    { id: "meshops-startup", side: "baseline", label: "meshops --version (startup only)", cmd: node, args: [meshopsBin, "--version"], cwd: repoRoot },
    { id: "kubeconform", side: "kubeconform", label: "kubeconform -strict (-n 4, default)", cmd: kc.bin, args: [...kcArgs, ...files], cwd: gen.dir },
    { id: "kubeconform-n2", side: "kubeconform", label: "kubeconform -strict -n 2", cmd: kc.bin, args: [...kcArgs, "-n", "2", ...files], cwd: gen.dir },
    ...(diff ? [{ id: "meshops-diff", side: "diff", label: "meshops diff --base rev1 --head rev2", cmd: node, args: [meshopsBin, "diff", relative(repoRoot, diff.dir), "--base", "rev1", "--head", "rev2", "--format", "json"], cwd: repoRoot }] : []),
    ...(istio ? [{ id: "meshops-istio", side: "meshops-istio", label: "meshops check (full), Istio+core subset", cmd: node, args: [meshopsBin, "check", relative(repoRoot, istio.dir), "--crds", crds, "--format", "json"], cwd: repoRoot }] : []),
    // --use-kube=false: files only, no cluster; -A: report every namespace (the default is only the kubeconfig's
    // namespace); -o json: every message, machine-readable; directories are always read recursively (-R is gone);
    // --timeout: its default 30 s analysis deadline, raised to ours; the default --failure-threshold Error (exit 79) is kept.
    ...(istio && ictl && !ictl.missing ? [{ id: "istioctl", side: "istioctl", label: "istioctl analyze, Istio+core subset", cmd: ictl.bin, args: ["analyze", "--use-kube=false", "--all-namespaces", "--output", "json", "--timeout", `${opts.timeout}s`, "manifests"], cwd: istio.dir }] : []),
  ].filter((t) => want(t.id));
  const ids = "meshops-schema, meshops-nocel, meshops-full, meshops-policies, meshops-startup, kubeconform, kubeconform-n2, meshops-diff, meshops-istio, istioctl";
  if (tools.length === 0) throw new Error(`--only matched nothing${opts.only?.includes("istioctl") && ictl?.missing ? " (istioctl is missing)" : ""} (ids: ${ids})`);

  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${kc.version.startsWith("v") ? `kubeconform ${kc.version}` : kc.version}`);
  log(`peak RSS via ${gnuTime ? `${gnuTime} -f %M` : "/proc/<pid>/status VmHWM polling (GNU time not found)"}; load average before: ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`);
  if (loadBefore[0] > cpus().length) log(`  WARNING: the machine is busy (1-min load ${loadBefore[0].toFixed(2)} > ${cpus().length} cores): wall times will be noisy; CPU times are more robust`);
  log(`runs: ${opts.warmup} warm-up + ${opts.runs} measured per command, order alternating each repetition\n`);

  const results = new Map(tools.map((t) => [t.id, { ...t, runs: [], counts: [] }]));
  const total = opts.warmup + opts.runs;
  for (let rep = 0; rep < total; rep++) {
    const warm = rep < opts.warmup;
    const order = rep % 2 === 0 ? tools : [...tools].reverse();
    const line = [];
    for (const t of order) {
      const res = results.get(t.id);
      if (res.timedOut) continue; // one time-out is enough: it is not run again
      const r = await measure(t.cmd, t.args, t.cwd);
      if (r.timedOut) {
        // kept as a measured run even in the warm-up, so the row shows the time-out
        res.timedOut = true;
        res.runs.push({ ms: Math.round(r.ms), cpuMs: r.cpuMs, rssMb: r.rssMb === null ? null : Math.round(r.rssMb * 10) / 10, exit: r.exit, timedOut: true });
        res.counts.push({ timedOut: true });
        line.push(`${t.id} TIMED OUT after ${opts.timeout} s (killed; not run again)`);
        continue;
      }
      const counts =
        t.side === "meshops" ? parseMeshops(r)
        : t.side === "meshops-istio" ? parseMeshops(r, true)
        : t.side === "kubeconform" ? parseKubeconform(r)
        : t.side === "diff" ? parseDiff(r)
        : t.side === "istioctl" ? parseIstioctl(r)
        : { exit: r.exit };
      if (!warm) {
        res.runs.push({ ms: Math.round(r.ms), cpuMs: r.cpuMs, rssMb: r.rssMb === null ? null : Math.round(r.rssMb * 10) / 10, exit: r.exit });
        // the per-finding keys are kept for the last run only (the overlap is computed from it)
        for (const prev of res.counts) delete prev.istioKeys;
        res.counts.push(counts);
      }
      line.push(`${t.id} ${Math.round(r.ms)}ms`);
    }
    log(`${warm ? "warm-up" : `run ${rep - opts.warmup + 1}/${opts.runs}`}: ${line.join(", ")}`);
  }
  const loadAfter = loadavg();

  // ---------------------------------------------------------------------------- summarise
  const rows = [...results.values()].map((r) => {
    const ms = r.runs.map((x) => x.ms);
    const cpu = r.runs.map((x) => x.cpuMs).filter((x) => x !== null);
    const rss = r.runs.filter((x) => !x.timedOut).map((x) => x.rssMb).filter((x) => x !== null);
    const c = r.counts.at(-1) ?? {};
    const findings = c.timedOut
      ? `TIMED OUT: killed after ${opts.timeout} s (--timeout), not run again`
      : c.parseError !== undefined
        ? `unparsed output`
        : r.side === "baseline"
          ? "(module loading floor of every meshops run)"
          : r.side === "meshops" || r.side === "meshops-istio"
          ? `${c.objects} objects, ${c.errors} errors, ${c.warnings} warnings${c.istioKeys ? ` (${c.istioKeys.length} with an IST code)` : ""}`
          : r.side === "diff"
          ? `${c.changes} changes (${Object.entries(c.byKind).map(([k, n]) => `${n} ${k}`).join(", ")})`
          : r.side === "istioctl"
          ? `${c.messages} messages (${Object.entries(c.byLevel).map(([k, n]) => `${n} ${k}`).join(", ") || "none"}), exit ${c.exit}`
          : `${c.resources} resources, ${c.valid} valid, ${c.invalid} invalid, ${c.errors} errors, ${c.skipped} skipped`;
    return {
      id: r.id,
      side: r.side,
      label: r.label,
      command: [r.cmd === node ? "node" : r.cmd, ...r.args.slice(0, r.side === "kubeconform" ? r.args.length - files.length : undefined), ...(r.side === "kubeconform" ? [`<${files.length} files>`] : [])].join(" "),
      medianMs: median(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      medianCpuMs: cpu.length ? median(cpu) : null,
      peakRssMb: rss.length ? Math.max(...rss) : null,
      medianRssMb: rss.length ? median(rss) : null,
      exitCodes: [...new Set(r.runs.map((x) => x.exit))],
      timedOut: r.timedOut === true,
      counts: c,
      findings,
      runs: r.runs,
    };
  });
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));

  const pad = (s, n, right = false) => (right ? String(s).padStart(n) : String(s).padEnd(n));
  const f0 = (x) => (x === null || x === undefined ? "-" : Math.round(x).toString());
  const f1 = (x) => (x === null || x === undefined ? "-" : x.toFixed(1));
  log(`\nResults: ${gen.objects} objects in ${gen.files.length} files (${(dirBytes(join(gen.dir, "manifests")) / 2 ** 20).toFixed(1)} MiB of YAML), ${opts.runs} runs each\n`);
  const head = `${pad("tool", 40)} ${pad("median ms", 10, true)} ${pad("min ms", 8, true)} ${pad("CPU ms", 8, true)} ${pad("peak RSS MB", 12, true)}  findings / invalid`;
  log(head);
  log("-".repeat(head.length + 30));
  for (const r of rows) log(`${pad(r.label, 40)} ${pad(`${r.timedOut ? ">" : ""}${f0(r.medianMs)}`, 10, true)} ${pad(f0(r.minMs), 8, true)} ${pad(f0(r.medianCpuMs), 8, true)} ${pad(f1(r.peakRssMb), 12, true)}  ${r.findings}`);
  log("(median/min: wall time over the measured runs; CPU ms: median user+sys of the child; peak RSS: max over runs)");
  if (byId["meshops-full"]) log("note: `meshops check` (full) adds the MeshModel and the semantic analyzers to --schema-only; warnings there are references the generated repository cannot confirm (e.g. namespaces outside it).");

  // ratios: kubeconform time / meshops time (> 1: meshops faster)
  const kcs = rows.filter((r) => r.side === "kubeconform");
  const ms = rows.filter((r) => r.side === "meshops");
  const ratios = [];
  if (kcs.length && ms.length) {
    log(`\nRatios kubeconform median / meshops median (> 1 means meshops is faster):\n`);
    log(`${pad("", 40)} ${kcs.map((k) => pad(k.id, 16, true)).join(" ")}`);
    for (const m of ms) {
      const cells = kcs.map((k) => {
        const ratio = k.medianMs / m.medianMs;
        ratios.push({ meshops: m.id, kubeconform: k.id, ratio: Math.round(ratio * 1000) / 1000, cpuRatio: m.medianCpuMs && k.medianCpuMs ? Math.round((k.medianCpuMs / m.medianCpuMs) * 1000) / 1000 : null });
        return pad(`${ratio.toFixed(2)}×`, 16, true);
      });
      log(`${pad(m.label, 40)} ${cells.join(" ")}`);
    }
    if (ms.every((m) => m.medianCpuMs) && kcs.every((k) => k.medianCpuMs)) {
      log(`\nThe same on CPU time (user+sys; less sensitive to other load on the machine):\n`);
      for (const m of ms) log(`${pad(m.label, 40)} ${kcs.map((k) => pad(`${(k.medianCpuMs / m.medianCpuMs).toFixed(2)}×`, 16, true)).join(" ")}`);
    }
  }

  // the full check against schema validation alone: what the MeshModel, the analyzers and the policies cost
  const ratio = (a, b) => (a && b ? Math.round((a / b) * 1000) / 1000 : null);
  const vsSchema = (id) => (byId[id] && byId["meshops-schema"] && !byId[id].timedOut ? { id, ratio: ratio(byId[id].medianMs, byId["meshops-schema"].medianMs), cpuRatio: ratio(byId[id].medianCpuMs, byId["meshops-schema"].medianCpuMs) } : undefined);
  const fullVsSchema = [vsSchema("meshops-full"), vsSchema("meshops-policies")].filter(Boolean);
  if (fullVsSchema.length) log("\nFull check / schema-only check (same manifests, both with CEL):");
  for (const v of fullVsSchema) log(`  ${pad(byId[v.id].label, 38)} ${v.ratio.toFixed(2)}× wall, ${v.cpuRatio?.toFixed(2) ?? "-"}× CPU`);

  // istioctl analyze against meshops' full check, both on the Istio + core subset
  let istioctlVsMeshops;
  if (byId.istioctl?.timedOut || byId["meshops-istio"]?.timedOut) log(`\nistioctl analyze / meshops check: not compared, ${byId.istioctl?.timedOut ? "istioctl" : "meshops"} timed out (--timeout ${opts.timeout})`);
  else if (byId.istioctl && byId["meshops-istio"]) {
    const i = byId.istioctl;
    const m = byId["meshops-istio"];
    const mk = new Set(results.get("meshops-istio").counts.at(-1)?.istioKeys ?? []);
    const ik = new Set(results.get("istioctl").counts.at(-1)?.istioKeys ?? []);
    const both = [...mk].filter((k) => ik.has(k));
    const codes = (keys) => countBy([...keys], (k) => k.split(" ")[0]);
    istioctlVsMeshops = {
      ratio: ratio(i.medianMs, m.medianMs),
      cpuRatio: ratio(i.medianCpuMs, m.medianCpuMs),
      rssRatio: ratio(i.peakRssMb, m.peakRssMb),
      findings: {
        meshops: m.counts.findings,
        meshopsWithIstioCode: mk.size,
        istioctl: i.counts.messages,
        overlap: both.length,
        meshopsOnlyByCode: codes([...mk].filter((k) => !ik.has(k))),
        istioctlOnlyByCode: codes([...ik].filter((k) => !mk.has(k))),
        overlapByCode: codes(both),
        meshopsByCode: m.counts.byCode,
        istioctlByCode: i.counts.byCode,
      },
    };
    const f = istioctlVsMeshops.findings;
    log(`\nistioctl analyze / meshops check, same ${istio.objects} Istio + core objects (> 1 means meshops is faster):`);
    log(`  wall ${istioctlVsMeshops.ratio.toFixed(2)}×, CPU ${istioctlVsMeshops.cpuRatio?.toFixed(2) ?? "-"}×, peak RSS ${istioctlVsMeshops.rssRatio?.toFixed(2) ?? "-"}×`);
    log(`  findings: meshops ${f.meshops} (${f.meshopsWithIstioCode} carry an istioctl code), istioctl ${f.istioctl}; the same code on the same object: ${f.overlap}`);
    const fmt = (o) => Object.entries(o).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
    log(`  meshops by code: ${fmt(f.meshopsByCode)}`);
    log(`  istioctl by code: ${fmt(f.istioctlByCode)}`);
    log(`  only meshops (IST code): ${fmt(f.meshopsOnlyByCode)}; only istioctl: ${fmt(f.istioctlOnlyByCode)}`);
  } else if (ictl?.missing && want("istioctl")) log(`\nistioctl analyze: SKIPPED — ${ictl.missing}`);

  // equivalence: both tools saw the same objects, and all of them are valid
  const problems = [];
  for (const r of rows) {
    for (const c of results.get(r.id).counts) {
      if (c.timedOut) continue; // a target failure (reported there), not a broken run
      if (c.parseError) problems.push(`${r.id}: ${c.parseError}`);
      else if (r.side === "baseline") {
        if (c.exit !== 0) problems.push(`${r.id}: exit ${c.exit}`);
      } else if (r.side === "meshops" || r.side === "meshops-istio") {
        const expected = r.side === "meshops" ? gen.objects : istio.objects;
        if (c.objects !== expected) problems.push(`${r.id}: summary.objects ${c.objects} ≠ ${expected}`);
        if (c.errors !== 0) problems.push(`${r.id}: ${c.errors} error(s), e.g. ${c.sample.join(" | ")}`);
      } else if (r.side === "diff") {
        if (c.exit !== 0) problems.push(`${r.id}: exit ${c.exit}`);
        if (c.changes === 0) problems.push(`${r.id}: no change reported between rev1 and rev2`);
      } else if (r.side === "istioctl") {
        if (c.exit !== 0 && c.exit !== 79) problems.push(`${r.id}: exit ${c.exit}`);
      } else {
        if (c.valid !== gen.objects || c.resources !== gen.objects) problems.push(`${r.id}: Valid ${c.valid} / found ${c.resources} ≠ ${gen.objects}`);
        if (c.invalid || c.errors) problems.push(`${r.id}: ${c.invalid} invalid, ${c.errors} errors, e.g. ${c.sample.join(" | ")}`);
      }
    }
  }
  const uniqueProblems = [...new Set(problems)];
  log(`\nEquivalence: ${uniqueProblems.length === 0 ? `OK: every run of every tool saw ${gen.objects} objects${istio && byId["meshops-istio"] ? ` (${istio.objects} in the Istio subset)` : ""} and reported 0 errors / 0 invalid` : "FAILED"}`);
  for (const p of uniqueProblems.slice(0, 10)) log(`  - ${p}`);

  // targets
  const bestKc = kcs.length ? kcs.reduce((a, b) => (a.medianMs <= b.medianMs ? a : b)) : undefined;
  const targets = [];
  const target = (name, ok, detail) => {
    targets.push({ name, pass: ok, detail });
  };
  if (bestKc && byId["meshops-schema"])
    target("meshops schema validation (with CEL) at least as fast as kubeconform", byId["meshops-schema"].medianMs <= bestKc.medianMs, `${f0(byId["meshops-schema"].medianMs)} ms vs ${f0(bestKc.medianMs)} ms (${bestKc.id}, the faster kubeconform)`);
  if (bestKc && byId["meshops-nocel"])
    target("meshops structural validation (--no-cel, like-for-like) at least as fast as kubeconform", byId["meshops-nocel"].medianMs <= bestKc.medianMs, `${f0(byId["meshops-nocel"].medianMs)} ms vs ${f0(bestKc.medianMs)} ms (${bestKc.id})`);
  if (byId["meshops-full"]) {
    target(`full check of ${gen.objects} objects under 2 s`, !byId["meshops-full"].timedOut && byId["meshops-full"].medianMs < 2000, `median ${f0(byId["meshops-full"].medianMs)} ms (min ${f0(byId["meshops-full"].minMs)} ms)`);
    target(`full check of ${gen.objects} objects under 500 MB`, byId["meshops-full"].peakRssMb !== null && byId["meshops-full"].peakRssMb < 500, `peak RSS ${f1(byId["meshops-full"].peakRssMb)} MB`);
  }
  // the target is on the row with the policies when it ran (the issue's "schemas + all analyzers + policies")
  const fvs = fullVsSchema.find((v) => v.id === "meshops-policies") ?? fullVsSchema[0];
  if (fvs)
    target(`full check (${fvs.id === "meshops-policies" ? "schemas + analyzers + zero-trust pack + organisation policies" : "schemas + analyzers, no policies configured"}) within 2× of the schema-only check`, fvs.ratio <= 2, `${f0(byId[fvs.id].medianMs)} ms / ${f0(byId["meshops-schema"].medianMs)} ms = ${fvs.ratio.toFixed(2)}× (CPU ${fvs.cpuRatio?.toFixed(2) ?? "-"}×)`);
  const d = byId["meshops-diff"];
  if (d) target(`diff of two revisions of ${gen.objects} objects under 3 s`, !d.timedOut && d.medianMs < 3000, d.timedOut ? `TIMED OUT: killed after ${opts.timeout} s` : `median ${f0(d.medianMs)} ms (min ${f0(byId["meshops-diff"].minMs)} ms, CPU ${f0(byId["meshops-diff"].medianCpuMs)} ms)`);
  log(`\nTargets:`);
  for (const t of targets) log(`  ${t.pass ? "PASS" : "FAIL"}  ${t.name}: ${t.detail}`);
  log(`\nload average after: ${loadAfter.map((x) => x.toFixed(2)).join(" ")}`);

  const commit = sh("git", ["rev-parse", "--short", "HEAD"], { quiet: true }).stdout.trim();
  const dirty = sh("git", ["status", "--porcelain", "--", "src"], { quiet: true }).stdout.trim() !== "";
  const json = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, loadBefore, loadAfter, rssMethod: gnuTime ? `${gnuTime} -f %M` : "/proc/<pid>/status VmHWM polling" },
    meshops: { commit, srcDirty: dirty },
    kubeconform: { bin: kc.bin, version: kc.version, schemaLocation },
    istioctl: ictl ? (ictl.missing ? { skipped: ictl.missing } : { bin: ictl.bin, version: ictl.version }) : undefined,
    istioSubset: istio ? { dir: relative(repoRoot, istio.dir), files: istio.files.length, objects: istio.objects, dropped: istio.dropped } : undefined,
    policyRepo: pol ? { dir: relative(repoRoot, pol.dir), policyObjects: pol.policyObjects, zeroTrust: true } : undefined,
    diffRepo: diff ? { dir: relative(repoRoot, diff.dir), base: "rev1", head: "rev2", revision: diff.revision } : undefined,
    options: { runs: opts.runs, warmup: opts.warmup, seed: opts.seed },
    repo: { dir: relative(repoRoot, gen.dir), files: gen.files.length, objects: gen.objects, yamlBytes: dirBytes(join(gen.dir, "manifests")), kinds: gen.kinds },
    tools: rows.map(({ counts, ...r }) => ({ ...r, counts: { ...counts, sample: undefined, istioKeys: undefined } })),
    ratios,
    fullVsSchema,
    istioctlVsMeshops,
    equivalence: { ok: uniqueProblems.length === 0, problems: uniqueProblems },
    targets,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${relative(repoRoot, join(outDir, "results.json"))}`);
  if (uniqueProblems.length) process.exitCode = 1;
  else if (opts.failOnTargets && targets.some((t) => !t.pass)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench:check: ${e.message}\n`);
  process.exitCode = 2;
});
