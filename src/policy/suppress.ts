/**
 * Suppressions with a reason: per object (annotation `meshops.dev/ignore: "CODE: reason"`, several separated
 * by newlines or ';') and per repository (meshops.yaml `policy.suppress`). Suppressed findings stay in the
 * JSON output, marked, and no longer count towards the exit code.
 */
import type { PolicyConfig } from "../config/schema.js";
import { identityKey, subjectOf, type Manifest, type ResourceRef } from "../model/resource.js";
import type { Finding } from "../report/finding.js";

export const IGNORE_ANNOTATION = "meshops.dev/ignore";

/** code → reason, from an object's ignore annotation; malformed entries are returned as problems. */
export function parseIgnoreAnnotation(value: string): { entries: Map<string, string>; problems: string[] } {
  const entries = new Map<string, string>();
  const problems: string[] = [];
  for (const part of value.split(/[\n;]/).map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Z]+[0-9]+)\s*:\s*(.{5,})$/.exec(part);
    if (!m?.[1] || !m[2]) problems.push(`"${part}" is not "CODE: reason" (a reason of at least 5 characters is required)`);
    else entries.set(m[1], m[2].trim());
  }
  return { entries, problems };
}

/** Does a "Kind/namespace/name" or "Kind/name" pattern (segments may be '*') match the object? */
function resourceMatches(pattern: string, ref: ResourceRef): boolean {
  const parts = pattern.split("/");
  const want = parts.length === 3 ? [ref.kind, ref.namespace ?? "", ref.name] : [ref.kind, ref.name];
  return parts.length === want.length && parts.every((p, i) => p === "*" || p === want[i]);
}

/** Marks suppressed findings; adds a policy finding for each malformed ignore annotation. */
export function applySuppressions(findings: Finding[], manifests: readonly Manifest[], policy: PolicyConfig): Finding[] {
  const byIdentity = new Map<string, Manifest>();
  for (const m of manifests) byIdentity.set(identityKey(m.ref), m);
  const out: Finding[] = [];
  const annotationProblems: Finding[] = [];
  const parsed = new Map<string, Map<string, string>>();
  for (const m of manifests) {
    const value = ((m.object.metadata as { annotations?: Record<string, unknown> }).annotations ?? {})[IGNORE_ANNOTATION];
    if (typeof value !== "string") continue;
    const { entries, problems } = parseIgnoreAnnotation(value);
    parsed.set(identityKey(m.ref), entries);
    const pos = m.locate(["metadata", "annotations", IGNORE_ANNOTATION]) ?? m.origin;
    for (const p of problems) {
      annotationProblems.push({ code: "MSH0011", category: "policy", severity: "error", message: `${IGNORE_ANNOTATION}: ${p}`, file: m.origin.file, line: pos.line, column: pos.column, resource: m.ref });
    }
  }
  for (const f of findings) {
    if (f.category === "input" || f.suppressed) {
      out.push(f);
      continue;
    }
    const key = f.resource ? identityKey(f.resource) : undefined;
    const reason = key ? parsed.get(key)?.get(f.code) : undefined;
    if (reason && key) {
      const m = byIdentity.get(key);
      out.push({ ...f, suppressed: { reason, by: `${IGNORE_ANNOTATION} on ${m ? subjectOf(m.ref) : "the object"}` } });
      continue;
    }
    const rule = policy.suppress.find(
      (s) => s.code === f.code && (!s.resource || (f.resource !== undefined && resourceMatches(s.resource, f.resource))) && (!s.path || f.file === s.path || f.file.startsWith(`${s.path.replace(/\/$/, "")}/`)),
    );
    out.push(rule ? { ...f, suppressed: { reason: rule.reason, by: "meshops.yaml policy.suppress" } } : f);
  }
  return [...out, ...annotationProblems];
}
