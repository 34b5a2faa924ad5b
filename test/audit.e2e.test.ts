/**
 * `meshops audit` end to end: revisions applied to the staging test cluster from a real git history with a
 * GitLab-style merge commit, audited from Git alone and with the (local) GitLab API for merge requests and
 * approvals.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { commit, git, gitRepo, reviewsVirtualService as vs, unique } from "./helpers.js";
import { meshopsAsync, startFakeGitLab, type FakeGitLab } from "./gitlab-server.js";

let kubeconfig = "";
let gl: FakeGitLab;
beforeAll(async () => {
  kubeconfig = inject("kubeconfig");
  gl = await startFakeGitLab();
});
afterAll(async () => {
  await gl.close();
});

const nsYaml = (ns: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`;
const policy = (ns: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: ${ns}}
spec: {}
`;

interface AuditJson {
  revisions: {
    revision: number;
    commit?: string;
    subject?: string;
    author?: string;
    rollback?: { of: number; to: number };
    mergeRequest?: { iid: number; title?: string; author?: string; mergedBy?: string; approvedBy?: string[]; source: string };
    mergeRequestNote?: string;
    objects: { total: number; added: string[]; removed: string[] };
    changes?: { subject: string; kind: string; change: string; risk: string }[];
    changesNote?: string;
  }[];
}

describe("meshops audit", () => {
  it("lists every applied revision with commit, merge request, merger and approvers, and what changed", async () => {
    const ns = unique("audit");
    const env = `${ns}-stg`;
    const dir = gitRepo({ "meshops.yaml": `version: 1\nenvironments:\n  ${env}: {path: m, cluster: {context: staging}}\n`, "m/ns.yaml": nsYaml(ns), "m/vs.yaml": vs(ns, 90, 10) }, "initial mesh");
    const run = (args: string[], extra: Record<string, string | undefined> = {}): ReturnType<typeof meshopsAsync> => meshopsAsync([...args, "--kubeconfig", kubeconfig], { cwd: dir, env: extra });
    expect((await run(["apply", "--env", env])).code).toBe(0);
    // a merge request: a branch commit merged with GitLab's merge commit message
    git(dir, "checkout", "-q", "-b", "shift");
    commit(dir, { "m/vs.yaml": vs(ns, 50, 50), "m/policy.yaml": policy(ns) }, "shift half of reviews to v2");
    git(dir, "checkout", "-q", "main");
    git(dir, "merge", "--no-ff", "-q", "shift", "-m", "Merge branch 'shift' into 'main'", "-m", "shift half of reviews to v2", "-m", "See merge request mesh/config!42");
    const merge = git(dir, "rev-parse", "HEAD");
    expect((await run(["apply", "--env", env])).code).toBe(0);
    expect((await run(["rollback", "--env", env, "--steps", "1"])).code).toBe(0);

    // from Git alone
    const r = await run(["audit", "--env", env, "-f", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const a = JSON.parse(r.stdout) as AuditJson;
    expect(a.revisions.map((x) => x.revision)).toEqual([3, 2, 1]);
    const [third, second, first] = a.revisions as [AuditJson["revisions"][0], AuditJson["revisions"][0], AuditJson["revisions"][0]];
    expect(second).toMatchObject({ commit: merge, subject: "Merge branch 'shift' into 'main'", mergeRequest: { iid: 42, mergedBy: "Test", source: "git" } });
    expect(second.mergeRequestNote).toContain("GITLAB_TOKEN is not set");
    expect(second.objects).toEqual({ total: 3, added: [`AuthorizationPolicy/${ns}/deny-all`], removed: [] });
    expect(second.changes).toContainEqual(expect.objectContaining({ kind: "traffic", change: expect.stringContaining("v1 90% → 50%, v2 10% → 50%") as string }));
    expect(third.rollback).toEqual({ of: 2, to: 1 });
    expect(third.objects.removed).toEqual([`AuthorizationPolicy/${ns}/deny-all`]);
    expect(third.changes).toContainEqual(expect.objectContaining({ kind: "traffic", change: expect.stringContaining("v1 50% → 90%") as string }));
    expect(first.changesNote).toBe("the oldest revision kept: nothing to compare with");
    expect(first.mergeRequestNote).toBe("no merge request named in Git for this commit");

    const text = await run(["audit", "--env", env]);
    expect(text.stdout).toContain(`revision 2  `);
    expect(text.stdout).toContain("merge request !42, merged by Test, approvals unknown without a GitLab token");
    expect(text.stdout).toContain("  rollback of revision 2 to revision 1");

    // with the GitLab API: the merge request, its author, who merged and who approved it
    gl.commitMergeRequests.set(merge, [{ iid: 42, title: "Shift half of reviews to v2", state: "merged", author: { username: "alice" }, merge_user: { username: "bob" }, merged_at: "2026-11-26T14:00:00Z", approvedBy: ["carol", "dave"] }]);
    const withApi = await run(["audit", "--env", env, "-f", "json"], { GITLAB_TOKEN: gl.token, CI_API_V4_URL: gl.apiUrl, CI_PROJECT_ID: "mesh/config" });
    expect(withApi.code, withApi.stderr).toBe(0);
    const b = JSON.parse(withApi.stdout) as AuditJson;
    expect(b.revisions[1]!.mergeRequest).toEqual({ iid: 42, title: "Shift half of reviews to v2", author: "alice", mergedBy: "bob", mergedAt: "2026-11-26T14:00:00Z", approvedBy: ["carol", "dave"], source: "gitlab" });
    expect(gl.requests.some((q) => q.path === `/api/v4/projects/mesh%2Fconfig/repository/commits/${merge}/merge_requests`)).toBe(true);
    const md = await run(["audit", "--env", env, "-f", "markdown"], { GITLAB_TOKEN: gl.token, CI_API_V4_URL: gl.apiUrl, CI_PROJECT_ID: "mesh/config" });
    expect(md.stdout).toContain('merge request !42 "Shift half of reviews to v2", by alice, merged by bob, approved by carol, dave');
  }, 120_000);
});
