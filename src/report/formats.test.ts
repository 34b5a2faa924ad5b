import { describe, expect, it } from "vitest";
import type { Finding } from "./finding.js";
import { renderCodeQuality, renderJson, renderText, type CheckReport } from "./formats.js";

const f = (over: Partial<Finding>): Finding => ({ code: "MSH1001", category: "schema", severity: "error", message: 'unknown field "spec.x"', file: "b.yaml", line: 3, column: 3, ...over });
const report: CheckReport = {
  findings: [f({}), f({ file: "a.yaml", line: 9, code: "MSH1020", severity: "warning", message: "no schema" }), f({ file: "a.yaml", line: 2 })],
  objects: [{ env: "default", file: "a.yaml", line: 1, resource: { apiVersion: "v1", kind: "Service", name: "s" } }],
  environments: ["default"],
};

describe("report renderers", () => {
  it("colours text only when asked (the CLI asks only on a TTY without NO_COLOR)", () => {
    const plain = renderText(report, { color: false });
    const coloured = renderText(report, { color: true });
    expect(plain).not.toContain("\u001b[");
    expect(coloured).toContain("\u001b[31;1merror\u001b[0m");
    expect(coloured.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "")).toBe(plain);
  });

  it("sorts findings by file, line, code in every format", () => {
    const json = JSON.parse(renderJson(report)) as { findings: { file: string; line: number }[] };
    expect(json.findings.map((x) => `${x.file}:${x.line}`)).toEqual(["a.yaml:2", "a.yaml:9", "b.yaml:3"]);
    const cq = JSON.parse(renderCodeQuality(report)) as { location: { path: string; lines: { begin: number } }; severity: string }[];
    expect(cq.map((x) => [x.location.path, x.location.lines.begin, x.severity])).toEqual([
      ["a.yaml", 2, "major"],
      ["a.yaml", 9, "minor"],
      ["b.yaml", 3, "major"],
    ]);
  });

  it("keeps Code Quality fingerprints stable when only the line moves, and unique within a report", () => {
    const moved = { ...report, findings: report.findings.map((x) => ({ ...x, line: x.line + 10 })) };
    const a = (JSON.parse(renderCodeQuality(report)) as { fingerprint: string }[]).map((x) => x.fingerprint);
    const b = (JSON.parse(renderCodeQuality(moved)) as { fingerprint: string }[]).map((x) => x.fingerprint);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBe(a.length);
  });
});
