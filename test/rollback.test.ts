/**
 * Rollback end to end against the real test environment: the GitOps path (`git revert` applied) and
 * `meshops rollback` restore the state after an earlier commit on every field meshops manages, remove what
 * the undone commit added, and are recorded as new inventory revisions. Each test has its own namespace
 * and environment name.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { resolveRollbackTarget, RollbackError } from "../src/cluster/rollback.js";
import { commit, git, gitRepo, meshops, reviewsVirtualService, unique, yieldToEventLoop } from "./helpers.js";

let kubeconfig = "";
beforeAll(() => {
  kubeconfig = inject("kubeconfig");
});
afterEach(yieldToEventLoop);

function kubectlJson<T = Record<string, unknown>>(args: string[]): T {
  return JSON.parse(execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", ...args, "-o", "json"], { encoding: "utf8" })) as T;
}

function exists(kind: string, ns: string, name: string): boolean {
  return spawnSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", "get", kind, "-n", ns, name], { encoding: "utf8" }).status === 0;
}

function run(dir: string, args: string[]): ReturnType<typeof meshops> {
  return meshops(args, { cwd: dir, env: { KUBECONFIG: kubeconfig } });
}

const config = (env: string): string => `version: 1\nenvironments:\n  ${env}:\n    path: envs/${env}\n    cluster: {context: staging}\n`;
const nsYaml = (ns: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;

function policy(ns: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-callers
  namespace: ${ns}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
    - from: [{source: {principals: [cluster.local/ns/${ns}/sa/productpage]}}]
`;
}

interface Live {
  metadata: { managedFields?: { manager: string; operation: string; fieldsV1?: Record<string, unknown> }[] } & Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * The part of an object that the field manager "meshops" owns, read from its managedFields (fieldsV1):
 * `f:name` descends into a field; a leaf (`{}` or only ".") or a keyed list (`k:`/`v:`/`i:`) takes the value
 * whole. Comparing these projections compares "every meshops-managed field".
 */
function owned(obj: unknown, fields: Record<string, unknown>): unknown {
  const keys = Object.keys(fields).filter((k) => k !== ".");
  if (keys.length === 0 || keys.some((k) => !k.startsWith("f:")) || typeof obj !== "object" || obj === null || Array.isArray(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const k of keys.sort()) out[k.slice(2)] = owned((obj as Record<string, unknown>)[k.slice(2)], fields[k] as Record<string, unknown>);
  return out;
}

function meshopsFields(live: Live): { fields: Record<string, unknown>; values: unknown } {
  const entry = live.metadata.managedFields?.find((m) => m.manager === "meshops" && m.operation === "Apply");
  expect(entry, "meshops owns fields of the object").toBeDefined();
  return { fields: entry!.fieldsV1!, values: owned(live, entry!.fieldsV1!) };
}

function inventory(env: string): { revisions: { revision: number; commit?: string; note?: string; rollback?: { of: number; to: number }; status: string; objects: { kind: string; name: string }[] }[] } {
  const cm = kubectlJson<{ data: Record<string, string> }>(["get", "configmap", "-n", "meshops-system", `meshops-inventory-${env}`]);
  return JSON.parse(cm.data["inventory.json"]!) as ReturnType<typeof inventory>;
}

/** Commit A (90/10) applied, then commit B (50/50 and a new AuthorizationPolicy) applied. */
function appliedAThenB(): { ns: string; env: string; dir: string; a: string; b: string; afterA: ReturnType<typeof meshopsFields> } {
  const ns = unique("rb");
  const env = unique("env");
  const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/reviews.yaml`]: reviewsVirtualService(ns, 90, 10) }, "A: reviews 90/10");
  const a = git(dir, "rev-parse", "HEAD");
  expect(run(dir, ["apply", "--env", env]).code).toBe(0);
  const afterA = meshopsFields(kubectlJson<Live>(["get", "virtualservice", "-n", ns, "reviews", "--show-managed-fields"]));
  const b = commit(dir, { [`envs/${env}/reviews.yaml`]: reviewsVirtualService(ns, 50, 50), [`envs/${env}/policy.yaml`]: policy(ns) }, "B: reviews 50/50, restrict callers");
  const applied = run(dir, ["apply", "--env", env]);
  expect(applied.stderr).toBe("");
  expect(applied.code).toBe(0);
  const afterB = meshopsFields(kubectlJson<Live>(["get", "virtualservice", "-n", ns, "reviews", "--show-managed-fields"]));
  expect(afterB.values).not.toEqual(afterA.values);
  expect(exists("authorizationpolicies.security.istio.io", ns, "reviews-callers")).toBe(true);
  return { ns, env, dir, a, b, afterA };
}

function expectStateOfA(ns: string, afterA: ReturnType<typeof meshopsFields>): void {
  const now = meshopsFields(kubectlJson<Live>(["get", "virtualservice", "-n", ns, "reviews", "--show-managed-fields"]));
  expect(now.fields).toEqual(afterA.fields);
  expect(now.values).toEqual(afterA.values);
  expect((now.values as { spec: { http: { route: { weight: number }[] }[] } }).spec.http[0]!.route.map((r) => r.weight)).toEqual([90, 10]);
  expect(exists("authorizationpolicies.security.istio.io", ns, "reviews-callers")).toBe(false);
}

describe("rollback against a real API server", () => {
  it("applying `git revert B` restores the state after A on every meshops-managed field and removes what B added", () => {
    const { ns, env, dir, afterA } = appliedAThenB();
    git(dir, "revert", "--no-edit", "HEAD");
    const revert = git(dir, "rev-parse", "HEAD");
    const r = run(dir, ["apply", "--env", env]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`AuthorizationPolicy/${ns}/reviews-callers deleted`);
    expectStateOfA(ns, afterA);
    const inv = inventory(env);
    expect(inv.revisions.map((x) => x.revision)).toEqual([3, 2, 1]);
    expect(inv.revisions[0]).toMatchObject({ commit: revert, status: "complete" });
    expect(run(dir, ["plan", "--env", env, "-f", "json"]).stdout).toContain('"configured": 0');
  });

  it("rollback --steps 1 after B gives the same state and records a new revision that says what it rolled back", () => {
    const { ns, env, dir, a, b, afterA } = appliedAThenB();
    const r = run(dir, ["rollback", "--env", env, "--steps", "1"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${env}: rollback of revision 2 to revision 1 (commit ${a.slice(0, 12)})`);
    expect(r.stdout).toContain(`AuthorizationPolicy/${ns}/reviews-callers deleted`);
    expect(r.stdout).toContain(`VirtualService/${ns}/reviews configured`);
    expect(r.stdout).toContain("revision 3 (complete, 2 objects): rollback of revision 2 to revision 1");
    expectStateOfA(ns, afterA);
    const top = inventory(env).revisions[0]!;
    expect(top).toMatchObject({ revision: 3, commit: a, rollback: { of: 2, to: 1 }, status: "complete" });
    expect(top.objects.map((o) => o.kind).sort()).toEqual(["Namespace", "VirtualService"]);

    // forward again by commit: B's policy and weights come back, as revision 4
    const fwd = run(dir, ["rollback", "--env", env, "--to", b.slice(0, 10), "-f", "json"]);
    expect(fwd.code).toBe(0);
    expect(JSON.parse(fwd.stdout)).toMatchObject({ inventoryRevision: 4, rollback: { of: 3, to: 2 } });
    expect(exists("authorizationpolicies.security.istio.io", ns, "reviews-callers")).toBe(true);
    // and back by revision number
    expect(run(dir, ["rollback", "--env", env, "--to", "1"]).code).toBe(0);
    expectStateOfA(ns, afterA);
    expect(inventory(env).revisions[0]).toMatchObject({ revision: 5, commit: a, rollback: { of: 4, to: 1 } });
  });

  it("refuses unknown revisions, steps beyond history and commits the repository does not hold, and frees the lock", () => {
    const ns = unique("rberr");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns) });
    const never = run(dir, ["rollback", "--env", env, "--steps", "1"]);
    expect(never.code).toBe(2);
    expect(never.stderr).toContain(`environment ${env} has no inventory in its cluster`);
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);

    const beyond = run(dir, ["rollback", "--env", env, "--steps", "3"]);
    expect(beyond.code).toBe(2);
    expect(beyond.stderr).toContain(`--steps 3 goes beyond its history: the inventory holds 1 revision (revisions 1..1 are kept)`);
    const unknown = run(dir, ["rollback", "--env", env, "--to", "7"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`environment ${env} has no inventory revision 7: revisions 1..1 are kept`);
    const current = run(dir, ["rollback", "--env", env, "--to", "1"]);
    expect(current.code).toBe(2);
    expect(current.stderr).toContain("is the current revision");
    const both = run(dir, ["rollback", "--env", env, "--to", "1", "--steps", "1"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("exactly one of --to REV or --steps N");

    // revision 2 applied from another clone whose history does not hold revision 1's commit
    const other = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/cm.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ${ns}}\n` }, "unrelated history");
    expect(run(other, ["apply", "--env", env]).code).toBe(0);
    const first = inventory(env).revisions[1]!.commit!;
    const missing = run(other, ["rollback", "--env", env, "--steps", "1"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`revision 1's commit ${first} is not in the repository`);
    // every refusal released the Lease
    expect(run(other, ["apply", "--env", env]).code).toBe(0);
  });
});

describe("choosing the revision to roll back to", () => {
  const rev = (revision: number, commit?: string) => ({ revision, ...(commit ? { commit } : {}), appliedAt: "2026-01-01T00:00:00Z", appliedBy: "ci", status: "complete" as const, objects: [] });
  const inv = { env: "prod", revisions: [rev(7, "cccc1111"), rev(6), rev(5, "bbbb2222"), rev(4, "aaaa3333")] };
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      if (e instanceof RollbackError) return `${e.code}: ${e.message}`;
      throw e;
    }
    return "no error";
  };

  it("counts steps back from the current revision and finds revisions by number or applied commit", () => {
    expect(resolveRollbackTarget("prod", inv, { steps: 2 }).target.revision).toBe(5);
    expect(resolveRollbackTarget("prod", inv, { to: "4" })).toMatchObject({ current: { revision: 7 }, target: { revision: 4, commit: "aaaa3333" } });
    expect(resolveRollbackTarget("prod", inv, { to: "BBBB" }).target.revision).toBe(5);
  });

  it("says what the inventory keeps when the request is outside it", () => {
    expect(code(() => resolveRollbackTarget("prod", inv, { steps: 4 }))).toBe("beyond_history: environment prod: --steps 4 goes beyond its history: the inventory holds 4 revisions (revisions 4..7 are kept)");
    expect(code(() => resolveRollbackTarget("prod", inv, { to: "3" }))).toBe("unknown_revision: environment prod has no inventory revision 3: revisions 4..7 are kept");
    expect(code(() => resolveRollbackTarget("prod", inv, { to: "dddd" }))).toContain('unknown_revision: environment prod: no inventory revision applied commit "dddd"');
    expect(code(() => resolveRollbackTarget("prod", inv, { steps: 1 }))).toBe("no_commit: environment prod: revision 6 was applied from a working tree, not a commit: its files cannot be read back from Git");
    expect(code(() => resolveRollbackTarget("prod", inv, { to: "cccc" }))).toBe("already_current: environment prod: revision 7 (commit cccc1111) is the current revision");
    expect(code(() => resolveRollbackTarget("prod", undefined, { steps: 1 }))).toContain("no_inventory");
  });
});
