/**
 * `meshops apply --env E`: under the environment's Lease, plan (server-side dry run), then server-side apply
 * in order, prune what left Git (only inventoried objects meshops applied, never `meshops.dev/prune:
 * disabled`), and record the new inventory revision.
 */
import type { Command } from "commander";
import { hostname, userInfo } from "node:os";
import type { ResourceRef } from "../model/resource.js";
import type { Lock } from "../cluster/index.js";
import { ExitCode, UnreachableError, UsageError } from "./errors.js";
import type { Io } from "./main.js";
import { addPlanOptions, preparePlan, withKubeErrors, type PlanFlags } from "./plan.js";

interface ApplyFlags extends PlanFlags {
  allowEmpty?: boolean;
  waitLock?: boolean;
  atomic?: boolean;
  lockTimeout: string;
  prune: boolean;
  wait?: boolean;
  timeout: string;
}

export function registerApply(program: Command, io: Io, setExit: (code: number) => void): void {
  addPlanOptions(program.command("apply").description("server-side apply an environment: ordered, inventoried, pruned, one apply at a time"))
    .option("--allow-empty", "allow a render with no objects to prune everything the inventory holds")
    .option("--wait-lock", "wait for another apply of the environment to finish instead of failing")
    .option("--lock-timeout <seconds>", "how long --wait-lock waits", "300")
    .option("--no-prune", "do not delete objects that left Git")
    .option("--wait", "wait until applied objects report ready (status conditions, observedGeneration)")
    .option("--timeout <seconds>", "how long --wait waits", "300")
    .option("--atomic", "if the apply fails, return the environment to the previous inventory revision's commit")
    .action(async (path: string | undefined, flags: ApplyFlags) =>
      withKubeErrors(io, setExit, async () => {
        for (const [flag, v] of [["--lock-timeout", flags.lockTimeout], ["--timeout", flags.timeout]] as const) {
          if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new UsageError(`${flag} must be a positive number of seconds, got "${v}"`);
        }
        const cluster = await import("../cluster/index.js");
        const identity = `${userInfo().username}@${hostname()}/${process.pid}`;
        let lock: Lock | undefined;
        let p: Awaited<ReturnType<typeof preparePlan>>;
        try {
          p = await preparePlan(path, flags, io, setExit, async (kube, env) => {
            await cluster.ensureSystemNamespace(kube);
            lock = await cluster.acquireLock(kube, env.name, identity, cluster.systemClock, { wait: flags.waitLock ?? false, waitTimeoutMs: Number(flags.lockTimeout) * 1000 });
          });
        } catch (e) {
          // planning failed after the lock was taken (unreachable mid-plan, a forbidden inventory): free it now, not after its TTL
          await lock?.release();
          throw e;
        }
        try {
          if (!p) return;
          if (lock?.tookOverFrom) io.stderr(`meshops: took over the lock of ${p.env.name} from ${lock.tookOverFrom}: that process is no longer running on this host (an interrupted apply)\n`);
          // with the objects of an interrupted apply (the inventory's pending apply): they may be in the cluster
          const previous = cluster.currentObjects(p.inventory);
          if (p.rendered.manifests.length === 0 && previous.length > 0 && !flags.allowEmpty) {
            io.stderr(`meshops: environment ${p.env.name} rendered no objects but its inventory holds ${previous.length}: refusing to delete everything (pass --allow-empty if that is intended)\n`);
            setExit(ExitCode.input);
            return;
          }
          const result = await execute(p, flags, io, previous, identity);
          if (result.failed > 0 && flags.atomic) {
            const back = p.inventory?.revisions[0];
            if (!back?.commit) {
              io.stderr(`meshops: --atomic: environment ${p.env.name} has no earlier revision with a commit to return to\n`);
            } else {
              io.stderr(`meshops: --atomic: the apply failed; returning ${p.env.name} to inventory revision ${back.revision} (commit ${back.commit.slice(0, 12)})\n`);
              const q = await preparePlan(path, { ...flags, rev: back.commit }, io, setExit);
              if (q) {
                try {
                  const undo = await execute(q, { ...flags, rev: back.commit }, io, cluster.currentObjects(q.inventory), identity, `--atomic: rollback to revision ${back.revision} after a failed apply`);
                  if (undo.failed > 0) io.stderr(`meshops: --atomic: the rollback failed too: ${undo.failed} objects; the inventory records what is in the cluster\n`);
                } finally {
                  q.kube.close();
                  q.repo.dispose();
                }
              }
            }
          }
          if (result.failed > 0) setExit(ExitCode.findings);
        } finally {
          await lock?.release();
          p?.kube.close();
          p?.repo.dispose();
        }
      }),
    );
}

type Cluster = typeof import("../cluster/index.js");

/**
 * Executes a prepared plan, records the inventory revision and prints the change set. What it is about to
 * apply is recorded first as the inventory's pending apply, so that objects created by an apply that never
 * finishes (the cluster went away, the process was killed) are still the environment's (pruned when they
 * leave Git) instead of orphans.
 */
async function execute(p: NonNullable<Awaited<ReturnType<typeof preparePlan>>>, flags: ApplyFlags, io: Io, previous: ResourceRef[], identity: string, note?: string): Promise<{ failed: number }> {
  const cluster: Cluster = await import("../cluster/index.js");
  const toApply = p.plan.entries.filter((e) => (e.action === "created" || e.action === "configured") && e.desired);
  const toDelete = flags.prune ? p.plan.entries.filter((e) => e.action === "deleted").length : 0;
  if (toApply.length > 0) {
    await cluster.markPending(p.kube, p.env.name, { startedAt: cluster.systemClock.now().toISOString(), by: identity, ...(p.commit ? { commit: p.commit.commit } : {}), objects: toApply.map((e) => e.ref) });
  }
  let applied = 0;
  let deleted = 0;
  let result: Awaited<ReturnType<Cluster["executePlan"]>>;
  try {
    result = await cluster.executePlan(p.kube, p.plan, {
      force: flags.forceConflicts ?? false,
      prune: flags.prune,
      clock: cluster.systemClock,
      crdTimeoutMs: 60_000,
      waitTimeoutMs: flags.wait ? Number(flags.timeout) * 1000 : 0,
      pollMs: 500,
      onResult: (r) => {
        if (r.error) return;
        if (r.action === "deleted") deleted++;
        else applied++;
      },
    });
  } catch (e) {
    if (!(e instanceof UnreachableError)) throw e;
    // the inventory cannot be written now: it holds this apply as pending, and still lists what was to be pruned
    const done = [...(toApply.length > 0 ? [`${applied} of ${toApply.length} objects applied`] : []), ...(toDelete > 0 ? [`${deleted} of ${toDelete} deletions done`] : [])];
    const inventory = toApply.length > 0 ? "the inventory records this apply as pending (its objects stay prune candidates)" : "the inventory still lists the objects left to prune";
    throw new UnreachableError(`${e.message}; the apply of ${p.env.name} was interrupted: ${done.join(", ") || "nothing changed"}, the rest not; ${inventory}; re-run apply when the cluster is reachable`);
  }
  const objects = cluster.objectsAfterApply(previous, result.entries, result.failed > 0);
  const rev = await cluster.writeInventory(p.kube, p.env.name, {
    ...(flags.rev ? { gitRevision: flags.rev } : {}),
    ...(p.commit ? { commit: p.commit.commit, author: `${p.commit.author} <${p.commit.email}>`, subject: p.commit.subject } : {}),
    appliedAt: cluster.systemClock.now().toISOString(),
    appliedBy: await cluster.whoAmI(p.kube),
    ...(io.env.CI_JOB_URL ? { job: io.env.CI_JOB_URL } : {}),
    ...(note ? { note } : {}),
    status: result.failed > 0 ? "partial" : "complete",
    objects,
  });
  const header = { env: p.env.name, context: p.kube.context, mode: "apply" as const, ...(p.commit ? { commit: p.commit.commit } : {}), ...(flags.rev ? { gitRevision: flags.rev } : {}) };
  io.stdout(cluster.renderChangeSet(flags.format, header, result.entries, { verbose: flags.verbose ?? false, extra: { inventoryRevision: rev.revision, failed: result.failed } }));
  if (p.env.grafana) {
    // an annotation per applied revision; Grafana being away never fails the apply
    const { annotationFor, postAnnotation } = await import("../observe/grafana.js");
    const { parseMergeRequest } = await import("../observe/changes.js");
    const { run } = await import("../source/exec.js");
    const body = p.commit ? (await run("git", ["log", "-1", "--format=%B", p.commit.commit], { cwd: io.cwd }).catch(() => ({ stdout: "" }))).stdout : "";
    const mr = parseMergeRequest(body);
    const a = await postAnnotation(p.env.grafana.url, io.env.GRAFANA_TOKEN, { ...annotationFor(p.env.name, rev, mr), ...(p.env.grafana.dashboardUid ? { dashboardUID: p.env.grafana.dashboardUid } : {}) });
    io.stderr(`meshops: ${a.ok ? "" : "warning: "}${a.message}\n`);
  }
  if (flags.format === "text") {
    io.stdout(`inventory ${cluster.SYSTEM_NAMESPACE}/${cluster.inventoryName(p.env.name)} revision ${rev.revision} (${rev.status}, ${rev.objects.length} objects)\n`);
    if (result.pruneHeldBack) io.stdout("deletions held back: some objects failed to apply; fix them and re-run apply\n");
  }
  return result;
}

