/** The contract of a policy rule (zero-trust pack, user policies): a stable code, a default severity and an explanation for `meshops explain`. */
import type { FieldPath, Manifest } from "../model/resource.js";
import type { Finding, Severity } from "../report/finding.js";

/** One policy rule. Codes: MSH60xx zero-trust pack, MSH61xx user ValidatingAdmissionPolicies. */
export interface PolicyRule {
  code: string;
  severity: Severity;
  title: string;
  /** One paragraph, shown by `meshops explain CODE`. */
  explanation: string;
}

/** A policy finding at an object (or a field of it; the object's position when the field cannot be located). */
export function policyFindingAt(rule: PolicyRule, m: Manifest, message: string, path: FieldPath = [], severity: Severity = rule.severity): Finding {
  const pos = (path.length ? m.locate(path) : undefined) ?? { line: m.origin.line, column: m.origin.column };
  return { code: rule.code, category: "policy", severity, message, file: m.origin.file, line: pos.line, column: pos.column, resource: m.ref };
}

/** Where something that is missing is reported: the environment in meshops.yaml (or its path without one). */
export interface EnvironmentSite {
  name: string;
  file: string;
  line: number;
  column: number;
}

/** A policy finding about something the environment lacks, at its definition in meshops.yaml. */
export function policyFindingAtEnv(rule: PolicyRule, env: EnvironmentSite, message: string, severity: Severity = rule.severity): Finding {
  return { code: rule.code, category: "policy", severity, message: `environment ${env.name}: ${message}`, file: env.file, line: env.line, column: env.column };
}
