/**
 * Prometheus recording rules for the service graph, and how the graph finds and reads them.
 *
 * Reading the graph from raw series costs Prometheus one pass over every histogram bucket series of the mesh: for
 * 1,000 services and 6,000 edges meshsim exposes 374,000 `istio_request_duration_milliseconds_bucket` series, and
 * Prometheus 2.42 on 2 cores needs 2.4 s only to *select* them (`count(...)`), 5-6 s to sum their rates by edge
 * (bench/observe). Istio's own advice for production-scale meshes is recording rules
 * (https://istio.io/latest/docs/ops/best-practices/observability/): Prometheus evaluates the expensive aggregation
 * once per interval in the background, and readers select the small aggregated result.
 *
 * `meshops prometheus rules` writes one rule group per rate window:
 *   meshops_edge:<requests metric>:rate<W>                      the graph's requests query (by edge, code class, mTLS)
 *   meshops_<level>:<latency metric>_bucket:rate<W>             the per-bucket rates by edge (the graph's bucket
 *                                                                 query), summed from those by version and by service
 *   meshops_<level>:<latency metric>:p<50|95|99>_rate<W>        histogram_quantile of each level's buckets
 * Rules run in order within a group, so later rules read what earlier ones recorded in the same evaluation.
 * Every rule carries `meshops_rules="<id>"`: a hash of the mesh, the queries' label matchers (reporter, --match)
 * and the window. A graph reads recorded series only when the rules API lists every rule it needs with that id,
 * healthy and evaluated recently — a rules file written for other matchers or another window is never mistaken
 * for this graph's — and otherwise falls back to the raw queries.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { Level, MeshAdapter } from "./mesh.js";
import { promDuration } from "./mesh.js";
import type { RuleGroupInfo } from "./prometheus.js";
import { QUANTILES } from "./quantile.js";

/** The label every meshops recording rule carries; its value identifies the queries the rule records. */
export const RULES_LABEL = "meshops_rules";
/** Version of the rule layout (names and expressions); part of the id, so a layout change never reads old series. */
const LAYOUT = "1";

const QUANTILE_TAG: Record<number, string> = { 0.5: "p50", 0.95: "p95", 0.99: "p99" };

/** Recorded-series names and the id of one adapter and window. */
export interface RecordedNames {
  id: string;
  windowS: number;
  requests: string;
  /** Per-bucket rate series name per level. */
  bucketsAt(level: Level): string;
  /** Quantile series name per level and quantile. */
  quantile(level: Level, q: number): string;
}

/** "1m" for 60, "40s" for 40, "1h" for 3600: the window as it appears in a rule name. */
export function windowTag(windowS: number): string {
  const s = Math.max(1, Math.round(windowS));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The names and id of the recorded series for `adapter` over `windowS`. */
export function recordedNames(adapter: MeshAdapter, windowS: number): RecordedNames {
  const id = createHash("sha256")
    .update([LAYOUT, adapter.mesh, adapter.requestsQuery(windowS), adapter.bucketsQuery(windowS, "edge")].join("\n"))
    .digest("hex")
    .slice(0, 12);
  const w = windowTag(windowS);
  const { requests, latency } = adapter.metricNames;
  return {
    id,
    windowS,
    requests: `meshops_edge:${requests}:rate${w}`,
    bucketsAt: (level) => `meshops_${level}:${latency}_bucket:rate${w}`,
    quantile: (level, q) => `meshops_${level}:${latency}:${QUANTILE_TAG[q] ?? `q${String(q).replace(".", "_")}`}_rate${w}`,
  };
}

/** One recording rule as Prometheus' rule files spell it. */
export interface RecordingRule {
  record: string;
  expr: string;
  labels: Record<string, string>;
}

/** A Prometheus rule group. */
export interface RuleGroup {
  name: string;
  interval: string;
  rules: RecordingRule[];
}


/**
 * The recording rules for one window, in evaluation order: requests; bucket rates by edge (the one pass over the
 * raw histogram), by version (summed from the edge's) and by service (summed from the version's); then the
 * quantiles of each level from its own buckets — each rule reads the smallest recorded input that has its labels.
 */
export function recordingRules(adapter: MeshAdapter, windowS: number): RecordingRule[] {
  const n = recordedNames(adapter, windowS);
  const labels = (): Record<string, string> => ({ [RULES_LABEL]: n.id });
  const sel = (name: string): string => `${name}{${RULES_LABEL}="${n.id}"}`;
  const rules: RecordingRule[] = [
    { record: n.requests, expr: adapter.requestsQuery(windowS), labels: labels() },
    { record: n.bucketsAt("edge"), expr: adapter.bucketsQuery(windowS, "edge"), labels: labels() },
    { record: n.bucketsAt("version"), expr: `sum by (${["le", ...adapter.levelLabels("version")].join(", ")}) (${sel(n.bucketsAt("edge"))})`, labels: labels() },
    { record: n.bucketsAt("service"), expr: `sum by (${["le", ...adapter.levelLabels("service")].join(", ")}) (${sel(n.bucketsAt("version"))})`, labels: labels() },
  ];
  for (const level of ["edge", "version", "service"] as const) {
    for (const q of QUANTILES) rules.push({ record: n.quantile(level, q), expr: `histogram_quantile(${q}, ${sel(n.bucketsAt(level))})`, labels: labels() });
  }
  return rules;
}

/** One group per window (groups run in parallel, rules within a group in order). */
export function recordingRuleGroups(adapter: MeshAdapter, windowsS: readonly number[], intervalS: number): RuleGroup[] {
  return windowsS.map((w) => ({ name: `meshops.${adapter.mesh}.graph.rate${windowTag(w)}`, interval: promDuration(intervalS), rules: recordingRules(adapter, w) }));
}

/** The queries that read a graph from recorded series: the requests, and every quantile of the asked levels at once. */
export function recordedQueries(adapter: MeshAdapter, windowS: number, levels: readonly Level[]): { requests: string; latency?: string } {
  const n = recordedNames(adapter, windowS);
  const names = levels.flatMap((l) => QUANTILES.map((q) => n.quantile(l, q)));
  const sel = `${RULES_LABEL}="${n.id}"`;
  return {
    requests: `${n.requests}{${sel}}`,
    ...(names.length ? { latency: `{__name__=~"${names.map(escapeRegex).join("|")}", ${sel}}` } : {}),
  };
}

function escapeRegex(s: string): string {
  // PromQL regexes are RE2 inside a double-quoted string: escape the regex metacharacters, then the backslashes
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\/g, "\\\\");
}

/** Whether the rules a graph needs are loaded, healthy and evaluated recently; why not otherwise. */
export type RulesVerdict = { usable: true; intervalS: number; lastEvaluation: Date } | { usable: false; reason: string };

/**
 * Looks for the rules of `adapter` over `windowS` (names and `meshops_rules` id) in the rules API's groups: every
 * rule of the layout must be there, healthy, and its group evaluated within 3 intervals of `now`.
 */
export function checkRecordingRules(groups: readonly RuleGroupInfo[], adapter: MeshAdapter, windowS: number, now: Date): RulesVerdict {
  const n = recordedNames(adapter, windowS);
  // every rule of the layout: a quantile rule whose bucket rule is gone would be healthy and record nothing
  const needed = recordingRules(adapter, windowS).map((r) => r.record);
  const found = new Map<string, { group: RuleGroupInfo; health: string; lastError?: string }>();
  for (const g of groups) {
    for (const r of g.rules) {
      if (r.type !== "recording" || r.labels?.[RULES_LABEL] !== n.id) continue;
      found.set(r.name, { group: g, health: r.health, ...(r.lastError ? { lastError: r.lastError } : {}) });
    }
  }
  const missing = needed.filter((name) => !found.has(name));
  if (missing.length === needed.length) return { usable: false, reason: `no recording rules for this graph (${RULES_LABEL}="${n.id}", window ${windowTag(windowS)}); \`meshops prometheus rules\` writes them` };
  if (missing.length) return { usable: false, reason: `recording rules ${RULES_LABEL}="${n.id}" lack ${missing.join(", ")}` };
  for (const name of needed) {
    const f = found.get(name)!;
    if (f.health !== "ok") return { usable: false, reason: `recording rule ${name} is ${f.health || "not evaluated yet"}${f.lastError ? `: ${f.lastError}` : ""}` };
  }
  const group = found.get(n.requests)!.group;
  const last = group.lastEvaluation ? new Date(group.lastEvaluation) : undefined;
  const intervalS = group.interval > 0 ? group.interval : 60;
  if (!last || Number.isNaN(last.getTime()) || last.getTime() <= 0) return { usable: false, reason: `rule group ${group.name} has not been evaluated yet` };
  const ageS = (now.getTime() - last.getTime()) / 1000;
  if (ageS > 3 * intervalS + 5) return { usable: false, reason: `rule group ${group.name} was last evaluated ${Math.round(ageS)} s ago (interval ${intervalS} s)` };
  return { usable: true, intervalS, lastEvaluation: last };
}

/** A rules document (a rule file's `{groups}` or a PrometheusRule object) as YAML, every rule spelled out (no aliases). */
export function rulesYaml(doc: unknown): string {
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}
