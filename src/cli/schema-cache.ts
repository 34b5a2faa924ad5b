/** Where `meshops schemas pull` caches a cluster's schemas, and which cache applies to an environment (without loading the validator). */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../config/load.js";

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
