/**
 * `meshops drift [--env E ...] [--watch] [--heal]`: the live cluster of each environment compared with the
 * desired state of the revision its inventory says was applied (`--rev` or `--working-tree` to compare with
 * another one): changed fields with the manager that changed them, fields other managers added, missing and
 * extra objects, and health. Exit 1 when anything is out of sync or degraded. `--watch` keeps watching
 * (watches, not polling) and reports each change as it happens; `--heal` re-applies Git's state.
 */
import { Option, type Command } from "commander";
import { hostname, userInfo } from "node:os";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { DriftEntry } from "../cluster/drift.js";
import type { DriftHeader } from "../cluster/drift-report.js";
import type { DesiredState, HealResult } from "../cluster/drift-watch.js";
import type { InventoryRevision, KubeClient } from "../cluster/index.js";
import type { Manifest } from "../model/resource.js";
import { commitInfo, gitRoot } from "../source/git.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import { describeError, ExitCode, UsageError } from "./errors.js";
import { clusterTarget } from "./targets.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";

interface DriftFlags {
  env?: string[];
  rev?: string;
  workingTree?: boolean;
  watch?: boolean;
  heal?: boolean;
  format: "text" | "markdown" | "json";
  ignoreManager?: string[];
  context?: string;
  kubeconfig?: string;
  chdir?: string;
  verbose?: boolean;
}

/** What one environment's desired state is read from. */
interface Source {
  rev?: string;
  header: Omit<DriftHeader, "env" | "context">;
}

/** Renders one environment at a revision (or the working tree). */
async function renderAt(cwd: string, path: string | undefined, envName: string, rev: string | undefined): Promise<Manifest[]> {
  const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(rev ? { rev } : {}) });
  try {
    const [env] = selectEnvironments(repo.loaded, undefined).filter((e) => e.name === envName);
    if (!env) throw new UsageError(`environment ${envName} does not exist ${rev ? `at revision ${rev}` : "in the working tree"}`);
    const rendered = await renderEnvironment(repo.dir, env);
    const errors = rendered.findings.filter((f) => f.severity === "error");
    if (errors.length) throw new UsageError(`environment ${envName} ${rev ? `at ${rev.slice(0, 12)} ` : ""}did not render: ${errors[0]!.file ? `${errors[0]!.file}:${errors[0]!.line}: ` : ""}${errors[0]!.message}`);
    return rendered.manifests;
  } finally {
    repo.dispose();
  }
}

function sourceFor(flags: { rev?: string | undefined; workingTree: boolean }, revision: InventoryRevision | undefined): Source | undefined {
  if (flags.workingTree) return { header: { against: "the working tree" } };
  if (flags.rev) return { rev: flags.rev, header: { against: `--rev ${flags.rev}` } };
  if (!revision) return undefined;
  const against = `inventory revision ${revision.revision}`;
  if (!revision.commit) return { header: { against: `${against} (applied from a working tree without a commit: comparing with the working tree)`, inventoryRevision: revision.revision } };
  return { rev: revision.commit, header: { against, inventoryRevision: revision.revision, commit: revision.commit, ...(revision.subject ? { subject: revision.subject } : {}) } };
}

/** Where the repository is and which revision to compare with. */
export interface DesiredSource {
  cwd: string;
  path: string | undefined;
  /** The git top level (undefined outside git). */
  top: string | undefined;
  rev: string | undefined;
  workingTree: boolean;
}

/**
 * The desired state of an environment: the repository at the commit of the inventory's newest revision (or of
 * `given`), or at --rev, or the working tree. No desired state when the environment was never applied.
 */
export async function desiredState(kube: KubeClient, env: Environment, src: DesiredSource, given?: InventoryRevision): Promise<{ desired?: DesiredState; header: Omit<DriftHeader, "env" | "context"> }> {
  const cluster = await import("../cluster/index.js");
  const inventory = (await cluster.readInventory(kube, env.name)).inventory;
  const revision = given ?? inventory?.revisions[0];
  const chosen = sourceFor(src, revision);
  if (!chosen) return { header: { against: "nothing", note: `environment ${env.name} was never applied by meshops (no inventory): nothing to compare; give --rev or --working-tree to compare anyway` } };
  if (chosen.rev && src.top && !src.rev) {
    const info = await commitInfo(src.top, chosen.rev).catch(() => undefined);
    if (!info) throw new UsageError(`${env.name}: ${chosen.header.against} applied commit ${chosen.rev}, which is not in the repository at ${src.top} (fetch it, or deepen a shallow clone)`);
  }
  const manifests = await renderAt(src.cwd, src.path, env.name, chosen.rev);
  return { desired: { manifests, inventory: cluster.currentObjects(inventory), ...(revision ? { revision } : {}) }, header: chosen.header };
}

function healText(env: string, r: HealResult): string[] {
  const out: string[] = [];
  if (r.skipped) out.push(`${env}: ${r.skipped}`);
  if (r.healed.length) out.push(`${env}: healed ${r.healed.length} object(s): ${r.healed.map((e) => e.subject).join(", ")}`);
  for (const f of r.failed) out.push(`${env}: could not heal ${f.entry.subject}: ${f.message}`);
  if (r.notHealable.length) out.push(`${env}: not healed (only fields another manager set; \`meshops adopt --env ${env}\` first): ${r.notHealable.map((e) => e.subject).join(", ")}`);
  return out;
}

export function registerDrift(program: Command, io: Io, setExit: (code: number) => void): void {
  addClusterOptions(addCommonOptions(program.command("drift").description("compare each environment's cluster with the revision applied to it: changed, foreign, missing and extra fields and objects, health")))
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("-e, --env <name...>", "only these environments (default: all)")
    .option("--rev <rev>", "compare with this git revision instead of the one the inventory says was applied")
    .option("--working-tree", "compare with the working tree instead of the applied revision")
    .option("-w, --watch", "keep watching and report every change as it happens (until interrupted)")
    .option("--heal", "re-apply Git's state of drifted and missing objects (under the environment's lock)")
    .option("--ignore-manager <name...>", "field managers whose extra fields are not drift (controllers that own spec fields)")
    .addOption(new Option("-f, --format <format>", "output format (json with --watch: one event per line)").choices(["text", "markdown", "json"]).default("text"))
    .option("-v, --verbose", "list objects in sync too")
    .action(async (path: string | undefined, flags: DriftFlags) => {
      if (flags.rev && flags.workingTree) throw new UsageError("--rev and --working-tree exclude each other");
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}) });
      repo.dispose();
      const envs = selectEnvironments(repo.loaded, flags.env);
      if (envs.length === 0) throw new UsageError("no environment to check for drift");
      const cluster = await import("../cluster/index.js");
      const { computeDrift, needsAttention } = await import("../cluster/drift.js");
      const report = await import("../cluster/drift-report.js");
      const top = await gitRoot(resolve(cwd, path ?? "."));
      const connect = (env: Environment): KubeClient => {
        const target = clusterTarget(env, flags);
        return cluster.createKubeClient(cluster.loadKubeConfig(target), flags.watch ? {} : { maxRetries: 2 });
      };
      const holder = `${userInfo().username}@${hostname()}/${process.pid} (drift --heal)`;
      const opts = { manager: "meshops", ignoreManagers: flags.ignoreManager ?? [] };

      const loadDesired = (kube: KubeClient, env: Environment, given?: InventoryRevision): ReturnType<typeof desiredState> => desiredState(kube, env, { cwd, path, top, rev: flags.rev, workingTree: flags.workingTree ?? false }, given);

      if (flags.watch) {
        const state = await watchAll(envs, connect, loadDesired, flags, io, holder, opts);
        setExit(watchExit(state, needsAttention));
        return;
      }

      let attention = false;
      let unreachable = false;
      const outputs = await Promise.all(
        envs.map(async (env): Promise<{ text: string; json: Record<string, unknown>; err?: string }> => {
          let kube: KubeClient | undefined;
          try {
            kube = connect(env);
            const { desired, header: h } = await loadDesired(kube, env);
            const header: DriftHeader = { env: env.name, context: kube.context, ...h };
            if (!desired) return { text: report.renderDriftText(header, []), json: { ...header, entries: [] } };
            let entries: DriftEntry[] = await computeDrift(kube, desired.manifests, { env: env.name, inventory: desired.inventory, ...opts });
            const notes: string[] = [];
            if (flags.heal) {
              const { healDrift } = await import("../cluster/drift-watch.js");
              const result = await healDrift(kube, env.name, entries, { holder, ...(desired.revision && !flags.rev && !flags.workingTree ? { revision: desired.revision.revision } : {}) });
              notes.push(...healText(env.name, result));
              if (result.healed.length) entries = await computeDrift(kube, desired.manifests, { env: env.name, inventory: desired.inventory, ...opts });
            }
            if (entries.some(needsAttention)) attention = true;
            const body = flags.format === "markdown" ? report.renderDriftMarkdown(header, entries) : report.renderDriftText(header, entries, { verbose: flags.verbose ?? false });
            return { text: `${body}${notes.map((n) => `${n}\n`).join("")}`, json: { ...report.driftJson(header, entries), ...(notes.length ? { heal: notes } : {}) } };
          } catch (e) {
            const d = describeError(e);
            const code = (e as { code?: unknown }).code;
            if (code === "unreachable") unreachable = true;
            else if (d.exit === ExitCode.internal && typeof code !== "string") throw e;
            else attention = true;
            const message = typeof code === "string" || d.exit !== ExitCode.internal ? (e as Error).message : d.message;
            return { text: `drift of environment ${env.name}: ${message}\n`, json: { env: env.name, error: message }, err: message };
          } finally {
            kube?.close();
          }
        }),
      );
      if (flags.format === "json") io.stdout(`${JSON.stringify({ environments: outputs.map((o) => o.json) }, null, 2)}\n`);
      else io.stdout(outputs.map((o) => o.text).join("\n"));
      setExit(unreachable ? ExitCode.unreachable : attention ? ExitCode.findings : ExitCode.ok);
    });
}

/** --watch: every environment at once, until SIGINT/SIGTERM; exit 1 if something is out of sync at the end. */
async function watchAll(
  envs: Environment[],
  connect: (env: Environment) => KubeClient,
  loadDesired: (kube: KubeClient, env: Environment, given?: InventoryRevision) => Promise<{ desired?: DesiredState; header: Omit<DriftHeader, "env" | "context"> }>,
  flags: DriftFlags,
  io: Io,
  holder: string,
  opts: { manager: string; ignoreManagers: string[] },
): Promise<Map<string, Map<string, DriftEntry>>> {
  const { watchDrift } = await import("../cluster/drift-watch.js");
  const { needsAttention } = await import("../cluster/drift.js");
  const report = await import("../cluster/drift-report.js");
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const json = flags.format === "json";
  const emit = (env: string, event: string, data: Record<string, unknown>, lines: string[]): void => {
    const time = new Date().toISOString();
    if (json) io.stdout(`${JSON.stringify({ time, env, event, ...data })}\n`);
    else io.stdout(lines.map((l, i) => (i === 0 ? `${time.slice(11, 23)}  ${env}  ${l}` : `${" ".repeat(14 + env.length)}${l}`)).join("\n") + "\n");
  };
  const state = new Map<string, Map<string, DriftEntry>>();
  try {
    await Promise.all(
      envs.map(async (env) => {
        const kube = connect(env);
        const mine = new Map<string, DriftEntry>();
        state.set(env.name, mine);
        let header: DriftHeader = { env: env.name, context: kube.context, against: "nothing" };
        try {
          await watchDrift(kube, {
            env: env.name,
            ...opts,
            followInventory: !flags.rev && !flags.workingTree,
            heal: flags.heal ?? false,
            holder,
            signal: controller.signal,
            load: async (rev) => {
              const r = await loadDesired(kube, env, rev);
              header = { env: env.name, context: kube.context, ...r.header };
              return r.desired ?? { manifests: [], inventory: [] };
            },
            report: (r) => {
              switch (r.type) {
                case "initial":
                case "revision": {
                  mine.clear();
                  for (const e of r.entries) mine.set(e.subject, e);
                  if (json) emit(env.name, r.type, { ...report.driftJson(header, r.entries), entries: r.entries.filter(needsAttention).map(report.entryJson) }, []);
                  else {
                    const text = report.renderDriftText(header, r.entries).trimEnd().split("\n");
                    emit(env.name, r.type === "initial" ? "watching" : "new revision", {}, [`${r.type === "initial" ? "watching" : "desired state changed"}: ${text[0]}`, ...text.slice(1)]);
                  }
                  break;
                }
                case "change": {
                  mine.set(r.entry.subject, r.entry);
                  const event = needsAttention(r.entry) ? r.entry.state : "in-sync";
                  emit(env.name, event, report.entryJson(r.entry), report.entryLines(r.entry));
                  break;
                }
                case "healed":
                  if (json) emit(env.name, "healed", { healed: r.result.healed.map((e) => e.subject), failed: r.result.failed.map((f) => ({ subject: f.entry.subject, message: f.message })), notHealable: r.result.notHealable.map((e) => e.subject), ...(r.result.skipped ? { skipped: r.result.skipped } : {}) }, []);
                  else for (const l of healText(env.name, r.result)) emit(env.name, "healed", {}, [l.slice(env.name.length + 2)]);
                  break;
                case "warning":
                  io.stderr(`meshops: ${env.name}: ${r.message}\n`);
                  break;
              }
            },
          });
        } finally {
          kube.close();
        }
      }),
    );
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  }
  return state;
}

/** Exit code of a finished watch: 1 if anything is out of sync when it stops. */
export function watchExit(state: Map<string, Map<string, DriftEntry>>, needsAttention: (e: DriftEntry) => boolean): number {
  for (const m of state.values()) for (const e of m.values()) if (needsAttention(e)) return ExitCode.findings;
  return ExitCode.ok;
}
