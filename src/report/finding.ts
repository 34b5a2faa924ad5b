/** The one finding shape every stage (input, schema, analysis, policy) returns. */
import type { ResourceRef } from "../model/resource.js";

export type Severity = "error" | "warning" | "info";
export type Category = "input" | "schema" | "analysis" | "policy";

export interface Finding {
  /** Stable code, e.g. "MSH1001". */
  code: string;
  category: Category;
  severity: Severity;
  message: string;
  /** Repository-relative file path ("" when no file can be named). */
  file: string;
  line: number;
  column: number;
  resource?: ResourceRef;
  /** Environment the finding was found in. */
  env?: string;
  /** For schema findings: which schema validated the object (source and version). */
  schema?: string;
  /** The equivalent `istioctl analyze` message code, where one exists. */
  istio?: string;
  /** Set when a suppression (object annotation or meshops.yaml) silenced the finding: why, and where it was said. */
  suppressed?: { reason: string; by: string };
}

const severityRank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Sorts findings by file, line, code (then column, message) so output never churns. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.code.localeCompare(b.code) ||
      a.column - b.column ||
      severityRank[a.severity] - severityRank[b.severity] ||
      a.message.localeCompare(b.message) ||
      (a.env ?? "").localeCompare(b.env ?? ""),
  );
}
