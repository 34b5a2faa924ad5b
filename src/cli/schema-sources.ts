/** Building an environment's schema store from its sources, the same way in the main thread and in workers. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../config/load.js";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { buildSchemaStore, readCrdFiles, type OpenApiBundle, type SchemaStore } from "../validate/index.js";

/** A CRD file or folder and the folder its path is reported relative to. */
export interface CrdSource {
  path: string;
  base: string;
}

/** Folder of `schemas pull` caches: one OpenAPI bundle per kubeconfig context. */
export function schemaCacheDir(): string {
  return process.env.MESHOPS_SCHEMA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "meshops", "schemas");
}

/** Cache file for a context (names are sanitised for the file system). */
export function schemaCacheFile(context: string): string {
  return join(schemaCacheDir(), `${context.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
}

/** The pulled-schema cache files that apply to an environment (its context's, if pulled). */
export function bundleFilesFor(env: Environment): string[] {
  const ctx = env.cluster.context;
  if (!ctx) return [];
  const f = schemaCacheFile(ctx);
  return existsSync(f) ? [f] : [];
}

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
