/** `meshops check`: render every environment, validate, report; exit 0 clean, 1 findings, 2 bad input. */
import { Option, type Command } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { activeFindings, renderCodeQuality, renderJson, renderJunit, renderSarif, renderText, type CheckReport } from "../report/formats.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import { ExitCode } from "./errors.js";
import { addCommonOptions, version, type Io } from "./main.js";
import { runCheck } from "./pipeline.js";
import type { KubeClient } from "../cluster/client.js";
import type { ClusterTarget } from "../cluster/kubeconfig.js";
import type { LiveReferences } from "../cluster/live-refs.js";
import type { Environment } from "../config/load.js";
import type { ExternalObjects } from "../model/mesh-model.js";
import { UnreachableError, UsageError } from "../errors.js";

interface CheckFlags {
  env?: string[];
  rev?: string;
  crds: string[];
  format: "text" | "json" | "codequality" | "junit" | "sarif";
  output?: string;
  cel: boolean;
  schemaOnly?: boolean;
  chdir?: string;
  color: boolean;
  context?: string;
  kubeconfig?: string;
  /** true (--live-refs), false (--no-live-refs) or undefined (on when --context/--kubeconfig is given). */
  liveRefs?: boolean;
  requireLiveRefs?: boolean;
  liveTimeout: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerCheck(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(
    program
      .command("check")
      .description("render every environment, validate against the CRD and Kubernetes schemas, report findings with file:line")
      .argument("[path]", "repository folder with meshops.yaml, or a folder/file of manifests (one implicit environment)"),
  )
    .option("-e, --env <name>", "only this environment (repeatable)", collect, [])
    .option("--rev <rev>", "check the repository at this git revision instead of the working tree")
    .option("--crds <path>", "CRD file or folder to validate against (repeatable)", collect, [])
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json", "codequality", "junit", "sarif"]).default("text"))
    .option("-o, --output <file>", "write the report to a file instead of stdout")
    .option("--no-cel", "do not evaluate x-kubernetes-validations (CEL) rules")
    .option("--schema-only", "stop after schema validation (no semantic analyzers or policies)")
    .option("--context <name>", "kubeconfig context: its cached schemas (`meshops schemas pull`) and, with live references, its objects (overrides each environment's)")
    .option("--kubeconfig <file>", "kubeconfig file for live references (default: $KUBECONFIG or ~/.kube/config)")
    .option("--live-refs", "resolve references the repository cannot against each environment's live cluster (the default when --context or --kubeconfig is given)")
    .option("--no-live-refs", "never read a cluster, even with --context")
    .option("--require-live-refs", "like --live-refs, but a cluster that cannot be read fails the check (exit 3) instead of a note")
    .option("--live-timeout <seconds>", "give up on a cluster's live references after this long (then check against the repository only)", "10")
    .action(async (path: string | undefined, flags: CheckFlags) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const mode = liveMode(flags);
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
      try {
        const envs = selectEnvironments(repo.loaded, flags.env).map((e) => (flags.context ? { ...e, cluster: { ...e.cluster, context: flags.context } } : e));
        const live = mode === "off" || flags.schemaOnly ? undefined : liveReferences(mode, flags, cwd, Number(flags.liveTimeout) * 1000);
        live?.start(envs);
        const { report } = await runCheck(repo, envs, { crds: flags.crds, cwd, cel: flags.cel, analyze: !flags.schemaOnly, ...(live ? { live: live.forEnv } : {}) });
        if (live) {
          report.notes = live.notes();
          for (const n of report.notes) io.stderr(`meshops check: ${n}\n`);
        }
        const text = renderReport(report, flags.format, {
          color: flags.color && io.isTty && !flags.output && io.env.NO_COLOR === undefined,
          readLine: (file, line) => {
            try {
              return readFileSync(resolve(repo.dir, file), "utf8").split("\n")[line - 1];
            } catch {
              return undefined;
            }
          },
        });
        if (flags.output) {
          writeFileSync(resolve(cwd, flags.output), text);
          if (flags.format !== "text") io.stderr(renderSummaryLine(report));
        } else {
          io.stdout(text);
        }
        setExit(exitFor(report, envs.map((e) => e.policy.failOn)));
      } finally {
        repo.dispose();
      }
    });
}

type LiveMode = "off" | "on" | "require";

/** Live references are on when asked for, or when the command line names a cluster (--context/--kubeconfig): meshops.yaml's clusters alone keep check offline and reproducible. */
function liveMode(flags: CheckFlags): LiveMode {
  const t = Number(flags.liveTimeout);
  if (!Number.isFinite(t) || t <= 0) throw new UsageError(`--live-timeout must be a positive number of seconds, not "${flags.liveTimeout}"`);
  if (flags.requireLiveRefs) {
    if (flags.liveRefs === false) throw new UsageError("--require-live-refs and --no-live-refs contradict each other");
    return "require";
  }
  if (flags.liveRefs === false) return "off";
  if (flags.liveRefs === true) return "on";
  return flags.context || flags.kubeconfig ? "on" : "off";
}

/**
 * Reads each environment's cluster once (environments sharing a context share the read), starting as soon as
 * an environment asks, so the reads overlap rendering. A cluster that cannot be read is said once, and its
 * environments are checked against the repository only — unless `--require-live-refs` (then exit 3).
 */
function liveReferences(mode: LiveMode, flags: CheckFlags, cwd: string, timeoutMs: number): { start: (envs: Environment[]) => void; forEnv: (env: Environment) => Promise<ExternalObjects | undefined>; notes: () => string[] } {
  const reads = new Map<string, Promise<LiveReferences | { error: Error }>>();
  const envsOf = new Map<string, string[]>();
  const results = new Map<string, LiveReferences | { error: Error }>();
  const read = async (target: ClusterTarget): Promise<LiveReferences | { error: Error }> => {
    const [cluster, { fetchLiveReferences }] = await Promise.all([import("../cluster/index.js"), import("../cluster/live-refs.js")]);
    let kube: KubeClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      kube = cluster.createKubeClient(cluster.loadKubeConfig(target), { maxRetries: 1, timeoutMs, concurrency: 8 });
      const name = kube.context;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UnreachableError(`cluster ${name} did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      return await Promise.race([fetchLiveReferences(kube), deadline]);
    } catch (e) {
      // whatever keeps the cluster from being read (no kubeconfig, no context, in-cluster credentials missing, a
      // refused connection) is a note, never a failed check — unless --require-live-refs
      if (e instanceof UnreachableError || e instanceof UsageError) return { error: e };
      return { error: new UnreachableError(`cluster ${target.context ?? "(current context)"} could not be read: ${(e as Error).message}`) };
    } finally {
      clearTimeout(timer);
      kube?.close();
    }
  };
  const targetOf = (env: Environment): ClusterTarget => ({ ...env.cluster, ...(flags.kubeconfig ? { kubeconfig: resolve(cwd, flags.kubeconfig) } : {}) });
  const keyOf = (env: Environment): string => JSON.stringify(targetOf(env));
  const readFor = (env: Environment): Promise<LiveReferences | { error: Error }> => {
    const key = keyOf(env);
    let p = reads.get(key);
    if (!p) reads.set(key, (p = read(targetOf(env))));
    return p;
  };
  return {
    start(envs) {
      for (const env of envs) void readFor(env).catch(() => undefined);
    },
    async forEnv(env) {
      const key = keyOf(env);
      envsOf.set(key, [...(envsOf.get(key) ?? []), env.name]);
      const r = await readFor(env);
      results.set(key, r);
      if ("error" in r) {
        if (mode === "require") throw r.error;
        return undefined;
      }
      return { cluster: r.context, manifests: r.manifests, kinds: r.kinds };
    },
    notes() {
      const out: string[] = [];
      for (const [key, r] of results) {
        const envs = (envsOf.get(key) ?? []).join(", ");
        if ("error" in r) out.push(`live references were not consulted for ${envs}: ${r.error.message}; references were checked against the repository only`);
        else if (r.unknown.length) {
          const byReason = new Map<string, string[]>();
          for (const u of r.unknown) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), `${u.kind}s`]);
          const why = [...byReason].map(([reason, kinds]) => (reason === "forbidden" ? `listing ${kinds.join(", ")} is forbidden` : `${kinds.join(", ")} could not be listed (${reason})`));
          out.push(`cluster ${r.context}: ${why.join("; ")}; references to those kinds were checked against the repository only (${envs})`);
        }
      }
      return out;
    },
  };
}

function renderReport(report: CheckReport, format: CheckFlags["format"], text: { color: boolean; readLine: (f: string, l: number) => string | undefined }): string {
  switch (format) {
    case "json":
      return renderJson(report);
    case "codequality":
      return renderCodeQuality(report);
    case "junit":
      return renderJunit(report);
    case "sarif":
      return renderSarif(report, version);
    default:
      return renderText(report, text);
  }
}

function renderSummaryLine(report: CheckReport): string {
  const e = activeFindings(report).filter((f) => f.severity === "error").length;
  const w = activeFindings(report).filter((f) => f.severity === "warning").length;
  return `meshops check: ${e} error(s), ${w} warning(s) in ${report.objects.length} object(s)\n`;
}

/** 2 when any input could not be read; 1 for findings at the failure threshold; else 0. */
export function exitFor(all: CheckReport, failOn: ("error" | "warning")[]): number {
  const report = { ...all, findings: activeFindings(all) };
  if (report.findings.some((f) => f.category === "input" && f.severity === "error")) return ExitCode.input;
  if (report.findings.some((f) => f.severity === "error")) return ExitCode.findings;
  if (failOn.includes("warning") && report.findings.some((f) => f.severity === "warning")) return ExitCode.findings;
  return ExitCode.ok;
}
