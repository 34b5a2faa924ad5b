import { describe, expect, it } from "vitest";
import { renderChangeSet } from "./changeset.js";
import type { PlanEntry } from "./plan.js";

const entries: PlanEntry[] = [
  { subject: "ConfigMap/shop/old", ref: { apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name: "old" }, action: "deleted" },
  { subject: "Namespace/shop", ref: { apiVersion: "v1", kind: "Namespace", name: "shop" }, action: "unchanged", origin: { file: "envs/staging/ns.yaml", line: 1 } },
  {
    subject: "VirtualService/shop/reviews",
    ref: { apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "shop", name: "reviews" },
    action: "configured",
    origin: { file: "envs/staging/reviews.yaml", line: 3 },
    changes: [
      { path: ".spec.http[0].route[0].weight", old: 90, new: 80 },
      { path: ".spec.http[0].route[1].weight", old: 10, new: 20 },
    ],
  },
  {
    subject: "VirtualService/shop/ratings",
    ref: { apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "shop", name: "ratings" },
    action: "skipped",
    origin: { file: "envs/staging/ratings.yaml", line: 1 },
    reason: 'VirtualService/shop/ratings: conflict: .spec.http is owned by "other" (use --force-conflicts to take ownership)',
    error: { code: "conflict", message: "…", conflicts: [{ field: ".spec.http", manager: "other" }] },
  },
];
const header = { env: "staging", context: "staging", mode: "plan" as const, commit: "0123456789abcdef0123" };

describe("renderChangeSet", () => {
  it("prints text in the fluxcd vocabulary with field changes and a summary", () => {
    expect(renderChangeSet("text", header, entries)).toBe(
      [
        "plan for environment staging (context staging) at 0123456789ab (server dry run)",
        "ConfigMap/shop/old deleted",
        "VirtualService/shop/reviews configured  (envs/staging/reviews.yaml:3)",
        "    .spec.http[0].route[0].weight: 90 → 80",
        "    .spec.http[0].route[1].weight: 10 → 20",
        'VirtualService/shop/ratings skipped: conflict: .spec.http is owned by "other" (use --force-conflicts to take ownership)  (envs/staging/ratings.yaml:1)',
        "plan: 0 created, 1 configured, 1 deleted, 1 skipped, 1 unchanged",
        "",
      ].join("\n"),
    );
    expect(renderChangeSet("text", header, entries, { verbose: true })).toContain("Namespace/shop unchanged  (envs/staging/ns.yaml:1)");
  });

  it("prints markdown with a table and a diff block", () => {
    const md = renderChangeSet("markdown", header, entries);
    expect(md).toContain("### meshops plan: `staging` at `0123456789ab`");
    expect(md).toContain("| configured | `VirtualService/shop/reviews` | `envs/staging/reviews.yaml:3` |");
    expect(md).toContain("```diff\n# VirtualService/shop/reviews\n- .spec.http[0].route[0].weight: 90\n+ .spec.http[0].route[0].weight: 80\n");
  });

  it("prints JSON with a summary and entries, no objects", () => {
    const j = JSON.parse(renderChangeSet("json", header, entries)) as { summary: Record<string, number>; entries: Record<string, unknown>[] };
    expect(j.summary).toEqual({ created: 0, configured: 1, unchanged: 1, deleted: 1, skipped: 1 });
    expect(j.entries[3]).toMatchObject({ subject: "VirtualService/shop/ratings", action: "skipped", error: { code: "conflict", conflicts: [{ field: ".spec.http", manager: "other" }] } });
    expect(j.entries.every((e) => !("desired" in e))).toBe(true);
  });
});
