/** Schema validation of rendered manifests: one finding per problem, each naming the schema used. */
import { splitApiVersion, type Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { SchemaStore, loadCoreBundle, type OpenApiBundle, type SchemaEntry } from "./schema-store.js";
import type { Schema } from "./schema-types.js";
import { validateObject } from "./validator.js";

export { SchemaStore, loadCoreBundle, readCrdFiles, type OpenApiBundle, type SchemaEntry } from "./schema-store.js";
export { compileErrorsRestorePoint, SchemaCodes, validateObject, formatPath, type SchemaIssue } from "./validator.js";
export type { Schema } from "./schema-types.js";

/** Which schema validated an object (or that none did). */
export interface ValidationRecord {
  manifest: Manifest;
  /** Source and version of the schema, or undefined when no schema was found. */
  schema?: string;
}

export interface ValidateOptions {
  env?: string;
  /** Evaluate x-kubernetes-validations (CEL) rules. */
  cel?: boolean;
}

/** Validates every manifest against the store; returns findings and which schema each object met. */
export function validateManifests(
  manifests: readonly Manifest[],
  store: SchemaStore,
  opts: ValidateOptions = {},
): { findings: Finding[]; records: ValidationRecord[] } {
  const findings: Finding[] = [];
  const records: ValidationRecord[] = [];
  const coreDefs = loadCoreBundle().schemas;
  const env = opts.env ? { env: opts.env } : {};
  for (const m of manifests) {
    const { group, version } = splitApiVersion(m.ref.apiVersion);
    const entry = store.get(group, version, m.ref.kind);
    const base = { file: m.origin.file, resource: m.ref, ...env };
    if (!entry) {
      const known = store.versionsOf(group, m.ref.kind);
      const pos = m.locate(["apiVersion"]) ?? m.origin;
      if (known.length > 0) {
        findings.push({
          ...base,
          code: "MSH1021",
          category: "schema",
          severity: "error",
          message: `no version "${version}" of ${group || "core"} ${m.ref.kind}: the schemas know ${known.map((v) => (group ? `${group}/${v}` : v)).join(", ")}`,
          line: pos.line,
          column: pos.column,
        });
      } else {
        findings.push({
          ...base,
          code: "MSH1020",
          category: "schema",
          severity: "warning",
          message: `no schema for ${m.ref.apiVersion} ${m.ref.kind}: not validated (add its CRD to the repository, pass --crds, or run \`meshops schemas pull\`)`,
          line: pos.line,
          column: pos.column,
        });
      }
      records.push({ manifest: m });
      continue;
    }
    records.push({ manifest: m, schema: entry.source });
    if (!entry.served) {
      const pos = m.locate(["apiVersion"]) ?? m.origin;
      findings.push({ ...base, code: "MSH1021", category: "schema", severity: "error", message: `${m.ref.apiVersion} ${m.ref.kind} is not served by its CRD`, line: pos.line, column: pos.column, schema: entry.source });
      continue;
    }
    if (entry.deprecated) {
      const pos = m.locate(["apiVersion"]) ?? m.origin;
      findings.push({ ...base, code: "MSH1023", category: "schema", severity: "warning", message: entry.deprecated, line: pos.line, column: pos.column, schema: entry.source });
    }
    const issues = validateObject(m.object, entry.schema, m.ref.apiVersion, m.ref.kind, {
      definitions: definitionsFor(entry, coreDefs),
      builtin: entry.definitions !== undefined,
      cel: opts.cel !== false,
    });
    for (const iss of issues) {
      const pos = locateNearest(m, iss.path);
      findings.push({ ...base, code: iss.code, category: "schema", severity: iss.severity, message: iss.message, line: pos.line, column: pos.column, schema: entry.source });
    }
  }
  return { findings, records };
}

const mergedDefinitions = new WeakMap<SchemaEntry, Record<string, Schema>>();

/** The definitions an entry's $refs resolve against (its own bundle over the core schemas), built once per entry. */
function definitionsFor(entry: SchemaEntry, coreDefs: Record<string, Schema>): Record<string, Schema> {
  if (!entry.definitions || entry.definitions === coreDefs) return coreDefs;
  let defs = mergedDefinitions.get(entry);
  if (!defs) {
    defs = { ...coreDefs, ...entry.definitions };
    mergedDefinitions.set(entry, defs);
  }
  return defs;
}

/** Position of the deepest existing field along the path (a missing field points at its parent). */
function locateNearest(m: Manifest, path: readonly (string | number)[]): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const pos = m.locate(path.slice(0, n));
    if (pos) return pos;
  }
  return m.origin;
}

/** Builds a schema store from, in precedence order: CRD files given, CRDs among the manifests, OpenAPI caches, the bundled core schemas. */
export function buildSchemaStore(opts: { crdManifests?: Manifest[]; crdLabel?: (m: Manifest) => string; bundles?: OpenApiBundle[] }): SchemaStore {
  const store = new SchemaStore();
  if (opts.crdManifests) store.addCrds(opts.crdManifests, opts.crdLabel ?? ((m) => m.origin.file));
  for (const b of opts.bundles ?? []) store.addBundle(b);
  store.addBundle(loadCoreBundle());
  return store;
}

/**
 * The same schema as a plain JSON Schema (draft-07) that kubeconform reads: Kubernetes extensions become
 * their JSON Schema meaning (int-or-string → oneOf, closed objects → additionalProperties: false), refs
 * point into a local `definitions` map. CEL rules have no JSON Schema equivalent and are left out.
 */
export function toKubeconformSchema(entry: SchemaEntry, coreDefs: Record<string, Schema>): Record<string, unknown> {
  const defs = { ...coreDefs, ...(entry.definitions ?? {}) };
  const used = new Map<string, unknown>();
  const refName = (s: Schema): string | undefined => {
    const ref = s.$ref ?? (s.allOf?.length === 1 && !s.type && !s.properties ? s.allOf[0]?.$ref : undefined);
    return ref?.replace(/^#\/(components\/schemas|definitions)\//, "");
  };
  const convert = (s: Schema): unknown => {
    const name = refName(s);
    if (name) {
      if (!used.has(name) && defs[name]) {
        used.set(name, {});
        used.set(name, convert(defs[name]));
      }
      return { $ref: `#/definitions/${name}` };
    }
    const out: Record<string, unknown> = {};
    const intOrString = s["x-kubernetes-int-or-string"] === true || s.format === "int-or-string";
    for (const [k, v] of Object.entries(s)) {
      if (k.startsWith("x-kubernetes-") || k === "default" || k === "nullable") continue;
      if (k === "properties") out.properties = Object.fromEntries(Object.entries(v as Record<string, Schema>).map(([p, ps]) => [p, convert(ps)]));
      else if (k === "items" || k === "not") out[k] = convert(v as Schema);
      else if (k === "additionalProperties") out[k] = typeof v === "boolean" ? v : convert(v as Schema);
      else if (k === "allOf" || k === "anyOf" || k === "oneOf") out[k] = (v as Schema[]).map((x) => convert(x));
      else if (k === "type") out.type = s.nullable ? [v, "null"] : v;
      else if (k === "format" && intOrString) continue;
      else out[k] = v;
    }
    if (intOrString) {
      delete out.type;
      out.oneOf = [{ type: "integer" }, { type: "string" }];
    }
    if (s.properties && s["x-kubernetes-preserve-unknown-fields"] !== true && s.additionalProperties === undefined) out.additionalProperties = false;
    return out;
  };
  const root = convert(entry.schema) as Record<string, unknown>;
  if (entry.definitions === undefined) {
    // CRD roots: apiVersion, kind and metadata are implicit
    const props = (root.properties ?? {}) as Record<string, unknown>;
    root.properties = { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, ...props };
  }
  return { $schema: "http://json-schema.org/draft-07/schema#", ...root, ...(used.size > 0 ? { definitions: Object.fromEntries([...used].sort(([a], [b]) => a.localeCompare(b))) } : {}) };
}
