/**
 * Golden-signal history for anomaly detection: the same grouped queries as the graph, as range queries
 * (1 request-rate query + one p95 query per level: 4 queries for services, versions and edges together).
 */
import type { AnomalySubject, MetricSeries } from "./anomaly.js";
import { levelKey } from "./graph.js";
import type { Level, MeshAdapter, TrafficKey } from "./mesh.js";
import type { MatrixSeries, PromClient } from "./prometheus.js";

/** Options of collectHistory; times in unix seconds. */
export interface HistoryOptions {
  start: number;
  end: number;
  stepS: number;
  /** Rate window in seconds. */
  windowS: number;
  levels: Level[];
}

function subjectOf(k: TrafficKey, level: Level): AnomalySubject {
  const id = levelKey(k, level);
  if (level === "service") return { level, id, service: k.service };
  if (level === "version") return { level, id, service: k.service, version: k.version };
  return { level, id, service: k.service, version: k.version, source: k.source };
}

/** Builds error-ratio and p95 series per subject from range results (pure). */
export function buildHistory(adapter: MeshAdapter, requests: MatrixSeries[], p95: Partial<Record<Level, MatrixSeries[]>>, levels: Level[]): MetricSeries[] {
  // level → key → time → {total, errors}
  const acc = new Map<Level, Map<string, { subject: AnomalySubject; byTime: Map<number, { total: number; errors: number }> }>>();
  for (const level of levels) acc.set(level, new Map());
  for (const s of requests) {
    const k = adapter.requestKey(s.metric);
    for (const level of levels) {
      const m = acc.get(level)!;
      const id = levelKey(k, level);
      const e = m.get(id) ?? { subject: subjectOf(k, level), byTime: new Map() };
      for (const [t, v] of s.values) {
        if (!Number.isFinite(v)) continue;
        const cur = e.byTime.get(t) ?? { total: 0, errors: 0 };
        cur.total += v;
        if (k.error) cur.errors += v;
        e.byTime.set(t, cur);
      }
      m.set(id, e);
    }
  }
  const out: MetricSeries[] = [];
  for (const level of levels) {
    const m = acc.get(level)!;
    const volumes = new Map<string, [number, number][]>();
    for (const [id, e] of m) {
      const times = [...e.byTime.keys()].sort((a, b) => a - b);
      const volume = times.map((t) => [t, e.byTime.get(t)!.total] as [number, number]);
      volumes.set(id, volume);
      out.push({ subject: e.subject, metric: "error_ratio", points: times.map((t) => { const x = e.byTime.get(t)!; return [t, x.total > 0 ? x.errors / x.total : NaN]; }), volume });
    }
    for (const s of p95[level] ?? []) {
      const k = adapter.latencyKey(s.metric, level);
      const id = levelKey(k, level);
      const subject = m.get(id)?.subject ?? subjectOf(k, level);
      out.push({ subject, metric: "p95_latency_ms", points: s.values, volume: volumes.get(id) ?? [] });
    }
  }
  return out.sort((a, b) => (a.subject.id < b.subject.id ? -1 : a.subject.id > b.subject.id ? 1 : a.metric < b.metric ? -1 : 1));
}

/** Issues the range queries and builds the series; returns how many queries it took. */
export async function collectHistory(prom: PromClient, adapter: MeshAdapter, opts: HistoryOptions): Promise<{ series: MetricSeries[]; queries: number }> {
  const range = { start: opts.start, end: opts.end, stepS: opts.stepS };
  const [requests, ...p95] = await Promise.all([prom.range(adapter.requestsQuery(opts.windowS), range), ...opts.levels.map((l) => prom.range(adapter.latencyQuery(0.95, opts.windowS, l), range))]);
  const byLevel: Partial<Record<Level, MatrixSeries[]>> = {};
  opts.levels.forEach((l, i) => (byLevel[l] = p95[i] ?? []));
  return { series: buildHistory(adapter, requests ?? [], byLevel, opts.levels), queries: 1 + opts.levels.length };
}
