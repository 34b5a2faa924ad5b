/** Drift reports in the terminal, as an MR-ready markdown table and as JSON (one object, or one line per watch event). */
import { formatValue } from "./diff.js";
import { summarizeDrift, type DriftChange, type DriftEntry } from "./drift.js";
import type { ForeignField } from "./fields.js";

/** What a report is compared against. */
export interface DriftHeader {
  env: string;
  context: string;
  /** The inventory revision whose commit is the desired state. */
  inventoryRevision?: number;
  /** The commit rendered as the desired state; absent for the working tree. */
  commit?: string;
  subject?: string;
  /** How the desired state was chosen ("inventory revision 3", "--rev main", "working tree"). */
  against: string;
  /** Why nothing was compared (never applied). */
  note?: string;
}

function by(c: { manager?: string; operation?: string; time?: string }): string {
  if (!c.manager) return "";
  return ` (${c.manager}${c.operation ? `, ${c.operation}` : ""}${c.time ? ` at ${c.time}` : ""})`;
}

export function changeText(c: DriftChange): string {
  if (c.masked) return `${c.path}: sensitive value differs from Git${by(c)}`;
  if (c.old === undefined) return `${c.path}: missing in the cluster, Git has ${formatValue(c.new)}${by(c)}`;
  if (c.new === undefined) return `${c.path}: live ${formatValue(c.old)}, not in Git${by(c)}`;
  return `${c.path}: live ${formatValue(c.old)}, Git ${formatValue(c.new)}${by(c)}`;
}

export function foreignText(f: ForeignField): string {
  return `${f.path}: live ${formatValue(f.value)}, not in Git: set by ${f.manager}${f.operation ? ` (${f.operation}${f.time ? ` at ${f.time}` : ""})` : ""}; \`meshops adopt\` makes Git own it`;
}

function source(e: DriftEntry): string {
  return e.origin ? `  (${e.origin.file}:${e.origin.line})` : "";
}

function healthLine(e: DriftEntry): string | undefined {
  if (!e.health || e.health.status === "Healthy") return undefined;
  return `health ${e.health.status}: ${e.health.messages.join("; ")}`;
}

/** The lines of one entry (first line: subject and state; then indented details). */
export function entryLines(e: DriftEntry): string[] {
  const state = e.state === "in-sync" ? (e.health?.status === "Degraded" ? "degraded" : "in sync") : e.state;
  const lines = [`${e.subject} ${state}${e.reason ? `: ${e.reason}` : ""}${source(e)}`];
  for (const c of e.changes ?? []) lines.push(`    ${changeText(c)}`);
  for (const f of e.foreign ?? []) lines.push(`    ${foreignText(f)}`);
  const h = healthLine(e);
  if (h) lines.push(`    ${h}`);
  return lines;
}

function headerLine(h: DriftHeader): string {
  const what = h.commit ? `${h.against}, commit ${h.commit.slice(0, 12)}${h.subject ? ` "${h.subject}"` : ""}` : h.against;
  return `drift of environment ${h.env} (context ${h.context}) against ${what}`;
}

function summaryText(entries: DriftEntry[]): string {
  const s = summarizeDrift(entries);
  return `${s.drifted} drifted, ${s.missing} missing, ${s.extra} extra, ${s.error} errors, ${s.degraded} degraded, ${s["in-sync"]} in sync`;
}

function shown(e: DriftEntry, verbose: boolean): boolean {
  return verbose || e.state !== "in-sync" || (e.health !== undefined && e.health.status !== "Healthy");
}

export function renderDriftText(h: DriftHeader, entries: DriftEntry[], opts: { verbose?: boolean } = {}): string {
  const lines = [headerLine(h)];
  if (h.note) lines.push(h.note);
  for (const e of entries) if (shown(e, opts.verbose ?? false)) lines.push(...entryLines(e));
  lines.push(`drift: ${summaryText(entries)}`);
  return `${lines.join("\n")}\n`;
}

function md(s: string): string {
  return s.replace(/\|/g, "\\|");
}

export function renderDriftMarkdown(h: DriftHeader, entries: DriftEntry[]): string {
  const out = [`### meshops drift: \`${h.env}\``, "", `${headerLine(h).replace(/^drift of environment \S+ /, "Cluster ")}`, "", `**${summaryText(entries)}**`, ""];
  if (h.note) out.push(h.note, "");
  const rows = entries.filter((e) => shown(e, false));
  if (rows.length === 0) out.push("No drift.");
  else {
    out.push("| object | state | details | source |", "|---|---|---|---|");
    for (const e of rows) {
      const details = [...(e.changes ?? []).map(changeText), ...(e.foreign ?? []).map(foreignText), ...(healthLine(e) ? [healthLine(e)!] : []), ...(e.reason ? [e.reason] : [])];
      out.push(`| \`${md(e.subject)}\` | ${e.state} | ${md(details.join("<br>"))} | ${e.origin ? `\`${e.origin.file}:${e.origin.line}\`` : ""} |`);
    }
  }
  return `${out.join("\n")}\n`;
}

/** An entry as JSON (without the object to apply). */
export function entryJson(e: DriftEntry): Record<string, unknown> {
  const { desired: _desired, ref, ...rest } = e;
  return { ...rest, apiVersion: ref.apiVersion, kind: ref.kind, ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name };
}

export function driftJson(h: DriftHeader, entries: DriftEntry[]): Record<string, unknown> {
  return { ...h, summary: summarizeDrift(entries), entries: entries.map(entryJson) };
}
