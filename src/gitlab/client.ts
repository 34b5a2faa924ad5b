/**
 * The GitLab client layer: the few REST calls meshops makes (MR notes, commit statuses, deployments, the
 * merge requests of a commit and their approvals), on `@gitbeaker/rest` resources with meshops' own request
 * handler. gitbeaker's handler retries 429/502 ten times over about four minutes and surfaces other errors
 * as a bare description; this one retries 429 and 5xx a bounded number of times (`--gitlab-retries`, with
 * Retry-After honoured up to a cap), times requests out, and turns every failure into one `GitLabError`
 * that says what was called and what to do (a missing token names the variable and why CI_JOB_TOKEN is not
 * enough).
 */
import { Commits, Deployments, MergeRequestApprovals, MergeRequestNotes } from "@gitbeaker/rest";
import { createRequesterFn } from "@gitbeaker/requester-utils";

export type GitLabErrorCode = "no_token" | "unauthorized" | "forbidden" | "not_found" | "rate_limited" | "server_error" | "unreachable" | "invalid";

export class GitLabError extends Error {
  constructor(
    readonly code: GitLabErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface GitLabOptions {
  /** `CI_API_V4_URL`, e.g. https://gitlab.example.com/api/v4 */
  apiUrl: string;
  token: string | undefined;
  /** The variable the token came from (for messages). */
  tokenVariable: string;
  /** Retries of a 429/5xx answer (0 = none). */
  retries: number;
  /** First backoff; doubles per retry. */
  backoffMs: number;
  /** Cap of one wait (also caps Retry-After). */
  maxBackoffMs: number;
  timeoutMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export function defaultGitLabOptions(apiUrl: string, token: string | undefined): GitLabOptions {
  return { apiUrl, token, tokenVariable: "GITLAB_TOKEN", retries: 4, backoffMs: 500, maxBackoffMs: 10_000, timeoutMs: 30_000 };
}

export interface Note {
  id: number;
  body: string;
  system?: boolean;
  author?: { username?: string };
}

export type CommitState = "pending" | "running" | "success" | "failed" | "canceled" | "skipped";

export interface CommitStatus {
  state: CommitState;
  name: string;
  ref?: string;
  targetUrl?: string;
  description?: string;
  pipelineId?: number;
}

export interface MergeRequestInfo {
  iid: number;
  title: string;
  webUrl?: string;
  author?: string;
  mergedBy?: string;
  mergedAt?: string;
  state?: string;
}

/** The calls meshops makes; implemented over HTTP, and by a recorder for --dry-run. */
export interface GitLabPort {
  listMrNotes(project: string, iid: number): Promise<Note[]>;
  createMrNote(project: string, iid: number, body: string): Promise<Note>;
  editMrNote(project: string, iid: number, noteId: number, body: string): Promise<Note>;
  setCommitStatus(project: string, sha: string, status: CommitStatus): Promise<void>;
  createDeployment(project: string, d: { environment: string; sha: string; ref: string; tag: boolean; status: "running" | "success" | "failed" | "canceled" }): Promise<{ id: number }>;
  updateDeployment(project: string, id: number, status: "running" | "success" | "failed" | "canceled"): Promise<void>;
  mergeRequestsOfCommit(project: string, sha: string): Promise<MergeRequestInfo[]>;
  approvers(project: string, iid: number): Promise<string[]>;
}

const TOKEN_HELP =
  "meshops needs a project (or group) access token with the api scope, stored as a masked CI/CD variable GITLAB_TOKEN; CI_JOB_TOKEN cannot post merge request notes or commit statuses";

function describe(method: string, path: string): string {
  return `${method} ${decodeURIComponent(path.replace(/^.*\/api\/v4/, ""))}`;
}

/** Turns a non-2xx answer into a GitLabError with advice. */
export function errorFor(status: number, method: string, url: string, body: string, tokenVariable: string): GitLabError {
  let detail = body.trim().slice(0, 300);
  try {
    const j = JSON.parse(body) as { message?: unknown; error?: unknown };
    const m = j.message ?? j.error;
    if (m !== undefined) detail = typeof m === "string" ? m : JSON.stringify(m);
  } catch {
    // not JSON: keep the text
  }
  const call = describe(method, url);
  const suffix = detail ? `: ${detail}` : "";
  if (status === 401) return new GitLabError("unauthorized", `GitLab refused the token in ${tokenVariable} (401 Unauthorized) for ${call}${suffix}: it is wrong, expired or revoked; ${TOKEN_HELP}`, status);
  if (status === 403) return new GitLabError("forbidden", `GitLab denied ${call} (403 Forbidden)${suffix}: the token in ${tokenVariable} lacks the api scope or the Developer role on the project`, status);
  if (status === 404) return new GitLabError("not_found", `GitLab found nothing at ${call} (404)${suffix}: the project or merge request does not exist or is not visible to the token in ${tokenVariable}`, status);
  if (status === 429) return new GitLabError("rate_limited", `GitLab kept rate-limiting ${call} (429 Too Many Requests)${suffix}; raise --gitlab-retries or run the job later`, status);
  if (status >= 500) return new GitLabError("server_error", `GitLab failed ${call} (${status})${suffix}`, status);
  return new GitLabError("invalid", `GitLab rejected ${call} (${status})${suffix}`, status);
}

/** gitbeaker request handler with bounded retries and clear errors. */
function requestHandler(opts: GitLabOptions) {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (endpoint: string, options?: Record<string, unknown>): Promise<{ body: unknown; headers: Record<string, string>; status: number }> => {
    const { prefixUrl, searchParams, method = "GET", headers, body } = (options ?? {}) as { prefixUrl?: string; searchParams?: string; method?: string; headers?: Record<string, string>; body?: string };
    const base = prefixUrl ? (prefixUrl.endsWith("/") ? prefixUrl : `${prefixUrl}/`) : undefined;
    const url = new URL(endpoint, base);
    url.search = searchParams ?? "";
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, { method, ...(headers ? { headers } : {}), ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(opts.timeoutMs) });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = err.name === "TimeoutError" ? `no answer within ${opts.timeoutMs} ms` : (err.cause?.message ?? err.message);
        if (attempt < opts.retries && err.name !== "TimeoutError") {
          await sleep(Math.min(opts.backoffMs * 2 ** attempt, opts.maxBackoffMs));
          continue;
        }
        throw new GitLabError("unreachable", `GitLab at ${url.origin} is unreachable for ${describe(method, url.pathname)}: ${why}`);
      }
      if (res.ok) {
        const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
        const out = res.status === 204 ? null : type === "application/json" ? ((await res.json()) as unknown) ?? {} : await res.text();
        return { body: out, headers: Object.fromEntries(res.headers.entries()), status: res.status };
      }
      const text = await res.text();
      if ((res.status === 429 || res.status >= 500) && attempt < opts.retries) {
        const retryAfter = Number(res.headers.get("retry-after"));
        const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : opts.backoffMs * 2 ** attempt;
        await sleep(Math.min(wait, opts.maxBackoffMs));
        continue;
      }
      throw errorFor(res.status, method, url.pathname, text, opts.tokenVariable);
    }
  };
}

/** The HTTP implementation. Throws `no_token` at once when there is no token. */
export function createGitLab(opts: GitLabOptions): GitLabPort {
  if (!opts.token) throw new GitLabError("no_token", `${opts.tokenVariable} is not set: ${TOKEN_HELP}`);
  const host = opts.apiUrl.replace(/\/+$/, "").replace(/\/api\/v4$/, "");
  const requesterFn = createRequesterFn(((_: unknown, reqo: unknown) => Promise.resolve(reqo)) as never, requestHandler(opts) as never);
  const config = { host, token: opts.token, requesterFn, rateLimits: {} } as const;
  const notes = new MergeRequestNotes(config);
  const commits = new Commits(config);
  const deployments = new Deployments(config);
  const approvals = new MergeRequestApprovals(config);
  return {
    async listMrNotes(project, iid) {
      const all = (await notes.all(project, iid, { sort: "asc", orderBy: "created_at", perPage: 100 } as never)) as unknown as Note[];
      return all.map((n) => ({ id: n.id, body: n.body, ...(n.system !== undefined ? { system: n.system } : {}), ...(n.author ? { author: { ...(n.author.username ? { username: n.author.username } : {}) } } : {}) }));
    },
    async createMrNote(project, iid, body) {
      const n = (await notes.create(project, iid, body)) as unknown as Note;
      return { id: n.id, body: n.body };
    },
    async editMrNote(project, iid, noteId, body) {
      const n = (await notes.edit(project, iid, noteId, { body } as never)) as unknown as Note;
      return { id: n.id, body: n.body };
    },
    async setCommitStatus(project, sha, s) {
      await commits.editStatus(project, sha, s.state as never, {
        name: s.name,
        ...(s.ref ? { ref: s.ref } : {}),
        ...(s.targetUrl ? { targetUrl: s.targetUrl } : {}),
        ...(s.description ? { description: s.description.slice(0, 255) } : {}),
        ...(s.pipelineId ? { pipelineId: s.pipelineId } : {}),
      } as never);
    },
    async createDeployment(project, d) {
      const r = (await deployments.create(project, d.environment, d.sha, d.ref, d.tag, { status: d.status } as never)) as unknown as { id: number };
      return { id: r.id };
    },
    async updateDeployment(project, id, status) {
      await deployments.edit(project, id, status as never);
    },
    async mergeRequestsOfCommit(project, sha) {
      const mrs = (await commits.allMergeRequests(project, sha)) as unknown as {
        iid: number;
        title: string;
        web_url?: string;
        state?: string;
        author?: { username?: string };
        merged_by?: { username?: string };
        merge_user?: { username?: string };
        merged_at?: string;
      }[];
      return mrs.map((m) => ({
        iid: m.iid,
        title: m.title,
        ...(m.web_url ? { webUrl: m.web_url } : {}),
        ...(m.state ? { state: m.state } : {}),
        ...(m.author?.username ? { author: m.author.username } : {}),
        ...((m.merge_user ?? m.merged_by)?.username ? { mergedBy: (m.merge_user ?? m.merged_by)!.username! } : {}),
        ...(m.merged_at ? { mergedAt: m.merged_at } : {}),
      }));
    },
    async approvers(project, iid) {
      const a = (await approvals.showConfiguration(project, { mergerequestIId: iid })) as unknown as { approved_by?: { user?: { username?: string } }[] };
      return (a.approved_by ?? []).map((x) => x.user?.username).filter((u): u is string => Boolean(u));
    },
  };
}

/** A port that records the calls instead of making them (`meshops ci --dry-run`); answers like an empty project. */
export function createDryRunGitLab(record: (line: string) => void): GitLabPort {
  let nextId = 1;
  return {
    async listMrNotes(project, iid) {
      record(`GET /projects/${encodeURIComponent(project)}/merge_requests/${iid}/notes`);
      return [];
    },
    async createMrNote(project, iid, body) {
      record(`POST /projects/${encodeURIComponent(project)}/merge_requests/${iid}/notes (body: ${body.length} characters)`);
      return { id: nextId++, body };
    },
    async editMrNote(project, iid, noteId, body) {
      record(`PUT /projects/${encodeURIComponent(project)}/merge_requests/${iid}/notes/${noteId} (body: ${body.length} characters)`);
      return { id: noteId, body };
    },
    async setCommitStatus(project, sha, s) {
      record(`POST /projects/${encodeURIComponent(project)}/statuses/${sha} (state=${s.state}, name=${s.name}${s.description ? `, description="${s.description.slice(0, 255)}"` : ""})`);
    },
    async createDeployment(project, d) {
      record(`POST /projects/${encodeURIComponent(project)}/deployments (environment=${d.environment}, sha=${d.sha}, ref=${d.ref}, tag=${d.tag}, status=${d.status})`);
      return { id: nextId++ };
    },
    async updateDeployment(project, id, status) {
      record(`PUT /projects/${encodeURIComponent(project)}/deployments/${id} (status=${status})`);
    },
    async mergeRequestsOfCommit(project, sha) {
      record(`GET /projects/${encodeURIComponent(project)}/repository/commits/${sha}/merge_requests`);
      return [];
    },
    async approvers(project, iid) {
      record(`GET /projects/${encodeURIComponent(project)}/merge_requests/${iid}/approvals`);
      return [];
    },
  };
}
