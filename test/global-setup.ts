/**
 * Vitest global setup: one real Kubernetes test environment (etcd + two kube-apiservers,
 * kubeconfig contexts "staging", "production", "staging-limited", "production-limited",
 * with the CRDs from ../shared/crds installed), one Prometheus (Debian's package, scrape
 * and evaluation interval 1s) and one Jaeger (v2, in-memory storage) for the whole test run.
 *
 * - builds the pinned binaries first if they are not cached (`scripts/testenv.sh build`;
 *   the first build takes several minutes, later runs are instant);
 * - starts the environment in a fresh temporary folder (`scripts/testenv.sh up --dir`);
 * - hands the kubeconfig path to the tests: `inject("kubeconfig")` from "vitest", and
 *   process.env.KUBECONFIG_TESTENV (inherited by the test workers);
 * - hands Prometheus to the tests: `inject("prometheusUrl")` (http://127.0.0.1:PORT) and
 *   `inject("prometheusTargetsDir")` (a folder of file_sd JSON files: write
 *   `[{"targets":["127.0.0.1:PORT"],"labels":{...}}]` to DIR/<unique>.json to be scraped
 *   every second, delete the file to stop); also process.env.PROMETHEUS_URL_TESTENV and
 *   PROMETHEUS_TARGETS_DIR_TESTENV; `inject("prometheusRulesDir")` (rule files `*.yml` loaded on
 *   POST /-/reload);
 * - hands Jaeger to the tests: `inject("jaegerUrl")` (its HTTP query API, http://127.0.0.1:PORT:
 *   /api/services, /api/traces?service=...) and `inject("jaegerOtlpUrl")` (its OTLP/HTTP receiver,
 *   http://127.0.0.1:PORT; POST /v1/traces); also process.env.JAEGER_URL_TESTENV and
 *   JAEGER_OTLP_URL_TESTENV;
 * - stops it and removes the folder in teardown (`scripts/testenv.sh down --dir`);
 * - gives the tests a scratch TMPDIR of their own (`meshops-tests-*`), removed in teardown, so the temporary
 *   folders and repositories tests create never pile up in the machine's /tmp.
 *
 * To reuse an environment that is already running (faster edit-test loops), start one with
 * `npm run testenv -- up` and run the tests with KUBECONFIG_TESTENV set to its kubeconfig:
 * it is then used as is and left running. Its Prometheus is read from the `env` file next to
 * that kubeconfig; an environment started before Prometheus was part of it gets one added
 * (`scripts/testenv.sh prometheus start`, which leaves the rest of it alone). Jaeger likewise
 * (`scripts/testenv.sh jaeger start`, which builds it first if it is not cached).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the test environment's kubeconfig (contexts staging, production, staging-limited, production-limited). */
    kubeconfig: string;
    /** The test environment's folder: env (URLs, pids), logs/, pki/ (CA, tokens). Empty when an external environment is reused. */
    testenvDir: string;
    /** The test environment's Prometheus, `http://127.0.0.1:PORT` (scrape and evaluation interval 1s). */
    prometheusUrl: string;
    /** Folder of Prometheus file_sd target files (`*.json`, re-read within 1s): write one to be scraped, delete it to stop. */
    prometheusTargetsDir: string;
    /** Folder of Prometheus rule files (`*.yml`): write one, then POST /-/reload to load it. */
    prometheusRulesDir: string;
    /** The test environment's Jaeger query API, `http://127.0.0.1:PORT` (GET /api/services, /api/traces?service=...). */
    jaegerUrl: string;
    /** The test environment's Jaeger OTLP/HTTP receiver, `http://127.0.0.1:PORT` (POST /v1/traces, protobuf or JSON). */
    jaegerOtlpUrl: string;
  }
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(repoRoot, "scripts", "testenv.sh");
const DIR_PREFIX = "meshops-testenv-run-";

let ownedDir: string | undefined;
/** The run's scratch folder: the tests' TMPDIR (so os.tmpdir()), removed in teardown with everything tests left in it. */
let scratchDir: string | undefined;

/**
 * Points TMPDIR (inherited by the test workers and every process they start) at a fresh folder of this run, and
 * revision snapshots there too (they would go to /dev/shm otherwise; src/source/git.test.ts covers that choice).
 */
function useScratchTmp(): void {
  scratchDir = mkdtempSync(join(tmpdir(), "meshops-tests-"));
  process.env.TMPDIR = scratchDir;
  process.env.MESHOPS_SNAPSHOT_DIR = scratchDir;
}

function removeScratchTmp(): void {
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

/** Runs scripts/testenv.sh; its progress (stderr) goes to the console, its stdout is returned. */
function testenv(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("bash", [script, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`scripts/testenv.sh ${args.join(" ")} failed (${signal ?? `exit ${code}`}); see the log above`));
    });
  });
}

function downSync(dir: string): void {
  try {
    execFileSync("bash", [script, "down", "--dir", dir], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
  } catch {
    // best effort: the folder name is unique, so nothing later depends on it
  }
  rmSync(dir, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Stops environments left by earlier runs that were killed before their teardown ran. */
function sweepStale(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-[^.]+$`).exec(name);
    if (m && !alive(Number(m[1]))) downSync(join(tmpdir(), name));
  }
}

/** Builds helm and kubeconform (cached; well under a second once built), which renderer and fidelity tests run. */
function setupTools(): void {
  execFileSync("bash", [join(repoRoot, "scripts", "setup-tools.sh")], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
}

/** KEY=VALUE lines of a testenv `env` file (values as printf %q writes them; ours need no unquoting). */
function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
  }
  return out;
}

function providePrometheus(project: TestProject, env: Record<string, string>, where: string): void {
  const url = env.PROMETHEUS_URL;
  const targets = env.PROMETHEUS_TARGETS_DIR;
  if (!url || !targets) throw new Error(`${where} names no PROMETHEUS_URL/PROMETHEUS_TARGETS_DIR: the test environment has no Prometheus`);
  process.env.PROMETHEUS_URL_TESTENV = url;
  process.env.PROMETHEUS_TARGETS_DIR_TESTENV = targets;
  project.provide("prometheusUrl", url);
  project.provide("prometheusTargetsDir", targets);
  // an environment started before rule files were part of it has none: the rules test says so
  project.provide("prometheusRulesDir", env.PROMETHEUS_RULES_DIR ?? "");
}

function provideJaeger(project: TestProject, env: Record<string, string>, where: string): void {
  const url = env.JAEGER_QUERY_URL;
  const otlp = env.JAEGER_OTLP_URL;
  if (!url || !otlp) throw new Error(`${where} names no JAEGER_QUERY_URL/JAEGER_OTLP_URL: the test environment has no Jaeger`);
  process.env.JAEGER_URL_TESTENV = url;
  process.env.JAEGER_OTLP_URL_TESTENV = otlp;
  project.provide("jaegerUrl", url);
  project.provide("jaegerOtlpUrl", otlp);
}

/** Prometheus and Jaeger of a reused environment: from its env file, started there first when it has none running. */
async function externalServers(project: TestProject, kubeconfig: string): Promise<void> {
  const envFile = join(dirname(kubeconfig), "env");
  if (!existsSync(envFile)) throw new Error(`KUBECONFIG_TESTENV=${kubeconfig}: no ${envFile} beside it (not a scripts/testenv.sh environment?)`);
  const dir = readEnvFile(envFile).MESHOPS_TESTENV_DIR ?? dirname(kubeconfig);
  // idempotent: prints the PROMETHEUS_* lines of a running Prometheus, or starts one (and only that)
  await testenv(["prometheus", "start", "--dir", dir]);
  // likewise for Jaeger (built first if it is not cached: several minutes, once)
  await testenv(["jaeger", "start", "--dir", dir]);
  const env = readEnvFile(envFile);
  providePrometheus(project, env, envFile);
  provideJaeger(project, env, envFile);
}

export async function setup(project: TestProject): Promise<void> {
  setupTools();
  const external = process.env.KUBECONFIG_TESTENV;
  if (external) {
    if (!existsSync(external)) throw new Error(`KUBECONFIG_TESTENV=${external} does not exist`);
    project.provide("kubeconfig", external);
    project.provide("testenvDir", "");
    await externalServers(project, external);
    useScratchTmp();
    process.once("exit", removeScratchTmp);
    return;
  }
  sweepStale();
  await testenv(["build"]);
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  ownedDir = dir;
  // If vitest exits without running teardown (an uncaught error), still stop the servers:
  // they run in their own sessions and would otherwise outlive the test run.
  process.once("exit", () => {
    if (ownedDir) downSync(ownedDir);
    removeScratchTmp();
  });
  await testenv(["up", "--dir", dir]);
  const kubeconfig = join(dir, "kubeconfig");
  if (!existsSync(kubeconfig)) throw new Error(`scripts/testenv.sh up did not write ${kubeconfig}`);
  process.env.KUBECONFIG_TESTENV = kubeconfig;
  project.provide("kubeconfig", kubeconfig);
  project.provide("testenvDir", dir);
  const env = readEnvFile(join(dir, "env"));
  providePrometheus(project, env, join(dir, "env"));
  provideJaeger(project, env, join(dir, "env"));
  // after the test environment's own folder (sweepStale looks for stale ones in the real temporary folder)
  useScratchTmp();
}

export async function teardown(): Promise<void> {
  removeScratchTmp();
  const dir = ownedDir;
  if (!dir) return;
  await testenv(["down", "--dir", dir]);
  rmSync(dir, { recursive: true, force: true });
  ownedDir = undefined;
}
