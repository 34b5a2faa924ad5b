/** Renderers of the semantic diff: aligned terminal text, a Markdown table for a merge-request note, JSON. */
import type { SemanticDiffLine } from "./semantic.js";

/** A diff line with the environment it was found in (when the repository has several). */
export type EnvDiffLine = SemanticDiffLine & { env?: string };

/** Aligned columns: subject, kind, change, [risk: x]; "no semantic changes" when empty. */
export function renderDiffText(lines: readonly EnvDiffLine[]): string {
  if (lines.length === 0) return "no semantic changes\n";
  const subj = (l: EnvDiffLine): string => (l.env ? `[${l.env}] ${l.subject}` : l.subject);
  const w1 = Math.max(...lines.map((l) => subj(l).length));
  const w2 = Math.max(...lines.map((l) => l.kind.length));
  return lines.map((l) => `${subj(l).padEnd(w1)}   ${l.kind.padEnd(w2)}   ${l.change}  [risk: ${l.risk}]`).join("\n") + "\n";
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** A Markdown table ready for a merge-request note. */
export function renderDiffMarkdown(lines: readonly EnvDiffLine[]): string {
  if (lines.length === 0) return "**meshops diff**: no semantic changes\n";
  const envs = lines.some((l) => l.env);
  const high = lines.filter((l) => l.risk === "high").length;
  const head = `**meshops diff**: ${lines.length} semantic change${lines.length === 1 ? "" : "s"}${high ? `, ${high} high risk` : ""}\n\n`;
  const cols = envs ? "| env | subject | kind | change | risk |\n|---|---|---|---|---|\n" : "| subject | kind | change | risk |\n|---|---|---|---|\n";
  const risk = (r: string): string => (r === "high" ? "**high**" : r);
  const rows = lines.map((l) => `| ${envs ? `${cell(l.env ?? "")} | ` : ""}\`${cell(l.subject)}\` | ${l.kind} | ${cell(l.change)} | ${risk(l.risk)} |`);
  return head + cols + rows.join("\n") + "\n";
}

/** `{ "changes": [...] }`, stable key order. */
export function renderDiffJson(lines: readonly EnvDiffLine[]): string {
  return JSON.stringify({ changes: lines.map((l) => ({ ...(l.env ? { env: l.env } : {}), subject: l.subject, kind: l.kind, change: l.change, risk: l.risk })) }, null, 2) + "\n";
}
