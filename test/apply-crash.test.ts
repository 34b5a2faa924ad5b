/**
 * An API server killed in the middle of an apply (issue 4, item 6): after it restarts, re-running apply
 * converges and the inventory is consistent. Nothing is faked: `scripts/testenv.sh apiserver start` runs an
 * extra kube-apiserver on the test environment's etcd (its own prefix, so the shared staging/production servers
 * other test files use are never touched), the test SIGKILLs it while `meshops apply` runs, and starts it
 * again on the same port with its data.
 *
 * What meshops promises (src/cluster/inventory.ts, src/cli/apply.ts, src/cluster/lease.ts):
 * - the interrupted apply exits 3 (unreachable) saying how far it got;
 * - before changing anything an apply records its objects as the inventory's pending apply, so after the
 *   crash every object meshops put in the cluster is inventoried (newest revision ∪ pending): none is an
 *   orphan that a later apply could never prune;
 * - the dead apply's Lease does not block the re-run until its TTL: a holder that provably no longer runs
 *   on this host is taken over;
 * - the re-run applies the rest, prunes what left Git, records exactly the desired objects and clears the
 *   pending apply; a third apply changes nothing.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { commit, git, gitRepo, repoRoot, unique } from "./helpers.js";

interface Ref {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}
interface Inventory {
  env: string;
  revisions: { revision: number; commit?: string; status: string; objects: Ref[] }[];
  pending?: { startedAt: string; by: string; commit?: string; objects: Ref[] };
}
interface KubeItem {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

const PER_NAMESPACE = 200;

let envDir = "";
let server = { name: "", url: "", pid: 0, kubeconfig: "" };
let ca = "";
let token = "";

/** The test environment's folder: handed over by global setup, or, for an environment reused through KUBECONFIG_TESTENV, the MESHOPS_TESTENV_DIR its env file (beside the kubeconfig) names. */
function testenvDir(): string {
  const injected = inject("testenvDir");
  if (injected) return injected;
  const envFile = join(dirname(inject("kubeconfig")), "env");
  let text: string;
  try {
    text = readFileSync(envFile, "utf8");
  } catch {
    throw new Error(`${envFile} not found: KUBECONFIG_TESTENV must point at the kubeconfig of an environment started by scripts/testenv.sh up`);
  }
  const m = /^MESHOPS_TESTENV_DIR=(.+)$/m.exec(text);
  if (!m) throw new Error(`${envFile} names no MESHOPS_TESTENV_DIR`);
  return m[1]!.replace(/^'(.*)'$/, "$1");
}

/** Runs scripts/testenv.sh asynchronously (a server start takes seconds: never block the worker). */
function testenv(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "scripts", "testenv.sh"), ...args, "--dir", envDir], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`scripts/testenv.sh ${args.join(" ")} failed (exit ${code}):\n${err}`))));
  });
}

async function startServer(name: string): Promise<typeof server> {
  const out = await testenv(["apiserver", "start", name]);
  const v = Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^'(.*)'$/, "$1")]));
  return { name, url: v.URL!, pid: Number(v.PID), kubeconfig: v.KUBECONFIG! };
}

/** The hard crash: SIGKILL to the server's process group (what `scripts/testenv.sh apiserver kill` does, without a shell's start-up delay). */
function killServer(): void {
  process.kill(-server.pid, "SIGKILL");
}

/** One GET against the extra server (the test's own eyes: a plain HTTPS client with the environment's CA and admin token). */
function get<T>(path: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { ca, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 404) resolve(undefined);
        else if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 300)}`));
        else resolve(JSON.parse(body) as T);
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

const selector = (env: string): string => `labelSelector=${encodeURIComponent(`meshops.dev/environment=${env}`)}`;

/** The environment's ConfigMaps (not its inventory in meshops-system, which carries the same label). */
async function listConfigMaps(env: string): Promise<KubeItem[]> {
  return (await get<{ items: KubeItem[] }>(`/api/v1/configmaps?${selector(env)}`))!.items.filter((c) => c.metadata.namespace !== "meshops-system");
}

/** Every object meshops labelled for the environment, as `Kind/namespace/name`. */
async function liveSubjects(env: string): Promise<string[]> {
  const out: string[] = [];
  for (const [kind, path] of [["Namespace", "/api/v1/namespaces"], ["ConfigMap", "/api/v1/configmaps"], ["Service", "/api/v1/services"], ["ServiceAccount", "/api/v1/serviceaccounts"]] as const) {
    const items = (await get<{ items: KubeItem[] }>(`${path}?${selector(env)}`))!.items;
    for (const i of items) if (i.metadata.namespace !== "meshops-system") out.push(subject({ kind, name: i.metadata.name, ...(i.metadata.namespace ? { namespace: i.metadata.namespace } : {}) }));
  }
  return out.sort();
}

function subject(r: Pick<Ref, "kind" | "namespace" | "name">): string {
  return r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
}

async function readInventory(env: string): Promise<Inventory | undefined> {
  const cm = await get<KubeItem>(`/api/v1/namespaces/meshops-system/configmaps/meshops-inventory-${env}`);
  return cm ? (JSON.parse(cm.data!["inventory.json"]!) as Inventory) : undefined;
}

/** Objects meshops may have in the cluster by its inventory: the newest revision's plus the pending apply's. */
function inventoried(inv: Inventory | undefined): Set<string> {
  return new Set([...(inv?.revisions[0]?.objects ?? []), ...(inv?.pending?.objects ?? [])].map(subject));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts the built CLI asynchronously (the test polls and kills the server while it runs). */
function meshopsAsync(dir: string, args: string[]): { done: Promise<Run> } {
  const started = Date.now();
  const child = spawn(process.execPath, [join(repoRoot, "bin", "meshops.js"), ...args], { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return { done: new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }))) };
}

const apply = (dir: string, env: string, extra: string[] = []): Promise<Run> => meshopsAsync(dir, ["apply", "--env", env, ...extra]).done;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs apply and SIGKILLs the API server as soon as `ready(count of the env's ConfigMaps)` holds; fails if the
 * apply finished first. Returns the apply's result and the count seen at the kill.
 */
async function applyAndKill(dir: string, env: string, ready: (count: number) => boolean): Promise<{ run: Run; seen: number }> {
  const child = meshopsAsync(dir, ["apply", "--env", env]);
  let finished: Run | undefined;
  void child.done.then((r) => (finished = r));
  for (;;) {
    const seen = (await listConfigMaps(env)).length;
    if (ready(seen)) {
      killServer();
      return { run: await child.done, seen };
    }
    if (finished) throw new Error(`the apply finished (exit ${finished.code}) before the server could be killed (saw ${seen} ConfigMaps):\n${finished.stderr}${finished.stdout.slice(-2000)}`);
    await sleep(25);
  }
}

async function restart(): Promise<void> {
  const before = server.url;
  server = await startServer(server.name);
  // the same port: the kubeconfig the environment names still points at it
  expect(server.url).toBe(before);
}

function config(env: string): string {
  return `version: 1\nenvironments:\n  ${env}:\n    path: envs/${env}\n    cluster: {context: ${server.name}, kubeconfig: ${server.kubeconfig}}\n`;
}

const nsYaml = (ns: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;
const cmName = (i: number): string => `cm-${String(i).padStart(3, "0")}`;
const cmData = (ns: string, i: number, rev: string): Record<string, string> => ({ index: String(i), rev, payload: `${ns}/${cmName(i)} `.repeat(8) });

/** Files of an environment: two namespaces, PER_NAMESPACE ConfigMaps in each (50 to a file), 10 Services and 10 ServiceAccounts in the first. */
function tree(env: string, namespaces: [string, string], keep: (ns: string, i: number) => boolean = () => true, rev = "1"): Record<string, string> {
  const files: Record<string, string> = { "meshops.yaml": config(env) };
  for (const ns of namespaces) {
    files[`envs/${env}/${ns}/namespace.yaml`] = nsYaml(ns);
    for (let f = 0; f < PER_NAMESPACE / 50; f++) {
      const docs: string[] = [];
      for (let i = f * 50; i < (f + 1) * 50; i++) {
        if (!keep(ns, i)) continue;
        docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${cmName(i)}, namespace: ${ns}}\ndata: ${JSON.stringify(cmData(ns, i, rev))}\n`);
      }
      files[`envs/${env}/${ns}/configmaps-${f}.yaml`] = docs.join("---\n");
    }
  }
  const [first] = namespaces;
  const svc: string[] = [];
  for (let i = 0; i < 10; i++) {
    svc.push(`apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: ${first}}\nspec:\n  selector: {app: app-${i}}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n`);
    svc.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa-${i}, namespace: ${first}}\n`);
  }
  files[`envs/${env}/${first}/workloads.yaml`] = svc.join("---\n");
  return files;
}

/** `Kind/namespace/name` of every object the tree declares. */
function desiredSubjects(namespaces: [string, string], keep: (ns: string, i: number) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const ns of namespaces) {
    out.push(`Namespace/${ns}`);
    for (let i = 0; i < PER_NAMESPACE; i++) if (keep(ns, i)) out.push(`ConfigMap/${ns}/${cmName(i)}`);
  }
  for (let i = 0; i < 10; i++) out.push(`Service/${namespaces[0]}/svc-${i}`, `ServiceAccount/${namespaces[0]}/sa-${i}`);
  return out.sort();
}

/** Every desired ConfigMap exists with exactly the desired data; no other ConfigMap of the environment exists. */
async function expectConfigMaps(env: string, namespaces: [string, string], keep: (ns: string, i: number) => boolean = () => true, rev = "1"): Promise<void> {
  const live = new Map((await listConfigMaps(env)).map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c.data]));
  const want = new Map<string, Record<string, string>>();
  for (const ns of namespaces) for (let i = 0; i < PER_NAMESPACE; i++) if (keep(ns, i)) want.set(`${ns}/${cmName(i)}`, cmData(ns, i, rev));
  expect([...live.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, data] of want) expect(live.get(k), k).toEqual(data);
}

/** The inventory after a converged apply: one complete revision on top, exactly the desired objects, no pending apply. */
async function expectConverged(env: string, want: string[], head: string): Promise<void> {
  const inv = (await readInventory(env))!;
  expect(inv.pending).toBeUndefined();
  expect(inv.revisions[0]).toMatchObject({ status: "complete", commit: head });
  expect(inv.revisions[0]!.objects.map(subject).sort()).toEqual(want);
  expect(await liveSubjects(env)).toEqual(want);
}

/** A third apply: nothing to create, change or delete. */
async function expectNoChanges(dir: string, env: string): Promise<void> {
  const r = await apply(dir, env, ["-f", "json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { summary: Record<string, number> };
  expect(out.summary).toMatchObject({ created: 0, configured: 0, deleted: 0, skipped: 0 });
}

/** The Lease of the environment still names a holder (the killed apply could not release it). */
async function leaseHolder(env: string): Promise<string | undefined> {
  const lease = await get<{ spec: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/meshops-system/leases/meshops-apply-${env}`);
  return lease?.spec.holderIdentity;
}

const unreachable = /^meshops: cluster \S+ at https:\/\/127\.0\.0\.1:\d+ is unreachable: .*; the apply of \S+ was interrupted: /;
const appliedCount = /(\d+) of (\d+) objects applied/;
const deletedCount = /(\d+) of (\d+) deletions done/;

beforeAll(async () => {
  envDir = testenvDir();
  ca = readFileSync(join(envDir, "pki", "ca.crt"), "utf8");
  token = readFileSync(join(envDir, "pki", "admin.token"), "utf8").trim();
  server = await startServer(unique("crash"));
}, 180_000);

afterAll(async () => {
  if (server.name) await testenv(["apiserver", "stop", server.name, "--purge"]);
}, 60_000);

describe("an API server killed in the middle of an apply", () => {
  it("a first apply killed half-way exits 3, leaves every created object inventoried, and the re-run converges", async () => {
    const env = unique("env");
    const namespaces: [string, string] = [unique("crash-a"), unique("crash-b")];
    const dir = gitRepo(tree(env, namespaces));
    const head = git(dir, "rev-parse", "HEAD");
    const want = desiredSubjects(namespaces);

    const { run, seen } = await applyAndKill(dir, env, (n) => n >= 40);
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stderr).toMatch(unreachable);
    expect(run.stderr).toContain("the inventory records this apply as pending");
    expect(run.stderr).not.toMatch(deletedCount);
    const m = appliedCount.exec(run.stderr)!;
    const [applied, total] = [Number(m[1]), Number(m[2])];
    expect(total).toBe(want.length);
    // (an object whose answer the kill cut off exists but is not counted: the count is at least what was confirmed)
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(total);

    await restart();
    const live = await liveSubjects(env);
    expect(live.length).toBeGreaterThanOrEqual(seen);
    expect(live.length).toBeLessThan(want.length);
    const inv = await readInventory(env);
    // no revision yet (the first apply never finished), but its objects are pending: every live object is inventoried
    expect(inv?.revisions).toEqual([]);
    expect(inv?.pending).toMatchObject({ commit: head });
    expect(inv!.pending!.objects.map(subject).sort()).toEqual(want);
    expect(live.filter((s) => !inventoried(inv).has(s))).toEqual([]);
    // the dead apply still holds the Lease (it could not release it): the re-run must not wait for its TTL
    expect(await leaseHolder(env)).toMatch(/\/\d+$/);
    // status tells the apply was interrupted (its holder's process is gone), not that one is running
    const status = await meshopsAsync(dir, ["status", "--env", env, "--format", "json"]).done;
    expect(status.code, status.stderr).toBe(0);
    const row = (JSON.parse(status.stdout) as { environments: { inFlight?: Record<string, unknown> }[] }).environments[0]!;
    expect(row.inFlight).toMatchObject({ state: "interrupted", commit: head, objects: want.length, by: await leaseHolder(env) });
    const statusText = await meshopsAsync(dir, ["status", "--env", env]).done;
    expect(statusText.stdout).toContain(`  interrupted: the apply of ${head.slice(0, 12)} started `);
    expect(statusText.stdout).toContain(`did not finish (${want.length} objects recorded as pending); run meshops apply --env ${env} to converge`);

    const again = await apply(dir, env);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^meshops: took over the lock of ${env} from \\S+: that process is no longer running on this host`));
    expect(again.stdout).toContain(`revision 1 (complete, ${want.length} objects)`);
    await expectConfigMaps(env, namespaces);
    await expectConverged(env, want, head);
    expect(await leaseHolder(env)).toBeUndefined();
    await expectNoChanges(dir, env);
    const after = await meshopsAsync(dir, ["status", "--env", env, "--format", "json"]).done;
    expect((JSON.parse(after.stdout) as { environments: { inFlight?: unknown }[] }).environments[0]!.inFlight).toBeUndefined();
  }, 240_000);

  it("a pruning apply killed half-way deletes the rest when re-run, and nothing that stays in Git", async () => {
    const env = unique("env");
    const namespaces: [string, string] = [unique("prune-a"), unique("prune-b")];
    const dir = gitRepo(tree(env, namespaces));
    const first = await apply(dir, env);
    expect(first.code, first.stderr).toBe(0);
    const all = (await listConfigMaps(env)).length;
    expect(all).toBe(2 * PER_NAMESPACE);

    // remove every ConfigMap of the second namespace and every other one of the first: 300 deletions
    const keep = (ns: string, i: number): boolean => ns === namespaces[0] && i % 2 === 0;
    const head = commit(dir, tree(env, namespaces, keep), "drop most ConfigMaps");
    const removed = 2 * PER_NAMESPACE - PER_NAMESPACE / 2;
    const { run, seen } = await applyAndKill(dir, env, (n) => n <= all - 30);
    expect(seen).toBeGreaterThan(all - removed);
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stderr).toMatch(unreachable);
    expect(run.stderr).toContain("the inventory still lists the objects left to prune");
    expect(run.stderr).not.toMatch(appliedCount);
    const m = deletedCount.exec(run.stderr)!;
    expect(Number(m[2])).toBe(removed);
    expect(Number(m[1])).toBeGreaterThan(0);
    expect(Number(m[1])).toBeLessThan(removed);

    await restart();
    const inv = await readInventory(env);
    // nothing was to be applied, so nothing is pending; the newest revision still lists the objects not yet deleted
    expect(inv?.pending).toBeUndefined();
    expect(inv?.revisions.map((r) => r.revision)).toEqual([1]);
    const live = await liveSubjects(env);
    expect(live.filter((s) => !inventoried(inv).has(s))).toEqual([]);
    // nothing that stays in Git was deleted
    const want = desiredSubjects(namespaces, keep);
    expect(want.filter((s) => !live.includes(s))).toEqual([]);

    const again = await apply(dir, env);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toContain(`revision 2 (complete, ${want.length} objects)`);
    await expectConfigMaps(env, namespaces, keep);
    await expectConverged(env, want, head);
    await expectNoChanges(dir, env);
  }, 240_000);

  it("objects created by an interrupted apply are pruned by the re-run when they left Git meanwhile (no orphans)", async () => {
    const env = unique("env");
    const namespaces: [string, string] = [unique("orphan-a"), unique("orphan-b")];
    const dir = gitRepo(tree(env, namespaces));
    const { run } = await applyAndKill(dir, env, (n) => n >= 40);
    expect(run.code, run.stderr + run.stdout).toBe(3);
    expect(run.stderr).toMatch(unreachable);
    await restart();

    // Git drops exactly the ConfigMaps the interrupted apply managed to create
    const created = new Set((await listConfigMaps(env)).map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
    expect(created.size).toBeGreaterThanOrEqual(40);
    const keep = (ns: string, i: number): boolean => !created.has(`${ns}/${cmName(i)}`);
    const head = commit(dir, tree(env, namespaces, keep, "2"), "drop what the interrupted apply created, change the rest");

    const again = await apply(dir, env);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    for (const k of [...created].slice(0, 5)) expect(again.stdout).toContain(`ConfigMap/${k} deleted`);
    await expectConfigMaps(env, namespaces, keep, "2");
    await expectConverged(env, desiredSubjects(namespaces, keep), head);
    await expectNoChanges(dir, env);
  }, 240_000);
});
