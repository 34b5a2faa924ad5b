/**
 * `meshops rollback --env E --to REV | --steps N`: applies an earlier inventory revision's commit through the
 * same plan/apply path as `meshops apply` (ordered, pruned, under the Lease) and records a new revision that
 * says which revision it rolled back. The files come from Git: the inventory only names the commit.
 */
import type { Command } from "commander";
import { hostname, userInfo } from "node:os";
import { resolve } from "node:path";
import type { Lock } from "../cluster/index.js";
import { gitRoot, resolveRevision, RevisionError } from "../source/git.js";
import { openRepository } from "../source/repository.js";
import { ExitCode, UsageError } from "./errors.js";
import { clusterTarget, oneEnvironment } from "./targets.js";
import type { Io } from "./main.js";
import { addPlanOptions, preparePlan, withKubeErrors, type PlanFlags } from "./plan.js";

interface RollbackFlags extends PlanFlags {
  to?: string;
  steps?: string;
  waitLock?: boolean;
  lockTimeout: string;
  prune: boolean;
}

export function registerRollback(program: Command, io: Io, setExit: (code: number) => void): void {
  addPlanOptions(program.command("rollback").description("apply an earlier inventory revision's commit again (plan, apply, prune), recorded as a new revision"))
    .option("--to <rev>", "inventory revision number (or a commit an earlier revision applied)")
    .option("--steps <n>", "go back n revisions (1: the revision before the current one)")
    .option("--wait-lock", "wait for another apply of the environment to finish instead of failing")
    .option("--lock-timeout <seconds>", "how long --wait-lock waits", "300")
    .option("--no-prune", "do not delete objects the earlier revision did not have")
    .action(async (path: string | undefined, flags: RollbackFlags) =>
      withKubeErrors(io, setExit, async () => {
        if ((flags.to === undefined) === (flags.steps === undefined)) throw new UsageError("rollback needs exactly one of --to REV or --steps N");
        if (flags.steps !== undefined && !/^[1-9]\d*$/.test(flags.steps)) throw new UsageError(`--steps must be a positive whole number, got "${flags.steps}"`);
        if (flags.rev) throw new UsageError("rollback takes the commit from the inventory: --rev cannot be given");
        if (!/^\d+(\.\d+)?$/.test(flags.lockTimeout) || Number(flags.lockTimeout) <= 0) throw new UsageError(`--lock-timeout must be a positive number of seconds, got "${flags.lockTimeout}"`);
        const cluster = await import("../cluster/index.js");
        const { resolveRollbackTarget, RollbackError } = await import("../cluster/rollback.js");
        const { objectsAfterApply } = await import("../cluster/inventory.js");
        const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
        // the environment and its cluster come from the working tree's meshops.yaml; the objects from the old commit
        const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}) });
        repo.dispose();
        const env = oneEnvironment(repo.loaded, flags.env, "roll back");
        const target = clusterTarget(env, flags);
        const kube = cluster.createKubeClient(cluster.loadKubeConfig(target));
        let lock: Lock | undefined;
        try {
          await cluster.ensureSystemNamespace(kube);
          lock = await cluster.acquireLock(kube, env.name, `${userInfo().username}@${hostname()}/${process.pid}`, cluster.systemClock, { wait: flags.waitLock ?? false, waitTimeoutMs: Number(flags.lockTimeout) * 1000 });
          const { inventory } = await cluster.readInventory(kube, env.name);
          let chosen: ReturnType<typeof resolveRollbackTarget>;
          try {
            chosen = resolveRollbackTarget(env.name, inventory, flags.to !== undefined ? { to: flags.to } : { steps: Number(flags.steps) });
          } catch (e) {
            if (e instanceof RollbackError) throw new UsageError(e.message);
            throw e;
          }
          const commit = chosen.target.commit!;
          const top = await gitRoot(resolve(cwd, path ?? "."));
          if (!top) throw new UsageError(`${resolve(cwd, path ?? ".")} is not inside a git repository: rollback reads revision ${chosen.target.revision}'s files from commit ${commit.slice(0, 12)}`);
          try {
            await resolveRevision(top, commit);
          } catch (e) {
            if (!(e instanceof RevisionError)) throw e;
            throw new UsageError(`revision ${chosen.target.revision}'s commit ${commit} is not in the repository at ${top} (fetch it, or deepen a shallow clone)`);
          }
          const note = `rollback of revision ${chosen.current.revision} to revision ${chosen.target.revision} (commit ${commit.slice(0, 12)})`;
          io.stderr(`meshops: ${env.name}: ${note}\n`);
          const p = await preparePlan(path, { ...flags, env: env.name, rev: commit }, io, setExit);
          if (!p) return;
          try {
            // with an interrupted apply's objects; and recorded as pending first, like apply (see cli/apply.ts)
            const previous = cluster.currentObjects(p.inventory);
            const toApply = p.plan.entries.filter((e) => (e.action === "created" || e.action === "configured") && e.desired).map((e) => e.ref);
            if (toApply.length > 0) await cluster.markPending(p.kube, env.name, { startedAt: cluster.systemClock.now().toISOString(), by: `${userInfo().username}@${hostname()}/${process.pid}`, commit, objects: toApply });
            const result = await cluster.executePlan(p.kube, p.plan, { force: flags.forceConflicts ?? false, prune: flags.prune, clock: cluster.systemClock, crdTimeoutMs: 60_000, waitTimeoutMs: 0, pollMs: 500 });
            const rev = await cluster.writeInventory(p.kube, env.name, {
              gitRevision: commit,
              ...(p.commit ? { commit: p.commit.commit, author: `${p.commit.author} <${p.commit.email}>`, subject: p.commit.subject } : { commit }),
              appliedAt: cluster.systemClock.now().toISOString(),
              appliedBy: await cluster.whoAmI(p.kube),
              ...(io.env.CI_JOB_URL ? { job: io.env.CI_JOB_URL } : {}),
              note,
              rollback: { of: chosen.current.revision, to: chosen.target.revision },
              status: result.failed > 0 ? "partial" : "complete",
              objects: objectsAfterApply(previous, result.entries, result.failed > 0),
            });
            const header = { env: env.name, context: p.kube.context, mode: "apply" as const, commit, gitRevision: `rollback to revision ${chosen.target.revision}` };
            io.stdout(cluster.renderChangeSet(flags.format, header, result.entries, { verbose: flags.verbose ?? false, extra: { inventoryRevision: rev.revision, rollback: rev.rollback, failed: result.failed } }));
            if (flags.format === "text") {
              io.stdout(`inventory ${cluster.SYSTEM_NAMESPACE}/${cluster.inventoryName(env.name)} revision ${rev.revision} (${rev.status}, ${rev.objects.length} objects): ${note}\n`);
              if (result.pruneHeldBack) io.stdout("deletions held back: some objects failed to apply; fix them and re-run rollback\n");
            }
            if (result.failed > 0) setExit(ExitCode.findings);
          } finally {
            p.kube.close();
            p.repo.dispose();
          }
        } finally {
          await lock?.release();
          kube.close();
        }
      }),
    );
}
