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

/** What the repository (and the live cluster, when one was consulted) holds of a kind, for missingReference. */
export interface Held {
  /** The repository, or the consulted cluster, holds objects of the kind where the reference points. */
  any: boolean;
  plural: string;
  /** The context of the live cluster that was listed for the kind: the reference is missing there too. */
  cluster?: string;
}

/**
 * Does the repository — or the live cluster, when it was listed for the kind — hold any object of the kind in
 * the referenced namespace? A repository that keeps only the bookinfo namespace's objects cannot know what
 * istio-system holds, so only objects in that namespace count; the same goes for the cluster.
 */
export function heldIn(model: MeshModel, group: string, kind: string, namespace: string, plural: string): Held {
  const k = `${group}/${kind}`;
  const live = model.live?.kinds.has(k) ? model.live : undefined;
  return {
    any: model.kindsInNamespace.has(`${k}/${namespace}`) || (live?.kindsInNamespace.has(`${k}/${namespace}`) ?? false),
    plural: `${plural} in namespace ${namespace}`,
    ...(live ? { cluster: live.cluster } : {}),
  };
}

/** Held for a cluster-scoped kind (Namespaces): the repository holds any, or the cluster was listed for it. */
export function heldAnywhere(model: MeshModel, group: string, kind: string, plural: string): Held {
  const k = `${group}/${kind}`;
  const live = model.live?.kinds.has(k) ? model.live : undefined;
  return { any: model.kinds.has(k) || live !== undefined, plural, ...(live ? { cluster: live.cluster } : {}) };
}

/**
 * A reference that resolves to nothing. When the repository (or the consulted cluster) holds objects of the
 * referenced kind, the absence is meaningful and the analyzer's severity applies. When neither holds any, the
 * object may live outside the repository (issue 3 item 6): a warning that says so (`references: warn`, the
 * default), an error (`strict`), or nothing (`off`). When a live cluster was listed for the kind, the message
 * says that the object is not there either.
 */
export function missingReference(a: Analyzer, ctx: AnalyzeContext, src: Source, message: string, held: Held, path?: FieldPath): Finding[] {
  const at = path ? { path } : {};
  const msg = held.cluster ? `${message}: not in the repository nor in cluster ${held.cluster}` : message;
  if (held.any) return [findingAt(a, src, msg, at)];
  if (ctx.references === "off") return [];
  if (ctx.references === "strict") return [findingAt(a, src, msg, at)];
  const holder = held.cluster ? `neither the repository nor cluster ${held.cluster} holds any` : "the repository holds no";
  // Pointed at the object, not the field: a repository that holds none of a kind can have thousands of these, and
  // an exact field position costs a second YAML parse of each document (3x the time of check on 10,000 objects).
  return [findingAt(a, src, `${message}; ${holder} ${held.plural}, so this could not be confirmed`, { severity: "warning", atObject: true })];
}
