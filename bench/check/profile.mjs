#!/usr/bin/env node
/**
 * Profiles one `meshops check` on the generated bench repository with `node --cpu-prof` and summarises the
 * .cpuprofile: top functions by self time, self time per source file, and inclusive (total) time of the
 * meshops functions, so the hot spots (YAML parsing, schema validation, CEL, rendering, output) stand out.
 *
 * Usage: node bench/check/profile.mjs [--top N] [--profile FILE.cpuprofile] [-- extra meshops check flags]
 *   default flags: --schema-only --format json (run `npm run bench:check` or generate.mjs first for the repo)
 *   --profile FILE   summarise an existing profile instead of running meshops
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const argv = process.argv.slice(2);
let top = 25;
let profileFile;
let extra = ["--schema-only", "--format", "json"];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--top") top = Number(argv[++i]);
  else if (argv[i] === "--profile") profileFile = argv[++i];
  else if (argv[i] === "--") {
    extra = argv.slice(i + 1);
    break;
  } else throw new Error(`unknown argument ${argv[i]}`);
}

if (!profileFile) {
  const repo = join(here, "out", "repo");
  if (!existsSync(join(repo, "meshops.yaml"))) throw new Error("no generated repository: run node bench/check/generate.mjs first");
  const shared = process.env.MESHOPS_SHARED_DIR ? resolve(process.env.MESHOPS_SHARED_DIR) : resolve(repoRoot, "..", "shared");
  const crds = relative(repoRoot, join(shared, "crds"));
  const dir = join(here, "out", "profile");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "250", join(repoRoot, "bin", "meshops.js"), "check", relative(repoRoot, repo), "--crds", crds, ...extra];
  process.stdout.write(`node ${args.map((a) => relative(repoRoot, a).startsWith("..") || !a.includes("/") ? a : relative(repoRoot, a)).join(" ")}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
  process.stdout.write(`exit ${r.status}, ${Date.now() - t0} ms (with profiling overhead)\n`);
  // node writes one profile per thread (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile): the main thread's is
  // thread 0; check's worker thread (it parses plain environments) writes its own, listed for --profile
  const profiles = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort();
  profileFile = join(dir, profiles.find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? profiles[0]);
  for (const f of profiles) if (join(dir, f) !== profileFile) process.stdout.write(`other thread's profile (summarise with --profile): ${relative(repoRoot, join(dir, f))}\n`);
}

process.stdout.on("error", () => process.exit(0)); // e.g. piped into head
const prof = JSON.parse(readFileSync(profileFile, "utf8"));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
// self time per node from samples × time deltas
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
const totalMs = [...self.values()].reduce((a, b) => a + b, 0);

const shortUrl = (u) => {
  if (!u) return "(native)";
  const p = u.replace(/^file:\/\//, "");
  if (p.includes("/node_modules/")) return `node_modules/${p.split("/node_modules/").pop()}`;
  if (p.startsWith(repoRoot)) return relative(repoRoot, p);
  return p;
};
const fnKey = (n) => `${n.callFrame.functionName || "(anonymous)"}  ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const byFn = new Map();
const byFile = new Map();
for (const [id, ms] of self) {
  const n = nodes.get(id);
  byFn.set(fnKey(n), (byFn.get(fnKey(n)) ?? 0) + ms);
  const f = shortUrl(n.callFrame.url);
  const file = f.startsWith("node_modules/") ? f.split("/").slice(0, f.includes("/@") ? 3 : 2).join("/") : f === "(native)" ? `(native) ${n.callFrame.functionName}` : f;
  byFile.set(file, (byFile.get(file) ?? 0) + ms);
}

// inclusive time per function (each sample counted once per distinct function on its stack)
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map();
for (const [id, ms] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const n = nodes.get(cur);
    if (!n.callFrame.url.includes("/dist/")) continue;
    const k = fnKey(n);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + ms);
  }
}

// phases: each sample goes to the first phase (in this order) that has a frame on its stack
const phases = [
  ["CEL rules (x-kubernetes-validations)", (f) => f.functionName === "checkCel" || f.url.includes("/dist/validate/cel/") || f.url.includes("/@bufbuild/cel/")],
  ["schema validation (structural)", (f) => f.functionName === "validateManifests" || f.functionName === "validateObject"],
  ["CRD files: read + YAML parse", (f) => f.functionName === "readCrdFiles"],
  ["repository: render (read + YAML parse)", (f) => f.functionName === "renderEnvironment"],
  ["schema store", (f) => f.functionName === "buildSchemaStore" || f.functionName === "loadCoreBundle"],
  ["output (report rendering)", (f) => f.url.includes("/dist/report/")],
  ["module loading / startup", (f) => f.url.startsWith("node:internal/modules") || f.functionName === "compileSourceTextModule"],
];
const byPhase = new Map();
for (const [id, ms] of self) {
  const leaf = nodes.get(id).callFrame;
  let phase = leaf.url === "" && leaf.functionName.startsWith("(") ? `${leaf.functionName} (not attributed)` : undefined;
  for (let cur = id; !phase && cur !== undefined; cur = parent.get(cur)) {
    const f = nodes.get(cur).callFrame;
    phase = phases.find(([, test]) => test(f))?.[0];
  }
  phase ??= "other";
  byPhase.set(phase, (byPhase.get(phase) ?? 0) + ms);
}

const pct = (ms) => `${((ms / totalMs) * 100).toFixed(1).padStart(5)}%`;
const show = (title, m, n) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${String(Math.round(ms)).padStart(7)} ms ${pct(ms)}  ${k}\n`);
};
process.stdout.write(`profile ${relative(repoRoot, profileFile)}: ${Math.round(totalMs)} ms sampled\n`);
show("Time by phase (GC is not attributed to a phase):", byPhase, 20);
show("Self time by source file / package:", byFile, top);
show("Self time by function:", byFn, top);
show("Inclusive time of meshops (dist/) functions:", incl, top);
