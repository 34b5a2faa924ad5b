/**
 * One file of a plain environment, read, parsed and schema-validated on its own: the unit of work `check` shares
 * between the main thread and a worker thread (check-worker.ts). Valid only when the environment holds no CRDs
 * (they would change other files' schemas and namespace defaults); the caller checks `hasCrd` and falls back to
 * the whole-environment path.
 */
import { readFileSync } from "node:fs";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { applyNamespaceDefault } from "../source/namespace-default.js";
import { decodeUtf8, parseManifestsTraced, type LocateRecipe, type ParseLimits } from "../source/yaml.js";
import { validateManifests, type SchemaStore } from "../validate/index.js";

/** What checking one file gives, in the order the whole-environment path would produce it. */
export interface FileCheck {
  /** The decoded text (absent when the file could not be decoded). */
  text?: string;
  /** Input findings of reading and parsing the file. */
  findings: Finding[];
  manifests: Manifest[];
  /** Each manifest's LocateRecipe (fast path), to rebuild locate() in another thread. */
  recipes?: LocateRecipe[];
  /** Schema findings of the file's objects, in object order. */
  validation: Finding[];
  /** The schema that validated each manifest (undefined: none). */
  schemas: (string | undefined)[];
  /** A CustomResourceDefinition is among the manifests: the per-file results are not valid for the environment. */
  hasCrd: boolean;
}

export interface FileCheckContext {
  store: SchemaStore;
  env: string;
  /** The environment's default namespace. */
  namespace?: string;
  cel: boolean;
  limits: ParseLimits;
  reportedCompileErrors: Set<string>;
}

/** Reads, parses (plain renderer), applies the namespace default and validates one file. */
export function checkFile(abs: string, rel: string, ctx: FileCheckContext): FileCheck {
  const decoded = decodeUtf8(readFileSync(abs), rel, ctx.limits);
  if ("finding" in decoded) return { findings: [decoded.finding], manifests: [], validation: [], schemas: [], hasCrd: false };
  const parsed = parseManifestsTraced(decoded.text, rel, { renderer: "plain", limits: ctx.limits });
  const hasCrd = parsed.manifests.some((m) => m.ref.kind === "CustomResourceDefinition");
  if (hasCrd) return { text: decoded.text, findings: parsed.findings, manifests: parsed.manifests, ...(parsed.recipes ? { recipes: parsed.recipes } : {}), validation: [], schemas: [], hasCrd };
  // with no CRD in the environment, an object's scope (and so its default namespace) depends on the object alone
  applyNamespaceDefault(parsed.manifests, ctx.namespace);
  const v = validateManifests(parsed.manifests, ctx.store, { env: ctx.env, cel: ctx.cel, reportedCompileErrors: ctx.reportedCompileErrors });
  return {
    text: decoded.text,
    findings: parsed.findings,
    manifests: parsed.manifests,
    ...(parsed.recipes ? { recipes: parsed.recipes } : {}),
    validation: v.findings,
    schemas: v.records.map((r) => r.schema),
    hasCrd,
  };
}
