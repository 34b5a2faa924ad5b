/**
 * A small local server that speaks the parts of GitLab's REST API v4 meshops uses, with payloads shaped as
 * GitLab's documentation shows them (docs.gitlab.com/api/notes, /api/commits#set-the-pipeline-status-of-a-commit,
 * /api/deployments, /api/merge_request_approvals, /api/rest#pagination). GitLab itself cannot run here; this
 * stands in for it in tests and records every request. It checks the `PRIVATE-TOKEN` header (401 otherwise),
 * validates parameters the way GitLab does where meshops depends on it (note length, status state, required
 * deployment fields), paginates with `Link`/`X-*` headers, and can be told to answer with faults (a 429 storm).
 */
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { repoRoot, type CliResult } from "./helpers.js";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | undefined;
  token: string | undefined;
}

interface NoteRow {
  id: number;
  body: string;
  author: { id: number; username: string; name: string; state: string; avatar_url: string; web_url: string };
  created_at: string;
  updated_at: string;
  system: boolean;
  noteable_id: number;
  noteable_type: "MergeRequest";
  noteable_iid: number;
  project_id: number;
  resolvable: boolean;
  confidential: boolean;
  internal: boolean;
  attachment: null;
  type: null;
}

export interface MergeRequestRow {
  iid: number;
  title: string;
  state: string;
  author: { username: string };
  merge_user?: { username: string };
  merged_at?: string;
  web_url?: string;
  approvedBy?: string[];
}

export interface FakeGitLab {
  url: string;
  /** CI_API_V4_URL for this server. */
  apiUrl: string;
  token: string;
  requests: RecordedRequest[];
  notes: Map<string, NoteRow[]>;
  statuses: { sha: string; state: string; name: string; ref?: string; target_url?: string; description?: string; pipeline_id?: number }[];
  deployments: { id: number; iid: number; environment: string; sha: string; ref: string; tag: boolean; status: string }[];
  /** Merge requests per commit SHA (for GET …/commits/:sha/merge_requests). */
  commitMergeRequests: Map<string, MergeRequestRow[]>;
  /** The next `count` API calls get this answer instead. */
  failNext(count: number, status: number, headers?: Record<string, string>): void;
  /** Adds a note as another user (or a system note). */
  addNote(project: string, iid: number, body: string, opts?: { system?: boolean; username?: string }): void;
  reset(): void;
  close(): Promise<void>;
}

const PER_PAGE_DEFAULT = 20;

function user(username: string): NoteRow["author"] {
  return { id: username === "meshops-bot" ? 2 : 3, username, name: username, state: "active", avatar_url: "", web_url: `http://gitlab.example/${username}` };
}

export async function startFakeGitLab(token = "glpat-test-token"): Promise<FakeGitLab> {
  let noteId = 100;
  let statusId = 500;
  let deploymentId = 900;
  const faults: { status: number; headers: Record<string, string> }[] = [];
  const state = {
    requests: [] as RecordedRequest[],
    notes: new Map<string, NoteRow[]>(),
    statuses: [] as FakeGitLab["statuses"],
    deployments: [] as FakeGitLab["deployments"],
    commitMergeRequests: new Map<string, MergeRequestRow[]>(),
  };
  const now = (): string => new Date().toISOString();
  const key = (project: string, iid: number): string => `${decodeURIComponent(project)}!${iid}`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    let body: Record<string, unknown> | undefined;
    if (raw) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return send(res, 400, { error: "body is not valid JSON" });
      }
    }
    const tokenHeader = req.headers["private-token"];
    const given = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
    state.requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body, token: given });
    const fault = faults.shift();
    if (fault) return send(res, fault.status, { message: `${fault.status} fault injected` }, fault.headers);
    if (given !== token) return send(res, 401, { message: "401 Unauthorized" });
    const p = url.pathname.replace(/^\/api\/v4/, "");
    // params come as JSON bodies (gitbeaker) or query strings
    const param = (k: string): unknown => body?.[k] ?? url.searchParams.get(k) ?? undefined;
    let m: RegExpMatchArray | null;

    if ((m = p.match(/^\/projects\/([^/]+)\/merge_requests\/(\d+)\/notes$/))) {
      const k = key(m[1]!, Number(m[2]));
      const list = state.notes.get(k) ?? [];
      if (method === "GET") {
        const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? PER_PAGE_DEFAULT));
        const page = Number(url.searchParams.get("page") ?? 1);
        const sorted = [...list].sort((a, b) => (url.searchParams.get("sort") === "asc" ? a.id - b.id : b.id - a.id));
        const slice = sorted.slice((page - 1) * perPage, page * perPage);
        const totalPages = Math.max(1, Math.ceil(sorted.length / perPage));
        const headers: Record<string, string> = { "x-page": String(page), "x-per-page": String(perPage), "x-total": String(sorted.length), "x-total-pages": String(totalPages), "x-prev-page": page > 1 ? String(page - 1) : "", "x-next-page": page < totalPages ? String(page + 1) : "" };
        if (page < totalPages) {
          const next = new URL(url.toString());
          next.searchParams.set("page", String(page + 1));
          next.searchParams.set("per_page", String(perPage));
          headers.link = `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"`;
        }
        return send(res, 200, slice, headers);
      }
      if (method === "POST") {
        const text = param("body");
        if (typeof text !== "string" || text === "") return send(res, 400, { error: "body is missing" });
        if (text.length > 1_000_000) return send(res, 400, { message: { note: ["is too long (maximum is 1000000 characters)"] } });
        const note: NoteRow = { id: noteId++, body: text, author: user("meshops-bot"), created_at: now(), updated_at: now(), system: false, noteable_id: 1, noteable_type: "MergeRequest", noteable_iid: Number(m[2]), project_id: 1, resolvable: false, confidential: false, internal: false, attachment: null, type: null };
        state.notes.set(k, [...list, note]);
        return send(res, 201, note);
      }
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/merge_requests\/(\d+)\/notes\/(\d+)$/)) && method === "PUT") {
      const note = (state.notes.get(key(m[1]!, Number(m[2]))) ?? []).find((n) => n.id === Number(m![3]));
      if (!note) return send(res, 404, { message: "404 Not found" });
      const text = param("body");
      if (typeof text !== "string" || text === "") return send(res, 400, { error: "body is missing" });
      if (text.length > 1_000_000) return send(res, 400, { message: { note: ["is too long (maximum is 1000000 characters)"] } });
      note.body = text;
      note.updated_at = now();
      return send(res, 200, note);
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/statuses\/([0-9a-f]{7,64})$/)) && method === "POST") {
      const st = param("state");
      if (typeof st !== "string" || !["pending", "running", "success", "failed", "canceled", "skipped"].includes(st)) return send(res, 400, { message: "state does not have a valid value" });
      const name = String(param("name") ?? param("context") ?? "default");
      const description = param("description");
      if (typeof description === "string" && description.length > 255) return send(res, 400, { message: "description is too long (maximum is 255 characters)" });
      const row = { sha: m[2]!, state: st, name, ...(param("ref") ? { ref: String(param("ref")) } : {}), ...(param("target_url") ? { target_url: String(param("target_url")) } : {}), ...(typeof description === "string" ? { description } : {}), ...(param("pipeline_id") ? { pipeline_id: Number(param("pipeline_id")) } : {}) };
      state.statuses.push(row);
      return send(res, 201, { id: statusId++, sha: row.sha, ref: row.ref ?? null, status: st, name, target_url: row.target_url ?? null, description: row.description ?? null, created_at: now(), started_at: null, finished_at: null, allow_failure: false, coverage: null, author: user("meshops-bot") });
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/deployments$/)) && method === "POST") {
      const environment = param("environment");
      const sha = param("sha");
      const ref = param("ref");
      const tag = param("tag");
      const status = param("status");
      if (typeof environment !== "string" || typeof sha !== "string" || typeof ref !== "string" || tag === undefined || typeof status !== "string") return send(res, 400, { error: "environment, sha, ref, tag, status are missing" });
      if (!["running", "success", "failed", "canceled"].includes(status)) return send(res, 400, { error: "status does not have a valid value" });
      const d = { id: deploymentId++, iid: state.deployments.length + 1, environment, sha, ref, tag: tag === true || tag === "true", status };
      state.deployments.push(d);
      return send(res, 201, { id: d.id, iid: d.iid, ref, sha, status, created_at: now(), updated_at: now(), user: user("meshops-bot"), environment: { id: 1, name: environment, external_url: null }, deployable: null });
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/deployments\/(\d+)$/)) && method === "PUT") {
      const d = state.deployments.find((x) => x.id === Number(m![2]));
      if (!d) return send(res, 404, { message: "404 Not found" });
      const status = param("status");
      if (typeof status !== "string" || !["running", "success", "failed", "canceled"].includes(status)) return send(res, 400, { error: "status does not have a valid value" });
      d.status = status;
      return send(res, 200, { id: d.id, iid: d.iid, ref: d.ref, sha: d.sha, status, created_at: now(), updated_at: now(), user: user("meshops-bot"), environment: { id: 1, name: d.environment, external_url: null }, deployable: null });
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/repository\/commits\/([0-9a-f]{7,64})\/merge_requests$/)) && method === "GET") {
      const mrs = state.commitMergeRequests.get(m[2]!) ?? [];
      return send(
        res,
        200,
        mrs.map(({ approvedBy: _a, ...mr }) => ({ id: 1000 + mr.iid, project_id: 1, description: "", source_branch: "feature", target_branch: "main", ...mr })),
      );
    }
    if ((m = p.match(/^\/projects\/([^/]+)\/merge_requests\/(\d+)\/approvals$/)) && method === "GET") {
      const iid = Number(m[2]);
      const mr = [...state.commitMergeRequests.values()].flat().find((x) => x.iid === iid);
      if (!mr) return send(res, 404, { message: "404 Not found" });
      return send(res, 200, { id: 1000 + iid, iid, project_id: 1, title: mr.title, state: mr.state, approved: (mr.approvedBy ?? []).length > 0, approvals_required: 0, approvals_left: 0, approved_by: (mr.approvedBy ?? []).map((u) => ({ user: user(u) })) });
    }
    send(res, 404, { error: "404 Not Found" });
  };

  const server: Server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiUrl: `${url}/api/v4`,
    token,
    ...state,
    get requests() {
      return state.requests;
    },
    failNext(count, status, headers = {}) {
      for (let i = 0; i < count; i++) faults.push({ status, headers });
    },
    addNote(project, iid, body, opts = {}) {
      const k = key(project, iid);
      const note: NoteRow = { id: noteId++, body, author: user(opts.username ?? "alice"), created_at: now(), updated_at: now(), system: opts.system ?? false, noteable_id: 1, noteable_type: "MergeRequest", noteable_iid: iid, project_id: 1, resolvable: false, confidential: false, internal: false, attachment: null, type: null };
      state.notes.set(k, [...(state.notes.get(k) ?? []), note]);
    },
    reset() {
      state.requests.length = 0;
      state.notes.clear();
      state.statuses.length = 0;
      state.deployments.length = 0;
      state.commitMergeRequests.clear();
      faults.length = 0;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Runs meshops asynchronously (the fake GitLab lives in this process: a blocking spawn would deadlock it). */
export function meshopsAsync(args: string[], opts: { cwd: string; env: Record<string, string | undefined> }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
    for (const k of Object.keys(env)) if (k.startsWith("CI") || k.startsWith("GITLAB") || k === "KUBE_CONTEXT") delete env[k];
    for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [join(repoRoot, "bin", "meshops.js"), ...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

