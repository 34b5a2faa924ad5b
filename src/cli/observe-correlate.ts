/**
 * `meshops correlate`: the environment's golden-signal history from Prometheus, anomalies in it, and the
 * inventory revisions applied meanwhile (their commits rendered to see which services they touched).
 */
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import { UsageError } from "../errors.js";
import { semanticDiff } from "../diff/semantic.js";
import { buildMeshModel, type MeshModel } from "../model/mesh-model.js";
import type { Manifest } from "../model/resource.js";
import { detectAnomalies, type Anomaly } from "../observe/anomaly.js";
import { changedManifests, changesFromInventory, parseMergeRequest, servicesInDiff, servicesTouched, type Change } from "../observe/changes.js";
import { attribute, defaultCorrelateOptions, neighbours } from "../observe/correlate.js";
import { renderCorrelationJson, renderCorrelationMarkdown, renderCorrelationText, type CorrelationReport } from "../observe/correlate-render.js";
import { collectGraph } from "../observe/graph.js";
import { collectHistory } from "../observe/history.js";
import { tracesFor } from "../observe/traces.js";
import { run } from "../source/exec.js";
import { gitRoot } from "../source/git.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import { parseDurationS, resolveTarget, type CorrelateFlags, type ObserveDeps } from "./observe.js";
import type { Io } from "./main.js";
import { clusterTarget } from "./targets.js";

interface Flags extends CorrelateFlags {
  env?: string;
  window: string;
  prometheus?: string;
  mesh?: "istio" | "linkerd";
  match?: string;
  chdir?: string;
}

/** Finer anomalies that repeat a coarser one (same service, metric, overlapping time) are left out unless asked. */
export function collapseAnomalies(anomalies: readonly Anomaly[], stepS: number): Anomaly[] {
  const coarse = anomalies.filter((a) => a.subject.level !== "edge");
  return anomalies.filter(
    (a) =>
      a.subject.level !== "edge" ||
      !coarse.some((c) => c.metric === a.metric && c.subject.service === a.subject.service && (c.subject.level === "service" || c.subject.version === a.subject.version) && Math.abs(c.start - a.start) <= 3 * stepS),
  );
}

/** Renders one environment at a commit (undefined when the commit or the environment cannot be read). */
async function renderAt(cwd: string, envName: string, commit: string): Promise<Manifest[] | undefined> {
  try {
    const repo = await openRepository({ cwd, rev: commit });
    try {
      const [env] = selectEnvironments(repo.loaded, [envName]);
      if (!env) return undefined;
      const r = await renderEnvironment(repo.dir, env);
      return r.findings.some((f) => f.severity === "error") ? undefined : r.manifests;
    } finally {
      repo.dispose();
    }
  } catch {
    return undefined;
  }
}

/**
 * Fills in what each change touched: the merge request from the commit message, and — when both its commit and
 * its predecessor's can be rendered — the objects modified, the services they touch and the semantic diff.
 */
export async function enrichChanges(changes: Change[], ctx: { cwd: string; env: Environment; from: number; maxLagS: number }): Promise<void> {
  const top = await gitRoot(ctx.cwd);
  if (!top) return;
  const renders = new Map<string, Promise<Manifest[] | undefined>>();
  const renderOnce = (commit: string): Promise<Manifest[] | undefined> => {
    let p = renders.get(commit);
    if (!p) renders.set(commit, (p = renderAt(ctx.cwd, ctx.env.name, commit)));
    return p;
  };
  const models = new Map<Manifest[], MeshModel>();
  const modelOf = (m: Manifest[]): MeshModel => models.get(m) ?? models.set(m, buildMeshModel(m)).get(m)!;
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    if (!c.commit || c.appliedAt < ctx.from - ctx.maxLagS) continue;
    const body = await run("git", ["show", "-s", "--format=%B", c.commit], { cwd: top });
    if (body.code === 0) {
      const mr = parseMergeRequest(body.stdout);
      if (mr) c.mergeRequest = mr;
    }
    const prev = changes[i - 1];
    const head = await renderOnce(c.commit);
    const base = prev ? (prev.commit ? await renderOnce(prev.commit) : undefined) : [];
    if (!head || !base) continue;
    const diff = changedManifests(base, head);
    const hm = modelOf(head);
    const bm = modelOf(base);
    c.modified = diff.modified.map((m) => m.head.ref);
    const a = servicesTouched(hm, [...diff.added, ...diff.modified.map((m) => m.head)]);
    const b = servicesTouched(bm, [...diff.removed, ...diff.modified.map((m) => m.base)]);
    c.semantic = semanticDiff(bm, hm);
    c.services = [...new Set([...a.services, ...b.services, ...servicesInDiff(c.semantic)])].sort();
    if (a.meshWide || b.meshWide) c.meshWide = true;
  }
}

/** Runs the correlation and renders it in the requested format. */
export async function runCorrelate(io: Io, flags: Flags, path: string | undefined, deps: ObserveDeps): Promise<{ text: string; report: CorrelationReport }> {
  const sinceS = parseDurationS(flags.since, "--since");
  const windowS = parseDurationS(flags.window, "--window");
  const stepS = flags.step ? parseDurationS(flags.step, "--step") : Math.max(10, Math.ceil(sinceS / 720));
  // Prometheus refuses range queries of more than 11,000 points per series
  if (sinceS / stepS > 11_000) throw new UsageError(`--since ${flags.since} at --step ${stepS}s is ${Math.ceil(sinceS / stepS)} points per series; Prometheus answers at most 11,000: use a larger --step`);
  const target = await resolveTarget(io, flags, path, { needEnv: true });
  for (const n of target.notes) io.stderr(`meshops: ${n}\n`);
  const env = target.env;
  if (!env) throw new UsageError("meshops correlate needs an environment (its inventory is the change history)");
  const to = Math.floor(deps.now().getTime() / 1000);
  const from = to - sinceS;
  const cluster = await import("../cluster/index.js");
  const kube = cluster.createKubeClient(cluster.loadKubeConfig(clusterTarget(env, flags)), { maxRetries: 2 });
  let changes: Change[];
  try {
    const { inventory } = await cluster.readInventory(kube, env.name);
    changes = changesFromInventory(inventory?.revisions ?? []);
  } finally {
    kube.close();
  }
  const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
  const opts = defaultCorrelateOptions();
  await enrichChanges(changes, { cwd: target.repoDir ?? cwd, env, from, maxLagS: opts.maxLagS });
  const prom = deps.prom(target.url);
  const history = await collectHistory(prom, target.adapter, { start: from, end: to, stepS, windowS, levels: ["service", "version", "edge"] });
  const graph = await collectGraph(prom, target.adapter, { windowS: Math.min(sinceS, 3600), at: to, levels: [] });
  for (const w of prom.warnings) io.stderr(`meshops: prometheus warning: ${w}\n`);
  let anomalies = detectAnomalies(history.series);
  if (!flags.edges) anomalies = collapseAnomalies(anomalies, stepS);
  const attributions = attribute(anomalies, changes, neighbours(graph), opts);
  const tracing = flags.jaeger ?? env.tracingUrl;
  if (tracing && !/^https?:\/\//.test(tracing)) throw new UsageError(`--jaeger "${tracing}" is not an http(s) URL`);
  // the slowest and failing traces through each anomalous service, in the anomaly's window
  const traces = tracing
    ? await Promise.all(
        attributions.map((at) => {
          const a = at.anomaly;
          const version = a.subject.version && a.subject.version !== "unknown" && a.subject.level !== "service" ? a.subject.version : undefined;
          return tracesFor(tracing, a.subject.service, a.start - stepS, a.end ?? to, { ...(version ? { version } : {}) });
        }),
      )
    : undefined;
  for (const t of traces ?? []) if (t.error) io.stderr(`meshops: ${t.error}\n`);
  const report: CorrelationReport = { env: env.name, mesh: target.mesh, from, to, stepS, windowS, queries: prom.queryCount, changes: changes.filter((c) => c.appliedAt >= from - opts.maxLagS), attributions, ...(traces ? { traces } : {}) };
  const text = flags.format === "json" ? renderCorrelationJson(report) : flags.format === "markdown" ? renderCorrelationMarkdown(report) : renderCorrelationText(report);
  return { text, report };
}
