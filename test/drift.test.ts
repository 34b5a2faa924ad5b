/**
 * `meshops drift`, `drift --heal`, `drift --watch` and `meshops adopt` end to end against the staging and
 * production test clusters: out-of-band changes made with kubectl (patch, label, delete, client-side apply,
 * status written through the status subresource as a controller would), reported per field with the field
 * manager that made them.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { gitRepo, meshops, repoRoot, unique, writeTree, yieldToEventLoop } from "./helpers.js";

let kubeconfig = "";
beforeAll(() => {
  kubeconfig = inject("kubeconfig");
});
afterEach(yieldToEventLoop);

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

function kubectl(context: string, ...args: string[]): string {
  return execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", context, ...args], { encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] });
}

function kubectlIn(context: string, input: string, ...args: string[]): string {
  return execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", context, ...args], { encoding: "utf8", input, stdio: ["pipe", "pipe", "ignore"] });
}

const nsYaml = (ns: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;
const svcYaml = (ns: string, name: string): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 9080}]
`;
const vsYaml = (ns: string, w1: number, w2: number, extra = ""): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${ns}}
spec:
  hosts: [reviews]
${extra}  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: ${w1}
    - destination: {host: reviews, subset: v2}
      weight: ${w2}
`;
const routeYaml = (ns: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: ${ns}}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`;

interface DriftJson {
  environments: {
    env: string;
    error?: string;
    note?: string;
    against: string;
    inventoryRevision?: number;
    commit?: string;
    summary: Record<string, number>;
    heal?: string[];
    entries: {
      subject: string;
      state: string;
      origin?: { file: string; line: number };
      reason?: string;
      changes?: { path: string; old?: unknown; new?: unknown; manager?: string; operation?: string }[];
      foreign?: { path: string; value: unknown; manager: string }[];
      health?: { status: string; messages: string[] };
    }[];
  }[];
}

function setup(envs: Record<string, { context: string; files: string }>): { dir: string; run: (args: string[]) => ReturnType<typeof meshops> } {
  const config = `version: 1\nenvironments:\n${Object.entries(envs)
    .map(([name, e]) => `  ${name}: {path: envs/${name}, cluster: {context: ${e.context}}}`)
    .join("\n")}\n`;
  const files: Record<string, string> = { "meshops.yaml": config };
  for (const [name, e] of Object.entries(envs)) files[`envs/${name}/all.yaml`] = e.files;
  const dir = gitRepo(files);
  return { dir, run: (args) => meshops([...args, "--kubeconfig", kubeconfig], { cwd: dir }) };
}

function driftJson(r: ReturnType<typeof meshops>): DriftJson {
  try {
    return JSON.parse(r.stdout) as DriftJson;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

describe("meshops drift", () => {
  it("reports changed fields with the manager that changed them, fields other managers added, and missing objects; exit 1", () => {
    const ns = unique("drift");
    const env = unique("stg");
    const { run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}---\n${svcYaml(ns, "ratings")}---\n${vsYaml(ns, 90, 10)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);
    const clean = run(["drift", "-f", "json"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(driftJson(clean).environments[0]!.summary).toMatchObject({ "in-sync": 4, drifted: 0, missing: 0 });

    kubectl("staging", "-n", ns, "patch", "virtualservice", "reviews", "--type", "json", "-p", '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":50},{"op":"replace","path":"/spec/http/0/route/1/weight","value":50}]');
    kubectl("staging", "-n", ns, "label", "service", "reviews", "team=payments");
    kubectl("staging", "-n", ns, "delete", "service", "ratings");

    const r = run(["drift", "-f", "json"]);
    expect(r.code, r.stderr).toBe(1);
    const e = driftJson(r).environments[0]!;
    expect(e.against).toBe("inventory revision 1");
    expect(e.summary).toMatchObject({ drifted: 2, missing: 1, "in-sync": 1 });
    const by = Object.fromEntries(e.entries.map((x) => [x.subject, x]));
    const vs = by[`VirtualService/${ns}/reviews`]!;
    expect(vs.state).toBe("drifted");
    expect(vs.origin).toEqual({ file: `envs/${env}/all.yaml`, line: 19 });
    expect(vs.changes).toEqual([
      expect.objectContaining({ path: ".spec.http[0].route[0].weight", old: 50, new: 90, manager: "kubectl-patch", operation: "Update" }),
      expect.objectContaining({ path: ".spec.http[0].route[1].weight", old: 50, new: 10, manager: "kubectl-patch", operation: "Update" }),
    ]);
    // the atomic list kubectl-patch now owns is the change above, not a foreign field
    expect(vs.foreign).toBeUndefined();
    const svc = by[`Service/${ns}/reviews`]!;
    expect(svc).toMatchObject({ state: "drifted", foreign: [{ path: ".metadata.labels.team", value: "payments", manager: "kubectl-label" }] });
    expect(svc.changes).toBeUndefined();
    expect(by[`Service/${ns}/ratings`]).toMatchObject({ state: "missing", origin: { file: `envs/${env}/all.yaml` } });

    const text = run(["drift"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`VirtualService/${ns}/reviews drifted  (envs/${env}/all.yaml:19)`);
    expect(text.stdout).toMatch(/\.spec\.http\[0\]\.route\[0\]\.weight: live 50, Git 90 \(kubectl-patch, Update at \d{4}-/);
    expect(text.stdout).toContain(".metadata.labels.team: live payments, not in Git: set by kubectl-label");
    expect(text.stdout).toContain(`Service/${ns}/ratings missing: not in the cluster`);
    expect(text.stdout).toContain("drift: 2 drifted, 1 missing, 0 extra, 0 errors, 0 degraded, 1 in sync");

    const md = run(["drift", "-f", "markdown"]);
    expect(md.stdout).toContain(`| \`VirtualService/${ns}/reviews\` | drifted |`);
  }, 180_000);

  it("--heal re-applies Git's state of drifted and missing objects, under the lock, and leaves foreign fields to adopt", () => {
    const ns = unique("heal");
    const env = unique("stg");
    const { run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}---\n${svcYaml(ns, "ratings")}---\n${vsYaml(ns, 90, 10)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);
    kubectl("staging", "-n", ns, "patch", "virtualservice", "reviews", "--type", "merge", "-p", '{"spec":{"hosts":["reviews","reviews.example.com"]}}');
    kubectl("staging", "-n", ns, "delete", "service", "ratings");
    kubectl("staging", "-n", ns, "annotate", "service", "reviews", "owner=ops");

    const r = run(["drift", "--heal", "-f", "json"]);
    const e = driftJson(r).environments[0]!;
    expect(e.heal?.join("\n")).toContain(`healed 2 object(s): Service/${ns}/ratings, VirtualService/${ns}/reviews`);
    expect(e.heal?.join("\n")).toContain(`not healed (only fields another manager set; \`meshops adopt --env ${env}\` first): Service/${ns}/reviews`);
    // what remains after healing is the annotation only another manager set: still drift
    expect(r.code).toBe(1);
    expect(e.summary).toMatchObject({ drifted: 1, missing: 0 });
    expect(JSON.parse(kubectl("staging", "-n", ns, "get", "virtualservice", "reviews", "-o", "json")).spec.hosts).toEqual(["reviews"]);
    expect(kubectl("staging", "-n", ns, "get", "service", "ratings", "-o", "name")).toContain("service/ratings");
  }, 180_000);

  it("closes the server-side-apply blind spot: a field set by a client-side kubectl apply is reported, survives apply, and is removed after adopt", () => {
    const ns = unique("adopt");
    const env = unique("stg");
    const { run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${vsYaml(ns, 90, 10)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);
    // someone applies the same object client-side, with a field Git does not set
    kubectlIn("staging", vsYaml(ns, 90, 10, "  gateways: [mesh]\n"), "apply", "-f", "-");
    const vsGateways = (): unknown => (JSON.parse(kubectl("staging", "-n", ns, "get", "virtualservice", "reviews", "-o", "json")) as { spec: { gateways?: unknown } }).spec.gateways;
    expect(vsGateways()).toEqual(["mesh"]);

    // a plan/apply cannot see it: server-side apply keeps fields it does not own
    const plan = run(["plan", "--env", env, "-f", "json"]);
    expect((JSON.parse(plan.stdout) as { summary: Record<string, number> }).summary).toMatchObject({ configured: 0, unchanged: 2 });
    expect(run(["apply", "--env", env]).code).toBe(0);
    expect(vsGateways()).toEqual(["mesh"]);

    // drift can
    const d = run(["drift", "-f", "json"]);
    expect(d.code).toBe(1);
    const vs = driftJson(d).environments[0]!.entries.find((x) => x.subject === `VirtualService/${ns}/reviews`)!;
    expect(vs.foreign).toEqual([expect.objectContaining({ path: ".spec.gateways", value: ["mesh"], manager: "kubectl-client-side-apply" })]);

    // adopt: ownership moves to meshops (values untouched), the next apply removes what Git does not set
    const dry = run(["adopt", "--env", env, "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`VirtualService/${ns}/reviews would take ownership from kubectl-client-side-apply`);
    expect(dry.stdout).toContain(".spec.gateways: [\"mesh\"] (set by kubectl-client-side-apply, not in Git): the next apply removes it");
    const managers = (): string[] =>
      (JSON.parse(kubectl("staging", "-n", ns, "get", "virtualservice", "reviews", "-o", "json", "--show-managed-fields")) as { metadata: { managedFields: { manager: string }[] } }).metadata.managedFields.map((m) => m.manager).sort();
    expect(managers()).toEqual(["kubectl-client-side-apply", "meshops"]);
    const a = run(["adopt", "--env", env]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain("adopt: 1 adopted, 1 already owned by meshops alone, 0 missing, 0 failed");
    expect(managers()).toEqual(["meshops"]);
    expect(vsGateways()).toEqual(["mesh"]);
    const after = driftJson(run(["drift", "-f", "json"])).environments[0]!.entries.find((x) => x.subject === `VirtualService/${ns}/reviews`)!;
    // meshops now owns what kubectl set, its last-applied bookkeeping included: the next apply removes both
    expect(after.changes?.map((c) => c.path).sort()).toEqual([".metadata.annotations", ".spec.gateways"]);
    expect(after.changes).toContainEqual(expect.objectContaining({ path: ".spec.gateways", old: ["mesh"] }));
    expect(run(["apply", "--env", env]).code).toBe(0);
    expect(vsGateways()).toBeUndefined();
    expect(run(["drift"]).code).toBe(0);
  }, 180_000);

  it("reports health from Gateway API conditions and Istio validation messages written by a controller", () => {
    const ns = unique("health");
    const env = unique("stg");
    const { run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}---\n${vsYaml(ns, 90, 10)}---\n${routeYaml(ns)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const parentStatus = {
      status: {
        parents: [
          {
            parentRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" },
            controllerName: "example.com/gateway-controller",
            conditions: [
              { type: "Accepted", status: "True", reason: "Accepted", message: "", lastTransitionTime: now, observedGeneration: 1 },
              { type: "ResolvedRefs", status: "False", reason: "BackendNotFound", message: "backend reviews:9080 has no endpoints", lastTransitionTime: now, observedGeneration: 1 },
            ],
          },
        ],
      },
    };
    kubectl("staging", "-n", ns, "patch", "httproute", "web", "--subresource=status", "--type", "merge", "-p", JSON.stringify(parentStatus));
    kubectl("staging", "-n", ns, "patch", "virtualservice", "reviews", "--subresource=status", "--type", "merge", "-p", JSON.stringify({ status: { validationMessages: [{ level: "ERROR", type: { code: "IST0101", name: "ReferencedResourceNotFound" }, documentationUrl: "https://istio.io/latest/docs/reference/config/analysis/ist0101/" }] } }));

    const r = run(["drift", "-f", "json"]);
    expect(r.code).toBe(1);
    const e = driftJson(r).environments[0]!;
    expect(e.summary).toMatchObject({ drifted: 0, degraded: 2, "in-sync": 4 });
    const by = Object.fromEntries(e.entries.map((x) => [x.subject, x]));
    expect(by[`HTTPRoute/${ns}/web`]!.health).toEqual({ status: "Degraded", messages: [`parent Gateway ${ns}/gw: ResolvedRefs=False (BackendNotFound): backend reviews:9080 has no endpoints`] });
    expect(by[`VirtualService/${ns}/reviews`]!.health?.status).toBe("Degraded");
    expect(by[`VirtualService/${ns}/reviews`]!.health?.messages[0]).toContain("istio IST0101 ReferencedResourceNotFound");
    // status is the controller's: not drift
    expect(by[`VirtualService/${ns}/reviews`]!.state).toBe("in-sync");
    const text = run(["drift"]);
    expect(text.stdout).toContain(`HTTPRoute/${ns}/web degraded`);
    expect(text.stdout).toContain("health Degraded: parent Gateway");
  }, 180_000);

  it("checks staging and production at once, each against its own applied revision; a never-applied environment is said, not failed", () => {
    const ns = unique("multi");
    const [stg, prd, fresh] = [unique("stg"), unique("prd"), unique("new")];
    const { run } = setup({
      [stg]: { context: "staging", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}` },
      [prd]: { context: "production", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}` },
      [fresh]: { context: "production", files: nsYaml(`${ns}-x`) },
    });
    expect(run(["apply", "--env", stg]).code).toBe(0);
    expect(run(["apply", "--env", prd]).code).toBe(0);
    kubectl("production", "-n", ns, "label", "service", "reviews", "hotfix=yes");
    const r = run(["drift", "-f", "json"]);
    expect(r.code).toBe(1);
    const envs = Object.fromEntries(driftJson(r).environments.map((e) => [e.env, e]));
    expect(envs[stg]!.summary).toMatchObject({ drifted: 0, "in-sync": 2 });
    expect(envs[prd]!.summary).toMatchObject({ drifted: 1 });
    expect(envs[fresh]!.note).toContain("was never applied by meshops");
    const only = run(["drift", "--env", stg]);
    expect(only.code).toBe(0);
  }, 180_000);

  it("--watch reports an out-of-band change within 2 seconds, missing objects, and follows a new applied revision", async () => {
    const ns = unique("watch");
    const env = unique("stg");
    const { dir, run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${svcYaml(ns, "reviews")}---\n${vsYaml(ns, 90, 10)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);

    const child = spawn(process.execPath, [join(repoRoot, "bin", "meshops.js"), "drift", "--watch", "-f", "json", "--kubeconfig", kubeconfig], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    const events: { time: string; event: string; subject?: string; at: number; [k: string]: unknown }[] = [];
    let stderr = "";
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        events.push({ ...(JSON.parse(buf.slice(0, nl)) as { time: string; event: string }), at: Date.now() });
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => (stderr += c));
    const waitFor = async (pred: (e: (typeof events)[number]) => boolean, ms: number): Promise<(typeof events)[number]> => {
      const end = Date.now() + ms;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`no such event within ${ms} ms; got ${JSON.stringify(events.map((e) => [e.event, e.subject]))}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor((e) => e.event === "initial", 30_000);

    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const k = spawn("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", "-n", ns, "patch", "virtualservice", "reviews", "--type", "json", "-p", '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":10},{"op":"replace","path":"/spec/http/0/route/1/weight","value":90}]'], { stdio: "ignore" });
      k.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`kubectl exit ${code}`))));
    });
    const drifted = await waitFor((e) => e.event === "drifted" && e.subject === `VirtualService/${ns}/reviews`, 10_000);
    expect(drifted.at - t0).toBeLessThan(2000);
    expect(drifted.changes).toEqual(expect.arrayContaining([expect.objectContaining({ path: ".spec.http[0].route[0].weight", old: 10, new: 90, manager: "kubectl-patch" })]));

    kubectl("staging", "-n", ns, "delete", "service", "reviews");
    await waitFor((e) => e.event === "missing" && e.subject === `Service/${ns}/reviews`, 5_000);

    // an apply moves the desired state to a new inventory revision: followed, not reported as drift or healed away
    expect(run(["apply", "--env", env, "--force-conflicts"]).code).toBe(0);
    const rev = await waitFor((e) => e.event === "revision", 10_000);
    expect(rev.inventoryRevision).toBe(2);
    expect(rev.summary).toMatchObject({ drifted: 0, missing: 0 });

    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  }, 90_000);

  it("--watch --heal restores Git's state as soon as it changes", async () => {
    const ns = unique("wheal");
    const env = unique("stg");
    const { dir, run } = setup({ [env]: { context: "staging", files: `${nsYaml(ns)}---\n${vsYaml(ns, 90, 10)}` } });
    expect(run(["apply", "--env", env]).code).toBe(0);
    const child = spawn(process.execPath, [join(repoRoot, "bin", "meshops.js"), "drift", "--watch", "--heal", "-f", "json", "--kubeconfig", kubeconfig], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c: string) => (out += c));
    const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms; output: ${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until(() => out.includes('"event":"initial"'), 30_000, "the initial report");
    kubectl("staging", "-n", ns, "patch", "virtualservice", "reviews", "--type", "json", "-p", '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":0},{"op":"replace","path":"/spec/http/0/route/1/weight","value":100}]');
    const weights = (): string => kubectl("staging", "-n", ns, "get", "virtualservice", "reviews", "-o", "jsonpath={.spec.http[0].route[*].weight}");
    await until(() => out.includes('"event":"healed"'), 5_000, "healing");
    await until(() => weights() === "90 10", 5_000, "the weights coming back");
    await until(() => out.includes('"event":"in-sync"'), 5_000, "the in-sync event");
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 90_000);

  it("rejects --rev with --working-tree, and a path outside any repository is a usage error", () => {
    const dir = writeTree({ "m/a.yaml": nsYaml("x") });
    const r = meshops(["drift", "m", "--rev", "HEAD", "--working-tree"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--rev and --working-tree exclude each other");
  });
});
