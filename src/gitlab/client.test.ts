import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeGitLab, type FakeGitLab } from "../../test/gitlab-server.js";
import { createDryRunGitLab, createGitLab, defaultGitLabOptions, GitLabError, type GitLabOptions } from "./client.js";

let gl: FakeGitLab;
beforeAll(async () => {
  gl = await startFakeGitLab();
});
afterAll(async () => {
  await gl.close();
});
beforeEach(() => gl.reset());

const options = (o: Partial<GitLabOptions> = {}): GitLabOptions => ({ ...defaultGitLabOptions(gl.apiUrl, gl.token), backoffMs: 1, maxBackoffMs: 5, ...o });

async function failure(p: Promise<unknown>): Promise<GitLabError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GitLabError) return e;
    throw e;
  }
  throw new Error("expected a GitLabError");
}

describe("the GitLab client", () => {
  it("creates, lists (across pages) and edits MR notes, sets commit statuses and records deployments", async () => {
    const api = createGitLab(options());
    for (let i = 0; i < 120; i++) gl.addNote("42", 3, `note ${i}`);
    const mine = await api.createMrNote("42", 3, "<!-- meshops:review -->\nhello");
    const notes = await api.listMrNotes("42", 3);
    expect(notes).toHaveLength(121);
    expect(notes.at(-1)).toMatchObject({ id: mine.id, author: { username: "meshops-bot" } });
    expect(gl.requests.filter((r) => r.method === "GET").length).toBe(2);
    await api.editMrNote("42", 3, mine.id, "updated");
    expect(gl.notes.get("42!3")!.at(-1)!.body).toBe("updated");
    await api.setCommitStatus("mesh/config", "0123456789abcdef0123456789abcdef01234567", { state: "success", name: "meshops/check", description: "x".repeat(400), pipelineId: 9 });
    expect(gl.statuses[0]).toMatchObject({ state: "success", name: "meshops/check", pipeline_id: 9 });
    expect(gl.statuses[0]!.description).toHaveLength(255);
    expect(gl.requests.at(-1)!.path).toBe("/api/v4/projects/mesh%2Fconfig/statuses/0123456789abcdef0123456789abcdef01234567");
    const d = await api.createDeployment("42", { environment: "production", sha: "0123456789abcdef0123456789abcdef01234567", ref: "main", tag: false, status: "running" });
    await api.updateDeployment("42", d.id, "success");
    expect(gl.deployments).toEqual([expect.objectContaining({ environment: "production", status: "success" })]);
  });

  it("turns each failure into an error that says what to do", async () => {
    expect(() => createGitLab(options({ token: undefined }))).toThrow(/GITLAB_TOKEN is not set: .*api scope.*CI_JOB_TOKEN cannot post merge request notes or commit statuses/);
    const api = createGitLab(options({ retries: 1 }));
    gl.failNext(1, 403);
    const forbidden = await failure(api.listMrNotes("42", 1));
    expect(forbidden.code).toBe("forbidden");
    expect(forbidden.message).toContain("GitLab denied GET /projects/42/merge_requests/1/notes (403 Forbidden)");
    expect(forbidden.message).toContain("lacks the api scope or the Developer role");
    const missing = await failure(api.approvers("42", 999));
    expect(missing).toMatchObject({ code: "not_found", status: 404 });
    expect(missing.message).toContain("does not exist or is not visible to the token in GITLAB_TOKEN");
    gl.failNext(5, 503);
    const down = await failure(api.listMrNotes("42", 1));
    expect(down).toMatchObject({ code: "server_error", status: 503 });
    // one call and one retry
    expect(gl.requests.filter((r) => r.path.endsWith("/merge_requests/1/notes"))).toHaveLength(3);
    gl.failNext(0, 0);
    const wrong = await failure(createGitLab(options({ token: "glpat-nope" })).listMrNotes("42", 1));
    expect(wrong.code).toBe("unauthorized");
    expect(wrong.message).not.toContain("glpat-nope");
    const bad = await failure(api.setCommitStatus("42", "0123456789abcdef0123456789abcdef01234567", { state: "bogus" as never, name: "x" }));
    expect(bad).toMatchObject({ code: "invalid", status: 400 });
    expect(bad.message).toContain("state does not have a valid value");
  });

  it("says GitLab is unreachable, naming the URL", async () => {
    const api = createGitLab({ ...options({ retries: 1 }), apiUrl: "http://127.0.0.1:9/api/v4" });
    const e = await failure(api.listMrNotes("42", 1));
    expect(e.code).toBe("unreachable");
    expect(e.message).toContain("GitLab at http://127.0.0.1:9 is unreachable for GET /projects/42/merge_requests/1/notes");
  });

  it("the dry-run port records calls and makes none", async () => {
    const lines: string[] = [];
    const api = createDryRunGitLab((l) => lines.push(l));
    await api.createMrNote("mesh/config", 5, "body");
    await api.setCommitStatus("mesh/config", "abc1234", { state: "failed", name: "meshops/check", description: "2 errors" });
    expect(lines).toEqual(["POST /projects/mesh%2Fconfig/merge_requests/5/notes (body: 4 characters)", 'POST /projects/mesh%2Fconfig/statuses/abc1234 (state=failed, name=meshops/check, description="2 errors")']);
    expect(gl.requests).toHaveLength(0);
  });
});
