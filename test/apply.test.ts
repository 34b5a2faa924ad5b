/**
 * meshops plan and apply end to end: the built CLI against the real test environment's API server.
 * Every test uses its own namespace and environment name (inventory and Lease are per environment;
 * deleted namespaces stay Terminating without controllers).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { commit, git, gitRepo, meshops, repoRoot, unique, yieldToEventLoop } from "./helpers.js";

let kubeconfig = "";
beforeAll(() => {
  kubeconfig = inject("kubeconfig");
});
afterEach(yieldToEventLoop);

function kubectl(args: string[], input?: string): string {
  return execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", ...args], { encoding: "utf8", ...(input ? { input } : {}) });
}

function kubectlJson<T = Record<string, unknown>>(args: string[]): T {
  return JSON.parse(kubectl([...args, "-o", "json"])) as T;
}

function run(dir: string, args: string[]): ReturnType<typeof meshops> {
  return meshops(args, { cwd: dir, env: { KUBECONFIG: kubeconfig } });
}

function config(env: string, context = "staging"): string {
  return `version: 1\nenvironments:\n  ${env}:\n    path: envs/${env}\n    cluster: {context: ${context}}\n`;
}

function vs(ns: string, name: string, v1: number, v2: number, annotations = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${ns}${annotations ? `\n  annotations: {${annotations}}` : ""}
spec:
  hosts: [${name}]
  http:
    - route:
        - destination: {host: ${name}, subset: v1}
          weight: ${v1}
        - destination: {host: ${name}, subset: v2}
          weight: ${v2}
`;
}

function nsYaml(ns: string): string {
  return `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;
}

function cmYaml(ns: string, name: string, annotations = ""): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}${annotations ? `\n  annotations: {${annotations}}` : ""}\ndata: {a: "1"}\n`;
}

interface JsonPlan {
  summary: Record<string, number>;
  entries: { subject: string; action: string; changes?: { path: string; old?: unknown; new?: unknown }[]; reason?: string; error?: { code: string; conflicts?: { field: string; manager: string }[] } }[];
}

function planJson(dir: string, env: string, extra: string[] = []): JsonPlan {
  const r = run(dir, ["plan", "--env", env, "-f", "json", ...extra]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as JsonPlan;
}

function inventory(env: string): { revisions: { revision: number; commit?: string; author?: string; appliedBy: string; appliedAt: string; status: string; objects: { kind: string; namespace?: string; name: string }[] }[] } {
  const cm = kubectlJson<{ data: Record<string, string> }>(["get", "configmap", "-n", "meshops-system", `meshops-inventory-${env}`]);
  return JSON.parse(cm.data["inventory.json"]!) as ReturnType<typeof inventory>;
}

function exists(kind: string, ns: string, name: string): boolean {
  return spawnSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", "get", kind, "-n", ns, name], { encoding: "utf8" }).status === 0;
}

describe("meshops plan and apply against a real API server", () => {
  it("plans creates, applies, plans unchanged, shows exactly a changed weight, prunes what left Git and records the inventory", () => {
    const ns = unique("life");
    const env = unique("env");
    const dir = gitRepo({
      "meshops.yaml": config(env),
      [`envs/${env}/ns.yaml`]: nsYaml(ns),
      [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10),
      [`envs/${env}/settings.yaml`]: cmYaml(ns, "settings"),
    });
    const fresh = planJson(dir, env);
    expect(fresh.entries.map((e) => `${e.subject} ${e.action}`)).toEqual([`ConfigMap/${ns}/settings created`, `Namespace/${ns} created`, `VirtualService/${ns}/reviews created`]);

    const first = run(dir, ["apply", "--env", env]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`VirtualService/${ns}/reviews created`);
    expect(kubectlJson<{ spec: { http: { route: { weight: number }[] }[] } }>(["get", "virtualservice", "-n", ns, "reviews"]).spec.http[0]!.route.map((r) => r.weight)).toEqual([90, 10]);

    const again = planJson(dir, env);
    expect(again.summary).toEqual({ created: 0, configured: 0, unchanged: 3, deleted: 0, skipped: 0 });

    const c2 = commit(dir, { [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10).replace("weight: 90", "weight: 75").replace("weight: 10", "weight: 25") }, "shift traffic");
    const shift = planJson(dir, env);
    const configured = shift.entries.filter((e) => e.action === "configured");
    expect(configured.map((e) => e.subject)).toEqual([`VirtualService/${ns}/reviews`]);
    expect(configured[0]!.changes).toEqual([
      { path: ".spec.http[0].route[0].weight", old: 90, new: 75 },
      { path: ".spec.http[0].route[1].weight", old: 10, new: 25 },
    ]);
    const text = run(dir, ["plan", "--env", env]);
    expect(text.stdout).toContain(".spec.http[0].route[0].weight: 90 → 75");
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    expect(planJson(dir, env).summary.configured).toBe(0);

    rmSync(join(dir, `envs/${env}/settings.yaml`));
    git(dir, "commit", "-qam", "drop settings");
    const prune = planJson(dir, env);
    expect(prune.entries.filter((e) => e.action === "deleted").map((e) => e.subject)).toEqual([`ConfigMap/${ns}/settings`]);
    const applied = run(dir, ["apply", "--env", env]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`ConfigMap/${ns}/settings deleted`);
    expect(exists("configmap", ns, "settings")).toBe(false);

    const inv = inventory(env);
    expect(inv.revisions.map((r) => r.revision)).toEqual([3, 2, 1]);
    const head = git(dir, "rev-parse", "HEAD");
    expect(inv.revisions[0]).toMatchObject({ commit: head, author: "Test <t@example.com>", appliedBy: "admin", status: "complete" });
    expect(inv.revisions[1]!.commit).toBe(c2);
    expect(inv.revisions[0]!.objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual([`Namespace/${ns}`, "VirtualService/reviews"]);
    expect(inv.revisions[2]!.objects).toHaveLength(3);
  });

  it("never prunes an object annotated meshops.dev/prune: disabled, nor one meshops did not create", () => {
    const ns = unique("keep");
    const env = unique("env");
    const dir = gitRepo({
      "meshops.yaml": config(env),
      [`envs/${env}/ns.yaml`]: nsYaml(ns),
      [`envs/${env}/keep.yaml`]: cmYaml(ns, "keep", '"meshops.dev/prune": disabled'),
      [`envs/${env}/recreated.yaml`]: cmYaml(ns, "recreated"),
    });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    // someone else's object in the same namespace
    kubectl(["create", "configmap", "-n", ns, "theirs", "--from-literal=x=1"]);
    // an inventoried object deleted and re-created by someone else is no longer meshops'
    kubectl(["delete", "configmap", "-n", ns, "recreated"]);
    kubectl(["create", "configmap", "-n", ns, "recreated", "--from-literal=x=2"]);
    rmSync(join(dir, `envs/${env}/keep.yaml`));
    rmSync(join(dir, `envs/${env}/recreated.yaml`));
    git(dir, "commit", "-qam", "drop both");

    const plan = planJson(dir, env);
    const by = Object.fromEntries(plan.entries.map((e) => [e.subject, e]));
    expect(by[`ConfigMap/${ns}/keep`]).toMatchObject({ action: "skipped", reason: "annotated meshops.dev/prune: disabled" });
    expect(by[`ConfigMap/${ns}/recreated`]!.action).toBe("skipped");
    expect(by[`ConfigMap/${ns}/recreated`]!.reason).toContain("not applied by meshops");
    expect(by[`ConfigMap/${ns}/theirs`]).toBeUndefined();

    const r = run(dir, ["apply", "--env", env]);
    expect(r.code).toBe(0);
    expect(exists("configmap", ns, "keep")).toBe(true);
    expect(exists("configmap", ns, "recreated")).toBe(true);
    expect(exists("configmap", ns, "theirs")).toBe(true);
    // left alone objects are no longer managed: the inventory holds only what Git declares
    expect(inventory(env).revisions[0]!.objects.map((o) => o.kind)).toEqual(["Namespace"]);
  });

  it("refuses an empty render for an environment with an inventory unless --allow-empty, and prunes nothing after a failed render", () => {
    const ns = unique("empty");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/cm.yaml`]: cmYaml(ns, "one") });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);

    writeFileSync(join(dir, `envs/${env}/cm.yaml`), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [broken\n");
    const broken = run(dir, ["apply", "--env", env]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("nothing pruned");
    expect(exists("configmap", ns, "one")).toBe(true);

    rmSync(join(dir, `envs/${env}/cm.yaml`));
    rmSync(join(dir, `envs/${env}/ns.yaml`));
    const refused = run(dir, ["apply", "--env", env]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("rendered no objects but its inventory holds 2");
    expect(exists("configmap", ns, "one")).toBe(true);

    const allowed = run(dir, ["apply", "--env", env, "--allow-empty", "--no-prune"]);
    expect(allowed.code).toBe(0);
    expect(exists("configmap", ns, "one")).toBe(true);
  });

  it("reports a field owned by another manager and does not overwrite it without --force-conflicts", () => {
    const ns = unique("conflict");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10) });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    kubectl(["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"], vs(ns, "reviews", 50, 50));

    const plan = planJson(dir, env);
    const entry = plan.entries.find((e) => e.subject === `VirtualService/${ns}/reviews`)!;
    expect(entry.action).toBe("skipped");
    expect(entry.error).toMatchObject({ code: "conflict", conflicts: [{ field: ".spec.http", manager: "other" }] });

    const r = run(dir, ["apply", "--env", env]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`VirtualService/${ns}/reviews skipped: conflict: .spec.http is owned by "other" (use --force-conflicts to take ownership)`);
    const weights = (): number[] => kubectlJson<{ spec: { http: { route: { weight: number }[] }[] } }>(["get", "virtualservice", "-n", ns, "reviews"]).spec.http[0]!.route.map((x) => x.weight);
    expect(weights()).toEqual([50, 50]);
    expect(inventory(env).revisions[0]!.status).toBe("partial");

    const forced = run(dir, ["apply", "--env", env, "--force-conflicts"]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(".spec.http[0].route[0].weight: 50 → 90");
    expect(weights()).toEqual([90, 10]);
  });

  it("gives a user without RBAC permissions a per-object 403 naming the verb and resource", () => {
    const ns = unique("rbac");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env, "staging-limited"), [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10) });
    const r = run(dir, ["plan", "--env", env]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`VirtualService/${ns}/reviews skipped: forbidden: cannot get virtualservices.networking.istio.io`);
    const a = run(dir, ["apply", "--env", env]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^meshops: Namespace\/meshops-system: forbidden: cannot patch namespaces/);
  });

  it("rejects a timeout that is not a number of seconds (exit 2)", () => {
    const r = meshops(["apply", "--env", "x", "--lock-timeout", "soon"], { cwd: gitRepo({ "meshops.yaml": config("x") }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('meshops: --lock-timeout must be a positive number of seconds, got "soon"\n');
  });

  it("exits 3 with one line when the API server is unreachable", () => {
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/cm.yaml`]: cmYaml("unreachable", "cm1") });
    const dead = join(dir, "dead-kubeconfig");
    writeFileSync(dead, readFileSync(kubeconfig, "utf8").replace(/server: https:\/\/127\.0\.0\.1:\d+/g, "server: https://127.0.0.1:1"));
    const r = meshops(["plan", "--env", env, "--kubeconfig", dead], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^meshops: cluster staging at https:\/\/127\.0\.0\.1:1 is unreachable: connect ECONNREFUSED/);
  });

  it("serialises applies with a Lease: a held lease fails clearly, a stale one is taken over", () => {
    const ns = unique("lock");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns) });
    const lease = (renew: Date): string =>
      `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: meshops-apply-${env}, namespace: meshops-system}\nspec:\n  holderIdentity: someone@ci/42\n  leaseDurationSeconds: 60\n  acquireTime: "${renew.toISOString().replace("Z", "000Z")}"\n  renewTime: "${renew.toISOString().replace("Z", "000Z")}"\n`;
    kubectl(["apply", "--server-side", "--field-manager=test", "-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata: {name: meshops-system}\n`);
    kubectl(["apply", "--server-side", "--field-manager=test", "-f", "-"], lease(new Date()));
    const held = run(dir, ["apply", "--env", env]);
    expect(held.code).toBe(1);
    expect(held.stderr).toContain(`environment ${env} is locked by someone@ci/42`);
    expect(held.stderr).toContain("--wait-lock");
    expect(exists("namespace", "default", ns)).toBe(false);

    kubectl(["apply", "--server-side", "--field-manager=test", "--force-conflicts", "-f", "-"], lease(new Date(Date.now() - 120_000)));
    const taken = run(dir, ["apply", "--env", env]);
    expect(taken.stderr).toBe("");
    expect(taken.code).toBe(0);
    const after = kubectlJson<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>(["get", "lease", "-n", "meshops-system", `meshops-apply-${env}`]);
    // released after the apply
    expect(after.spec.holderIdentity).toBeUndefined();
    expect(after.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it("prints markdown for an MR note and never prints Secret data", () => {
    const ns = unique("md");
    const env = unique("env");
    const secret = (v: string): string => `apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: ${ns}}\nstringData: {password: ${v}}\n`;
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/secret.yaml`]: secret("hunter2"), [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10) });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    commit(dir, { [`envs/${env}/secret.yaml`]: secret("correcthorse"), [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 80, 20) }, "rotate");
    for (const format of ["text", "markdown", "json"]) {
      const r = run(dir, ["plan", "--env", env, "-f", format]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/hunter2|correcthorse|aHVudGVyMg|Y29ycmVjdGhvcnNl/);
      expect(r.stdout).toContain(`Secret/${ns}/creds`);
    }
    const md = run(dir, ["plan", "--env", env, "-f", "markdown"]).stdout;
    expect(md).toContain("| configured | `VirtualService/" + ns + "/reviews` | `envs/" + env + "/reviews.yaml:1` |");
    expect(md).toContain("- .spec.http[0].route[0].weight: 90\n+ .spec.http[0].route[0].weight: 80");
  });

  it("creates a CRD and its custom objects in one apply, waiting until the CRD is Established", () => {
    const id = randomBytes(3).toString("hex");
    const ns = `crd-${id}`;
    const env = unique("env");
    const group = `t${id}.example.com`;
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.${group}}
spec:
  group: ${group}
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {size: {type: integer}}}
`;
    const widget = (size: number): string => `apiVersion: ${group}/v1\nkind: Widget\nmetadata: {name: w, namespace: ${ns}}\nspec: {size: ${size}}\n`;
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/crd.yaml`]: crd, [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/widget.yaml`]: widget(1) });
    const plan = planJson(dir, env);
    expect(plan.entries.map((e) => `${e.subject} ${e.action}`)).toEqual([`CustomResourceDefinition/widgets.${group} created`, `Namespace/${ns} created`, `Widget/${ns}/w created`]);
    const r = run(dir, ["apply", "--env", env]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(kubectlJson<{ spec: { size: number } }>(["get", `widgets.${group}`, "-n", ns, "w"]).spec.size).toBe(1);
    commit(dir, { [`envs/${env}/widget.yaml`]: widget(2) }, "grow");
    const grown = planJson(dir, env);
    expect(grown.entries.find((e) => e.action === "configured")?.changes).toEqual([{ path: ".spec.size", old: 1, new: 2 }]);
  });

  it("shows the API server's message for an invalid object with its file and line, and applies the rest", () => {
    const ns = unique("invalid");
    const env = unique("env");
    const bad = vs(ns, "bad", 90, 10).replace("weight: 90", 'weight: "ninety"');
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/a.yaml`]: `${cmYaml(ns, "fine")}---\n${bad}` });
    const started = Date.now();
    const r = run(dir, ["apply", "--env", env]);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    // the server answers a wrongly typed field with a 500 that is not retried; the line is the field's
    expect(r.stdout).toMatch(new RegExp(`VirtualService/${ns}/bad skipped: invalid: .*\\.spec\\.http\\[0\\]\\.route\\[0\\]\\.weight: expected numeric.*\\(envs/${env}/a.yaml:18\\)`));
    expect(exists("configmap", ns, "fine")).toBe(true);
  });

  it("waits for the lock with --wait-lock", async () => {
    const ns = unique("wait");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns) });
    kubectl(["apply", "--server-side", "--field-manager=test", "-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata: {name: meshops-system}\n`);
    const t = new Date(Date.now() - 57_000).toISOString().replace("Z", "000Z");
    kubectl(["apply", "--server-side", "--field-manager=test", "-f", "-"], `apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: meshops-apply-${env}, namespace: meshops-system}\nspec: {holderIdentity: slow@ci/1, leaseDurationSeconds: 60, acquireTime: "${t}", renewTime: "${t}"}\n`);
    const started = Date.now();
    const r = run(dir, ["apply", "--env", env, "--wait-lock", "--lock-timeout", "30"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // the lease had about 3 s left
    expect(Date.now() - started).toBeGreaterThan(1_500);
    expect(exists("namespace", "default", ns)).toBe(true);
  });

  it("plans many objects of one kind from a LIST and still sees each out-of-band change", () => {
    const ns = unique("many");
    const env = unique("env");
    const files: Record<string, string> = { "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns) };
    for (let i = 0; i < 12; i++) files[`envs/${env}/vs${i}.yaml`] = vs(ns, `r${i}`, 90, 10);
    const dir = gitRepo(files);
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    // a removed field comes back; a changed one now belongs to kubectl-patch (.spec.http is an atomic list) and conflicts
    kubectl(["label", "virtualservice", "-n", ns, "r3", "meshops.dev/environment-"]);
    kubectl(["patch", "virtualservice", "-n", ns, "r7", "--type=json", "-p", '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":60}]']);
    const plan = planJson(dir, env);
    expect(plan.summary).toEqual({ created: 0, configured: 1, unchanged: 11, deleted: 0, skipped: 1 });
    expect(plan.entries.find((e) => e.action === "configured")).toMatchObject({ subject: `VirtualService/${ns}/r3`, changes: [{ path: ".metadata.labels", new: { "meshops.dev/environment": env } }] });
    expect(plan.entries.find((e) => e.action === "skipped")).toMatchObject({ subject: `VirtualService/${ns}/r7`, error: { code: "conflict", conflicts: [{ field: ".spec.http", manager: "kubectl-patch" }] } });
  });

  it("with --wait, waits for conditions a controller sets and names the object it timed out on", async () => {
    const ns = unique("wait");
    const env = unique("env");
    const gateway = (name: string): string => `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n`;
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/gw.yaml`]: gateway("lonely") });
    // no controller runs in the test environment: the defaulted "Waiting for controller" conditions never change
    const timedOut = run(dir, ["apply", "--env", env, "--wait", "--timeout", "1"]);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stdout).toContain(`Gateway/${ns}/lonely created: not ready: timed out after 1s waiting for Gateway/${ns}/lonely: Accepted is Unknown: Waiting for controller`);

    // play the controller: set the status while apply waits
    commit(dir, { [`envs/${env}/gw2.yaml`]: gateway("served") }, "second gateway");
    const child = spawn(process.execPath, [join(repoRoot, "bin", "meshops.js"), "apply", "--env", env, "--wait", "--timeout", "30", "--no-prune"], { cwd: dir, env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: "1" } });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const done = new Promise<number>((r) => child.on("close", (code) => r(code ?? -1)));
    for (let i = 0; i < 100 && !exists("gateway", ns, "served"); i++) await new Promise((r) => setTimeout(r, 100));
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const status = { status: { conditions: ["Accepted", "Programmed"].map((type) => ({ type, status: "True", reason: type, message: "", lastTransitionTime: now, observedGeneration: 1 })) } };
    kubectl(["patch", "gateway", "-n", ns, "served", "--subresource=status", "--type=merge", "-p", JSON.stringify(status)]);
    expect(await done).toBe(0);
    expect(out).toContain(`Gateway/${ns}/served created`);
  });

  it("refuses an unreadable inventory clearly and frees the lock it took", () => {
    const ns = unique("badinv");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns) });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    kubectl(["patch", "configmap", "-n", "meshops-system", `meshops-inventory-${env}`, "--type=merge", "-p", JSON.stringify({ data: { "inventory.json": "{not json" } })]);
    const r = run(dir, ["apply", "--env", env]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^meshops: ConfigMap/meshops-system/meshops-inventory-${env}: the inventory is unreadable .*nothing was applied or pruned`));
    const lease = kubectlJson<{ spec: { holderIdentity?: string } }>(["get", "lease", "-n", "meshops-system", `meshops-apply-${env}`]);
    expect(lease.spec.holderIdentity).toBeUndefined();
  });

  it("after a failed object, holds deletions back, records exactly what is in the cluster, and converges when re-run", () => {
    const ns = unique("partial");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/old.yaml`]: cmYaml(ns, "old") });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    rmSync(join(dir, `envs/${env}/old.yaml`));
    commit(dir, { [`envs/${env}/new.yaml`]: cmYaml(ns, "new"), [`envs/${env}/bad.yaml`]: vs(ns, "bad", 90, 10).replace("weight: 90", "weight: ninety") }, "replace old, add a broken route");
    const failed = run(dir, ["apply", "--env", env]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`ConfigMap/${ns}/new created`);
    expect(failed.stdout).toContain(`ConfigMap/${ns}/old skipped: not pruned: the apply had failures`);
    expect(failed.stdout).toContain("deletions held back");
    expect(exists("configmap", ns, "old")).toBe(true);
    const partial = inventory(env).revisions[0]!;
    expect(partial.status).toBe("partial");
    expect(partial.objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual([`ConfigMap/new`, `ConfigMap/old`, `Namespace/${ns}`]);

    commit(dir, { [`envs/${env}/bad.yaml`]: vs(ns, "bad", 90, 10) }, "fix the route");
    const fixed = run(dir, ["apply", "--env", env]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain(`ConfigMap/${ns}/old deleted`);
    expect(exists("configmap", ns, "old")).toBe(false);
    const complete = inventory(env).revisions[0]!;
    expect(complete.status).toBe("complete");
    expect(complete.objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual([`ConfigMap/new`, `Namespace/${ns}`, "VirtualService/bad"]);
    expect(planJson(dir, env).summary).toEqual({ created: 0, configured: 0, unchanged: 3, deleted: 0, skipped: 0 });
  });

  it("with --atomic, returns the environment to the previous revision's commit when the apply fails", () => {
    const ns = unique("atomic");
    const env = unique("env");
    const dir = gitRepo({ "meshops.yaml": config(env), [`envs/${env}/ns.yaml`]: nsYaml(ns), [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 90, 10) });
    expect(run(dir, ["apply", "--env", env]).code).toBe(0);
    const a = git(dir, "rev-parse", "HEAD");
    commit(dir, { [`envs/${env}/reviews.yaml`]: vs(ns, "reviews", 50, 50), [`envs/${env}/extra.yaml`]: cmYaml(ns, "extra"), [`envs/${env}/bad.yaml`]: vs(ns, "bad", 1, 1).replace("weight: 1", "weight: one") }, "B: shift, add, break");
    const r = run(dir, ["apply", "--env", env, "--atomic"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--atomic: the apply failed; returning ${env} to inventory revision 1 (commit ${a.slice(0, 12)})`);
    const weights = kubectlJson<{ spec: { http: { route: { weight: number }[] }[] } }>(["get", "virtualservice", "-n", ns, "reviews"]).spec.http[0]!.route.map((x) => x.weight);
    expect(weights).toEqual([90, 10]);
    expect(exists("configmap", ns, "extra")).toBe(false);
    const top = inventory(env).revisions[0]!;
    expect(top).toMatchObject({ revision: 3, commit: a, status: "complete" });
    expect(inventory(env).revisions[1]!.status).toBe("partial");
  });
});
