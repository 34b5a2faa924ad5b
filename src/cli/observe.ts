/**
 * The observe commands: `meshops top`, `graph`, `metrics` (golden signals and the service graph from the mesh's
 * Prometheus metrics) and `correlate` (anomalies attributed to the environment's applied revisions).
 */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import { UsageError } from "../errors.js";
import { buildMeshModel, type MeshModel } from "../model/mesh-model.js";
import { splitApiVersion, type Manifest } from "../model/resource.js";
import { istioAdapter, linkerdAdapter, versionOfName, type Level, type MeshAdapter, type MeshKind, type WorkloadHints } from "../observe/mesh.js";
import { collectGraph, type ServiceGraph } from "../observe/graph.js";
import { createPromClient, type PromClient } from "../observe/prometheus.js";
import { renderGraphDot, renderGraphMermaid, renderMetricsReport, renderTopText } from "../observe/render.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository, TargetError } from "../source/repository.js";
import { ExitCode } from "./errors.js";
import { addCommonOptions, type Io } from "./main.js";
import { oneEnvironment } from "./targets.js";

/** Effects the observe commands use, injectable for tests. */
export interface ObserveDeps {
  prom: (url: string) => PromClient;
  now: () => Date;
}

const defaultDeps: ObserveDeps = { prom: (url) => createPromClient(url), now: () => new Date() };

export { parseDurationS } from "./duration.js";
import { parseDurationS } from "./duration.js";

export interface CommonFlags {
  env?: string;
  window: string;
  /** top, graph, metrics: read meshops' recording rules (auto), never (off), or fail without them (require). */
  recordingRules?: "auto" | "off" | "require";
  prometheus?: string;
  mesh?: MeshKind;
  match?: string;
  chdir?: string;
}

/** Where the observe commands look: the environment (if any), its Prometheus, its mesh and model. */
export interface ObserveTarget {
  env?: Environment;
  url: string;
  mesh: MeshKind;
  adapter: MeshAdapter;
  model?: MeshModel;
  repoDir?: string;
  /** Notes for stderr (e.g. how the mesh was chosen). */
  notes: string[];
}

const ISTIO_GROUPS = /(^|\.)istio\.io$/;
const LINKERD_GROUPS = /(^|\.)linkerd\.io$|^split\.smi-spec\.io$/;

/** The mesh of an environment's rendered objects: Istio or Linkerd kinds, or Linkerd's injection annotation. */
export function detectMesh(manifests: readonly Manifest[]): MeshKind | undefined {
  let istio = 0;
  let linkerd = 0;
  for (const m of manifests) {
    const g = splitApiVersion(m.ref.apiVersion).group;
    if (ISTIO_GROUPS.test(g)) istio++;
    else if (LINKERD_GROUPS.test(g)) linkerd++;
    const meta = (m.object.metadata ?? {}) as { annotations?: Record<string, string>; labels?: Record<string, string> };
    if (meta.annotations?.["linkerd.io/inject"] === "enabled") linkerd++;
    if (meta.labels?.["istio-injection"] === "enabled") istio++;
  }
  if (istio === 0 && linkerd === 0) return undefined;
  return linkerd > istio ? "linkerd" : "istio";
}

/** Workload → Service and version, from the model (Linkerd's metrics carry neither). */
export function workloadHints(model: MeshModel): WorkloadHints {
  const byWorkload = new Map<string, { service?: string; version?: string }>();
  for (const s of model.services.values()) {
    for (const w of s.workloads) {
      const version = w.labels.version ?? w.labels["app.kubernetes.io/version"] ?? versionOfName(w.name);
      byWorkload.set(`${w.namespace}/${w.name}`, { service: `${s.name}.${s.namespace}`, ...(version ? { version } : {}) });
    }
  }
  return { byWorkload };
}

/** Resolves environment, Prometheus URL and mesh flavour. A repository is optional when --prometheus is given. */
export async function resolveTarget(io: Io, flags: CommonFlags, path: string | undefined, opts: { needEnv: boolean }): Promise<ObserveTarget> {
  const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
  let repo: Awaited<ReturnType<typeof openRepository>> | undefined;
  try {
    repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}) });
  } catch (e) {
    if (!(e instanceof TargetError) || opts.needEnv || !flags.prometheus || flags.env) throw e;
  }
  const notes: string[] = [];
  try {
    let env: Environment | undefined;
    if (repo) {
      env = oneEnvironment(repo.loaded, flags.env, "observe");
    }
    const url = flags.prometheus ?? env?.prometheusUrl;
    if (!url) {
      throw new UsageError(
        env ? `no Prometheus URL for environment ${env.name}: pass --prometheus URL or set environments.${env.name}.prometheus.url in meshops.yaml` : "no Prometheus URL: pass --prometheus URL or set environments.<name>.prometheus.url in meshops.yaml",
      );
    }
    if (!/^https?:\/\//.test(url)) throw new UsageError(`--prometheus "${url}" is not an http(s) URL`);
    let model: MeshModel | undefined;
    let mesh = flags.mesh;
    if (env && repo) {
      const rendered = await renderEnvironment(repo.dir, env);
      model = buildMeshModel(rendered.manifests);
      if (!mesh) {
        mesh = detectMesh(rendered.manifests);
        if (!mesh) notes.push(`environment ${env.name} holds neither Istio nor Linkerd objects: reading Istio metrics (set --mesh linkerd otherwise)`);
      }
    }
    mesh ??= "istio";
    if (flags.match !== undefined && !/^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"/.test(flags.match)) throw new UsageError(`--match "${flags.match}" is not a list of label matchers (e.g. cluster="prod")`);
    const matchers = flags.match !== undefined ? { matchers: flags.match } : {};
    const adapter = mesh === "linkerd" ? linkerdAdapter(model ? workloadHints(model) : undefined, matchers) : istioAdapter(matchers);
    return { ...(env ? { env } : {}), url, mesh, adapter, ...(model ? { model } : {}), ...(repo ? { repoDir: repo.dir } : {}), notes };
  } finally {
    repo?.dispose();
  }
}

/** [path], --env, --mesh, --match: what picks the mesh and its metrics (the observe commands, `prometheus rules`, `grafana dashboard`). */
export function meshTargetOptions(cmd: Command): Command {
  return addCommonOptions(cmd)
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("-e, --env <name>", "environment (default: the only one)")
    .addOption(new Option("--mesh <mesh>", "whose metrics to read (default: from the environment's objects)").choices(["istio", "linkerd"]))
    .option("--match <matchers>", 'extra label matchers for every query, e.g. cluster="prod"');
}

function commonOptions(cmd: Command, windowDefault: string): Command {
  return meshTargetOptions(cmd)
    .option("-w, --window <duration>", "rate window (e.g. 1m, 5m)", windowDefault)
    .option("--prometheus <url>", "Prometheus base URL (overrides the environment's prometheus.url)");
}

/** --recording-rules, for the commands that build a graph. */
function withRulesOption(cmd: Command): Command {
  return cmd.addOption(
    new Option("--recording-rules <mode>", "read the recorded series of `meshops prometheus rules` when Prometheus evaluates them for this window (auto), never (off), or fail without them (require)")
      .choices(["auto", "off", "require"])
      .default("auto"),
  );
}

/** Prometheus answered with an error that is not about reachability (422, ...): report it as a backend failure. */
function backendFailure(io: Io, setExit: (code: number) => void, e: unknown): boolean {
  if ((e as { code?: unknown }).code !== "prometheus_error") return false;
  io.stderr(`meshops: ${(e as Error).message}\n`);
  setExit(ExitCode.unreachable);
  return true;
}

/** Registers top, graph, metrics and correlate. */
export function registerObserve(program: Command, io: Io, setExit: (code: number) => void, deps: ObserveDeps = defaultDeps): void {
  const snapshot = async (flags: CommonFlags, path: string | undefined, levels: Level[]): Promise<{ graph: ServiceGraph; target: ObserveTarget; prom: PromClient }> => {
    const windowS = parseDurationS(flags.window, "--window");
    const target = await resolveTarget(io, flags, path, { needEnv: false });
    for (const n of target.notes) io.stderr(`meshops: ${n}\n`);
    const prom = deps.prom(target.url);
    const graph = await collectGraph(prom, target.adapter, { windowS, levels, recordingRules: flags.recordingRules ?? "auto", now: deps.now });
    for (const w of prom.warnings) io.stderr(`meshops: prometheus warning: ${w}\n`);
    return { graph, target, prom };
  };

  withRulesOption(commonOptions(program.command("top").description("per service and version: rps, success rate, p50/p95/p99 latency and mTLS share from the mesh's metrics"), "5m"))
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (path: string | undefined, flags: CommonFlags & { format: "text" | "json" }) => {
      try {
        const { graph, target } = await snapshot(flags, path, ["version", "service"]);
        if (flags.format === "json") {
          const { edges: _edges, clients: _clients, ...rest } = graph;
          io.stdout(`${JSON.stringify({ ...(target.env ? { env: target.env.name } : {}), prometheus: target.url, ...rest }, null, 2)}\n`);
        } else io.stdout(renderTopText(graph));
        setExit(ExitCode.ok);
      } catch (e) {
        if (!backendFailure(io, setExit, e)) throw e;
      }
    });

  withRulesOption(commonOptions(program.command("graph").description("the service graph (services, versions, client workloads; edges with rps, errors, latency, mTLS) from the mesh's metrics"), "5m"))
    .addOption(new Option("-f, --format <format>", "output format").choices(["dot", "mermaid", "json"]).default("dot"))
    .action(async (path: string | undefined, flags: CommonFlags & { format: "dot" | "mermaid" | "json" }) => {
      try {
        const { graph, target } = await snapshot(flags, path, ["edge", "version", "service"]);
        if (flags.format === "json") io.stdout(`${JSON.stringify({ ...(target.env ? { env: target.env.name } : {}), prometheus: target.url, ...graph }, null, 2)}\n`);
        else io.stdout(flags.format === "mermaid" ? renderGraphMermaid(graph) : renderGraphDot(graph));
        setExit(ExitCode.ok);
      } catch (e) {
        if (!backendFailure(io, setExit, e)) throw e;
      }
    });

  withRulesOption(commonOptions(program.command("metrics").description("per-service p95 latency, error ratio and rps as a GitLab metrics report (OpenMetrics)"), "5m"))
    .addOption(new Option("-f, --format <format>", "output format").choices(["openmetrics", "json"]).default("openmetrics"))
    .option("-o, --output <file>", "write the report to a file")
    .action(async (path: string | undefined, flags: CommonFlags & { format: "openmetrics" | "json"; output?: string }) => {
      try {
        const { graph } = await snapshot(flags, path, ["service"]);
        const text = flags.format === "json" ? `${JSON.stringify({ services: graph.services.map((s) => ({ id: s.id, ...s.signals })), queries: graph.queries }, null, 2)}\n` : renderMetricsReport(graph);
        if (flags.output) {
          const { writeFileSync } = await import("node:fs");
          writeFileSync(resolve(io.cwd, flags.output), text);
          io.stderr(`meshops: wrote ${graph.services.length} services' metrics to ${flags.output}\n`);
        } else io.stdout(text);
        setExit(ExitCode.ok);
      } catch (e) {
        if (!backendFailure(io, setExit, e)) throw e;
      }
    });

  registerPrometheusRules(program, io, setExit);

  commonOptions(program.command("correlate").description("anomalies in error ratio and p95 latency per service, version and edge, each attributed to the applied revision that most likely caused it"), "1m")
    .option("--since <duration>", "how far back to look", "6h")
    .option("--step <duration>", "resolution (default: since/720, at least 10s)")
    .option("--edges", "also list anomalies of single edges when their service or version shows the same anomaly")
    .option("--jaeger <url>", "Jaeger-compatible query API whose slowest and failing traces are listed per anomaly (default: the environment's tracing.url)")
    .option("--context <name>", "kubeconfig context (overrides the environment's)")
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "markdown", "json"]).default("text"))
    .action(async (path: string | undefined, flags: CommonFlags & CorrelateFlags) => {
      try {
        const { runCorrelate } = await import("./observe-correlate.js");
        const out = await runCorrelate(io, flags, path, deps);
        io.stdout(out.text);
        setExit(ExitCode.ok);
      } catch (e) {
        if (!backendFailure(io, setExit, e)) throw e;
      }
    });
}

/** Flags of `meshops correlate` beyond the common ones. */
export interface CorrelateFlags {
  since: string;
  jaeger?: string;
  step?: string;
  edges?: boolean;
  context?: string;
  kubeconfig?: string;
  format: "text" | "markdown" | "json";
}

interface RulesFlags {
  env?: string;
  mesh?: MeshKind;
  match?: string;
  window: string;
  interval: string;
  format: "rules" | "prometheusrule";
  name: string;
  namespace?: string;
  output?: string;
  chdir?: string;
}

/** `meshops prometheus rules`: the recording rules that make `graph`, `top` and `metrics` cheap on large meshes. */
function registerPrometheusRules(program: Command, io: Io, setExit: (code: number) => void): void {
  const prometheus = program.command("prometheus").description("Prometheus: recording rules for meshops' graph queries");
  meshTargetOptions(prometheus.command("rules").description("write Prometheus recording rules that precompute the service graph (top, graph and metrics read them when loaded)"))
    .option("-w, --window <durations>", "rate windows to record, comma-separated (top, graph and metrics use the rules when their --window is one of them)", "5m")
    .option("--interval <duration>", "evaluation interval of the rule groups", "30s")
    .addOption(new Option("-f, --format <format>", "a Prometheus rule file, or a prometheus-operator PrometheusRule object").choices(["rules", "prometheusrule"]).default("rules"))
    .option("--name <name>", "metadata.name of the PrometheusRule", "meshops-graph")
    .option("--namespace <ns>", "metadata.namespace of the PrometheusRule")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (path: string | undefined, flags: RulesFlags) => {
      const { recordingRuleGroups, rulesYaml } = await import("../observe/rules.js");
      const windows = flags.window.split(",").map((w) => parseDurationS(w, "--window"));
      const intervalS = parseDurationS(flags.interval, "--interval");
      // the rules need the mesh and the matchers, not a reachable Prometheus
      const target = await resolveTarget(io, { ...flags, window: "5m", prometheus: "http://prometheus.invalid" }, path, { needEnv: false });
      for (const n of target.notes) io.stderr(`meshops: ${n}\n`);
      const groups = recordingRuleGroups(target.adapter, windows, intervalS);
      const doc =
        flags.format === "prometheusrule"
          ? {
              apiVersion: "monitoring.coreos.com/v1",
              kind: "PrometheusRule",
              metadata: { name: flags.name, ...(flags.namespace ? { namespace: flags.namespace } : {}), labels: { "app.kubernetes.io/managed-by": "meshops" } },
              spec: { groups },
            }
          : { groups };
      const header = `# Recording rules for meshops top/graph/metrics (${target.mesh}${target.env ? `, environment ${target.env.name}` : ""}); written by \`meshops prometheus rules\`.\n`;
      const text = header + rulesYaml(doc);
      if (flags.output) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(resolve(io.cwd, flags.output), text);
        io.stderr(`meshops: wrote ${groups.reduce((n, g) => n + g.rules.length, 0)} recording rules in ${groups.length} group(s) to ${flags.output}\n`);
      } else io.stdout(text);
      setExit(ExitCode.ok);
    });
}
