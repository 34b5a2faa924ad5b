/** The analyzer contract: a stable code, a default severity, an explanation, and a pure run(model, ctx). */
import type { Source } from "../model/core.js";
import type { MeshModel } from "../model/mesh-model.js";
import type { FieldPath } from "../model/resource.js";
import type { Finding, Severity } from "../report/finding.js";

/** How references to kinds the repository holds none of are reported (meshops.yaml `policy.references`). */
export type ReferencePolicy = "strict" | "warn" | "off";

/** What an analyzer may know besides the model. */
export interface AnalyzeContext {
  references: ReferencePolicy;
}

/** One semantic rule. Codes: MSH2xxx Istio, MSH3xxx Gateway API, MSH4xxx Linkerd, MSH5xxx cross-mesh/core. */
export interface Analyzer {
  code: string;
  severity: Severity;
  title: string;
  /** One paragraph, shown by `meshops explain CODE`. */
  explanation: string;
  /** The equivalent `istioctl analyze` code, where one exists. */
  istio?: string;
  run(model: MeshModel, ctx: AnalyzeContext): Finding[];
}

/** Builds a finding of `a` at a model element (optionally a field below it). */
export function findingAt(a: Analyzer, src: Source, message: string, opts: { path?: FieldPath; severity?: Severity; atObject?: boolean } = {}): Finding {
  const m = src.manifest;
  const origin = { line: m.origin.line, column: m.origin.column };
  const pos = opts.atObject ? origin : (m.locate([...src.path, ...(opts.path ?? [])]) ?? m.locate(src.path) ?? origin);
  return {
    code: a.code,
    category: "analysis",
    severity: opts.severity ?? a.severity,
    message,
    file: m.origin.file,
    line: pos.line,
    column: pos.column,
    resource: m.ref,
    ...(a.istio ? { istio: a.istio } : {}),
  };
}

/** What the repository holds of a kind, for missingReference. */
export interface Held {
  any: boolean;
  plural: string;
}

/**
 * Does the repository hold any object of the kind in the referenced namespace? A repository that keeps only the
 * bookinfo namespace's objects cannot know what istio-system holds, so only objects in that namespace count.
 */
export function heldIn(model: MeshModel, group: string, kind: string, namespace: string, plural: string): Held {
  return { any: model.kindsInNamespace.has(`${group}/${kind}/${namespace}`), plural: `${plural} in namespace ${namespace}` };
}

/**
 * A reference that resolves to nothing. When the repository holds objects of the referenced kind, the absence
 * is meaningful and the analyzer's severity applies. When it holds none, the object may live outside the
 * repository (issue 3 item 6): a warning that says so (`references: warn`, the default), an error (`strict`),
 * or nothing (`off`).
 */
export function missingReference(a: Analyzer, ctx: AnalyzeContext, src: Source, message: string, held: Held, path?: FieldPath): Finding[] {
  const at = path ? { path } : {};
  if (held.any) return [findingAt(a, src, message, at)];
  if (ctx.references === "off") return [];
  if (ctx.references === "strict") return [findingAt(a, src, message, at)];
  // Pointed at the object, not the field: a repository that holds none of a kind can have thousands of these, and
  // an exact field position costs a second YAML parse of each document (3x the time of check on 10,000 objects).
  return [findingAt(a, src, `${message}; the repository holds no ${held.plural}, so this could not be confirmed`, { severity: "warning", atObject: true })];
}
