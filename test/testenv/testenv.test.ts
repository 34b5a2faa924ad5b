/**
 * Proves that the test environment (scripts/testenv.sh, started once per run by
 * test/global-setup.ts) is a real Kubernetes API: two separate clusters at the pinned
 * version, the shared CRDs served with their schemas, server-side apply with field
 * managers, and RBAC that forbids a user without bindings. Everything goes through the
 * `kubectl` CLI, as an operator would.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";

const KUBE_VERSION = "v1.34.4";
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const crdsDir = join(process.env.MESHOPS_SHARED_DIR ?? resolve(repoRoot, "..", "shared"), "crds");

// Provided by test/global-setup.ts (vitest.config.ts runs it once per test run); never skipped: without it this fails.
const kubeconfig: string = inject("kubeconfig") ?? process.env.KUBECONFIG_TESTENV ?? "";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(context: string, args: string[], input?: string): Result {
  const r = spawnSync("kubectl", ["--kubeconfig", kubeconfig ?? "", "--context", context, ...args], {
    encoding: "utf8",
    input,
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

function ok(context: string, args: string[], input?: string): string {
  const r = kubectl(context, args, input);
  if (r.code !== 0) throw new Error(`kubectl --context ${context} ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Names of every CRD in ../shared/crds (all YAML files, recursively). */
function sharedCrdNames(): string[] {
  const names: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const p = join(dir, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(entry)) {
        for (const doc of parseAllDocuments(readFileSync(p, "utf8"))) {
          const obj = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
          if (obj?.kind === "CustomResourceDefinition" && obj.metadata?.name) names.push(obj.metadata.name);
        }
      }
    }
  };
  walk(crdsDir);
  return names.sort();
}

function virtualService(name: string, namespace: string, weights: [number, number]): string {
  return JSON.stringify({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace },
    spec: {
      hosts: ["reviews"],
      http: [
        {
          route: [
            { destination: { host: "reviews", subset: "v1" }, weight: weights[0] },
            { destination: { host: "reviews", subset: "v2" }, weight: weights[1] },
          ],
        },
      ],
    },
  });
}

describe("test environment (real kube-apiserver + etcd)", () => {
  it("is provided by the global setup", () => {
    expect(kubeconfig).not.toBe("");
  });

  const contexts = ["staging", "production"] as const;

  it.each(contexts)("%s answers /version with the pinned Kubernetes version", (ctx) => {
    const version = JSON.parse(ok(ctx, ["get", "--raw", "/version"])) as { gitVersion: string; major: string; minor: string };
    expect(version.gitVersion).toBe(KUBE_VERSION);
    expect(`${version.major}.${version.minor}`).toBe("1.34");
  });

  it("the two contexts are different API servers", () => {
    const servers = contexts.map((ctx) => ok(ctx, ["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]));
    expect(servers[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(servers[1]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(servers[0]).not.toBe(servers[1]);
  });

  it.each(contexts)("%s serves every CRD from ../shared/crds, Established", (ctx) => {
    const expected = sharedCrdNames();
    expect(expected).toEqual(
      expect.arrayContaining(["virtualservices.networking.istio.io", "httproutes.gateway.networking.k8s.io", "servers.policy.linkerd.io"]),
    );
    // name and Established status only: the full CRD list is megabytes of schema
    const lines = ok(ctx, [
      "get",
      "crd",
      "-o",
      'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
    ]);
    const established = lines
      .split("\n")
      .map((line) => line.trim().split(" "))
      .filter(([, status]) => status === "True")
      .map(([name]) => name);
    expect(established).toEqual(expect.arrayContaining(expected));
    // and the API group is really served: discovery lists the resource
    expect(ok(ctx, ["api-resources", "--api-group=policy.linkerd.io", "-o", "name"])).toContain("servers.policy.linkerd.io");
  });

  it("an object created in staging is not visible in production", () => {
    const ns = unique("isolation");
    ok("staging", ["create", "namespace", ns]);
    ok("staging", ["apply", "--server-side", "--field-manager=meshops-test", "-f", "-"], virtualService("reviews", ns, [90, 10]));
    expect(ok("staging", ["get", "virtualservice", "reviews", "-n", ns, "-o", "jsonpath={.spec.http[0].route[1].weight}"])).toBe("10");

    const ns404 = kubectl("production", ["get", "namespace", ns]);
    expect(ns404.code).not.toBe(0);
    expect(ns404.stderr).toMatch(/NotFound|not found/);
    const vs404 = kubectl("production", ["get", "virtualservice", "reviews", "-n", ns]);
    expect(vs404.code).not.toBe(0);
    expect(vs404.stderr).toMatch(/NotFound|not found/);
  });

  it("server-side apply records the field manager and detects conflicts", () => {
    const ns = unique("ssa");
    ok("production", ["create", "namespace", ns]);
    ok("production", ["apply", "--server-side", "--field-manager=meshops", "-f", "-"], virtualService("reviews", ns, [80, 20]));
    const obj = JSON.parse(ok("production", ["get", "virtualservice", "reviews", "-n", ns, "-o", "json", "--show-managed-fields"])) as {
      metadata: { managedFields: { manager: string; operation: string }[] };
      spec: { http: { route: { weight: number }[] }[] };
    };
    expect(obj.metadata.managedFields).toEqual(expect.arrayContaining([expect.objectContaining({ manager: "meshops", operation: "Apply" })]));
    expect(obj.spec.http[0]?.route.map((r) => r.weight)).toEqual([80, 20]);

    // Another manager changing a field that "meshops" owns is a conflict (HTTP 409) ...
    const conflict = kubectl("production", ["apply", "--server-side", "--field-manager=someone-else", "-f", "-"], virtualService("reviews", ns, [50, 50]));
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict/i);
    expect(conflict.stderr).toContain('"meshops"');
    // ... unless it forces, which takes the ownership over.
    ok("production", ["apply", "--server-side", "--field-manager=someone-else", "--force-conflicts", "-f", "-"], virtualService("reviews", ns, [50, 50]));
    expect(ok("production", ["get", "virtualservice", "reviews", "-n", ns, "-o", "jsonpath={.spec.http[0].route[*].weight}"])).toBe("50 50");
  });

  it("the CRDs' OpenAPI schemas and CEL rules are enforced by the API server", () => {
    const ns = unique("schema");
    ok("staging", ["create", "namespace", ns]);
    // OpenAPI type check (Istio VirtualService: weight is an integer)
    const bad = JSON.parse(virtualService("bad", ns, [1, 2])) as { spec: { http: { route: { weight: unknown }[] }[] } };
    bad.spec.http[0]!.route[0]!.weight = "ninety";
    const typed = kubectl("staging", ["create", "-f", "-"], JSON.stringify(bad));
    expect(typed.code).not.toBe(0);
    expect(typed.stderr).toContain("Invalid value");
    expect(typed.stderr).toContain("spec.http[0].route[0].weight");
    // server-side apply type-checks the patch against the same schema
    const applied = kubectl("staging", ["apply", "--server-side", "--field-manager=meshops-test", "-f", "-"], JSON.stringify(bad));
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toMatch(/expected numeric|Invalid value/);
    // x-kubernetes-validations (CEL) rule of the Gateway API HTTPRoute: a PathPrefix must start with "/"
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "reviews", namespace: ns },
      spec: {
        parentRefs: [{ name: "gw" }],
        rules: [{ matches: [{ path: { type: "PathPrefix", value: "reviews" } }], backendRefs: [{ name: "reviews", port: 9080 }] }],
      },
    };
    const cel = kubectl("staging", ["create", "-f", "-"], JSON.stringify(route));
    expect(cel.code).not.toBe(0);
    expect(cel.stderr).toContain("must be an absolute path");
    route.spec.rules[0]!.matches[0]!.path.value = "/reviews";
    ok("staging", ["create", "-f", "-"], JSON.stringify(route));
  });

  it.each(["staging-limited", "production-limited"])("user 'limited' (%s) is Forbidden by RBAC", (ctx) => {
    const r = kubectl(ctx, ["get", "namespaces"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Forbidden");
    expect(r.stderr).toContain('User "limited" cannot list resource "namespaces"');
    const raw = kubectl(ctx, ["get", "--raw", "/apis/networking.istio.io/v1/virtualservices"]);
    expect(raw.code).not.toBe(0);
    expect(raw.stderr).toMatch(/Forbidden|403/);
    // authenticated, though: the same user may ask what it can do
    expect(kubectl(ctx, ["auth", "can-i", "create", "virtualservices.networking.istio.io"]).stdout.trim()).toBe("no");
    expect(ok(ctx.replace("-limited", ""), ["auth", "can-i", "create", "virtualservices.networking.istio.io"]).trim()).toBe("yes");
  });
});
