/**
 * The service graph and golden signals over a window: nodes are services, their versions (the workloads that
 * serve them) and client workloads; edges carry rps, error ratio, p50/p95/p99 and the share of mTLS traffic.
 * Built from 2 queries whatever the size of the mesh: the request rate by edge, error class and mTLS, and the
 * per-bucket latency rate at the finest level asked for, from which every quantile of every level is computed
 * (buckets add up; see quantile.ts). `buildGraph` is the pure part, `collectGraph` issues the queries.
 */
import type { Level, MeshAdapter, TrafficKey } from "./mesh.js";
import type { PromClient, VectorSample } from "./prometheus.js";
import { histogramQuantile, parseLe, QUANTILES, type Bucket } from "./quantile.js";
import { checkRecordingRules, recordedNames, recordedQueries, RULES_LABEL, type RulesVerdict } from "./rules.js";

/** The quantiles every level reports (defined with the quantile arithmetic; re-exported here). */
export { QUANTILES };

/** Golden signals of one node or edge. */
export interface Signals {
  /** Requests per second over the window. */
  rps: number;
  /** Failed / all requests, 0..1 (0 without traffic). */
  errorRatio: number;
  /** Latency quantiles in milliseconds; undefined without latency data (or NaN from Prometheus). */
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  /** Share of requests over mTLS, 0..1. */
  mtlsShare: number;
}

/** A Service with its signals (all versions together). */
export interface ServiceNode {
  id: string;
  signals: Signals;
  versions: VersionNode[];
}

/** A version of a service: the workload serving it. */
export interface VersionNode {
  /** "service@version". */
  id: string;
  service: string;
  version: string;
  workload: string;
  signals: Signals;
}

/** Traffic from a client workload to one version of a service. */
export interface GraphEdge {
  /** A version node id when the client serves a service itself, else "workload:ns/name" (or "workload:unknown"). */
  from: string;
  /** The client workload ("ns/name" or "unknown"). */
  source: string;
  service: string;
  version: string;
  /** The version node id ("service@version"). */
  to: string;
  signals: Signals;
}

/** The graph of one window. */
export interface ServiceGraph {
  mesh: string;
  /** Rate window in seconds. */
  windowS: number;
  /** Evaluation time, unix seconds (undefined: Prometheus' now). */
  at?: number;
  services: ServiceNode[];
  /** Client workloads that serve no service in the graph (ingress gateways, jobs, unknown). */
  clients: string[];
  edges: GraphEdge[];
  /** Prometheus queries issued to build it. */
  queries: number;
  /** Where the numbers come from: the raw metrics, or meshops' recording rules (`meshops prometheus rules`). */
  source: "raw" | "recording-rules";
  /** Why recorded series were not used (when they were looked for and not usable). */
  rulesNote?: string;
}

/** Raw query results, as collectGraph fetched them. */
export interface GraphInputs {
  requests: VectorSample[];
  /** Latency quantiles computed by Prometheus (histogram_quantile), per level and quantile (0.5, 0.95, 0.99). */
  latency?: Partial<Record<Level, Partial<Record<number, VectorSample[]>>>>;
  /** Per-bucket rates grouped at `level` (with `le`): quantiles of that level and every coarser one are computed from them. */
  buckets?: { level: Level; rows: VectorSample[] };
}

/** Levels from finest to coarsest: buckets of one level add up to those of the next. */
export const LEVELS: readonly Level[] = ["edge", "version", "service"];

const QUANTILE_FIELD = { 0.5: "p50Ms", 0.95: "p95Ms", 0.99: "p99Ms" } as const;

/** Quantiles of every level at or above the buckets' level, from per-bucket rates (pure). */
export function quantilesFromBuckets(adapter: MeshAdapter, buckets: NonNullable<GraphInputs["buckets"]>): Map<Level, Map<string, Partial<Signals>>> {
  const levels = LEVELS.slice(LEVELS.indexOf(buckets.level));
  const acc = new Map<Level, Map<string, Map<number, number>>>(levels.map((l) => [l, new Map()]));
  for (const row of buckets.rows) {
    const le = parseLe(row.metric.le);
    if (Number.isNaN(le) || !Number.isFinite(row.value)) continue;
    const key = adapter.latencyKey(row.metric, buckets.level);
    for (const level of levels) {
      const m = acc.get(level)!;
      const k = levelKey(key, level);
      const hist = m.get(k) ?? new Map<number, number>();
      hist.set(le, (hist.get(le) ?? 0) + row.value);
      m.set(k, hist);
    }
  }
  const out = new Map<Level, Map<string, Partial<Signals>>>();
  for (const [level, m] of acc) {
    const res = new Map<string, Partial<Signals>>();
    for (const [k, hist] of m) {
      const b: Bucket[] = [...hist.entries()];
      const sig: Partial<Signals> = {};
      for (const q of QUANTILES) {
        const v = histogramQuantile(q, b);
        if (Number.isFinite(v)) sig[QUANTILE_FIELD[q]] = v;
      }
      res.set(k, sig);
    }
    out.set(level, res);
  }
  return out;
}

interface Acc {
  total: number;
  errors: number;
  mtls: number;
}

const empty = (): Acc => ({ total: 0, errors: 0, mtls: 0 });

function signalsOf(a: Acc): Signals {
  return { rps: a.total, errorRatio: a.total > 0 ? a.errors / a.total : 0, mtlsShare: a.total > 0 ? a.mtls / a.total : 0 };
}

/** Key of a latency row at a level. */
export function levelKey(k: TrafficKey, level: Level): string {
  if (level === "service") return k.service;
  if (level === "version") return `${k.service}@${k.version}`;
  return `${k.source}|${k.service}@${k.version}`;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Builds the graph from query results (pure; sorted output). */
export function buildGraph(adapter: MeshAdapter, inputs: GraphInputs, meta: { windowS: number; at?: number; queries: number; source?: ServiceGraph["source"]; rulesNote?: string }): ServiceGraph {
  const byEdge = new Map<string, { key: TrafficKey; acc: Acc }>();
  const byVersion = new Map<string, { key: TrafficKey; acc: Acc }>();
  const byService = new Map<string, Acc>();
  for (const row of inputs.requests) {
    if (!Number.isFinite(row.value) || row.value < 0) continue;
    const k = adapter.requestKey(row.metric);
    const add = (a: Acc): void => {
      a.total += row.value;
      if (k.error) a.errors += row.value;
      if (k.mtls) a.mtls += row.value;
    };
    const ek = levelKey(k, "edge");
    const e = byEdge.get(ek) ?? { key: k, acc: empty() };
    add(e.acc);
    byEdge.set(ek, e);
    const vk = levelKey(k, "version");
    const v = byVersion.get(vk) ?? { key: k, acc: empty() };
    add(v.acc);
    byVersion.set(vk, v);
    const s = byService.get(k.service) ?? empty();
    add(s);
    byService.set(k.service, s);
  }
  // latency: level → key → {p50, p95, p99}
  const lat = inputs.buckets ? quantilesFromBuckets(adapter, inputs.buckets) : new Map<Level, Map<string, Partial<Signals>>>();
  for (const level of LEVELS) {
    const m = lat.get(level) ?? new Map<string, Partial<Signals>>();
    for (const q of QUANTILES) {
      for (const row of inputs.latency?.[level]?.[q] ?? []) {
        if (!Number.isFinite(row.value)) continue;
        const key = levelKey(adapter.latencyKey(row.metric, level), level);
        const cur = m.get(key) ?? {};
        cur[QUANTILE_FIELD[q]] = row.value;
        m.set(key, cur);
      }
    }
    lat.set(level, m);
  }
  const withLatency = (s: Signals, level: Level, key: string): Signals => ({ ...s, ...(lat.get(level)?.get(key) ?? {}) });
  const versionOfWorkload = new Map<string, string>();
  const services = new Map<string, ServiceNode>();
  for (const [id, acc] of byService) services.set(id, { id, signals: withLatency(signalsOf(acc), "service", id), versions: [] });
  for (const [id, { key, acc }] of byVersion) {
    services.get(key.service)!.versions.push({ id, service: key.service, version: key.version, workload: key.destinationWorkload, signals: withLatency(signalsOf(acc), "version", id) });
    if (key.destinationWorkload !== "unknown") versionOfWorkload.set(key.destinationWorkload, id);
  }
  const clients = new Set<string>();
  const edges: GraphEdge[] = [];
  for (const [id, { key, acc }] of byEdge) {
    const from = versionOfWorkload.get(key.source) ?? `workload:${key.source}`;
    if (from.startsWith("workload:")) clients.add(key.source);
    edges.push({ from, source: key.source, service: key.service, version: key.version, to: `${key.service}@${key.version}`, signals: withLatency(signalsOf(acc), "edge", id) });
  }
  const list = [...services.values()].sort((a, b) => cmp(a.id, b.id));
  for (const s of list) s.versions.sort((a, b) => cmp(a.version, b.version));
  edges.sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to));
  return {
    mesh: adapter.mesh,
    windowS: meta.windowS,
    ...(meta.at !== undefined ? { at: meta.at } : {}),
    services: list,
    clients: [...clients].sort(cmp),
    edges,
    queries: meta.queries,
    source: meta.source ?? "raw",
    ...(meta.rulesNote ? { rulesNote: meta.rulesNote } : {}),
  };
}

/** Options of collectGraph. */
export interface CollectOptions {
  /** Rate window in seconds. */
  windowS: number;
  /** Evaluation time (unix seconds); default Prometheus' now. */
  at?: number;
  /** Levels that need latency quantiles (one bucket query at the finest of them serves all). */
  levels: Level[];
  /**
   * Read meshops' recording rules when Prometheus evaluates them for this adapter and window ("auto", the
   * default), never ("off"), or fail when they are not usable ("require").
   */
  recordingRules?: "auto" | "off" | "require";
  /** The clock the rules' freshness is judged by (default: now). */
  now?: () => Date;
}

/** The queries collectGraph issues: the request rate, and the bucket rates at the finest level asked for (if any). */
export function graphQueries(adapter: MeshAdapter, opts: Pick<CollectOptions, "windowS" | "levels">): { requests: string; buckets?: { level: Level; query: string } } {
  const finest = LEVELS.find((l) => opts.levels.includes(l));
  return { requests: adapter.requestsQuery(opts.windowS), ...(finest ? { buckets: { level: finest, query: adapter.bucketsQuery(opts.windowS, finest) } } : {}) };
}

/** `--recording-rules require` and the rules are not usable. Reported like a Prometheus failure (exit 3). */
export class RecordingRulesUnavailableError extends Error {
  readonly code: string = "prometheus_error";
}

/** Whether meshops' recording rules for this graph are usable on `prom` (never throws: a failing rules API is a reason). */
export async function recordingRulesVerdict(prom: PromClient, adapter: MeshAdapter, opts: Pick<CollectOptions, "windowS" | "now">): Promise<RulesVerdict> {
  if (!prom.rules) return { usable: false, reason: "this Prometheus client cannot list rules" };
  try {
    return checkRecordingRules(await prom.rules(), adapter, opts.windowS, (opts.now ?? (() => new Date()))());
  } catch (e) {
    return { usable: false, reason: `the rules API failed: ${(e as Error).message}` };
  }
}

/**
 * Queries Prometheus and builds the graph: from meshops' recording rules when they are usable (2 queries: the
 * recorded request rates, and every recorded quantile at once), else from the raw metrics (2 queries, in
 * parallel; 1 without latency levels).
 */
export async function collectGraph(prom: PromClient, adapter: MeshAdapter, opts: CollectOptions): Promise<ServiceGraph> {
  const at = opts.at !== undefined ? { time: opts.at } : {};
  const mode = opts.recordingRules ?? "auto";
  const meta = { windowS: opts.windowS, ...(opts.at !== undefined ? { at: opts.at } : {}) };
  // every query this graph cost, the recorded ones that came back empty included
  const before = prom.queryCount;
  let rulesNote: string | undefined;
  if (mode !== "off") {
    const verdict = await recordingRulesVerdict(prom, adapter, opts);
    if (verdict.usable) {
      const q = recordedQueries(adapter, opts.windowS, opts.levels);
      const [requests, latencyRows] = await Promise.all([prom.instant(q.requests, at), q.latency ? prom.instant(q.latency, at) : Promise.resolve([])]);
      if (requests.length > 0) {
        return buildGraph(adapter, { requests, latency: splitRecordedLatency(adapter, opts.windowS, opts.levels, latencyRows) }, { ...meta, queries: prom.queryCount - before, source: "recording-rules" });
      }
      rulesNote = `the recording rules (${RULES_LABEL}="${recordedNames(adapter, opts.windowS).id}") hold no series at the time asked`;
    } else rulesNote = verdict.reason;
    if (mode === "require") throw new RecordingRulesUnavailableError(`--recording-rules require: ${rulesNote}`);
  }
  const q = graphQueries(adapter, opts);
  const [requests, buckets] = await Promise.all([prom.instant(q.requests, at), q.buckets ? prom.instant(q.buckets.query, at) : Promise.resolve(undefined)]);
  const inputs: GraphInputs = { requests, ...(q.buckets && buckets ? { buckets: { level: q.buckets.level, rows: buckets } } : {}) };
  return buildGraph(adapter, inputs, { ...meta, queries: prom.queryCount - before, ...(rulesNote && mode !== "off" ? { rulesNote } : {}) });
}

/** Recorded quantile rows (one query, all names) → rows per level and quantile, as buildGraph reads them. */
function splitRecordedLatency(adapter: MeshAdapter, windowS: number, levels: readonly Level[], rows: readonly VectorSample[]): NonNullable<GraphInputs["latency"]> {
  const names = recordedNames(adapter, windowS);
  const byName = new Map<string, [Level, number]>();
  for (const level of levels) for (const q of QUANTILES) byName.set(names.quantile(level, q), [level, q]);
  const out: NonNullable<GraphInputs["latency"]> = {};
  for (const row of rows) {
    const lq = byName.get(row.metric.__name__ ?? "");
    if (!lq) continue;
    const perLevel = (out[lq[0]] ??= {});
    (perLevel[lq[1]] ??= []).push(row);
  }
  return out;
}
