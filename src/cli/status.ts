/**
 * `meshops status`: every environment at once: the revision its inventory says was applied (commit, time,
 * author) and what applying the repository now would change. An unreachable cluster is shown, not fatal:
 * the other environments are still reported.
 */
import { Option, type Command } from "commander";
import { hostname, userInfo } from "node:os";
import { resolve } from "node:path";
import type { ClusterStatus } from "../cluster/status.js";
import { commitInfo, gitRoot } from "../source/git.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import type { Environment } from "../config/load.js";
import { describeError, ExitCode } from "./errors.js";
import { clusterTarget } from "./targets.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";

interface StatusFlags {
  env?: string[];
  rev?: string;
  format: "text" | "json";
  context?: string;
  kubeconfig?: string;
  chdir?: string;
}

/** One environment's row: its cluster's state, or why it could not be read. */
export interface EnvironmentStatus extends Partial<ClusterStatus> {
  env: string;
  context?: string;
  /** False when the API server could not be reached. */
  reachable: boolean;
  /** Why the environment could not be rendered or its cluster read. */
  error?: string;
  /** The applied commit is the one the repository is at (with no pending changes: in sync). */
  atRepositoryCommit?: boolean;
  /** Out-of-band changes against the applied revision (`meshops drift`), or why they could not be computed. */
  drift?: { drifted: number; missing: number; extra: number; degraded: number; errors: number } | { error: string };
}

export function registerStatus(program: Command, io: Io, setExit: (code: number) => void): void {
  addClusterOptions(addCommonOptions(program.command("status").description("every environment: applied revision, commit, time, author; pending changes; cluster reachability")))
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("-e, --env <name...>", "only these environments")
    .option("--rev <rev>", "compare the clusters with this git revision instead of the working tree")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (path: string | undefined, flags: StatusFlags) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
      try {
        const top = await gitRoot(resolve(cwd, path ?? "."));
        const head = top ? await commitInfo(top, repo.commit ?? "HEAD").catch(() => undefined) : undefined;
        const dirty = top && !flags.rev ? await workingTreeDirty(top) : false;
        const cluster = await import("../cluster/index.js");
        const { clusterStatus } = await import("../cluster/status.js");
        const envs = selectEnvironments(repo.loaded, flags.env);
        const rows = await Promise.all(
          envs.map(async (env): Promise<EnvironmentStatus> => {
            const target = clusterTarget(env, flags);
            const base = { env: env.name, ...(target.context ? { context: target.context } : {}) };
            const rendered = await renderEnvironment(repo.dir, env);
            const renderErrors = rendered.findings.filter((f) => f.severity === "error");
            if (renderErrors.length > 0) return { ...base, reachable: false, error: `did not render: ${renderErrors[0]!.message}` };
            let kube: import("../cluster/index.js").KubeClient | undefined;
            try {
              kube = cluster.createKubeClient(cluster.loadKubeConfig(target), { maxRetries: 1 });
              const s = await clusterStatus(kube, env.name, rendered.manifests, `${userInfo().username}@${hostname()}/${process.pid}`);
              const atCommit = head && s.applied?.commit ? s.applied.commit === head.commit && !dirty : undefined;
              const drift = s.applied ? await driftCounts(kube, env, { cwd, path, top }) : undefined;
              return { ...base, reachable: true, ...s, ...(atCommit !== undefined ? { atRepositoryCommit: atCommit } : {}), ...(drift ? { drift } : {}) };
            } catch (e) {
              const code = (e as { code?: unknown }).code;
              if (code === "unreachable") return { ...base, reachable: false, error: (e as Error).message };
              if (typeof code === "string") return { ...base, reachable: code !== "usage", error: (e as Error).message };
              return { ...base, reachable: false, error: describeError(e).message };
            } finally {
              kube?.close();
            }
          }),
        );
        const repository = { ...(head ? { commit: head.commit, subject: head.subject } : {}), ...(flags.rev ? { revision: flags.rev } : { workingTreeChanges: dirty }) };
        if (flags.format === "json") io.stdout(`${JSON.stringify({ repository, environments: rows }, null, 2)}\n`);
        else io.stdout(renderStatusText(repository, rows));
        // unreachable clusters and unreadable environments are reported, not fatal; a CI job can branch on the JSON
        setExit(ExitCode.ok);
      } finally {
        repo.dispose();
      }
    });
}

/** Drift of an applied environment against its applied revision, counted. */
async function driftCounts(kube: import("../cluster/index.js").KubeClient, env: Environment, src: { cwd: string; path: string | undefined; top: string | undefined }): Promise<EnvironmentStatus["drift"]> {
  const { desiredState } = await import("./drift.js");
  const { computeDrift, summarizeDrift } = await import("../cluster/drift.js");
  try {
    const { desired } = await desiredState(kube, env, { ...src, rev: undefined, workingTree: false });
    if (!desired) return undefined;
    const s = summarizeDrift(await computeDrift(kube, desired.manifests, { env: env.name, inventory: desired.inventory }));
    return { drifted: s.drifted, missing: s.missing, extra: s.extra, degraded: s.degraded, errors: s.error };
  } catch (e) {
    if ((e as { code?: unknown }).code === "unreachable") throw e;
    return { error: (e as Error).message };
  }
}

async function workingTreeDirty(top: string): Promise<boolean> {
  const { run } = await import("../source/exec.js");
  const r = await run("git", ["status", "--porcelain"], { cwd: top });
  return r.code === 0 && r.stdout.trim() !== "";
}

function plural(n: number, word: string): string {
  return `${n} ${word}`;
}

/** Terminal text: one block per environment, in the configuration's promotion order. */
export function renderStatusText(repository: { commit?: string; subject?: string; revision?: string; workingTreeChanges?: boolean }, rows: EnvironmentStatus[]): string {
  const out: string[] = [];
  const at = repository.commit ? `${repository.commit.slice(0, 12)} ${repository.subject ?? ""}`.trim() : "no commit";
  out.push(`repository at ${at}${repository.workingTreeChanges ? " (with uncommitted changes)" : ""}${repository.revision ? ` (--rev ${repository.revision})` : ""}`);
  for (const r of rows) {
    out.push("");
    out.push(`${r.env} (context ${r.context ?? "current"})`);
    if (!r.reachable || r.error) {
      out.push(`  ${r.reachable ? "error" : "unreachable"}: ${r.error ?? "unknown"}`);
      continue;
    }
    const a = r.applied;
    if (!a) out.push("  applied:  never");
    else {
      out.push(`  applied:  revision ${a.revision}${a.commit ? ` at ${a.commit.slice(0, 12)}` : " from a working tree"}${a.subject ? ` ${a.subject}` : ""} (${a.status}, ${plural(a.objects, "objects")})`);
      out.push(`  when:     ${a.appliedAt} by ${a.appliedBy}${a.author ? `, author ${a.author}` : ""}`);
      if (a.note) out.push(`  note:     ${a.note}`);
    }
    const f = r.inFlight;
    if (f?.state === "running") out.push(`  applying: ${f.commit ? f.commit.slice(0, 12) : "a working tree"} since ${f.startedAt} by ${f.by} (${plural(f.objects, "objects")})`);
    else if (f) out.push(`  interrupted: the apply of ${f.commit ? f.commit.slice(0, 12) : "a working tree"} started ${f.startedAt} by ${f.by} did not finish (${plural(f.objects, "objects")} recorded as pending); run meshops apply --env ${r.env} to converge`);
    const p = r.pending!;
    const counts = `${p.created} to create, ${p.configured} to change, ${p.deleted} to prune, ${p.unchanged} unchanged${p.skipped ? `, ${p.skipped} skipped` : ""}`;
    out.push(`  pending:  ${r.changes ? counts : `none (${counts})`}${r.errors ? `; ${r.errors} objects could not be planned` : ""}`);
    if (r.drift && "error" in r.drift) out.push(`  drift:    unknown: ${r.drift.error}`);
    else if (r.drift) {
      const d = r.drift;
      const parts = [d.drifted && `${d.drifted} drifted`, d.missing && `${d.missing} missing`, d.extra && `${d.extra} extra`, d.degraded && `${d.degraded} degraded`, d.errors && `${d.errors} unreadable`].filter(Boolean);
      out.push(`  drift:    ${parts.length ? `${parts.join(", ")} (meshops drift --env ${r.env})` : "none"}`);
    }
  }
  return `${out.join("\n")}\n`;
}
