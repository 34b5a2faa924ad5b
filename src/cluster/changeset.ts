/**
 * Renders plans and apply results in the fluxcd change-set vocabulary (`Kind/ns/name action`), the same in
 * the terminal, an MR note (markdown) and JSON. Deterministic: no timestamps, sorted by subject. Secret data
 * never appears (diffObjects masks it; created objects are not printed).
 */
import { formatValue, type FieldChange } from "./diff.js";
import type { ChangeAction, PlanEntry } from "./plan.js";

/** Output formats of plan and apply. */
export type ChangeSetFormat = "text" | "markdown" | "json";

export interface ChangeSetHeader {
  env: string;
  context: string;
  /** "plan" shows what would change; "apply" what changed. */
  mode: "plan" | "apply";
  commit?: string;
  gitRevision?: string;
}

const ORDER: ChangeAction[] = ["created", "configured", "deleted", "skipped", "unchanged"];

function counts(entries: PlanEntry[]): Record<ChangeAction, number> {
  const s: Record<ChangeAction, number> = { created: 0, configured: 0, unchanged: 0, deleted: 0, skipped: 0 };
  for (const e of entries) s[e.action]++;
  return s;
}

function summaryLine(entries: PlanEntry[]): string {
  const c = counts(entries);
  return ORDER.map((a) => `${c[a]} ${a}`).join(", ");
}

function changeLine(c: FieldChange): string {
  if (c.masked) return `${c.path}: (sensitive value changed)`;
  if (c.old === undefined) return `${c.path}: + ${formatValue(c.new)}`;
  if (c.new === undefined) return `${c.path}: - ${formatValue(c.old)}`;
  return `${c.path}: ${formatValue(c.old)} → ${formatValue(c.new)}`;
}

/** The reason without a leading repeat of the subject (API errors start with it). */
function reasonOf(e: PlanEntry): string {
  if (!e.reason) return "";
  return e.reason.startsWith(`${e.subject}: `) ? e.reason.slice(e.subject.length + 2) : e.reason;
}

function source(e: PlanEntry): string {
  return e.origin ? `  (${e.origin.file}:${e.origin.line})` : "";
}

/** Terminal text: one line per object that changes (unchanged ones only counted unless verbose). */
export function renderChangeSetText(h: ChangeSetHeader, entries: PlanEntry[], opts: { verbose?: boolean } = {}): string {
  const at = h.commit ? ` at ${h.commit.slice(0, 12)}` : "";
  const lines = [`${h.mode === "plan" ? "plan for" : "applied to"} environment ${h.env} (context ${h.context})${at}${h.mode === "plan" ? " (server dry run)" : ""}`];
  for (const e of entries) {
    if (e.action === "unchanged" && !opts.verbose) continue;
    lines.push(`${e.subject} ${e.action}${e.reason ? `: ${reasonOf(e)}` : ""}${source(e)}`);
    for (const c of e.changes ?? []) lines.push(`    ${changeLine(c)}`);
  }
  lines.push(`${h.mode === "plan" ? "plan" : "result"}: ${summaryLine(entries)}`);
  return `${lines.join("\n")}\n`;
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|");
}

/** Markdown for an MR note: a summary, a table of changed objects, field diffs in a diff block. */
export function renderChangeSetMarkdown(h: ChangeSetHeader, entries: PlanEntry[]): string {
  const at = h.commit ? ` at \`${h.commit.slice(0, 12)}\`` : "";
  const out = [`### meshops ${h.mode}: \`${h.env}\`${at}`, "", `**${summaryLine(entries)}**`, ""];
  const shown = entries.filter((e) => e.action !== "unchanged");
  if (shown.length) {
    out.push("| action | object | source |", "|---|---|---|");
    for (const e of shown) out.push(`| ${e.action} | \`${mdEscape(e.subject)}\`${e.reason ? ` — ${mdEscape(reasonOf(e))}` : ""} | ${e.origin ? `\`${e.origin.file}:${e.origin.line}\`` : ""} |`);
    const diffs = shown.filter((e) => e.changes?.length);
    if (diffs.length) {
      out.push("", "```diff");
      for (const e of diffs) {
        out.push(`# ${e.subject}`);
        for (const c of e.changes ?? []) {
          if (c.masked) out.push(`! ${c.path}: (sensitive value changed)`);
          else {
            if (c.old !== undefined) out.push(`- ${c.path}: ${formatValue(c.old)}`);
            if (c.new !== undefined) out.push(`+ ${c.path}: ${formatValue(c.new)}`);
          }
        }
      }
      out.push("```");
    }
  } else {
    out.push("No changes.");
  }
  return `${out.join("\n")}\n`;
}

/** JSON: the header, a summary and every entry (without the objects themselves). */
export function renderChangeSetJson(h: ChangeSetHeader, entries: PlanEntry[], extra: Record<string, unknown> = {}): string {
  const items = entries.map((e) => ({
    subject: e.subject,
    action: e.action,
    apiVersion: e.ref.apiVersion,
    kind: e.ref.kind,
    ...(e.ref.namespace ? { namespace: e.ref.namespace } : {}),
    name: e.ref.name,
    ...(e.origin ? { file: e.origin.file, line: e.origin.line } : {}),
    ...(e.changes ? { changes: e.changes } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.error ? { error: e.error } : {}),
  }));
  return `${JSON.stringify({ ...h, summary: counts(entries), ...extra, entries: items }, null, 2)}\n`;
}

/** Renders in the chosen format. */
export function renderChangeSet(format: ChangeSetFormat, h: ChangeSetHeader, entries: PlanEntry[], opts: { verbose?: boolean; extra?: Record<string, unknown> } = {}): string {
  if (format === "json") return renderChangeSetJson(h, entries, opts.extra);
  if (format === "markdown") return renderChangeSetMarkdown(h, entries);
  return renderChangeSetText(h, entries, opts);
}
