/** End-to-end: the built CLI runs the semantic analyzers after schema validation and explains their codes. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { crdsDir, meshops, repoRoot, type JsonFinding } from "./helpers.js";

const shop = join(repoRoot, "test/fixtures/analyze/shop");


function check(dir: string, extra: string[] = []): { code: number; findings: JsonFinding[]; stdout: string } {
  const r = meshops(["check", "--format", "json", "--crds", crdsDir, ...extra, dir]);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: JsonFinding[] }).findings, stdout: r.stdout };
}

/** A copy of the shop fixture with `references:` set in meshops.yaml's policy. */
function shopWith(references: string): string {
  const dir = mkdtempSync(join(tmpdir(), "meshops-analyze-"));
  cpSync(shop, dir, { recursive: true });
  const cfg = join(dir, "meshops.yaml");
  writeFileSync(cfg, `${readFileSync(cfg, "utf8")}policy:\n  references: ${references}\n`);
  return dir;
}

describe("meshops check runs the analyzers", () => {
  // A reference the repository cannot confirm points at the object (line 39), a broken one at the field.
  it("reports analysis findings at file:line with their istioctl code, suppressions applied, sorted", () => {
    const { code, findings } = check(shop);
    expect(code).toBe(1);
    expect(findings.map((f) => [f.code, f.category, f.severity, f.file, f.line, f.istio ?? "", Boolean(f.suppressed)])).toEqual([
      ["MSH2002", "analysis", "error", "manifests/traffic.yaml", 23, "IST0101", false],
      ["MSH2001", "analysis", "error", "manifests/traffic.yaml", 37, "IST0101", true],
      ["MSH3001", "analysis", "warning", "manifests/traffic.yaml", 39, "", false],
    ]);
    expect(findings[2]?.message).toBe("parent Gateway infra/public does not exist; the repository holds no Gateway API Gateways in namespace infra, so this could not be confirmed");
  });

  it("skips the analyzers with --schema-only", () => {
    const r = check(shop, ["--schema-only"]);
    expect(r.findings).toEqual([]);
    expect(r.code).toBe(0);
  });

  it("gives the same output on every run", () => {
    expect(check(shop).stdout).toBe(check(shop).stdout);
  });

  it("honours policy.references: strict makes unconfirmable references errors, off drops them", () => {
    expect(check(shopWith("strict")).findings.find((f) => f.code === "MSH3001")?.severity).toBe("error");
    expect(check(shopWith("off")).findings.map((f) => f.code)).toEqual(["MSH2002", "MSH2001"]);
  });

  it("keeps the bundled examples free of analysis findings", () => {
    for (const e of ["examples/bookinfo", "examples/emojivoto"]) expect(check(e).findings.filter((f) => f.category === "analysis")).toEqual([]);
  });
});

describe("meshops explain", () => {
  it("prints the title, severity, istioctl code and explanation of a code", () => {
    const r = meshops(["explain", "msh2002"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^MSH2002: VirtualService subset not defined by any DestinationRule\n\nseverity: error\nistioctl: IST0101\n\nA VirtualService route names a subset/);
  });

  it("lists every code without an argument", () => {
    const r = meshops(["explain"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(14);
    expect(r.stdout).toContain("MSH4003  error    -        ServiceProfile not named by the Service's FQDN");
  });

  it("exits 2 on an unknown code", () => {
    const r = meshops(["explain", "MSH9999"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown code MSH9999");
  });
});
