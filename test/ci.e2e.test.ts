/**
 * `meshops ci` end to end, as GitLab would run it: a real git repository, the variables GitLab sets for a
 * merge request pipeline, a deploy job and a rollback re-run, the staging and production test clusters, and
 * a local server speaking GitLab's REST API (GitLab itself cannot run here; see test/gitlab-server.ts).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { commit, crdsDir, git, gitRepo, reviewsVirtualService as vs, unique } from "./helpers.js";
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
beforeEach(() => gl.reset());

const base = (ns: string): string => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${ns}}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews, image: reviews:v1, ports: [{containerPort: 9080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec: {containers: [{name: reviews, image: reviews:v2, ports: [{containerPort: 9080}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${ns}}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
const policy = (ns: string): string => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-from-frontend, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/${ns}/sa/frontend"]}}]
`;

/**
 * A mesh repository with environments named after the test's namespace (the clusters are shared by every
 * test, and an environment's inventory is named after the environment).
 */
function repository(ns: string): { dir: string; first: string; stg: string; prd: string } {
  const [stg, prd] = [`${ns}-stg`, `${ns}-prd`];
  const config = `version: 1
environments:
  ${stg}: {path: envs/staging, cluster: {context: staging}, url: "https://grafana.example.com/d/mesh?var-env=staging"}
  ${prd}: {path: envs/production, cluster: {context: production}, after: ${stg}}
  dr: {path: envs/staging, cluster: {context: nowhere}, after: ${prd}}
`;
  const dir = gitRepo({ "meshops.yaml": config, "envs/staging/base.yaml": base(ns), "envs/staging/vs.yaml": vs(ns, 90, 10), "envs/production/base.yaml": base(ns), "envs/production/vs.yaml": vs(ns, 90, 10) }, "initial mesh");
  return { dir, first: git(dir, "rev-parse", "HEAD"), stg, prd };
}

function ciEnv(extra: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    CI: "true",
    GITLAB_CI: "true",
    CI_PROJECT_ID: "42",
    CI_API_V4_URL: gl.apiUrl,
    CI_JOB_URL: "https://gitlab.example.com/mesh/config/-/jobs/777",
    CI_PIPELINE_ID: "321",
    CI_PIPELINE_URL: "https://gitlab.example.com/mesh/config/-/pipelines/321",
    CI_DEFAULT_BRANCH: "main",
    GITLAB_TOKEN: gl.token,
    KUBECONFIG: kubeconfig,
    ...extra,
  };
}

function mrEnv(iid: number, baseSha: string, head: string): Record<string, string | undefined> {
  return ciEnv({ CI_PIPELINE_SOURCE: "merge_request_event", CI_MERGE_REQUEST_IID: String(iid), CI_MERGE_REQUEST_DIFF_BASE_SHA: baseSha, CI_COMMIT_SHA: head, CI_COMMIT_REF_NAME: "shift-reviews" });
}

describe("meshops ci in a merge request pipeline", () => {
  it("posts one review note with the semantic diff and plans, edits it in place on the next push, writes valid reports and sets meshops/check", async () => {
    const ns = unique("ci-mr");
    const { dir, first, stg } = repository(ns);
    git(dir, "checkout", "-q", "-b", "shift-reviews");
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50), "envs/staging/policy.yaml": policy(ns) }, "shift half of reviews to v2");
    gl.addNote("42", 7, "LGTM, but let's see what meshops says");
    gl.addNote("42", 7, "added 1 commit", { system: true });

    const r = await meshopsAsync(["ci", "--crds", crdsDir], { cwd: dir, env: mrEnv(7, first, second) });
    expect(r.stderr).toContain("meshops ci: merge request !7 review");
    expect([0, 1]).toContain(r.code);
    const notes = gl.notes.get("42!7")!;
    expect(notes).toHaveLength(3);
    const note = notes[2]!;
    expect(note.author.username).toBe("meshops-bot");
    expect(note.body.startsWith("<!-- meshops:review -->\n## meshops review")).toBe(true);
    expect(note.body).toMatch(new RegExp(`\\| \`${stg}\` \\| \`reviews\\.[\\w.-]+\` \\| traffic \\| [^|]*v1 90% → 50%, v2 10% → 50%`));
    expect(note.body).toMatch(new RegExp(`\\| \`${stg}\` \\| \`[^\`]+\` \\| access \\| [^|]*frontend[^|]*\\|`));
    // the staging cluster is reachable: its plan is folded in; dr's context does not exist in the job's kubeconfig
    expect(note.body).toMatch(new RegExp(`<details><summary>\`${stg}\` \\(context \`staging\`\\): \\d+ to create, 0 to change, 0 to delete, 0 unchanged</summary>`));
    expect(note.body).toMatch(/- `dr` \(context `nowhere`\): no plan: cluster not reachable from this job: /);
    expect(r.stdout).toMatch(/review note \d+ posted on !7/);
    expect(gl.statuses).toEqual([expect.objectContaining({ sha: second, name: "meshops/check", ref: "shift-reviews", target_url: "https://gitlab.example.com/mesh/config/-/jobs/777", pipeline_id: 321 })]);
    expect(gl.statuses[0]!.description).toMatch(/^\d+ errors, \d+ warnings; \d+ semantic changes/);
    for (const req of gl.requests) expect(req.token).toBe(gl.token);

    // reports GitLab reads
    const reports = join(dir, "meshops-reports");
    const cq = JSON.parse(readFileSync(join(reports, "gl-code-quality-report.json"), "utf8")) as { description: string; check_name: string; fingerprint: string; severity: string; location: { path: string; lines: { begin: number } } }[];
    expect(Array.isArray(cq)).toBe(true);
    for (const i of cq) {
      expect(i).toMatchObject({ description: expect.any(String), check_name: expect.any(String), fingerprint: expect.stringMatching(/^[0-9a-f]+$/), location: { path: expect.any(String), lines: { begin: expect.any(Number) } } });
      expect(["info", "minor", "major", "critical", "blocker"]).toContain(i.severity);
    }
    const junit = readFileSync(join(reports, "junit.xml"), "utf8");
    expect(junit).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="meshops check" tests="\d+" failures="\d+">/);
    expect((junit.match(/<testcase /g) ?? []).length).toBe((junit.match(/<\/testcase>|<testcase [^>]*\/>/g) ?? []).length);
    const tf = JSON.parse(readFileSync(join(reports, `plan-${stg}.json`), "utf8")) as Record<string, unknown>;
    expect(Object.keys(tf).sort()).toEqual(["create", "delete", "update"]);
    expect(Object.values(tf).every((n) => Number.isInteger(n))).toBe(true);
    const metrics = readFileSync(join(reports, "metrics.txt"), "utf8").trimEnd().split("\n");
    expect(metrics.at(-1)).toBe("# EOF");
    for (const l of metrics.slice(0, -1)) expect(l).toMatch(/^[A-Za-z0-9_]+ -?\d+(\.\d+)?$/);
    // traffic and access lines in the two environments rendered from envs/staging
    expect(metrics).toContain("meshops_semantic_changes 4");
    expect(metrics).toContain("meshops_semantic_changes_high_risk 0");
    expect(metrics).toContain(`${`meshops_plan_changes_${stg}`.replace(/-/g, "_")} 7`);
    for (const l of readFileSync(join(reports, "deploy.env"), "utf8").trimEnd().split("\n")) expect(l).toMatch(/^[A-Za-z0-9_]+=\S+$/);
    expect(readFileSync(join(reports, "note.md"), "utf8")).toBe(note.body);

    // a second push: the same note is edited, no new note
    const third = commit(dir, { "envs/staging/vs.yaml": vs(ns, 60, 40) }, "60/40 instead");
    gl.requests.length = 0;
    const again = await meshopsAsync(["ci", "--crds", crdsDir], { cwd: dir, env: mrEnv(7, first, third) });
    expect([0, 1]).toContain(again.code);
    expect(gl.notes.get("42!7")).toHaveLength(3);
    expect(gl.requests.filter((q) => q.method === "POST" && q.path.endsWith("/notes"))).toHaveLength(0);
    expect(gl.requests.filter((q) => q.method === "PUT")).toEqual([expect.objectContaining({ path: `/api/v4/projects/42/merge_requests/7/notes/${note.id}` })]);
    expect(gl.notes.get("42!7")![2]!.body).toContain("v1 90% → 60%, v2 10% → 40%");
    expect(again.stdout).toContain(`review note ${note.id} on !7 updated`);
  }, 120_000);

  it("cuts a note longer than the limit and links to the full review in the job's artifacts", async () => {
    const ns = unique("ci-big");
    const { dir, first } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50), "envs/staging/policy.yaml": policy(ns) }, "shift");
    const r = await meshopsAsync(["ci", "--note-limit", "700"], { cwd: dir, env: mrEnv(8, first, second) });
    expect([0, 1]).toContain(r.code);
    const body = gl.notes.get("42!8")![0]!.body;
    expect(body.length).toBeLessThanOrEqual(700);
    expect(body).toContain("**…truncated**");
    expect(body).toContain("(https://gitlab.example.com/mesh/config/-/jobs/777/artifacts/file/meshops-reports/note.md)");
    expect(readFileSync(join(dir, "meshops-reports", "note.md"), "utf8").length).toBeGreaterThan(700);
  }, 60_000);

  it("--dry-run prints the calls it would make and makes none", async () => {
    const ns = unique("ci-dry");
    const { dir, first } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50) }, "shift");
    const r = await meshopsAsync(["ci", "--dry-run"], { cwd: dir, env: mrEnv(9, first, second) });
    expect([0, 1]).toContain(r.code);
    expect(r.stdout).toContain("would call GitLab: GET /projects/42/merge_requests/9/notes");
    expect(r.stdout).toContain("would call GitLab: POST /projects/42/merge_requests/9/notes (body: ");
    expect(r.stdout).toContain(`would call GitLab: POST /projects/42/statuses/${second} (state=`);
    expect(gl.requests).toHaveLength(0);
  }, 60_000);
});

describe("meshops ci errors", () => {
  it("explains what it expects outside GitLab CI", async () => {
    const dir = repository(unique("ci-out")).dir;
    const r = await meshopsAsync(["ci"], { cwd: dir, env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not running in GitLab CI");
    expect(r.stderr).toContain("CI_MERGE_REQUEST_DIFF_BASE_SHA");
    expect(r.stderr).toContain("GITLAB_TOKEN");
  });

  it("a missing token names the variable and why CI_JOB_TOKEN is not enough; a refused one says 401; reports are still written", async () => {
    const ns = unique("ci-tok");
    const { dir, first } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50) }, "shift");
    const none = await meshopsAsync(["ci"], { cwd: dir, env: { ...mrEnv(10, first, second), GITLAB_TOKEN: undefined } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("GITLAB_TOKEN is not set");
    expect(none.stderr).toContain("CI_JOB_TOKEN cannot post merge request notes or commit statuses");
    expect(readFileSync(join(dir, "meshops-reports", "gl-code-quality-report.json"), "utf8")).toMatch(/^\[/);
    const bad = await meshopsAsync(["ci"], { cwd: dir, env: { ...mrEnv(10, first, second), GITLAB_TOKEN: "glpat-wrong" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("GitLab refused the token in GITLAB_TOKEN (401 Unauthorized) for GET /projects/42/merge_requests/10/notes");
    expect(bad.stderr).not.toContain("glpat-wrong");
  }, 60_000);

  it("a 429 storm is retried within --gitlab-retries and then fails with exit 3", async () => {
    const ns = unique("ci-429");
    const { dir, first } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50) }, "shift");
    gl.failNext(50, 429, { "retry-after": "0" });
    const r = await meshopsAsync(["ci", "--gitlab-retries", "2"], { cwd: dir, env: mrEnv(11, first, second) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("GitLab kept rate-limiting GET /projects/42/merge_requests/11/notes (429 Too Many Requests)");
    // the first call and two retries, then it gave up
    expect(gl.requests).toHaveLength(3);
  }, 60_000);

  it("a few 429s and 502s are absorbed by the retries", async () => {
    const ns = unique("ci-5xx");
    const { dir, first } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50) }, "shift");
    gl.failNext(1, 429, { "retry-after": "0" });
    gl.failNext(1, 502);
    const r = await meshopsAsync(["ci"], { cwd: dir, env: mrEnv(12, first, second) });
    expect([0, 1]).toContain(r.code);
    expect(gl.notes.get("42!12")).toHaveLength(1);
  }, 60_000);
});

describe("meshops ci on the default branch", () => {
  it("deploys staging (environment job) and production (--env, deployment recorded through the API); a rollback re-run restores the older commit", async () => {
    const ns = unique("ci-dep");
    const { dir, first, stg, prd } = repository(ns);
    const second = commit(dir, { "envs/staging/vs.yaml": vs(ns, 50, 50), "envs/production/vs.yaml": vs(ns, 50, 50), "envs/staging/policy.yaml": policy(ns) }, "shift half of reviews to v2");
    const push = (sha: string, extra: Record<string, string | undefined>): Record<string, string | undefined> => ciEnv({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_SHA: sha, CI_COMMIT_BRANCH: "main", CI_COMMIT_REF_NAME: "main", ...extra });
    const weights = (context: string): string =>
      execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", context, "-n", ns, "get", "virtualservice", "reviews", "-o", "jsonpath={.spec.http[0].route[*].weight}"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });

    // the check job of the default-branch pipeline: reports and meshops/check, no note
    const check = await meshopsAsync(["ci"], { cwd: dir, env: push(second, {}) });
    expect(check.stderr).toContain("check of the default branch pipeline");
    expect(gl.statuses.map((s) => s.name)).toEqual(["meshops/check"]);
    expect(gl.notes.size).toBe(0);

    const deployed = await meshopsAsync(["ci"], { cwd: dir, env: push(second, { CI_ENVIRONMENT_NAME: stg, KUBE_CONTEXT: "staging" }) });
    expect(deployed.stderr).toContain(`deploy of environment ${stg}`);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stdout).toMatch(new RegExp(`${stg}: applied \\d+ created, 0 configured, 0 deleted`));
    expect(weights("staging")).toBe("50 50");
    expect(gl.statuses.filter((s) => s.name === `meshops/deploy/${stg}`).map((s) => s.state)).toEqual(["running", "success"]);
    // a job with environment: is GitLab's own deployment: none is created through the API
    expect(gl.deployments).toHaveLength(0);
    const env = readFileSync(join(dir, "meshops-reports", "deploy.env"), "utf8");
    expect(env).toContain(`MESHOPS_ENVIRONMENT=${stg}\n`);
    expect(env).toContain("MESHOPS_ENVIRONMENT_URL=https://grafana.example.com/d/mesh?var-env=staging\n");
    expect(JSON.parse(readFileSync(join(dir, "meshops-reports", `plan-${stg}.json`), "utf8"))).toMatchObject({ update: 0, delete: 0 });

    const production = await meshopsAsync(["ci", "--env", prd], { cwd: dir, env: push(second, {}) });
    expect(production.code, production.stderr).toBe(0);
    expect(weights("production")).toBe("50 50");
    expect(gl.deployments).toEqual([expect.objectContaining({ environment: prd, sha: second, ref: "main", tag: false, status: "success" })]);
    expect(gl.statuses.filter((s) => s.name === `meshops/deploy/${prd}`).map((s) => s.state)).toEqual(["running", "success"]);

    // GitLab's Rollback button: the staging deploy job re-runs on the older commit
    git(dir, "checkout", "-q", first);
    gl.reset();
    const back = await meshopsAsync(["ci"], { cwd: dir, env: push(first, { CI_ENVIRONMENT_NAME: stg, KUBE_CONTEXT: "staging" }) });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`${stg}: rollback: applying ${first.slice(0, 8)}, older than the applied ${second.slice(0, 8)}`);
    expect(weights("staging")).toBe("90 10");
    // what the reverted commit added is gone
    expect(() => execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", "-n", ns, "get", "authorizationpolicy", "reviews-from-frontend"], { stdio: "ignore" })).toThrow();
    expect(gl.statuses.at(-1)).toMatchObject({ name: `meshops/deploy/${stg}`, state: "success", description: expect.stringMatching(/^rollback: /) });
  }, 180_000);

  it("refuses a deploy job in a merge request pipeline", async () => {
    const { dir, first, stg } = repository(unique("ci-refuse"));
    const r = await meshopsAsync(["ci"], { cwd: dir, env: { ...mrEnv(13, first, first), CI_ENVIRONMENT_NAME: stg } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("would apply unmerged changes");
  });
});
