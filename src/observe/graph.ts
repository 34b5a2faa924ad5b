/**
 * The service graph and golden signals over a window: nodes are services, their versions (the workloads that
 * serve them) and client workloads; edges carry rps, error ratio, p50/p95/p99 and the share of mTLS traffic.
 * Built from 1 request-rate query plus one histogram_quantile query per quantile and level, whatever the size
 * of the mesh (`buildGraph` is the pure part, `collectGraph` issues the queries).
 */
import type { Level, MeshAdapter, TrafficKey } from "./mesh.js";
import type { PromClient, VectorSample } from "./prometheus.js";

/** The quantiles every level reports. */
export const QUANTILES = [0.5, 0.95, 0.99] as const;

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
}

/** Raw query results, as collectGraph fetched them. */
export interface GraphInputs {
  requests: VectorSample[];
  /** Per level and quantile (0.5, 0.95, 0.99). */
  latency: Partial<Record<Level, Partial<Record<number, VectorSample[]>>>>;
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
export function buildGraph(adapter: MeshAdapter, inputs: GraphInputs, meta: { windowS: number; at?: number; queries: number }): ServiceGraph {
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
  const lat = new Map<Level, Map<string, Partial<Signals>>>();
  for (const level of ["edge", "version", "service"] as const) {
    const m = new Map<string, Partial<Signals>>();
    for (const q of QUANTILES) {
      for (const row of inputs.latency[level]?.[q] ?? []) {
        if (!Number.isFinite(row.value)) continue;
        const key = levelKey(adapter.latencyKey(row.metric, level), level);
        const cur = m.get(key) ?? {};
        cur[q === 0.5 ? "p50Ms" : q === 0.95 ? "p95Ms" : "p99Ms"] = row.value;
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
  return { mesh: adapter.mesh, windowS: meta.windowS, ...(meta.at !== undefined ? { at: meta.at } : {}), services: list, clients: [...clients].sort(cmp), edges, queries: meta.queries };
}

/** Options of collectGraph. */
export interface CollectOptions {
  /** Rate window in seconds. */
  windowS: number;
  /** Evaluation time (unix seconds); default Prometheus' now. */
  at?: number;
  /** Latency levels to fetch (each costs one query per quantile). */
  levels: Level[];
}

/** The queries collectGraph issues, in order: requests first, then latency per level and quantile. */
export function graphQueries(adapter: MeshAdapter, opts: Pick<CollectOptions, "windowS" | "levels">): { requests: string; latency: { level: Level; quantile: number; query: string }[] } {
  return {
    requests: adapter.requestsQuery(opts.windowS),
    latency: opts.levels.flatMap((level) => QUANTILES.map((quantile) => ({ level, quantile, query: adapter.latencyQuery(quantile, opts.windowS, level) }))),
  };
}

/** Queries Prometheus (1 + 3 × levels queries, in parallel) and builds the graph. */
export async function collectGraph(prom: PromClient, adapter: MeshAdapter, opts: CollectOptions): Promise<ServiceGraph> {
  const q = graphQueries(adapter, opts);
  const at = opts.at !== undefined ? { time: opts.at } : {};
  const [requests, ...lat] = await Promise.all([prom.instant(q.requests, at), ...q.latency.map((l) => prom.instant(l.query, at))]);
  const latency: GraphInputs["latency"] = {};
  q.latency.forEach((l, i) => {
    (latency[l.level] ??= {})[l.quantile] = lat[i] ?? [];
  });
  return buildGraph(adapter, { requests: requests ?? [], latency }, { windowS: opts.windowS, ...(opts.at !== undefined ? { at: opts.at } : {}), queries: 1 + q.latency.length });
}
