import { describe, expect, it } from "vitest";
import { dotenvReport, findReviewNote, metricName, metricsReport, NOTE_MARKER, renderReviewNote, terraformReport, type ReviewInput } from "./review.js";

const input = (o: Partial<ReviewInput> = {}): ReviewInput => ({
  summary: { errors: 1, warnings: 0, infos: 0, suppressed: 0, objects: 3, environments: ["staging"], schemas: {}, unvalidated: 0 },
  findings: [{ code: "MSH2001", category: "analysis", severity: "error", message: "subset v3 | not defined", file: "vs.yaml", line: 7, column: 3 }],
  failOn: "error",
  failed: true,
  semantic: [{ env: "staging", lines: [{ subject: "reviews.bookinfo.svc", kind: "traffic", change: "v1 90% → 50%, v3 10% → 50%", risk: "high" }] }],
  plans: [
    { env: "staging", context: "staging", counts: { create: 1, update: 1, delete: 0, unchanged: 4, errors: 0 }, markdown: "### plan\n\n| a | b |\n|---|---|\n" + "| row | x |\n".repeat(200) },
    { env: "production", unavailable: "cluster not reachable from this job: connect ECONNREFUSED" },
  ],
  commit: "0123456789abcdef",
  baseCommit: "fedcba9876543210",
  version: "0.1.0",
  fullNoteUrl: "https://gitlab.example/-/jobs/1/artifacts/file/meshops-reports/note.md",
  ...o,
});

describe("the review note", () => {
  it("carries the marker, the check line, the semantic table, findings and folded plans", () => {
    const note = renderReviewNote(input());
    expect(note.startsWith(`${NOTE_MARKER}\n## meshops review\n`)).toBe(true);
    expect(note).toContain(":x: **check**: 1 error, 0 warnings in 3 objects across 1 environment (`staging`); fails on error");
    expect(note).toContain("| `reviews.bookinfo.svc` | traffic | v1 90% → 50%, v3 10% → 50% | **high** |");
    // table cells escape pipes
    expect(note).toContain("| error | MSH2001 | `vs.yaml:7` | subset v3 \\| not defined |");
    expect(note).toContain("<details><summary>`staging` (context `staging`): 1 to create, 1 to change, 0 to delete, 4 unchanged</summary>");
    expect(note).toContain("- `production`: no plan: cluster not reachable from this job: connect ECONNREFUSED");
    expect(note).toContain("commit 01234567 vs fedcba98");
  });

  it("is cut at a line past the limit, closes an open <details> and links to the full review", () => {
    const full = renderReviewNote(input(), Number.MAX_SAFE_INTEGER);
    const cut = renderReviewNote(input(), 2000);
    expect(full.length).toBeGreaterThan(2000);
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut).toContain("**…truncated**: this review is longer than GitLab allows in a note. [Read the full review](https://gitlab.example/-/jobs/1/artifacts/file/meshops-reports/note.md).");
    expect((cut.match(/<details>/g) ?? []).length).toBe((cut.match(/<\/details>/g) ?? []).length);
    expect(cut.startsWith(NOTE_MARKER)).toBe(true);
  });

  it("says so when nothing changes semantically", () => {
    expect(renderReviewNote(input({ semantic: [{ env: "staging", lines: [] }] }))).toContain("No change to traffic, routes, access or mTLS since `fedcba98`.");
  });

  it("finds meshops' newest note by its marker, never a system note", () => {
    const notes = [
      { id: 1, body: `${NOTE_MARKER} old`, system: false },
      { id: 2, body: `quoted ${NOTE_MARKER}`, system: true },
      { id: 3, body: "LGTM" },
    ];
    expect(findReviewNote(notes)?.id).toBe(1);
    expect(findReviewNote([{ id: 3, body: "LGTM" }])).toBeUndefined();
  });
});

describe("report artifacts", () => {
  it("Terraform-shaped counts have all three keys, integers capped at 999,999", () => {
    expect(JSON.parse(terraformReport({ create: 2, update: 1_500_000, delete: -1 }))).toEqual({ create: 2, update: 999_999, delete: 0 });
  });

  it("metrics have flat names GitLab's parser keeps whole", () => {
    expect(metricName("meshops_plan_changes", "prod-eu.1")).toBe("meshops_plan_changes_prod_eu_1");
    expect(metricsReport([["a-b", 1], ["c", 0.12345]])).toBe("a_b 1\nc 0.1235\n# EOF\n");
  });

  it("dotenv refuses what GitLab would reject", () => {
    expect(dotenvReport({ A: "1", B_2: "https://x/y?z=1" })).toBe("A=1\nB_2=https://x/y?z=1\n");
    expect(() => dotenvReport({ "A-B": "1" })).toThrow(/characters GitLab does not accept/);
    expect(() => dotenvReport({ A: "two words" })).toThrow(/whitespace/);
    expect(() => dotenvReport({ A: "x".repeat(6000) })).toThrow(/5 KB/);
  });
});
