/**
 * `meshops audit --env E`: every revision the environment's inventory keeps — when it was applied and by whom
 * (and from which CI job), the commit and its author, the merge request that brought it (who merged and who
 * approved it: from the GitLab API when a token is there, else from Git's merge commit message "See merge
 * request group/project!42"), and what changed semantically against the revision before (traffic, routes,
 * access, mTLS, as `meshops diff` reports them) plus the objects added and removed.
 */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import type { InventoryRevision } from "../cluster/inventory.js";
import type { Environment } from "../config/load.js";
import { semanticDiff, type SemanticDiffLine } from "../diff/index.js";
import { createGitLab, defaultGitLabOptions, GitLabError, type GitLabPort } from "../gitlab/client.js";
import { buildMeshModel, type MeshModel } from "../model/mesh-model.js";
import { identityKey, subjectOf } from "../model/resource.js";
import { run } from "../source/exec.js";
import { gitRoot } from "../source/git.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository } from "../source/repository.js";
import { ExitCode } from "./errors.js";
import { clusterTarget, oneEnvironment } from "./targets.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";

interface AuditFlags {
  env?: string;
  format: "text" | "markdown" | "json";
  semantic: boolean;
  project?: string;
  gitlabUrl?: string;
  context?: string;
  kubeconfig?: string;
  chdir?: string;
}

/** Who brought a commit in: the merge request, its author, merger and approvers. */
export interface MergeRequestRecord {
  iid: number;
  title?: string;
  author?: string;
  mergedBy?: string;
  mergedAt?: string;
  approvedBy?: string[];
  webUrl?: string;
  /** "gitlab" (the API) or "git" (a merge commit message). */
  source: "gitlab" | "git";
}

export interface AuditEntry {
  revision: number;
  appliedAt: string;
  appliedBy: string;
  status: string;
  job?: string;
  note?: string;
  rollback?: { of: number; to: number };
  commit?: string;
  author?: string;
  subject?: string;
  mergeRequest?: MergeRequestRecord;
  /** Why the merge request or approvals are not known. */
  mergeRequestNote?: string;
  objects: { total: number; added: string[]; removed: string[] };
  changes?: SemanticDiffLine[];
  changesNote?: string;
}

/** "See merge request group/project!42" (GitLab's merge commit message) → 42. */
export function mergeRequestFromMessage(message: string): number | undefined {
  const m = /See merge request [\w./-]*!(\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

async function gitMergeRequest(top: string, commit: string): Promise<MergeRequestRecord | undefined> {
  const own = await run("git", ["show", "-s", "--format=%B%x00%cn", commit], { cwd: top });
  if (own.code !== 0) return undefined;
  const [body = "", committer = ""] = own.stdout.split("\0");
  let iid = mergeRequestFromMessage(body);
  let mergedBy = iid !== undefined ? committer.trim() : undefined;
  if (iid === undefined) {
    // a commit of the MR's branch: the merge commit that brought it into HEAD names the MR
    const merges = await run("git", ["log", "--merges", "--ancestry-path", "--reverse", "--format=%H%x00%cn%x00%B%x1e", `${commit}..HEAD`], { cwd: top });
    for (const rec of merges.stdout.split("\x1e")) {
      const [sha = "", cn = "", msg = ""] = rec.trim().split("\0");
      const found = mergeRequestFromMessage(msg);
      // the merge brought the commit in only if its first parent (the target branch) did not have it yet
      if (found !== undefined && sha && (await run("git", ["merge-base", "--is-ancestor", commit, `${sha}^1`], { cwd: top })).code !== 0) {
        iid = found;
        mergedBy = cn.trim();
        break;
      }
    }
  }
  return iid !== undefined ? { iid, ...(mergedBy ? { mergedBy } : {}), source: "git" } : undefined;
}

async function gitlabMergeRequest(gl: GitLabPort, project: string, commit: string): Promise<MergeRequestRecord | undefined> {
  const mrs = await gl.mergeRequestsOfCommit(project, commit);
  const mr = mrs.find((m) => m.state === "merged") ?? mrs[0];
  if (!mr) return undefined;
  const approvedBy = await gl.approvers(project, mr.iid);
  return {
    iid: mr.iid,
    title: mr.title,
    ...(mr.author ? { author: mr.author } : {}),
    ...(mr.mergedBy ? { mergedBy: mr.mergedBy } : {}),
    ...(mr.mergedAt ? { mergedAt: mr.mergedAt } : {}),
    ...(mr.webUrl ? { webUrl: mr.webUrl } : {}),
    approvedBy,
    source: "gitlab",
  };
}

/** The environment's mesh model at a commit (undefined when the commit is not in this clone). */
async function modelAt(cwd: string, path: string | undefined, envName: string, commit: string, cache: Map<string, Promise<MeshModel | undefined>>): Promise<MeshModel | undefined> {
  let p = cache.get(commit);
  if (!p) {
    p = (async () => {
      try {
        const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), rev: commit });
        try {
          const env: Environment | undefined = repo.loaded.environments.find((e) => e.name === envName);
          if (!env) return buildMeshModel([]);
          return buildMeshModel((await renderEnvironment(repo.dir, env)).manifests);
        } finally {
          repo.dispose();
        }
      } catch {
        return undefined;
      }
    })();
    cache.set(commit, p);
  }
  return p;
}

function objectChanges(rev: InventoryRevision, previous: InventoryRevision | undefined): AuditEntry["objects"] {
  const before = new Map((previous?.objects ?? []).map((r) => [identityKey(r), r]));
  const after = new Map(rev.objects.map((r) => [identityKey(r), r]));
  return {
    total: rev.objects.length,
    added: [...after].filter(([k]) => !before.has(k)).map(([, r]) => subjectOf(r)).sort(),
    removed: previous ? [...before].filter(([k]) => !after.has(k)).map(([, r]) => subjectOf(r)).sort() : [],
  };
}

function mrText(e: AuditEntry): string {
  const m = e.mergeRequest;
  if (!m) return e.mergeRequestNote ?? "no merge request found";
  const parts = [`merge request !${m.iid}${m.title ? ` "${m.title}"` : ""}`];
  if (m.author) parts.push(`by ${m.author}`);
  if (m.mergedBy) parts.push(`merged by ${m.mergedBy}`);
  if (m.approvedBy) parts.push(m.approvedBy.length ? `approved by ${m.approvedBy.join(", ")}` : "no approvals");
  else parts.push("approvals unknown without a GitLab token");
  return parts.join(", ");
}

export function renderAuditText(env: string, context: string, entries: AuditEntry[]): string {
  const out = [`audit of environment ${env} (context ${context}): ${entries.length} revision${entries.length === 1 ? "" : "s"} kept`];
  for (const e of entries) {
    out.push("");
    out.push(`revision ${e.revision}  ${e.appliedAt}  applied by ${e.appliedBy}${e.job ? ` in ${e.job}` : ""}${e.status !== "complete" ? `  (${e.status})` : ""}`);
    if (e.rollback) out.push(`  rollback of revision ${e.rollback.of} to revision ${e.rollback.to}`);
    else if (e.note) out.push(`  ${e.note}`);
    out.push(`  commit ${e.commit ? e.commit.slice(0, 12) : "(working tree)"}${e.subject ? ` "${e.subject}"` : ""}${e.author ? ` by ${e.author}` : ""}`);
    out.push(`  ${mrText(e)}`);
    const o = e.objects;
    out.push(`  objects: ${o.total}${o.added.length || o.removed.length ? ` (+${o.added.length} -${o.removed.length}: ${[...o.added.map((s) => `+${s}`), ...o.removed.map((s) => `-${s}`)].slice(0, 10).join(", ")}${o.added.length + o.removed.length > 10 ? ", …" : ""})` : ""}`);
    if (e.changes) {
      if (e.changes.length === 0) out.push("  changes: none to traffic, routes, access or mTLS");
      for (const c of e.changes) out.push(`  ${c.subject}  ${c.kind}  ${c.change}  [risk: ${c.risk}]`);
    } else if (e.changesNote) out.push(`  changes: ${e.changesNote}`);
  }
  return `${out.join("\n")}\n`;
}

export function renderAuditMarkdown(env: string, entries: AuditEntry[]): string {
  const cell = (s: string): string => s.replace(/\|/g, "\\|");
  const out = [`### meshops audit: \`${env}\``, "", "| revision | applied | by | commit | merge request | changes |", "|---|---|---|---|---|---|"];
  for (const e of entries) {
    const changes = e.changes ? (e.changes.length ? e.changes.map((c) => `${c.subject} ${c.kind}: ${c.change}`).join("<br>") : "none") : (e.changesNote ?? "");
    out.push(`| ${e.revision}${e.rollback ? " (rollback)" : ""} | ${e.appliedAt} | ${cell(e.appliedBy)} | ${e.commit ? `\`${e.commit.slice(0, 8)}\` ${cell(e.subject ?? "")}` : "working tree"} | ${cell(mrText(e))} | ${cell(changes)} |`);
  }
  return `${out.join("\n")}\n`;
}

export function registerAudit(program: Command, io: Io, setExit: (code: number) => void): void {
  addClusterOptions(addCommonOptions(program.command("audit").description("every applied revision of an environment: when, by whom, commit, merge request, approvers, and what changed")))
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("-e, --env <name>", "environment (required when meshops.yaml has several)")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "markdown", "json"]).default("text"))
    .option("--no-semantic", "do not compute what each revision changed semantically (it renders every revision's commit)")
    .option("--project <id>", "GitLab project id or path for merge requests and approvals (default: $CI_PROJECT_ID)")
    .option("--gitlab-url <url>", "GitLab API URL (default: $CI_API_V4_URL); the token comes from $GITLAB_TOKEN")
    .action(async (path: string | undefined, flags: AuditFlags) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}) });
      repo.dispose();
      const env = oneEnvironment(repo.loaded, flags.env, "audit");
      const cluster = await import("../cluster/index.js");
      const target = clusterTarget(env, flags);
      const kube = cluster.createKubeClient(cluster.loadKubeConfig(target), { maxRetries: 2 });
      try {
        const { inventory } = await cluster.readInventory(kube, env.name);
        const revisions = inventory?.revisions ?? [];
        const top = await gitRoot(resolve(cwd, path ?? "."));
        const apiUrl = flags.gitlabUrl ?? io.env.CI_API_V4_URL;
        const project = flags.project ?? io.env.CI_PROJECT_ID;
        const token = io.env.GITLAB_TOKEN;
        let gl: GitLabPort | undefined;
        let glNote: string | undefined;
        if (token && apiUrl && project) gl = createGitLab({ ...defaultGitLabOptions(apiUrl, token), retries: 2 });
        else glNote = `approvals unknown: ${!token ? "GITLAB_TOKEN is not set" : !apiUrl ? "no GitLab URL (--gitlab-url or CI_API_V4_URL)" : "no project (--project or CI_PROJECT_ID)"}`;
        const models = new Map<string, Promise<MeshModel | undefined>>();
        const entries: AuditEntry[] = [];
        for (const [i, rev] of revisions.entries()) {
          const previous = revisions[i + 1];
          const entry: AuditEntry = {
            revision: rev.revision,
            appliedAt: rev.appliedAt,
            appliedBy: rev.appliedBy,
            status: rev.status,
            ...(rev.job ? { job: rev.job } : {}),
            ...(rev.note ? { note: rev.note } : {}),
            ...(rev.rollback ? { rollback: rev.rollback } : {}),
            ...(rev.commit ? { commit: rev.commit } : {}),
            ...(rev.author ? { author: rev.author } : {}),
            ...(rev.subject ? { subject: rev.subject } : {}),
            objects: objectChanges(rev, previous),
          };
          if (rev.commit) {
            try {
              const mr = gl ? await gitlabMergeRequest(gl, project!, rev.commit) : top ? await gitMergeRequest(top, rev.commit) : undefined;
              if (mr) entry.mergeRequest = mr;
              else entry.mergeRequestNote = gl ? "GitLab knows no merge request for this commit" : "no merge request named in Git for this commit";
              if (mr && !gl && glNote) entry.mergeRequestNote = glNote;
            } catch (e) {
              if (!(e instanceof GitLabError)) throw e;
              entry.mergeRequestNote = e.message;
              const fallback = top ? await gitMergeRequest(top, rev.commit) : undefined;
              if (fallback) entry.mergeRequest = fallback;
            }
          }
          if (flags.semantic && rev.commit && previous?.commit && previous.commit !== rev.commit) {
            const [before, after] = await Promise.all([modelAt(cwd, path, env.name, previous.commit, models), modelAt(cwd, path, env.name, rev.commit, models)]);
            if (before && after) entry.changes = semanticDiff(before, after);
            else entry.changesNote = `commit ${(before ? rev.commit : previous.commit).slice(0, 12)} is not in this clone (fetch it to see what changed)`;
          } else if (flags.semantic && previous && rev.commit && previous.commit === rev.commit) entry.changes = [];
          else if (flags.semantic && !previous) entry.changesNote = "the oldest revision kept: nothing to compare with";
          entries.push(entry);
        }
        if (flags.format === "json") io.stdout(`${JSON.stringify({ env: env.name, context: kube.context, revisions: entries }, null, 2)}\n`);
        else if (flags.format === "markdown") io.stdout(renderAuditMarkdown(env.name, entries));
        else io.stdout(renderAuditText(env.name, kube.context, entries));
        setExit(ExitCode.ok);
      } finally {
        kube.close();
      }
    });
}
