/** Building an environment's schema store from its sources. */
import { readFileSync } from "node:fs";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { buildSchemaStore, readCrdFiles, type OpenApiBundle, type SchemaStore } from "../validate/index.js";

/** A CRD file or folder and the folder its path is reported relative to. */
export interface CrdSource {
  path: string;
  base: string;
}

export { bundleFilesFor, schemaCacheDir, schemaCacheFile } from "./schema-cache.js";

/** Reads the given CRD sources (parsed once per process, cached on disk by content). */
export function readCrdSources(sources: readonly CrdSource[]): { manifests: Manifest[]; findings: Finding[]; hashes: Map<string, string> } {
  const read = sources.map((s) => readCrdFiles(s.path, s.base));
  const hashes = new Map<string, string>();
  for (const r of read) for (const [f, h] of r.hashes) hashes.set(f, h);
  return { manifests: read.flatMap((r) => r.manifests), findings: read.flatMap((r) => r.findings), hashes };
}

/** The store for one environment: given CRDs, CRDs among its objects, its pulled bundle, the bundled core schemas. */
export function storeFor(given: ReturnType<typeof readCrdSources>, inEnv: readonly Manifest[], bundleFiles: readonly string[]): SchemaStore {
  const bundles = bundleFiles.map((f) => JSON.parse(readFileSync(f, "utf8")) as OpenApiBundle);
  return buildSchemaStore({
    crdManifests: [...given.manifests, ...inEnv.filter((m) => m.ref.kind === "CustomResourceDefinition")],
    crdLabel: (m) => `${m.origin.file}${given.hashes.has(m.origin.file) ? ` sha256:${given.hashes.get(m.origin.file)}` : ""}`,
    bundles,
  });
}
