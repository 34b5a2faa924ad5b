/** Resource identity and the rendered-object type every stage passes around. */

/** Where a rendered object (or one of its fields) came from. Lines and columns are 1-based. */
export interface Origin {
  /** Path relative to the repository root, with forward slashes. */
  file: string;
  line: number;
  column: number;
  /** Which renderer produced the object. */
  renderer: "plain" | "kustomize" | "helm";
}

/** A 1-based position in a file. */
export interface Position {
  line: number;
  column: number;
}

/** A path into an object: property names and array indexes. */
export type FieldPath = readonly (string | number)[];

/** Group/version/kind/namespace/name of an object. */
export interface ResourceRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** One rendered Kubernetes object with its origin. */
export interface Manifest {
  ref: ResourceRef;
  /** The object as plain JSON data. */
  object: Record<string, unknown>;
  origin: Origin;
  /** Position of a field in the origin file, or undefined when it cannot be known (e.g. set by a patch). */
  locate(path: FieldPath): Position | undefined;
}

/** Splits an apiVersion into group and version ("apps/v1" → ["apps", "v1"], "v1" → ["", "v1"]). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** "Kind/namespace/name" (or "Kind/name" for cluster-scoped objects): the subject used in messages. */
export function subjectOf(ref: ResourceRef): string {
  return ref.namespace ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

/** A key identifying an object within an environment (group, kind, namespace, name). */
export function identityKey(ref: ResourceRef): string {
  const { group } = splitApiVersion(ref.apiVersion);
  return `${group}|${ref.kind}|${ref.namespace ?? ""}|${ref.name}`;
}
