/** Renderers of a correlation: the terminal timeline, Markdown (merge request or deployment note) and JSON. */
import type { Anomaly } from "./anomaly.js";
import type { Change } from "./changes.js";
import type { Attribution, Candidate } from "./correlate.js";
import type { AnomalyTraces, TraceLink } from "./traces.js";

/** What `meshops correlate` reports. */
export interface CorrelationReport {
  env: string;
  mesh: string;
  /** Unix seconds. */
  from: number;
  to: number;
  stepS: number;
  windowS: number;
  queries: number;
  changes: Change[];
  attributions: Attribution[];
  /** Per attribution (same index), the traces through its service, when a tracing API is configured. */
  traces?: AnomalyTraces[];
}

function traceLine(t: TraceLink): string {
  return `${t.url} (${t.durationMs >= 100 ? t.durationMs.toFixed(0) : t.durationMs.toFixed(1)} ms${t.version ? `, ${t.version}` : ""}${t.error ? ", failed" : ""})`;
}

/** "14:05:40" (UTC, so reports do not depend on where they were made). */
export function clock(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().slice(11, 19);
}

function isoTime(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().replace(".000Z", "Z");
}

/** "reviews.bookinfo", "reviews.bookinfo v3", "bookinfo/productpage-v1 → reviews.bookinfo v3". */
export function subjectLabel(a: Anomaly): string {
  const s = a.subject;
  const svc = s.version && s.version !== "unknown" ? `${s.service} ${s.version}` : s.service;
  return s.level === "edge" ? `${s.source} → ${svc}` : svc;
}

/** "p95 latency 38 ms → 412 ms (×10.8, confidence 0.99)". */
export function anomalyLine(a: Anomaly): string {
  const what = a.metric === "p95_latency_ms" ? `p95 latency ${fmtMs(a.baseline)} → ${fmtMs(a.current)}` : `error ratio ${fmtPct(a.baseline)} → ${fmtPct(a.current)}`;
  return `${what} (×${a.magnitude >= 100 ? a.magnitude.toFixed(0) : a.magnitude.toFixed(1)}, confidence ${a.confidence.toFixed(2)})`;
}

function fmtMs(v: number): string {
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v.toFixed(1)} ms`;
}

function fmtPct(v: number): string {
  return `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`;
}

/** `revision 17, commit 3f2a9c1 "shift 50% of reviews to v3" (MR !42, by alice), applied 14:05:02`. */
export function changeLine(c: Change): string {
  const meta = [c.mergeRequest ? `MR ${c.mergeRequest}` : "", c.author ? `by ${c.author}` : ""].filter(Boolean).join(", ");
  return `revision ${c.revision}${c.commit ? `, commit ${c.commit.slice(0, 7)}` : ""}${c.subject ? ` ${JSON.stringify(c.subject)}` : ""}${meta ? ` (${meta})` : ""}, applied ${clock(c.appliedAt)}`;
}

function why(c: Candidate): string {
  if (c.relation === "touches-service") return "it changed this service's configuration";
  if (c.relation === "touches-neighbour") return `it changed ${c.via}, which this service calls or is called by`;
  if (c.relation === "mesh-wide") return "it changed mesh-wide policy";
  return "its commit could not be read to see what it touched";
}

/** The terminal timeline, oldest first. */
export function renderCorrelationText(r: CorrelationReport): string {
  const out: string[] = [];
  const byRev = new Map(r.changes.map((c) => [c.revision, c]));
  const events: { t: number; lines: string[] }[] = [];
  for (const c of r.changes) if (c.appliedAt >= r.from && c.appliedAt <= r.to) events.push({ t: c.appliedAt, lines: [`${clock(c.appliedAt)}  applied ${changeLine(c).replace(/, applied .*$/, "")}`] });
  for (const at of r.attributions) {
    const a = at.anomaly;
    const lines = [`${clock(a.start)}  ${subjectLabel(a)}  ${anomalyLine(a)}`];
    const pad = " ".repeat(10);
    if (at.cause) {
      const c = byRev.get(at.cause.revision)!;
      lines.push(`${pad}most likely cause: ${changeLine(c)}`);
      lines.push(`${pad}  (score ${at.cause.score.toFixed(2)}: ${why(at.cause)}, ${Math.max(0, Math.round(at.cause.lagS))} s before)`);
    } else lines.push(`${pad}no applied change explains it`);
    if (a.end !== undefined) lines.push(`${pad}recovered ${clock(a.end)}`);
    const tr = r.traces?.[r.attributions.indexOf(at)];
    if (tr) {
      if (tr.error) lines.push(`${pad}traces: ${tr.error}`);
      else {
        lines.push(`${pad}traces: ${tr.slowest.length} slowest in window${tr.slowest.length ? ":" : " (none found)"}`);
        for (const t of tr.slowest) lines.push(`${pad}  ${traceLine(t)}`);
        if (tr.failing.length) {
          lines.push(`${pad}failing traces:`);
          for (const t of tr.failing) lines.push(`${pad}  ${traceLine(t)}`);
        }
      }
    }
    events.push({ t: a.start, lines });
  }
  events.sort((x, y) => x.t - y.t);
  out.push(`${r.env}: ${r.mesh} metrics ${isoTime(r.from)} → ${isoTime(r.to)} (step ${r.stepS}s, ${r.queries} Prometheus queries)`);
  if (r.attributions.length === 0) out.push("no anomalies");
  for (const e of events) out.push(...e.lines);
  return `${out.join("\n")}\n`;
}

/** Markdown for a merge request or deployment note. */
export function renderCorrelationMarkdown(r: CorrelationReport): string {
  const byRev = new Map(r.changes.map((c) => [c.revision, c]));
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  const out = [`### Mesh anomalies in ${r.env}`, "", `${r.mesh} metrics from ${isoTime(r.from)} to ${isoTime(r.to)}.`, ""];
  if (r.attributions.length === 0) out.push("No anomalies.");
  else {
    out.push("| started (UTC) | where | what | most likely cause | recovered |", "|---|---|---|---|---|");
    for (const at of r.attributions) {
      const a = at.anomaly;
      const c = at.cause ? byRev.get(at.cause.revision) : undefined;
      const tr = r.traces?.[r.attributions.indexOf(at)];
      const traces = tr && !tr.error ? `<br>traces: ${[...tr.slowest.slice(0, 3), ...tr.failing.filter((f) => !tr.slowest.slice(0, 3).includes(f)).slice(0, 2)].map((t) => `[${t.durationMs.toFixed(0)} ms${t.error ? " ✗" : ""}](${t.url})`).join(" ")}` : "";
      out.push(`| ${clock(a.start)} | ${esc(subjectLabel(a))} | ${esc(anomalyLine(a))}${traces} | ${c ? esc(changeLine(c)) : "no applied change explains it"} | ${a.end !== undefined ? clock(a.end) : "not yet"} |`);
    }
  }
  return `${out.join("\n")}\n`;
}

/** JSON: times as ISO strings next to unix seconds. */
export function renderCorrelationJson(r: CorrelationReport): string {
  const doc = {
    env: r.env,
    mesh: r.mesh,
    from: isoTime(r.from),
    to: isoTime(r.to),
    stepS: r.stepS,
    windowS: r.windowS,
    queries: r.queries,
    changes: r.changes.map((c) => ({ ...c, appliedAt: isoTime(c.appliedAt) })),
    anomalies: r.attributions.map((at, i) => ({
      ...at.anomaly,
      start: isoTime(at.anomaly.start),
      ...(at.anomaly.end !== undefined ? { end: isoTime(at.anomaly.end) } : {}),
      cause: at.cause ?? null,
      others: at.others,
      ...(r.traces?.[i] ? { traces: r.traces[i] } : {}),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
