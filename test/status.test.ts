/**
 * `meshops status` end to end: the staging and production test clusters in one kubeconfig, an environment
 * per cluster, and one whose API server is down (shown, not fatal).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { commit, git, gitRepo, meshops, unique, writeTree, yieldToEventLoop } from "./helpers.js";

let kubeconfig = "";
beforeAll(() => {
  kubeconfig = inject("kubeconfig");
});
afterEach(yieldToEventLoop);

const cm = (ns: string, name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${ns}}\ndata: {v: "${value}"}\n`;
const nsYaml = (ns: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;

interface StatusJson {
  repository: { commit?: string; workingTreeChanges?: boolean };
  environments: {
    env: string;
    context?: string;
    reachable: boolean;
    error?: string;
    applied?: { revision: number; commit?: string; author?: string; appliedAt: string; appliedBy: string; objects: number; status: string };
    pending?: Record<string, number>;
    changes?: boolean;
    atRepositoryCommit?: boolean;
    drift?: Record<string, number>;
  }[];
}

describe("meshops status against the staging and production test clusters", () => {
  it("shows every environment's applied revision and pending changes, and an unreachable cluster without failing", () => {
    const ns = unique("status");
    const [stg, prd, gone] = [unique("stg"), unique("prd"), unique("gone")];
    // a copy of the test kubeconfig with a third context whose API server does not listen
    const kc = join(mkdtempSync(join(tmpdir(), "meshops-status-")), "kubeconfig");
    copyFileSync(kubeconfig, kc);
    execFileSync("kubectl", ["--kubeconfig", kc, "config", "set-cluster", "gone", "--server=https://127.0.0.1:1", "--insecure-skip-tls-verify=true"]);
    execFileSync("kubectl", ["--kubeconfig", kc, "config", "set-context", "gone", "--cluster=gone", "--user=admin"]);
    const config = `version: 1
environments:
  ${stg}: {path: envs/${stg}, cluster: {context: staging}}
  ${prd}: {path: envs/${prd}, cluster: {context: production}, after: ${stg}}
  ${gone}: {path: envs/${gone}, cluster: {context: gone}}
`;
    const dir = gitRepo({
      "meshops.yaml": config,
      [`envs/${stg}/all.yaml`]: `${nsYaml(ns)}---\n${cm(ns, "settings", "1")}`,
      [`envs/${prd}/all.yaml`]: `${nsYaml(ns)}---\n${cm(ns, "settings", "1")}`,
      [`envs/${gone}/all.yaml`]: nsYaml(ns),
    });
    const first = git(dir, "rev-parse", "HEAD");
    const run = (args: string[]): ReturnType<typeof meshops> => meshops([...args, "--kubeconfig", kc], { cwd: dir });
    expect(run(["apply", "--env", stg]).code).toBe(0);
    expect(run(["apply", "--env", prd]).code).toBe(0);

    // staging moves ahead: a committed change applied there only, then an uncommitted one
    const second = commit(dir, { [`envs/${stg}/all.yaml`]: `${nsYaml(ns)}---\n${cm(ns, "settings", "2")}`, [`envs/${prd}/all.yaml`]: `${nsYaml(ns)}---\n${cm(ns, "settings", "2")}---\n${cm(ns, "extra", "x")}` }, "settings v2");
    expect(run(["apply", "--env", stg]).code).toBe(0);
    // an out-of-band change in production: drift against its applied revision, not a pending change
    execFileSync("kubectl", ["--kubeconfig", kc, "--context", "production", "-n", ns, "label", "configmap", "settings", "hotfix=yes"], { stdio: "ignore" });

    const r = run(["status", "-f", "json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as StatusJson;
    expect(s.repository).toMatchObject({ commit: second, workingTreeChanges: false });
    const by = Object.fromEntries(s.environments.map((e) => [e.env, e]));
    expect(s.environments.map((e) => e.env)).toEqual([stg, prd, gone]);
    expect(by[stg]).toMatchObject({ context: "staging", reachable: true, applied: { revision: 2, commit: second, author: "Test <t@example.com>", appliedBy: "admin", objects: 2, status: "complete" }, changes: false, atRepositoryCommit: true });
    expect(by[stg]!.pending).toEqual({ created: 0, configured: 0, unchanged: 2, deleted: 0, skipped: 0 });
    expect(by[prd]).toMatchObject({ context: "production", reachable: true, applied: { revision: 1, commit: first }, changes: true, atRepositoryCommit: false });
    expect(by[prd]!.pending).toEqual({ created: 1, configured: 1, unchanged: 1, deleted: 0, skipped: 0 });
    expect(by[stg]!.drift).toEqual({ drifted: 0, missing: 0, extra: 0, degraded: 0, errors: 0 });
    expect(by[prd]!.drift).toEqual({ drifted: 1, missing: 0, extra: 0, degraded: 0, errors: 0 });
    expect(by[gone]).toMatchObject({ context: "gone", reachable: false });
    expect(by[gone]!.error).toContain("unreachable");

    const text = run(["status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`repository at ${second.slice(0, 12)} settings v2`);
    expect(text.stdout).toContain(`${stg} (context staging)\n  applied:  revision 2 at ${second.slice(0, 12)} settings v2 (complete, 2 objects)`);
    expect(text.stdout).toContain("  pending:  none (0 to create, 0 to change, 0 to prune, 2 unchanged)");
    expect(text.stdout).toContain(`${prd} (context production)\n  applied:  revision 1 at ${first.slice(0, 12)} initial (complete, 2 objects)`);
    expect(text.stdout).toContain(`  pending:  1 to create, 1 to change, 0 to prune, 1 unchanged\n  drift:    1 drifted (meshops drift --env ${prd})`);
    expect(text.stdout).toContain("  pending:  none (0 to create, 0 to change, 0 to prune, 2 unchanged)\n  drift:    none");
    expect(text.stdout).toMatch(new RegExp(`${gone} \\(context gone\\)\\n  unreachable: cluster gone at https://127.0.0.1:1 is unreachable`));

    // the working tree counts: an uncommitted removal is a pending prune in staging
    writeTree({ [`envs/${stg}/all.yaml`]: nsYaml(ns) }, dir);
    const dirty = JSON.parse(run(["status", "-e", stg, "-f", "json"]).stdout) as StatusJson;
    expect(dirty.repository.workingTreeChanges).toBe(true);
    expect(dirty.environments).toHaveLength(1);
    expect(dirty.environments[0]).toMatchObject({ changes: true, atRepositoryCommit: false, pending: { deleted: 1, unchanged: 1 } });
    // --rev plans a committed revision instead
    const atHead = JSON.parse(run(["status", "-e", stg, "--rev", "HEAD", "-f", "json"]).stdout) as StatusJson;
    expect(atHead.environments[0]).toMatchObject({ changes: false });
  });
});
