import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./load.js";

function repo(): string {
  const root = mkdtempSync(join(tmpdir(), "meshops-cfg-"));
  mkdirSync(join(root, "overlays/staging"), { recursive: true });
  mkdirSync(join(root, "overlays/production"), { recursive: true });
  writeFileSync(join(root, "overlays/staging/kustomization.yaml"), "resources: []\n");
  mkdirSync(join(root, "chart"), { recursive: true });
  writeFileSync(join(root, "chart/Chart.yaml"), "apiVersion: v2\nname: c\nversion: 0.1.0\n");
  return root;
}

function errorsOf(text: string, root = repo()): { line: number; column: number; message: string }[] {
  try {
    parseConfig(text, root);
  } catch (e) {
    if (e instanceof ConfigError) return e.findings.map((f) => ({ line: f.line, column: f.column, message: f.message }));
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("resolves environments in promotion order with inferred renderers and defaults", () => {
    const root = repo();
    const cfg = parseConfig(
      [
        "version: 1",
        "defaults: { namespace: shop, prometheus: { url: 'http://prom:9090' } }",
        "environments:",
        "  production: { path: overlays/production, after: staging, cluster: { context: prod } }",
        "  staging: { path: overlays/staging }",
        "  charts: { helm: { chart: chart, values: [] }, after: production }",
      ].join("\n"),
      root,
    );
    expect(cfg.environments.map((e) => [e.name, e.renderer, e.cluster.context, e.namespace, e.prometheusUrl])).toEqual([
      ["staging", "kustomize", "staging", "shop", "http://prom:9090"],
      ["production", "plain", "prod", "shop", "http://prom:9090"],
      ["charts", "helm", "charts", "shop", "http://prom:9090"],
    ]);
  });

  it("reports unknown keys at the key's line", () => {
    expect(errorsOf("version: 1\nenvironments:\n  staging:\n    path: overlays/staging\n    contxt: foo\n")).toEqual([
      { line: 5, column: 5, message: 'unknown key "contxt" in environments.staging' },
    ]);
  });

  it("reports wrong types with the field path and line", () => {
    const errs = errorsOf("version: 1\nenvironments:\n  staging:\n    path: overlays/staging\n    policy:\n      failOn: sometimes\n");
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ line: 6, column: 7 });
    expect(errs[0]?.message).toMatch(/^environments\.staging\.policy\.failOn: /);
  });

  it("keeps paths inside the repository", () => {
    expect(errorsOf("version: 1\nenvironments:\n  staging:\n    path: ../../etc\n")).toEqual([
      { line: 4, column: 5, message: 'environments.staging: path "../../etc" is outside the repository' },
    ]);
    expect(errorsOf("version: 1\nenvironments:\n  staging:\n    path: /etc\n")[0]?.message).toMatch(/outside the repository/);
  });

  it("keeps paths inside the repository through symlinks too", () => {
    const root = repo();
    const outside = mkdtempSync(join(tmpdir(), "meshops-outside-"));
    symlinkSync(outside, join(root, "escape"));
    expect(errorsOf("version: 1\nenvironments:\n  staging:\n    path: escape\n", root)).toEqual([
      { line: 4, column: 5, message: 'environments.staging: path "escape" is outside the repository' },
    ]);
  });

  it("rejects promotion to an unknown environment and cycles", () => {
    expect(errorsOf("version: 1\nenvironments:\n  production:\n    path: overlays/production\n    after: stagin\n")).toEqual([
      { line: 5, column: 5, message: 'environments.production.after: no environment named "stagin"' },
    ]);
    expect(errorsOf("version: 1\nenvironments:\n  a: { path: overlays/staging, after: b }\n  b: { path: overlays/staging, after: a }\n")[0]?.message).toMatch(/cycle: a → b → a|cycle: b → a → b/);
  });

  it("requires a reason for every suppression", () => {
    const errs = errorsOf("version: 1\nenvironments:\n  s: { path: overlays/staging }\npolicy:\n  suppress:\n    - code: MSH1001\n");
    expect(errs[0]?.message).toMatch(/policy\.suppress\.0\.reason/);
    expect(errs[0]?.line).toBe(6);
  });

  it("reports duplicate keys in meshops.yaml", () => {
    expect(errorsOf("version: 1\nversion: 1\nenvironments: {}\n")[0]).toMatchObject({ line: 2, message: expect.stringMatching(/duplicate key/) });
  });
});
