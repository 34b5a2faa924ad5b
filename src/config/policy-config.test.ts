import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./load.js";

function root(): string {
  const r = mkdtempSync(join(tmpdir(), "meshops-policy-cfg-"));
  mkdirSync(join(r, "mesh"));
  return r;
}

const config = (policy: string, prodPolicy: string) => `version: 1
environments:
  staging:
    path: mesh
  production:
    path: mesh
    policy:
${prodPolicy}
policy:
${policy}
`;

function errorsOf(text: string): string[] {
  try {
    parseConfig(text, root());
  } catch (e) {
    if (e instanceof ConfigError) return e.findings.map((f) => `${f.line}:${f.column}: ${f.message}`);
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("meshops.yaml policy: zeroTrust and policies", () => {
  it("merges an environment's zero-trust settings field by field over the repository's, adding sensitive namespaces and policy files", () => {
    const cfg = parseConfig(
      config(
        "  failOn: warning\n  policies: [policies/common]\n  zeroTrust:\n    sensitiveNamespaces: [payments]\n    linkerdDefaultInboundPolicy: deny",
        "      policies: [policies/prod]\n      zeroTrust:\n        enabled: true\n        sensitiveNamespaces: [vault]",
      ),
      root(),
    );
    const [staging, production] = cfg.environments;
    expect(staging?.policy).toEqual({ failOn: "warning", rules: {}, suppress: [], policies: ["policies/common"], zeroTrust: { sensitiveNamespaces: ["payments"], linkerdDefaultInboundPolicy: "deny" } });
    expect(production?.policy).toEqual({
      failOn: "warning",
      rules: {},
      suppress: [],
      policies: ["policies/common", "policies/prod"],
      zeroTrust: { enabled: true, sensitiveNamespaces: ["payments", "vault"], linkerdDefaultInboundPolicy: "deny" },
    });
    expect(production?.origin).toEqual({ file: "meshops.yaml", line: 5, column: 3 });
  });

  it("keeps the repository-wide failOn when an environment sets only other policy fields", () => {
    const cfg = parseConfig(config("  failOn: warning", "      rules: { MSH2001: off }"), root());
    expect(cfg.environments.map((e) => e.policy.failOn)).toEqual(["warning", "warning"]);
  });

  it("reports unknown keys, bad values and policy paths outside the repository with their lines", () => {
    expect(errorsOf(config("  zeroTrust:\n    enabled: yes-please\n    sensitive: [x]", "      zeroTrust: { linkerdDefaultInboundPolicy: allow-all }"))).toEqual([
      '8:20: environments.production.policy.zeroTrust.linkerdDefaultInboundPolicy: Invalid option: expected one of "all-unauthenticated"|"all-authenticated"|"cluster-unauthenticated"|"cluster-authenticated"|"deny"|"audit"',
      "11:5: policy.zeroTrust.enabled: Invalid input: expected boolean, received string",
      '12:5: unknown key "sensitive" in policy.zeroTrust',
    ]);
    expect(errorsOf(config("  policies: [../elsewhere]", "      policies: [/etc/policies]"))).toEqual([
      '10:14: policy.policies.0: path "../elsewhere" is outside the repository',
      '8:18: environments.production.policy.policies.0: path "/etc/policies" is outside the repository',
    ]);
  });
});
