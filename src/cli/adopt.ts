/**
 * `meshops adopt --env E`: moves the fields other field managers set on the environment's objects (a
 * client-side `kubectl apply`, Helm, `kubectl edit`) to meshops, so that removing a field from Git removes it
 * from the cluster on the next apply. The objects are those of the revision the inventory says was applied
 * (or --rev / --working-tree). Runs under the environment's lock; `--dry-run` only says what would move.
 */
import { Option, type Command } from "commander";
import { hostname, userInfo } from "node:os";
import { resolve } from "node:path";
import type { AdoptEntry } from "../cluster/adopt.js";
import type { Lock } from "../cluster/index.js";
import { formatValue } from "../cluster/diff.js";
import { gitRoot } from "../source/git.js";
import { openRepository } from "../source/repository.js";
import { desiredState } from "./drift.js";
import { ExitCode, UsageError } from "./errors.js";
import { clusterTarget, oneEnvironment } from "./targets.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";
import { withKubeErrors } from "./plan.js";

interface AdoptFlags {
  env?: string;
  rev?: string;
  workingTree?: boolean;
  manager?: string[];
  ignoreManager?: string[];
  dryRun?: boolean;
  format: "text" | "json";
  context?: string;
  kubeconfig?: string;
  chdir?: string;
}

function renderText(env: string, against: string, entries: AdoptEntry[], dryRun: boolean): string {
  const out = [`${dryRun ? "would adopt" : "adopt"}: environment ${env}, objects of ${against}`];
  for (const e of entries) {
    if (e.result === "none") continue;
    const src = e.origin ? `  (${e.origin.file}:${e.origin.line})` : "";
    if (e.result === "missing") out.push(`${e.subject} not in the cluster: nothing to adopt${src}`);
    else if (e.result === "error") out.push(`${e.subject} failed: ${e.error ?? ""}${src}`);
    else {
      out.push(`${e.subject} ${dryRun ? "would take" : "took"} ownership from ${e.managers!.join(", ")}${src}`);
      for (const f of e.removedByNextApply ?? []) out.push(`    ${f.path}: ${formatValue(f.value)} (set by ${f.manager}, not in Git): the next apply removes it`);
    }
  }
  const n = (r: AdoptEntry["result"]): number => entries.filter((e) => e.result === r).length;
  out.push(`adopt: ${n("adopted")} ${dryRun ? "to adopt" : "adopted"}, ${n("none")} already owned by meshops alone, ${n("missing")} missing, ${n("error")} failed`);
  return `${out.join("\n")}\n`;
}

export function registerAdopt(program: Command, io: Io, setExit: (code: number) => void): void {
  addClusterOptions(addCommonOptions(program.command("adopt").description("take ownership of fields other field managers set on the environment's objects, so Git becomes their whole truth")))
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("-e, --env <name>", "environment (required when meshops.yaml has several)")
    .option("--rev <rev>", "adopt the objects of this git revision instead of the applied one")
    .option("--working-tree", "adopt the objects of the working tree instead of the applied revision")
    .option("--manager <name...>", "adopt only these field managers' fields (default: every other manager's)")
    .option("--ignore-manager <name...>", "never adopt these field managers' fields (controllers)")
    .option("--dry-run", "say what would be adopted; change nothing")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (path: string | undefined, flags: AdoptFlags) =>
      withKubeErrors(io, setExit, async () => {
        if (flags.rev && flags.workingTree) throw new UsageError("--rev and --working-tree exclude each other");
        const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
        const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}) });
        repo.dispose();
        const env = oneEnvironment(repo.loaded, flags.env, "adopt");
        const cluster = await import("../cluster/index.js");
        const { adoptObjects } = await import("../cluster/adopt.js");
        const target = clusterTarget(env, flags);
        const kube = cluster.createKubeClient(cluster.loadKubeConfig(target));
        let lock: Lock | undefined;
        try {
          const top = await gitRoot(resolve(cwd, path ?? "."));
          const { desired, header } = await desiredState(kube, env, { cwd, path, top, rev: flags.rev, workingTree: flags.workingTree ?? false });
          if (!desired) throw new UsageError(header.note ?? `environment ${env.name} was never applied`);
          if (!flags.dryRun) {
            await cluster.ensureSystemNamespace(kube);
            lock = await cluster.acquireLock(kube, env.name, `${userInfo().username}@${hostname()}/${process.pid} (adopt)`, cluster.systemClock, { wait: false });
          }
          const entries = await adoptObjects(kube, desired.manifests, { env: env.name, ...(flags.manager ? { only: flags.manager } : {}), ...(flags.ignoreManager ? { ignore: flags.ignoreManager } : {}), dryRun: flags.dryRun ?? false });
          const against = header.commit ? `${header.against} (commit ${header.commit.slice(0, 12)})` : header.against;
          if (flags.format === "json") {
            const items = entries.map(({ ref, ...rest }) => ({ ...rest, apiVersion: ref.apiVersion, kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name }));
            io.stdout(`${JSON.stringify({ env: env.name, context: kube.context, against, dryRun: flags.dryRun ?? false, entries: items }, null, 2)}\n`);
          } else io.stdout(renderText(env.name, against, entries, flags.dryRun ?? false));
          if (entries.some((e) => e.result === "error")) setExit(ExitCode.findings);
        } finally {
          await lock?.release();
          kube.close();
        }
      }),
    );
}
