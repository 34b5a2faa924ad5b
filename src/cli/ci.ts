/**
 * `meshops ci`: the one entrypoint GitLab jobs run. It reads GitLab's predefined variables and does what the
 * pipeline is for:
 *
 * - **merge request pipeline** (`CI_PIPELINE_SOURCE=merge_request_event`): check every environment, the
 *   semantic diff against `CI_MERGE_REQUEST_DIFF_BASE_SHA`, each environment's live-cluster plan where the
 *   job can reach the cluster; the review note on the MR (edited in place), the reports, and the commit
 *   status `meshops/check`;
 * - **deploy job** (a job with `environment:`, so `CI_ENVIRONMENT_NAME` is set; or `--env` in a job without
 *   one, which then records the deployment through the API as external tools do): render and apply that
 *   environment in the same job, so GitLab's Rollback button (which re-runs this job's script on the older
 *   commit) applies the older commit — a correct rollback; commit status `meshops/deploy/<env>`;
 * - **default branch, tag or other branch pipeline**: check, reports (the default branch's Code Quality
 *   report is the baseline MR widgets compare with) and the commit status `meshops/check`.
 *
 * `--dry-run` prints the GitLab API calls it would make and plans instead of applying.
 */
import type { Command } from "commander";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Environment } from "../config/load.js";
import { semanticDiff, type SemanticDiffLine } from "../diff/index.js";
import { createDryRunGitLab, createGitLab, defaultGitLabOptions, GitLabError, type GitLabPort } from "../gitlab/client.js";
import { dotenvReport, findReviewNote, metricName, metricsReport, NOTE_LIMIT, renderReviewNote, terraformReport, type EnvironmentPlan } from "../gitlab/review.js";
import { buildMeshModel } from "../model/mesh-model.js";
import type { Finding, Severity } from "../report/finding.js";
import { activeFindings, renderCodeQuality, renderJunit, summarize } from "../report/formats.js";
import { run } from "../source/exec.js";
import { renderEnvironment, type RenderResult } from "../source/render.js";
import { openRepository, selectEnvironments, type OpenRepository } from "../source/repository.js";
import { ExitCode, UsageError } from "./errors.js";
import { addCommonOptions, version, type Io } from "./main.js";
import { runCheck } from "./pipeline.js";

interface CiFlags {
  dryRun?: boolean;
  reportsDir: string;
  failOn?: string;
  gitlabRetries: string;
  noteLimit?: string;
  env?: string;
  crds: string[];
  chdir?: string;
}

/** The GitLab variables meshops reads, named as GitLab names them. */
export interface CiVariables {
  pipelineSource?: string;
  mrIid?: number;
  diffBaseSha?: string;
  commitSha: string;
  refName?: string;
  commitBranch?: string;
  commitTag?: string;
  defaultBranch?: string;
  projectId: string;
  apiUrl: string;
  environmentName?: string;
  jobUrl?: string;
  pipelineId?: number;
  pipelineUrl?: string;
  projectDir?: string;
  kubeContext?: string;
}

export type CiMode = { kind: "review" } | { kind: "deploy"; env: string; external: boolean } | { kind: "check"; why: "default branch" | "tag" | "branch" };

const EXPECTED = `meshops ci runs inside a GitLab CI/CD job and reads GitLab's predefined variables:
  CI=true, CI_PROJECT_ID, CI_API_V4_URL, CI_COMMIT_SHA (always);
  CI_PIPELINE_SOURCE=merge_request_event, CI_MERGE_REQUEST_IID, CI_MERGE_REQUEST_DIFF_BASE_SHA (merge request pipelines);
  CI_ENVIRONMENT_NAME (deploy jobs: a job with environment:), CI_DEFAULT_BRANCH, CI_COMMIT_BRANCH, CI_COMMIT_TAG;
  GITLAB_TOKEN: a project access token with the api scope (masked CI/CD variable) to post the note and commit statuses.
Outside GitLab use meshops check, diff, plan and apply directly.`;

/** Reads GitLab's predefined variables; a usage error explaining them when this is not a GitLab job. */
export function readCiVariables(env: NodeJS.ProcessEnv): CiVariables {
  if (env.CI !== "true" || env.GITLAB_CI !== "true") throw new UsageError(`not running in GitLab CI (CI and GITLAB_CI are not "true").\n${EXPECTED}`);
  const missing = ["CI_PROJECT_ID", "CI_API_V4_URL", "CI_COMMIT_SHA"].filter((k) => !env[k]);
  if (missing.length) throw new UsageError(`${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not set.\n${EXPECTED}`);
  const num = (k: string): number | undefined => (env[k] && /^\d+$/.test(env[k]!) ? Number(env[k]) : undefined);
  const opt = <K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> => (v ? ({ [key]: v } as Record<K, string>) : {});
  const mrIid = num("CI_MERGE_REQUEST_IID");
  const pipelineId = num("CI_PIPELINE_ID");
  return {
    commitSha: env.CI_COMMIT_SHA!,
    projectId: env.CI_PROJECT_ID!,
    apiUrl: env.CI_API_V4_URL!,
    ...opt("pipelineSource", env.CI_PIPELINE_SOURCE),
    ...(mrIid !== undefined ? { mrIid } : {}),
    ...opt("diffBaseSha", env.CI_MERGE_REQUEST_DIFF_BASE_SHA),
    ...opt("refName", env.CI_COMMIT_REF_NAME),
    ...opt("commitBranch", env.CI_COMMIT_BRANCH),
    ...opt("commitTag", env.CI_COMMIT_TAG),
    ...opt("defaultBranch", env.CI_DEFAULT_BRANCH),
    ...opt("environmentName", env.CI_ENVIRONMENT_NAME),
    ...opt("jobUrl", env.CI_JOB_URL),
    ...(pipelineId !== undefined ? { pipelineId } : {}),
    ...opt("pipelineUrl", env.CI_PIPELINE_URL),
    ...opt("projectDir", env.CI_PROJECT_DIR),
    ...opt("kubeContext", env.KUBE_CONTEXT),
  };
}

/** What this job is for. */
export function ciMode(v: CiVariables, envFlag: string | undefined): CiMode {
  const isMr = v.pipelineSource === "merge_request_event";
  const deployEnv = v.environmentName ?? envFlag;
  if (deployEnv) {
    if (isMr) throw new UsageError(`a deploy job (environment ${deployEnv}) in a merge request pipeline would apply unmerged changes: run deploy jobs on the default branch (rules: - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH)`);
    return { kind: "deploy", env: deployEnv, external: !v.environmentName };
  }
  if (isMr) {
    if (v.mrIid === undefined) throw new UsageError("CI_PIPELINE_SOURCE is merge_request_event but CI_MERGE_REQUEST_IID is not set");
    return { kind: "review" };
  }
  if (v.commitTag) return { kind: "check", why: "tag" };
  if (v.commitBranch && v.defaultBranch && v.commitBranch === v.defaultBranch) return { kind: "check", why: "default branch" };
  return { kind: "check", why: "branch" };
}

const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function failsOn(findings: Finding[], failOn: "error" | "warning" | "info" | "none"): boolean {
  if (failOn === "none") return false;
  return findings.some((f) => !f.suppressed && SEVERITY_RANK[f.severity] <= SEVERITY_RANK[failOn]);
}

/** GitLab failures: a missing or refused token is a configuration problem (2); GitLab down or rate-limiting (3). */
function gitlabExit(e: GitLabError): number {
  return e.code === "unreachable" || e.code === "rate_limited" || e.code === "server_error" ? ExitCode.unreachable : ExitCode.input;
}

interface Context {
  io: Io;
  v: CiVariables;
  flags: CiFlags;
  reportsDir: string;
  gitlab: () => GitLabPort;
  cwd: string;
}

function write(ctx: Context, name: string, text: string): void {
  writeFileSync(join(ctx.reportsDir, name), text);
}

export function registerCi(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(program.command("ci").description("the GitLab CI/CD entrypoint: review a merge request, deploy an environment, or check a branch, from GitLab's predefined variables"))
    .argument("[path]", "repository folder (default: $CI_PROJECT_DIR or the current directory)")
    .option("--dry-run", "print the GitLab API calls instead of making them, and plan instead of applying")
    .option("--reports-dir <dir>", "where the report artifacts are written", "meshops-reports")
    .option("--fail-on <severity>", "lowest finding severity that fails the job: error, warning, info or none (default: meshops.yaml policy.failOn)")
    .option("--gitlab-retries <n>", "retries of a GitLab API call answered 429 or 5xx", "4")
    .option("--note-limit <chars>", "cut the merge request note at this many characters (GitLab's limit is 1,000,000)")
    .option("-e, --env <name>", "deploy this environment in a job without environment: (the deployment is recorded through the API)")
    .option("--crds <path>", "CRD file or folder to validate against (repeatable; meshops.yaml crds: are always used)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(async (path: string | undefined, flags: CiFlags) => {
      const v = readCiVariables(io.env);
      const mode = ciMode(v, flags.env);
      if (!/^\d+$/.test(flags.gitlabRetries)) throw new UsageError(`--gitlab-retries must be a whole number, got "${flags.gitlabRetries}"`);
      if (flags.failOn && !["error", "warning", "info", "none"].includes(flags.failOn)) throw new UsageError(`--fail-on must be error, warning, info or none, got "${flags.failOn}"`);
      if (flags.noteLimit !== undefined && !/^\d+$/.test(flags.noteLimit)) throw new UsageError(`--note-limit must be a whole number, got "${flags.noteLimit}"`);
      const cwd = resolve(io.cwd, flags.chdir ?? v.projectDir ?? ".");
      const reportsDir = resolve(cwd, flags.reportsDir);
      mkdirSync(reportsDir, { recursive: true });
      let port: GitLabPort | undefined;
      const gitlab = (): GitLabPort => {
        if (!port) {
          port = flags.dryRun
            ? createDryRunGitLab((line) => io.stdout(`would call GitLab: ${line}\n`))
            : createGitLab({ ...defaultGitLabOptions(v.apiUrl, io.env.GITLAB_TOKEN), retries: Number(flags.gitlabRetries) });
        }
        return port;
      };
      const ctx: Context = { io, v, flags, reportsDir, gitlab, cwd };
      io.stderr(`meshops ci: ${mode.kind === "review" ? `merge request !${v.mrIid} review` : mode.kind === "deploy" ? `deploy of environment ${mode.env}${mode.external ? " (deployment recorded through the API)" : ""}` : `check of the ${mode.why} pipeline`} at ${v.commitSha.slice(0, 8)}${flags.dryRun ? " (dry run)" : ""}\n`);
      try {
        if (mode.kind === "deploy") setExit(await deploy(ctx, path, mode));
        else setExit(await checkAndReview(ctx, path, mode.kind === "review"));
      } catch (e) {
        if (!(e instanceof GitLabError)) throw e;
        io.stderr(`meshops ci: ${e.message}\n`);
        setExit(gitlabExit(e));
      }
    });
}

/** Check (+ review for MRs): reports, the MR note, the commit status. */
async function checkAndReview(ctx: Context, path: string | undefined, review: boolean): Promise<number> {
  const { io, v } = ctx;
  const repo = await openRepository({ cwd: ctx.cwd, ...(path !== undefined ? { target: path } : {}) });
  try {
    const envs = selectEnvironments(repo.loaded, undefined);
    const { report, renders } = await runCheck(repo, envs, { crds: ctx.flags.crds, cwd: ctx.io.cwd });
    const failOn = (ctx.flags.failOn ?? envs[0]?.policy.failOn ?? "error") as "error" | "warning" | "info" | "none";
    const failed = failsOn(report.findings, failOn);
    const summary = summarize(report);
    write(ctx, "gl-code-quality-report.json", renderCodeQuality(report));
    write(ctx, "junit.xml", renderJunit(report));
    const metrics: [string, number][] = [
      ["meshops_findings_error", summary.errors],
      ["meshops_findings_warning", summary.warnings],
      ["meshops_findings_info", summary.infos],
      ["meshops_objects", summary.objects],
      ...meshMetrics(envs, renders),
    ];
    io.stdout(`check: ${summary.errors} errors, ${summary.warnings} warnings, ${summary.infos} info in ${summary.objects} objects (${summary.environments.join(", ")})\n`);
    for (const f of activeFindings(report).slice(0, 20)) io.stdout(`  ${f.file}:${f.line}:${f.column} ${f.severity} ${f.code} ${f.message}\n`);
    let semanticCount = 0;
    let highRisk = 0;
    if (review) {
      const semantic = await semanticChanges(ctx, path, envs, renders);
      for (const s of semantic) {
        semanticCount += s.lines.length;
        highRisk += s.lines.filter((l) => l.risk === "high").length;
      }
      metrics.push(["meshops_semantic_changes", semanticCount], ["meshops_semantic_changes_high_risk", highRisk]);
      const plans = await livePlans(ctx, envs, renders);
      for (const p of plans) {
        if (p.counts) {
          write(ctx, `plan-${p.env}.json`, terraformReport(p.counts));
          metrics.push([metricName("meshops_plan_changes", p.env), p.counts.create + p.counts.update + p.counts.delete]);
        }
      }
      const input = {
        summary,
        findings: report.findings,
        failOn,
        failed,
        semantic,
        plans,
        commit: v.commitSha,
        ...(v.diffBaseSha ? { baseCommit: v.diffBaseSha } : {}),
        ...(v.pipelineUrl ? { pipelineUrl: v.pipelineUrl } : {}),
        ...(v.jobUrl ? { jobUrl: v.jobUrl, fullNoteUrl: `${v.jobUrl}/artifacts/file/${ctx.flags.reportsDir.replace(/^\.\//, "")}/note.md` } : {}),
        version,
      };
      // the artifact holds the whole review; the note is cut to GitLab's limit
      write(ctx, "note.md", renderReviewNote(input, Number.MAX_SAFE_INTEGER));
      const body = renderReviewNote(input, ctx.flags.noteLimit !== undefined ? Number(ctx.flags.noteLimit) : NOTE_LIMIT);
      await upsertNote(ctx, body);
    }
    write(ctx, "metrics.txt", metricsReport(metrics));
    write(ctx, "deploy.env", dotenvReport({ MESHOPS_CHECK: failed ? "failed" : "passed", MESHOPS_COMMIT: v.commitSha }));
    const description = `${summary.errors} errors, ${summary.warnings} warnings${review ? `; ${semanticCount} semantic changes${highRisk ? ` (${highRisk} high risk)` : ""}` : ""}`;
    await ctx.gitlab().setCommitStatus(v.projectId, v.commitSha, {
      state: failed ? "failed" : "success",
      name: "meshops/check",
      ...(v.refName ? { ref: v.refName } : {}),
      ...(v.jobUrl ? { targetUrl: v.jobUrl } : {}),
      description,
      ...(v.pipelineId ? { pipelineId: v.pipelineId } : {}),
    });
    return report.findings.some((f) => f.category === "input" && f.severity === "error") ? ExitCode.input : failed ? ExitCode.findings : ExitCode.ok;
  } finally {
    repo.dispose();
  }
}

/** Mesh figures per environment for the metrics report: objects by kind family and mTLS posture. */
function meshMetrics(envs: Environment[], renders: RenderResult[]): [string, number][] {
  const out: [string, number][] = [];
  envs.forEach((env, i) => {
    const manifests = renders[i]?.manifests ?? [];
    const count = (kinds: string[]): number => manifests.filter((m) => kinds.includes(m.ref.kind)).length;
    out.push([metricName("meshops_routes", env.name), count(["VirtualService", "HTTPRoute", "GRPCRoute", "TrafficSplit"])]);
    out.push([metricName("meshops_authorization_policies", env.name), count(["AuthorizationPolicy", "ServerAuthorization"])]);
    const permissive = manifests.filter((m) => m.ref.kind === "PeerAuthentication" && JSON.stringify(m.object.spec ?? {}).match(/"mode":"(PERMISSIVE|DISABLE)"/)).length;
    out.push([metricName("meshops_peer_authentications_not_strict", env.name), permissive]);
  });
  return out;
}

/** The semantic diff of each environment between the MR's base commit and the job's checkout. */
async function semanticChanges(ctx: Context, path: string | undefined, envs: Environment[], renders: RenderResult[]): Promise<{ env: string; lines: SemanticDiffLine[]; error?: string }[]> {
  const base = ctx.v.diffBaseSha;
  if (!base) return envs.map((e) => ({ env: e.name, lines: [], error: "CI_MERGE_REQUEST_DIFF_BASE_SHA is not set: no semantic diff" }));
  let baseRepo: OpenRepository;
  try {
    baseRepo = await openRepository({ cwd: ctx.cwd, ...(path !== undefined ? { target: path } : {}), rev: base });
  } catch (e) {
    const msg = `the merge request's base commit ${base.slice(0, 8)} is not in this clone (${(e as Error).message.split("\n")[0]}); set GIT_DEPTH: 0 or a larger depth for this job`;
    return envs.map((env) => ({ env: env.name, lines: [], error: msg }));
  }
  try {
    const baseEnvs = new Map(baseRepo.loaded.environments.map((e) => [e.name, e]));
    const out: { env: string; lines: SemanticDiffLine[]; error?: string }[] = [];
    for (const [i, env] of envs.entries()) {
      const be = baseEnvs.get(env.name);
      const head = buildMeshModel(renders[i]?.manifests ?? []);
      const baseModel = be ? buildMeshModel((await renderEnvironment(baseRepo.dir, be)).manifests) : buildMeshModel([]);
      out.push({ env: env.name, lines: semanticDiff(baseModel, head) });
    }
    return out;
  } finally {
    baseRepo.dispose();
  }
}

/** Each environment's live-cluster plan, where the job can reach its cluster (else why not). */
async function livePlans(ctx: Context, envs: Environment[], renders: RenderResult[]): Promise<EnvironmentPlan[]> {
  const cluster = await import("../cluster/index.js");
  return Promise.all(
    envs.map(async (env, i): Promise<EnvironmentPlan> => {
      const rendered = renders[i];
      if (env.cluster.inCluster) return { env: env.name, unavailable: "the environment uses in-cluster credentials, which a CI job does not have" };
      const base = { env: env.name, ...(env.cluster.context ? { context: env.cluster.context } : {}) };
      if (!rendered || rendered.findings.some((f) => f.severity === "error")) return { ...base, unavailable: "the environment did not render" };
      let kube: import("../cluster/index.js").KubeClient | undefined;
      try {
        kube = cluster.createKubeClient(cluster.loadKubeConfig(env.cluster), { maxRetries: 1, timeoutMs: 10_000 });
        const { inventory } = await cluster.readInventory(kube, env.name);
        const plan = await cluster.computePlan(kube, rendered.manifests, { env: env.name, inventory: cluster.currentObjects(inventory) });
        const s = cluster.summarize(plan);
        const markdown = cluster.renderChangeSet("markdown", { env: env.name, context: kube.context, mode: "plan", commit: ctx.v.commitSha }, plan.entries);
        return { ...base, counts: { create: s.created, update: s.configured, delete: s.deleted, unchanged: s.unchanged, errors: plan.entries.filter((e) => e.error).length }, markdown };
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === "unreachable" || code === "forbidden" || code === "unauthorized" || e instanceof UsageError) return { ...base, unavailable: `cluster not reachable from this job: ${(e as Error).message}` };
        if (typeof code === "string") return { ...base, unavailable: (e as Error).message };
        throw e;
      } finally {
        kube?.close();
      }
    }),
  );
}

/** Edits meshops' note in place, or creates it once. */
async function upsertNote(ctx: Context, body: string): Promise<void> {
  const { v, io } = ctx;
  const gl = ctx.gitlab();
  const existing = findReviewNote(await gl.listMrNotes(v.projectId, v.mrIid!));
  if (existing) {
    if (existing.body === body) io.stdout(`review note ${existing.id} on !${v.mrIid} is up to date\n`);
    else {
      await gl.editMrNote(v.projectId, v.mrIid!, existing.id, body);
      io.stdout(`review note ${existing.id} on !${v.mrIid} updated\n`);
    }
    return;
  }
  const n = await gl.createMrNote(v.projectId, v.mrIid!, body);
  io.stdout(`review note ${n.id} posted on !${v.mrIid}\n`);
}

interface ApplyJson {
  summary?: { created: number; configured: number; deleted: number; unchanged: number; skipped: number };
  inventoryRevision?: number;
  failed?: number;
}

/** Render + apply one environment in this job; statuses and (for jobs without environment:) a deployment record. */
async function deploy(ctx: Context, path: string | undefined, mode: { env: string; external: boolean }): Promise<number> {
  const { io, v } = ctx;
  const repo = await openRepository({ cwd: ctx.cwd, ...(path !== undefined ? { target: path } : {}) });
  repo.dispose();
  const known = repo.loaded.environments.map((e) => e.name);
  if (!known.includes(mode.env)) throw new UsageError(`environment ${mode.env} (${mode.external ? "--env" : "CI_ENVIRONMENT_NAME"}) is not in meshops.yaml (${known.join(", ")}): name the job's environment: like a meshops environment`);
  const env = repo.loaded.environments.find((e) => e.name === mode.env)!;
  const gl = ctx.gitlab();
  const statusName = `meshops/deploy/${mode.env}`;
  const status = (state: "running" | "success" | "failed", description: string): Promise<void> =>
    gl.setCommitStatus(v.projectId, v.commitSha, { state, name: statusName, ...(v.refName ? { ref: v.refName } : {}), ...(v.jobUrl ? { targetUrl: v.jobUrl } : {}), description, ...(v.pipelineId ? { pipelineId: v.pipelineId } : {}) });
  await status("running", `applying ${v.commitSha.slice(0, 8)} to ${mode.env}`);
  const deployment = mode.external ? await gl.createDeployment(v.projectId, { environment: mode.env, sha: v.commitSha, ref: v.commitTag ?? v.refName ?? v.commitSha, tag: Boolean(v.commitTag), status: "running" }) : undefined;
  const rollback = await olderThanApplied(ctx, env);
  if (rollback) io.stdout(`${mode.env}: ${rollback}\n`);

  const { main } = await import("./main.js");
  let out = "";
  const args = [ctx.flags.dryRun ? "plan" : "apply", ...(path !== undefined ? [path] : []), "--env", mode.env, "--format", "json", ...(v.kubeContext ? ["--context", v.kubeContext] : []), ...(ctx.flags.dryRun ? [] : ["--wait-lock"])];
  const code = await main(args, { ...io, cwd: ctx.cwd, stdout: (s) => (out += s) });
  let result: ApplyJson = {};
  try {
    result = JSON.parse(out) as ApplyJson;
  } catch {
    // no JSON: the command failed before planning (its message went to stderr)
  }
  const s = result.summary;
  if (s) {
    write(ctx, `plan-${mode.env}.json`, terraformReport({ create: s.created, update: s.configured, delete: s.deleted }));
    io.stdout(`${mode.env}: ${ctx.flags.dryRun ? "would apply" : "applied"} ${s.created} created, ${s.configured} configured, ${s.deleted} deleted, ${s.unchanged} unchanged${s.skipped ? `, ${s.skipped} skipped` : ""}${result.inventoryRevision ? ` (inventory revision ${result.inventoryRevision})` : ""}\n`);
  }
  write(ctx, "deploy.env", dotenvReport({ MESHOPS_ENVIRONMENT: mode.env, MESHOPS_COMMIT: v.commitSha, ...(env.url ? { MESHOPS_ENVIRONMENT_URL: env.url } : {}), ...(result.inventoryRevision ? { MESHOPS_INVENTORY_REVISION: String(result.inventoryRevision) } : {}) }));
  const ok = code === ExitCode.ok;
  const what = s ? `${s.created} created, ${s.configured} configured, ${s.deleted} deleted` : `exit ${code}`;
  await status(ok ? "success" : "failed", `${ctx.flags.dryRun ? "dry run: " : ""}${rollback ? "rollback: " : ""}${what}`);
  if (deployment) await gl.updateDeployment(v.projectId, deployment.id, ok ? "success" : "failed");
  return code;
}

/** "rollback …" when the job applies a commit older than the one the environment runs (GitLab's Rollback button). */
async function olderThanApplied(ctx: Context, env: Environment): Promise<string | undefined> {
  try {
    const cluster = await import("../cluster/index.js");
    const kube = cluster.createKubeClient(cluster.loadKubeConfig({ ...env.cluster, ...(ctx.v.kubeContext ? { context: ctx.v.kubeContext } : {}) }), { maxRetries: 1, timeoutMs: 10_000 });
    try {
      const current = (await cluster.readInventory(kube, env.name)).inventory?.revisions[0]?.commit;
      if (!current || current === ctx.v.commitSha) return undefined;
      const r = await run("git", ["merge-base", "--is-ancestor", ctx.v.commitSha, current], { cwd: ctx.cwd });
      return r.code === 0 ? `rollback: applying ${ctx.v.commitSha.slice(0, 8)}, older than the applied ${current.slice(0, 8)} (GitLab's Rollback re-runs this job on the older commit)` : undefined;
    } finally {
      kube.close();
    }
  } catch {
    // the apply itself reports an unreachable cluster
    return undefined;
  }
}


