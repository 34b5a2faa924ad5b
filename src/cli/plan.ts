/**
 * `meshops plan --env E`: what apply would change, per object and field, from a server-side dry run against
 * the live cluster, plus the inventory objects that left Git (prunes). Also the shared preparation used by
 * `meshops apply`: render, connect, read the inventory, plan.
 */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { ResourceRef } from "../model/resource.js";
import { renderText } from "../report/formats.js";
import { commitInfo, gitRoot, type CommitInfo } from "../source/git.js";
import { renderEnvironment, type RenderResult } from "../source/render.js";
import { openRepository, type OpenRepository } from "../source/repository.js";
import type { ChangeSetFormat, Inventory, KubeClient, Plan } from "../cluster/index.js";
import { ExitCode } from "./errors.js";
import { clusterTarget, oneEnvironment } from "./targets.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";

/** Flags shared by plan and apply. */
export interface PlanFlags {
  env?: string;
  rev?: string;
  format: ChangeSetFormat;
  context?: string;
  kubeconfig?: string;
  chdir?: string;
  forceConflicts?: boolean;
  verbose?: boolean;
  serverDryRunAll?: boolean;
}

/** Everything apply needs after planning. */
export interface Prepared {
  repo: OpenRepository;
  env: Environment;
  rendered: RenderResult;
  kube: KubeClient;
  inventory?: Inventory;
  plan: Plan;
  commit?: CommitInfo;
}

/** Adds the options plan and apply share. */
export function addPlanOptions(cmd: Command): Command {
  return addClusterOptions(addCommonOptions(cmd.argument("[path]", "repository folder (default: found from the current directory)")))
    .option("-e, --env <name>", "environment (required when meshops.yaml has several)")
    .option("--rev <rev>", "use the repository at this git revision")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "markdown", "json"]).default("text"))
    .option("--force-conflicts", "take ownership of fields another field manager owns")
    .option("-v, --verbose", "list unchanged objects too")
    .option("--server-dry-run-all", "ask the server's dry run for every object, also those the last apply provably left as Git has them");
}

async function commitOf(repo: OpenRepository, rev: string | undefined, from: string): Promise<CommitInfo | undefined> {
  // with --rev, repo.dir is an extracted snapshot: ask the repository the command was started in
  const top = await gitRoot(repo.commit ? from : repo.dir);
  if (!top) return undefined;
  try {
    return await commitInfo(top, repo.commit ?? rev ?? "HEAD");
  } catch {
    return undefined;
  }
}

/**
 * Renders the environment and plans it against its cluster. Returns undefined (after printing the render
 * findings, exit 2) when the render failed: nothing is planned, so nothing can be pruned.
 */
export async function preparePlan(
  path: string | undefined,
  flags: PlanFlags,
  io: Io,
  setExit: (code: number) => void,
  beforePlan?: (kube: KubeClient, env: Environment) => Promise<void>,
): Promise<Prepared | undefined> {
  const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
  const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
  let ok = false;
  try {
    const env = oneEnvironment(repo.loaded, flags.env, "plan");
    const rendered = await renderEnvironment(repo.dir, env);
    if (rendered.findings.some((f) => f.severity === "error")) {
      io.stderr(renderText({ findings: rendered.findings.map((f) => ({ ...f, env: env.name })), objects: [], environments: [env.name] }, { color: false }));
      io.stderr(`meshops: environment ${env.name} did not render: nothing planned or applied, nothing pruned\n`);
      setExit(ExitCode.input);
      return undefined;
    }
    // the Kubernetes client costs ~0.8 s to load: only commands that reach a cluster pay for it
    const cluster = await import("../cluster/index.js");
    const target = clusterTarget(env, flags);
    const kube = cluster.createKubeClient(cluster.loadKubeConfig(target));
    await beforePlan?.(kube, env);
    let inventory: Inventory | undefined;
    try {
      inventory = (await cluster.readInventory(kube, env.name)).inventory;
    } catch (e) {
      // a user who may not read the inventory still gets the per-object plan (and its per-object errors)
      if (!(e instanceof cluster.KubeError) || e.code !== "forbidden") throw e;
      io.stderr(`meshops: warning: ${e.message}: objects to prune are not shown\n`);
    }
    const plan = await cluster.computePlan(kube, rendered.manifests, { env: env.name, inventory: cluster.currentObjects(inventory), force: flags.forceConflicts ?? false, dryRunAll: flags.serverDryRunAll ?? false });
    const commit = await commitOf(repo, flags.rev, resolve(cwd, path ?? "."));
    ok = true;
    return { repo, env, rendered, kube, plan, ...(inventory ? { inventory } : {}), ...(commit ? { commit } : {}) };
  } finally {
    if (!ok) repo.dispose();
  }
}

/** Per-object API errors (forbidden, conflicts, invalid) as exit 1 with the message, not a crash. */
export async function withKubeErrors(io: Io, setExit: (code: number) => void, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const known = ["forbidden", "conflict", "invalid", "not_found", "already_exists", "unauthorized", "unknown_kind", "api_error", "lock_held"];
    if (typeof code === "string" && known.includes(code)) {
      io.stderr(`meshops: ${(e as Error).message}\n`);
      setExit(ExitCode.findings);
      return;
    }
    throw e;
  }
}

/** Identities of the inventory's newest revision (for messages). */
export function inventoryObjects(inv: Inventory | undefined): ResourceRef[] {
  return inv?.revisions[0]?.objects ?? [];
}

export function registerPlan(program: Command, io: Io, setExit: (code: number) => void): void {
  addPlanOptions(program.command("plan").description("show what apply would change in an environment's cluster (server-side dry run), field by field")).action(async (path: string | undefined, flags: PlanFlags) =>
    withKubeErrors(io, setExit, async () => {
      const p = await preparePlan(path, flags, io, setExit);
      if (!p) return;
      try {
        const { renderChangeSet } = await import("../cluster/index.js");
        const header = { env: p.env.name, context: p.kube.context, mode: "plan" as const, ...(p.commit ? { commit: p.commit.commit } : {}), ...(flags.rev ? { gitRevision: flags.rev } : {}) };
        io.stdout(renderChangeSet(flags.format, header, p.plan.entries, { verbose: flags.verbose ?? false }));
        if (p.plan.entries.some((e) => e.error)) setExit(ExitCode.findings);
      } finally {
        p.kube.close();
        p.repo.dispose();
      }
    }),
  );
}
