/** `meshops schemas pull` against the real kube-apiserver of the test environment, then offline checks with it. */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { meshops, unreachableKubeconfig, writeTree } from "./helpers.js";

describe("meshops schemas pull", () => {
  const kubeconfig = inject("kubeconfig");
  const cache = mkdtempSync(join(tmpdir(), "meshops-schema-cache-"));
  const env = { MESHOPS_SCHEMA_CACHE: cache };

  it("caches the cluster's OpenAPI v3, built-in kinds and CRDs, for the context", () => {
    const r = meshops(["schemas", "pull", "--kubeconfig", kubeconfig, "--context", "staging"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cached \d+ kinds from context staging in .*staging\.json\n$/);
    const bundle = JSON.parse(readFileSync(join(cache, "staging.json"), "utf8")) as { source: string; kinds: { group: string; version: string; kind: string }[] };
    expect(bundle.source).toMatch(/^cluster staging OpenAPI v3 \(v1\.34\.\d+, pulled /);
    const has = (g: string, v: string, k: string): boolean => bundle.kinds.some((x) => x.group === g && x.version === v && x.kind === k);
    expect(has("apps", "v1", "Deployment")).toBe(true);
    expect(has("networking.istio.io", "v1", "VirtualService")).toBe(true);
    expect(has("gateway.networking.k8s.io", "v1", "HTTPRoute")).toBe(true);
    expect(has("policy.linkerd.io", "v1beta3", "Server")).toBe(true);
  });

  it("validates offline against the pulled schemas of the environment's context, CEL rules included", () => {
    const dir = writeTree({
      "meshops.yaml": "version: 1\nenvironments:\n  staging: { path: m, cluster: { context: staging } }\n",
      "m/route.yaml": [
        "apiVersion: gateway.networking.k8s.io/v1",
        "kind: HTTPRoute",
        "metadata: { name: r, namespace: shop }",
        "spec:",
        "  rules:",
        "    - timeouts: { request: 1s, backendRequest: 2s }",
        "      backendRefs: [{ name: web, port: 80 }]",
        "",
      ].join("\n"),
      "m/vs.yaml": "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v, namespace: shop }\nspec:\n  hosts: [a]\n  htp: []\n",
    });
    const r = meshops(["check", "--format", "json"], { cwd: dir, env });
    const report = JSON.parse(r.stdout) as { findings: { code: string; line: number; message: string; schema?: string }[] };
    expect(r.code).toBe(1);
    expect(report.findings.map((f) => [f.code, f.line])).toEqual([
      ["MSH1008", 6],
      ["MSH1001", 6],
    ]);
    expect(report.findings[0]?.message).toBe("spec.rules[0].timeouts: backendRequest timeout cannot be longer than request timeout");
    for (const f of report.findings) expect(f.schema).toMatch(/^cluster staging OpenAPI v3/);
  });

  it("uses the cache of the context given with --context for an implicit environment", () => {
    const dir = writeTree({ "m/vs.yaml": "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v, namespace: shop }\nspec:\n  hosts: [a]\n  htp: []\n" });
    const without = JSON.parse(meshops(["check", "m", "--format", "json"], { cwd: dir, env }).stdout) as { findings: { code: string }[] };
    expect(without.findings.map((f) => f.code)).toEqual(["MSH1020"]);
    const r = meshops(["check", "m", "--context", "staging", "--format", "json"], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { findings: { code: string; line: number }[] }).findings.map((f) => [f.code, f.line])).toEqual([["MSH1001", 6]]);
  });

  it("fails with exit 3 and one line when the cluster is unreachable", () => {
    const kubeconfigFile = unreachableKubeconfig();
    const r = meshops(["schemas", "pull", "--kubeconfig", kubeconfigFile], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^meshops: cluster gone at https:\/\/127\.0\.0\.1:1 is unreachable: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
    expect(existsSync(join(cache, "gone.json"))).toBe(false);
  });

  it("names an unknown context", () => {
    const r = meshops(["schemas", "pull", "--kubeconfig", kubeconfig, "--context", "qa"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kubeconfig has no context "qa" \(it has: .*staging.*\)/);
  });
});
