import { describe, expect, it } from "vitest";
import type { Finding } from "../report/finding.js";
import { parseManifests } from "../source/yaml.js";
import { applySuppressions, parseIgnoreAnnotation } from "./suppress.js";

const text = `apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: shop
  annotations:
    meshops.dev/ignore: "MSH1020: vendor kind, validated upstream; MSH9"
---
apiVersion: v1
kind: Service
metadata:
  name: b
  namespace: shop
`;
const manifests = parseManifests(text, "s.yaml").manifests;
const finding = (code: string, name: string): Finding => ({
  code,
  category: "schema",
  severity: "warning",
  message: "m",
  file: "s.yaml",
  line: 1,
  column: 1,
  resource: { apiVersion: "v1", kind: "Service", namespace: "shop", name },
});
const noPolicy = { failOn: "error" as const, rules: {}, suppress: [] };

describe("suppressions", () => {
  it("parses CODE: reason entries and rejects entries without a reason", () => {
    const r = parseIgnoreAnnotation("MSH1020: vendor kind\nMSH1001:  x ; bogus");
    expect([...r.entries]).toEqual([["MSH1020", "vendor kind"]]);
    expect(r.problems).toEqual(['"MSH1001:  x" is not "CODE: reason" (a reason of at least 5 characters is required)', '"bogus" is not "CODE: reason" (a reason of at least 5 characters is required)']);
  });

  it("suppresses by object annotation only on that object and flags malformed entries", () => {
    const out = applySuppressions([finding("MSH1020", "a"), finding("MSH1020", "b")], manifests, noPolicy);
    expect(out.map((f) => [f.code, f.resource?.name, f.suppressed?.reason ?? null])).toEqual([
      ["MSH1020", "a", "vendor kind, validated upstream"],
      ["MSH1020", "b", null],
      ["MSH0011", "a", null],
    ]);
    expect(out[2]).toMatchObject({ severity: "error", line: 7, message: 'meshops.dev/ignore: "MSH9" is not "CODE: reason" (a reason of at least 5 characters is required)' });
  });

  it("suppresses by meshops.yaml rule, matching resource patterns and paths", () => {
    const policy = { ...noPolicy, suppress: [{ code: "MSH1002", reason: "legacy services", resource: "Service/shop/*" }, { code: "MSH1003", reason: "generated files", path: "gen" }] };
    const f3 = { ...finding("MSH1003", "b"), file: "gen/x.yaml" };
    const f3other = { ...finding("MSH1003", "b"), file: "general.yaml" };
    const out = applySuppressions([finding("MSH1002", "b"), f3, f3other], [], policy);
    expect(out.map((f) => f.suppressed?.by ?? null)).toEqual(["meshops.yaml policy.suppress", "meshops.yaml policy.suppress", null]);
  });
});
