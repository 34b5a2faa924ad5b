/** Renderers for check results: terminal text, JSON, GitLab Code Quality, JUnit XML and SARIF 2.1.0. */
import { createHash } from "node:crypto";
import { sortFindings, type Finding } from "./finding.js";
import { subjectOf } from "../model/resource.js";

/** Everything a check run reports. */
export interface CheckReport {
  findings: Finding[];
  /** Objects checked per environment, with the schema that validated each. */
  objects: { env: string; file: string; line: number; resource: Finding["resource"]; schema?: string }[];
  environments: string[];
  /** Things the reader should know about how the check ran (a cluster whose live references could not be read). */
  notes?: string[];
}

export interface Summary {
  errors: number;
  warnings: number;
  infos: number;
  suppressed: number;
  objects: number;
  environments: string[];
  /** Objects per schema source. */
  schemas: Record<string, number>;
  unvalidated: number;
}

/** Findings that count: everything not suppressed. */
export function activeFindings(report: CheckReport): Finding[] {
  return report.findings.filter((f) => !f.suppressed);
}

export function summarize(report: CheckReport): Summary {
  const active = activeFindings(report);
  const schemas: Record<string, number> = {};
  let unvalidated = 0;
  for (const o of report.objects) {
    if (o.schema) schemas[o.schema] = (schemas[o.schema] ?? 0) + 1;
    else unvalidated++;
  }
  return {
    errors: active.filter((f) => f.severity === "error").length,
    warnings: active.filter((f) => f.severity === "warning").length,
    infos: active.filter((f) => f.severity === "info").length,
    suppressed: report.findings.length - active.length,
    objects: report.objects.length,
    environments: report.environments,
    schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))),
    unvalidated,
  };
}

function findingJson(f: Finding): Record<string, unknown> {
  return {
    code: f.code,
    category: f.category,
    severity: f.severity,
    message: f.message,
    file: f.file,
    line: f.line,
    column: f.column,
    ...(f.resource ? { resource: { apiVersion: f.resource.apiVersion, kind: f.resource.kind, namespace: f.resource.namespace ?? null, name: f.resource.name } } : {}),
    ...(f.env ? { env: f.env } : {}),
    ...(f.schema ? { schema: f.schema } : {}),
    ...(f.istio ? { istio: f.istio } : {}),
    ...(f.suppressed ? { suppressed: true, suppression: f.suppressed } : {}),
  };
}

/** `{"findings":[...],"summary":{...},"objects":[...]}` with findings sorted by file, line, code. */
export function renderJson(report: CheckReport): string {
  return `${JSON.stringify({ findings: sortFindings(report.findings).map(findingJson), summary: summarize(report), objects: report.objects, ...(report.notes?.length ? { notes: report.notes } : {}) }, null, 2)}\n`;
}

/** A fingerprint that survives unrelated edits: code, file, resource and message, not the line. */
export function fingerprint(f: Finding): string {
  const subject = f.resource ? subjectOf(f.resource) : "";
  return createHash("md5").update(`${f.code}\0${f.file}\0${subject}\0${f.env ?? ""}\0${f.message}`).digest("hex");
}

/** GitLab Code Quality report (a JSON array; severity info|minor|major|critical|blocker). */
export function renderCodeQuality(report: CheckReport): string {
  const sev = { error: "major", warning: "minor", info: "info" } as const;
  const seen = new Set<string>();
  const items = [];
  for (const f of sortFindings(activeFindings(report))) {
    let fp = fingerprint(f);
    // GitLab drops issues with duplicate fingerprints: make repeats unique but stable
    for (let i = 1; seen.has(fp); i++) fp = createHash("md5").update(`${fingerprint(f)}#${i}`).digest("hex");
    seen.add(fp);
    items.push({
      description: `${f.code}: ${f.message}${f.env ? ` [${f.env}]` : ""}`,
      check_name: f.code,
      fingerprint: fp,
      severity: sev[f.severity],
      location: { path: f.file, lines: { begin: f.line } },
    });
  }
  return `${JSON.stringify(items, null, 2)}\n`;
}

function xmlEscape(s: string): string {
  // XML 1.0 cannot carry most control characters, even escaped: drop them
  const printable = [...s].filter((ch) => {
    const c = ch.charCodeAt(0);
    return c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  });
  return printable.join("").replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c);
}

/** JUnit XML: one test suite per environment, one test case per object; errors are failures. */
export function renderJunit(all: CheckReport): string {
  const report = { ...all, findings: activeFindings(all) };
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const byEnv = new Map<string, CheckReport["objects"]>();
  for (const e of report.environments) byEnv.set(e, []);
  for (const o of report.objects) byEnv.get(o.env)?.push(o);
  const failuresFor = (env: string, file: string, subject: string | undefined): Finding[] =>
    report.findings.filter((f) => f.severity === "error" && (f.env ?? env) === env && f.file === file && (f.resource ? subjectOf(f.resource) : undefined) === subject);
  const totalTests = report.objects.length + report.findings.filter((f) => !f.resource && f.severity === "error").length;
  const totalFailures = report.findings.filter((f) => f.severity === "error").length;
  lines.push(`<testsuites name="meshops check" tests="${totalTests}" failures="${totalFailures}">`);
  for (const [env, objects] of byEnv) {
    const loose = report.findings.filter((f) => f.severity === "error" && !f.resource && (f.env ?? env) === env);
    const cases: string[] = [];
    let failures = 0;
    for (const o of objects) {
      const subject = o.resource ? subjectOf(o.resource) : o.file;
      const fails = failuresFor(env, o.file, o.resource ? subjectOf(o.resource) : undefined);
      failures += fails.length > 0 ? 1 : 0;
      const body = fails.map((f) => `      <failure message="${xmlEscape(`${f.code}: ${f.message}`)}" type="${f.code}">${xmlEscape(`${f.file}:${f.line}:${f.column} ${f.code} ${f.message}`)}</failure>`);
      cases.push(`    <testcase classname="${xmlEscape(`${env}.${o.file}`)}" name="${xmlEscape(subject)}" file="${xmlEscape(o.file)}">${body.length ? `\n${body.join("\n")}\n    ` : ""}</testcase>`);
    }
    for (const f of loose) {
      failures++;
      cases.push(
        `    <testcase classname="${xmlEscape(`${env}.${f.file}`)}" name="${xmlEscape(`${f.file}:${f.line}`)}" file="${xmlEscape(f.file)}">\n      <failure message="${xmlEscape(`${f.code}: ${f.message}`)}" type="${f.code}">${xmlEscape(`${f.file}:${f.line}:${f.column} ${f.message}`)}</failure>\n    </testcase>`,
      );
    }
    lines.push(`  <testsuite name="${xmlEscape(env)}" tests="${cases.length}" failures="${failures}">`);
    lines.push(...cases);
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>");
  return `${lines.join("\n")}\n`;
}

/** SARIF 2.1.0 with one rule per finding code. */
export function renderSarif(report: CheckReport, version: string): string {
  const sorted = sortFindings(report.findings);
  const codes = [...new Set(sorted.map((f) => f.code))].sort();
  const level = { error: "error", warning: "warning", info: "note" } as const;
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "meshops", version, informationUri: "https://gitlab.com/meshops/meshops", rules: codes.map((c) => ({ id: c, name: c })) } },
        results: sorted.map((f) => ({
          ruleId: f.code,
          ruleIndex: codes.indexOf(f.code),
          level: level[f.severity],
          message: { text: f.message },
          locations: [{ physicalLocation: { artifactLocation: { uri: f.file }, region: { startLine: Math.max(1, f.line), startColumn: Math.max(1, f.column) } } }],
          partialFingerprints: { meshops: fingerprint(f) },
          ...(f.suppressed ? { suppressions: [{ kind: "external", justification: `${f.suppressed.reason} (${f.suppressed.by})` }] } : {}),
          ...(f.env ? { properties: { env: f.env } } : {}),
        })),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

export interface TextOptions {
  color: boolean;
  /** Reads a line of a repository file, for showing the offending line. */
  readLine?: (file: string, line: number) => string | undefined;
}

/** Terminal text grouped by file, with the offending line and a caret under the column. */
export function renderText(report: CheckReport, opts: TextOptions): string {
  const c = (code: string, s: string): string => (opts.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const sevText = { error: c("31;1", "error"), warning: c("33;1", "warning"), info: c("36", "info") };
  const out: string[] = [];
  const byFile = new Map<string, Finding[]>();
  for (const f of sortFindings(activeFindings(report))) {
    const list = byFile.get(f.file) ?? [];
    list.push(f);
    byFile.set(f.file, list);
  }
  for (const [file, list] of byFile) {
    out.push(c("1;4", file || "(no file)"));
    for (const f of list) {
      const envs = f.env ? c("2", ` [${f.env}]`) : "";
      out.push(`  ${f.line}:${f.column}  ${sevText[f.severity]}  ${f.message}  ${c("2", f.code)}${envs}`);
      const src = file ? opts.readLine?.(file, f.line) : undefined;
      if (src !== undefined && src.trim() !== "") {
        const gutter = `${f.line} | `;
        out.push(c("2", `      ${gutter}`) + src);
        out.push(`      ${" ".repeat(gutter.length + Math.max(0, f.column - 1))}${c(f.severity === "error" ? "31" : "33", "^")}`);
      }
    }
    out.push("");
  }
  const s = summarize(report);
  const envs = s.environments.length === 1 ? `environment ${s.environments[0]}` : `${s.environments.length} environments (${s.environments.join(", ")})`;
  const verdict = s.errors > 0 ? c("31;1", `${s.errors} error${s.errors === 1 ? "" : "s"}`) : c("32;1", "no errors");
  out.push(
    `${verdict}, ${s.warnings} warning${s.warnings === 1 ? "" : "s"} in ${s.objects} object${s.objects === 1 ? "" : "s"} across ${envs}` +
      (s.unvalidated > 0 ? `; ${s.unvalidated} object${s.unvalidated === 1 ? "" : "s"} had no schema` : "") +
      (s.suppressed > 0 ? `; ${s.suppressed} suppressed (listed in --format json)` : ""),
  );
  return `${out.join("\n")}\n`;
}
