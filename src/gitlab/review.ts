/**
 * What `meshops ci` leaves in a merge request: one note (found again by a hidden marker and edited in place,
 * never a new note per push) and the report artifacts GitLab's widgets read:
 *
 * - the note: check summary, the semantic diff (what the change does), findings, and per environment the
 *   live-cluster plan or why there is none; long plans fold into `<details>`; past GitLab's note size limit
 *   (1,000,000 characters) it is cut and links to the full note in the job's artifacts;
 * - `plan-<env>.json`: the Terraform-shaped `{"create":N,"update":N,"delete":N}` report (all three keys,
 *   integers);
 * - `metrics.txt`: OpenMetrics lines `name value` with flat names (GitLab's metrics parser compares the
 *   first two whitespace-separated tokens as strings; labels would become part of the name);
 * - `deploy.env`: dotenv `KEY=VALUE` lines (keys [A-Za-z0-9_], no spaces or newlines in values).
 */
import type { SemanticDiffLine } from "../diff/index.js";
import type { Finding } from "../report/finding.js";
import type { Summary } from "../report/formats.js";

/** The hidden marker of meshops' review note. */
export const NOTE_MARKER = "<!-- meshops:review -->";
/** GitLab's limit on a note body (Notes API: body ≤ 1,000,000 characters). */
export const NOTE_LIMIT = 1_000_000;

export interface EnvironmentPlan {
  env: string;
  context?: string;
  /** create/update/delete/unchanged counts, when the cluster was reachable. */
  counts?: { create: number; update: number; delete: number; unchanged: number; errors: number };
  /** The plan rendered as markdown (changeset renderer), folded into the note. */
  markdown?: string;
  /** Why there is no plan (no cluster configured, unreachable, forbidden). */
  unavailable?: string;
}

export interface ReviewInput {
  summary: Summary;
  findings: Finding[];
  failOn: "error" | "warning" | "info" | "none";
  failed: boolean;
  /** Semantic diff lines per environment (empty: no semantic change). */
  semantic: { env: string; lines: SemanticDiffLine[]; error?: string }[];
  plans: EnvironmentPlan[];
  commit: string;
  baseCommit?: string;
  pipelineUrl?: string;
  jobUrl?: string;
  version: string;
  /** Where the full note is (the job artifact URL), for truncation. */
  fullNoteUrl?: string;
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

function checkLine(r: ReviewInput): string {
  const s = r.summary;
  const counts = [plural(s.errors, "error"), plural(s.warnings, "warning"), ...(s.infos ? [`${s.infos} info`] : []), ...(s.suppressed ? [`${s.suppressed} suppressed`] : [])].join(", ");
  const icon = r.failed ? ":x:" : s.warnings || s.errors ? ":warning:" : ":white_check_mark:";
  return `${icon} **check**: ${counts} in ${plural(s.objects, "object")} across ${plural(s.environments.length, "environment")} (${s.environments.map((e) => `\`${e}\``).join(", ")})${r.failOn !== "none" ? `; fails on ${r.failOn}` : ""}`;
}

const FINDINGS_SHOWN = 50;

function findingsSection(r: ReviewInput): string[] {
  const active = r.findings.filter((f) => !f.suppressed);
  if (active.length === 0) return [];
  const order = { error: 0, warning: 1, info: 2 } as const;
  const sorted = [...active].sort((a, b) => order[a.severity] - order[b.severity] || a.file.localeCompare(b.file) || a.line - b.line);
  const out = ["", `### Findings (${active.length})`, "", "| severity | code | where | message |", "|---|---|---|---|"];
  for (const f of sorted.slice(0, FINDINGS_SHOWN)) out.push(`| ${f.severity} | ${f.code}${f.istio ? ` (${f.istio})` : ""} | \`${cell(f.file)}:${f.line}\`${f.env ? ` ${cell(f.env)}` : ""} | ${cell(f.message)} |`);
  if (sorted.length > FINDINGS_SHOWN) out.push("", `…and ${sorted.length - FINDINGS_SHOWN} more in the Code Quality and JUnit reports.`);
  return out;
}

function semanticSection(r: ReviewInput): string[] {
  const out = ["", "### What this change does"];
  const withLines = r.semantic.filter((s) => s.lines.length > 0 || s.error);
  if (withLines.length === 0) {
    out.push("", `No change to traffic, routes, access or mTLS${r.baseCommit ? ` since \`${r.baseCommit.slice(0, 8)}\`` : ""}.`);
    return out;
  }
  const multi = r.semantic.length > 1;
  out.push("", `${multi ? "| env " : ""}| subject | kind | change | risk |`, `${multi ? "|---" : ""}|---|---|---|---|`);
  const notes: string[] = [];
  for (const s of withLines) {
    if (s.error) notes.push(`- \`${s.env}\`: ${s.error}`);
    for (const l of s.lines) out.push(`${multi ? `| \`${s.env}\` ` : ""}| \`${cell(l.subject)}\` | ${l.kind} | ${cell(l.change)} | ${l.risk === "high" ? "**high**" : l.risk} |`);
  }
  if (notes.length) out.push("", ...notes);
  return out;
}

function planSection(r: ReviewInput): string[] {
  if (r.plans.length === 0) return [];
  const out = ["", "### Live-cluster plan"];
  for (const p of r.plans) {
    const where = p.context ? ` (context \`${p.context}\`)` : "";
    if (!p.counts) {
      out.push("", `- \`${p.env}\`${where}: no plan: ${p.unavailable ?? "cluster not reachable"}`);
      continue;
    }
    const c = p.counts;
    const line = `\`${p.env}\`${where}: ${c.create} to create, ${c.update} to change, ${c.delete} to delete, ${c.unchanged} unchanged${c.errors ? `, ${c.errors} could not be planned` : ""}`;
    if (!p.markdown || c.create + c.update + c.delete + c.errors === 0) out.push("", `- ${line}`);
    else out.push("", `<details><summary>${line}</summary>`, "", p.markdown.trim(), "", "</details>");
  }
  return out;
}

/** The note body, within `limit` characters. */
export function renderReviewNote(r: ReviewInput, limit = NOTE_LIMIT): string {
  const footer = `\n\n<sub>meshops ${r.version} · commit ${r.commit.slice(0, 8)}${r.baseCommit ? ` vs ${r.baseCommit.slice(0, 8)}` : ""}${r.pipelineUrl ? ` · [pipeline](${r.pipelineUrl})` : ""}${r.jobUrl ? ` · [job](${r.jobUrl})` : ""}</sub>\n`;
  const body = [NOTE_MARKER, "## meshops review", "", checkLine(r), ...semanticSection(r), ...findingsSection(r), ...planSection(r)].join("\n");
  if (body.length + footer.length <= limit) return body + footer;
  const cut = `\n\n**…truncated**: this review is longer than GitLab allows in a note.${r.fullNoteUrl ? ` [Read the full review](${r.fullNoteUrl}).` : " The full review is in the job's artifacts (note.md)."}`;
  const close = "\n\n</details>";
  const room = Math.max(0, limit - footer.length - cut.length - close.length);
  // cut at a line boundary so no table row or link is half there, and close a <details> left open
  let head = body.slice(0, room);
  const atLine = head.lastIndexOf("\n");
  if (atLine > NOTE_MARKER.length) head = head.slice(0, atLine);
  const open = (head.match(/<details>/g) ?? []).length - (head.match(/<\/details>/g) ?? []).length;
  return `${head}${open > 0 ? close : ""}${cut}${footer}`;
}

/** The Terraform-shaped report GitLab's MR widget reads (all three keys; integers capped at 999,999). */
export function terraformReport(counts: { create: number; update: number; delete: number }): string {
  const cap = (n: number): number => Math.max(0, Math.min(999_999, Math.trunc(n)));
  return `${JSON.stringify({ create: cap(counts.create), update: cap(counts.update), delete: cap(counts.delete) })}\n`;
}

/** A metric name GitLab's parser keeps whole: [a-zA-Z0-9_] only. */
export function metricName(...parts: string[]): string {
  return parts
    .join("_")
    .replace(/[^A-Za-z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");
}

/** OpenMetrics text with flat names (one `name value` per line, `# EOF` last). */
export function metricsReport(metrics: [string, number][]): string {
  const lines = metrics.map(([n, v]) => `${metricName(n)} ${Number.isInteger(v) ? v : v.toFixed(4)}`);
  return `${lines.join("\n")}\n# EOF\n`;
}

/** dotenv for GitLab (keys [A-Za-z0-9_]; values single-line, no spaces). Throws on a value GitLab would reject. */
export function dotenvReport(vars: Record<string, string>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(vars)) {
    if (!/^[A-Za-z0-9_]+$/.test(k)) throw new Error(`dotenv key "${k}" has characters GitLab does not accept`);
    if (/[\s]/.test(v)) throw new Error(`dotenv value of ${k} contains whitespace, which GitLab's dotenv report does not accept`);
    out.push(`${k}=${v}`);
  }
  const text = `${out.join("\n")}\n`;
  if (Buffer.byteLength(text) > 5 * 1024) throw new Error("the dotenv report is larger than GitLab's 5 KB limit");
  return text;
}

/** Finds meshops' note among an MR's notes (not system notes): the newest with the marker. */
export function findReviewNote<T extends { id: number; body: string; system?: boolean }>(notes: T[]): T | undefined {
  return [...notes].reverse().find((n) => !n.system && n.body.includes(NOTE_MARKER));
}
