/** Renderers of the service graph and golden signals: `top` text, DOT, Mermaid, and GitLab's metrics report. */
import { metricName, metricsReport } from "../gitlab/review.js";
import type { ServiceGraph, Signals } from "./graph.js";

/** "12.3" / "0.04" / "-": short, stable numbers for tables. */
export function num(v: number | undefined, digits = 1): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  return v.toFixed(digits);
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** `meshops top`: one row per service, then one per version. */
export function renderTopText(g: ServiceGraph): string {
  const head = ["SERVICE", "VERSION", "RPS", "SUCCESS", "P50 MS", "P95 MS", "P99 MS", "MTLS"];
  const rows: string[][] = [];
  const row = (svc: string, version: string, s: Signals): string[] => [svc, version, num(s.rps, 2), pct(1 - s.errorRatio), num(s.p50Ms), num(s.p95Ms), num(s.p99Ms), pct(s.mtlsShare)];
  for (const s of g.services) {
    rows.push(row(s.id, "*", s.signals));
    for (const v of s.versions) rows.push(row("", v.version, v.signals));
  }
  if (rows.length === 0) return `no ${g.mesh} request metrics in the last ${g.windowS}s (${g.queries} queries)\n`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[fmt(head), ...rows.map(fmt)].join("\n")}\n\n${g.services.length} services, ${g.edges.length} edges, ${g.mesh} metrics over ${g.windowS}s, ${g.queries} Prometheus queries\n`;
}

function edgeLabel(s: Signals): string {
  const parts = [`${num(s.rps, 2)} rps`];
  if (s.errorRatio > 0) parts.push(`${pct(s.errorRatio)} err`);
  if (s.p95Ms !== undefined && Number.isFinite(s.p95Ms)) parts.push(`p95 ${num(s.p95Ms, 0)} ms`);
  if (s.mtlsShare > 0) parts.push(`mTLS ${(s.mtlsShare * 100).toFixed(0)}%`);
  return parts.join(", ");
}

/** A DOT quoted string (backslashes and quotes escaped; `\\n` is DOT's own line break, added by callers). */
const dotId = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** Graphviz DOT: one cluster per service holding its versions; client workloads outside. */
export function renderGraphDot(g: ServiceGraph): string {
  const out = ["digraph mesh {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];'];
  g.services.forEach((s, i) => {
    out.push(`  subgraph cluster_${i} {`, `    label=${dotId(`${s.id} (${edgeLabel(s.signals)})`)};`);
    for (const v of s.versions) out.push(`    ${dotId(v.id)} [label=${dotId(v.version).slice(0, -1)}\\n${dotId(v.workload).slice(1)}];`);
    out.push("  }");
  });
  for (const c of g.clients) out.push(`  ${dotId(`workload:${c}`)} [label=${dotId(c)}, shape=ellipse];`);
  for (const e of g.edges) out.push(`  ${dotId(e.from)} -> ${dotId(e.to)} [label=${dotId(edgeLabel(e.signals))}${e.signals.errorRatio > 0.05 ? ", color=red" : ""}];`);
  out.push("}");
  return `${out.join("\n")}\n`;
}

/** Mermaid flowchart (renders in GitLab Markdown). */
export function renderGraphMermaid(g: ServiceGraph): string {
  const ids = new Map<string, string>();
  const id = (s: string): string => {
    let v = ids.get(s);
    if (!v) {
      v = `n${ids.size}`;
      ids.set(s, v);
    }
    return v;
  };
  const q = (s: string): string => `"${s.replace(/"/g, "#quot;")}"`;
  const out = ["flowchart LR"];
  g.services.forEach((s, i) => {
    out.push(`  subgraph s${i}[${q(s.id)}]`);
    for (const v of s.versions) out.push(`    ${id(v.id)}[${q(`${v.version} ${v.workload}`)}]`);
    out.push("  end");
  });
  for (const c of g.clients) out.push(`  ${id(`workload:${c}`)}([${q(c)}])`);
  for (const e of g.edges) out.push(`  ${id(e.from)} -->|${q(edgeLabel(e.signals))}| ${id(e.to)}`);
  return `${out.join("\n")}\n`;
}

/**
 * GitLab's metrics report (OpenMetrics with flat names): per service p95 latency, error ratio and rps, so a merge
 * request shows how the mesh's health changed against the target branch's report.
 */
export function renderMetricsReport(g: ServiceGraph): string {
  const m: [string, number][] = [];
  for (const s of g.services) {
    const base = metricName("mesh", s.id);
    if (s.signals.p95Ms !== undefined && Number.isFinite(s.signals.p95Ms)) m.push([`${base}_p95_latency_ms`, s.signals.p95Ms]);
    m.push([`${base}_error_ratio`, s.signals.errorRatio]);
    m.push([`${base}_rps`, s.signals.rps]);
  }
  return metricsReport(m);
}
