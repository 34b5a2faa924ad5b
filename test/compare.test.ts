/** `meshops compare A B`: object-level diff of two environments' rendered configuration (no cluster). */
import { describe, expect, it } from "vitest";
import { gitRepo, meshops, repoRoot } from "./helpers.js";
import { join } from "node:path";

const bookinfo = join(repoRoot, "examples", "bookinfo");

interface ComparisonJson {
  a: string;
  b: string;
  onlyInA: { subject: string }[];
  onlyInB: { subject: string }[];
  changed: { subject: string; changes: { path: string; old?: unknown; new?: unknown }[] }[];
  identical: number;
  semantic: { subject: string; kind: string; change: string; risk: string }[];
}

describe("meshops compare", () => {
  it("shows what staging runs that production does not yet in the bookinfo example", () => {
    const r = meshops(["compare", "staging", "production", bookinfo, "-f", "json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout) as ComparisonJson;
    expect(c).toMatchObject({ a: "staging", b: "production", onlyInA: [], onlyInB: [] });
    expect(c.changed.map((o) => o.subject)).toEqual(["Deployment/bookinfo/productpage-v1", "VirtualService/bookinfo/reviews"]);
    expect(c.changed[0]!.changes).toEqual([{ path: ".spec.replicas", old: 1, new: 3 }]);
    const reviews = c.changed[1]!.changes.map((x) => x.path);
    expect(reviews).toContain(".spec.http[0].route[0].weight");
    expect(c.identical).toBeGreaterThan(10);
    // what the difference does: production sends all reviews traffic to v1, staging splits v1/v3
    expect(c.semantic).toContainEqual({ subject: "reviews.bookinfo.svc", kind: "traffic", change: expect.stringContaining("v1 50% → 0%, v2 0% → 100%, v3 50% → 0%") as string, risk: "high" });

    const text = meshops(["compare", "staging", "production", bookinfo]);
    expect(text.stdout).toContain("compare staging → production: 0 only in staging, 0 only in production, 2 changed");
    expect(text.stdout).toContain("~ Deployment/bookinfo/productpage-v1 (base/productpage.yaml:23 → base/productpage.yaml:23)\n    .spec.replicas: 1 → 3\n");
    expect(text.stdout).toContain(".spec.http[0].route[0].weight: 50 → (absent)");
    expect(text.stdout).toMatch(/^semantic changes staging → production:\n {2}reviews\.bookinfo\.svc +traffic +route 1 /m);
    expect(text.stdout).toMatch(/\ncompare staging → production/);
    const md = meshops(["compare", "staging", "production", bookinfo, "-f", "markdown"]);
    expect(md.stdout).toContain("### meshops compare: `staging` → `production`");
    expect(md.stdout).toContain("| `reviews.bookinfo.svc` | traffic |");
    expect(md.stdout).toContain("<details><summary>compare staging → production: 0 only in staging");
  });

  it("lists objects only in one environment, masks Secret data and refuses unknown environments", () => {
    const secret = (v: string): string => `apiVersion: v1\nkind: Secret\nmetadata: {name: token, namespace: app}\ndata: {t: ${v}}\n`;
    const dir = gitRepo({
      "meshops.yaml": "version: 1\nenvironments:\n  a: {path: a}\n  b: {path: b}\n",
      "a/objs.yaml": `${secret("YQ==")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: app}\n`,
      "b/objs.yaml": `${secret("Yg==")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new, namespace: app}\n`,
    });
    const c = JSON.parse(meshops(["compare", "a", "b", "-f", "json"], { cwd: dir }).stdout) as ComparisonJson;
    expect(c.onlyInA.map((o) => o.subject)).toEqual(["ConfigMap/app/old"]);
    expect(c.onlyInB.map((o) => o.subject)).toEqual(["ConfigMap/app/new"]);
    expect(c.changed).toEqual([{ subject: "Secret/app/token", a: { file: "a/objs.yaml", line: 1 }, b: { file: "b/objs.yaml", line: 1 }, changes: [{ path: ".data.t", masked: true }] }]);
    const text = meshops(["compare", "a", "b"], { cwd: dir }).stdout;
    expect(text).toContain("- ConfigMap/app/old only in a (a/objs.yaml:");
    expect(text).toContain("+ ConfigMap/app/new only in b (b/objs.yaml:");
    expect(text).toContain("    .data.t: (secret data changed)");
    expect(text).not.toContain("YQ==");
    const bad = meshops(["compare", "a", "nope"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown environment nope");
  });
});
