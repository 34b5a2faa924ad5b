/**
 * The worker thread of `meshops check` (started by check-parallel.ts): it takes files of a plain environment from
 * the queue it shares with the main thread, checks each on its own (check-files.ts) and sends back, per file,
 * the findings, the objects (as JSON text when that is exact) and what the main thread needs to locate fields.
 */
import { parentPort } from "node:worker_threads";
import type { Position, ResourceRef } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import type { LocateRecipe, ParseLimits } from "../source/yaml.js";
import type { SchemaStore } from "../validate/index.js";
import { checkFile } from "./check-files.js";
import { readCrdSources, storeFor, type CrdSource } from "./schema-sources.js";

/** One environment's files for the worker. */
export interface CheckJob {
  id: number;
  crdSources: CrdSource[];
  bundleFiles: string[];
  env: string;
  namespace?: string;
  cel: boolean;
  limits: ParseLimits;
  files: { abs: string; rel: string }[];
  /** Int32Array [next file to take, worker state: 0 not started, 1 working, -1 main thread finished first]. */
  queue: SharedArrayBuffer;
}

/** One file as the worker checked it. */
export interface WorkerFile {
  index: number;
  text?: string;
  findings: Finding[];
  refs: ResourceRef[];
  origins: Position[];
  recipes?: LocateRecipe[];
  /** The objects as JSON text, when JSON keeps them exactly; else `objects`. */
  json?: string;
  objects?: Record<string, unknown>[];
  validation: Finding[];
  schemas: (string | undefined)[];
  hasCrd: boolean;
}

export type WorkerReply = { id: number; files: WorkerFile[] } | { id: number; error: string };

/** True when JSON.stringify → JSON.parse gives the same value back (no NaN, ±Infinity, -0, undefined or shared objects). */
export function jsonExact(value: unknown, seen: Set<object> = new Set()): boolean {
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (typeof value === "string" || typeof value === "boolean" || value === null) return true;
  if (typeof value !== "object") return false;
  if (seen.has(value)) return false;
  seen.add(value);
  if (Array.isArray(value)) {
    for (const v of value) if (!jsonExact(v, seen)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return false;
  for (const k in value) if (!jsonExact((value as Record<string, unknown>)[k], seen)) return false;
  return true;
}

const stores = new Map<string, SchemaStore>();

function run(job: CheckJob): WorkerReply {
  const key = JSON.stringify([job.crdSources, job.bundleFiles]);
  let store = stores.get(key);
  if (!store) {
    store = storeFor(readCrdSources(job.crdSources), [], job.bundleFiles);
    stores.set(key, store);
  }
  const queue = new Int32Array(job.queue);
  // the main thread may have taken every file while this thread was starting: then there is nothing to do
  if (Atomics.compareExchange(queue, 1, 0, 1) !== 0) return { id: job.id, files: [] };
  const ctx = { store, env: job.env, cel: job.cel, limits: job.limits, reportedCompileErrors: new Set<string>(), ...(job.namespace ? { namespace: job.namespace } : {}) };
  const files: WorkerFile[] = [];
  for (;;) {
    const index = Atomics.add(queue, 0, 1);
    const f = job.files[index];
    if (!f) break;
    const r = checkFile(f.abs, f.rel, ctx);
    const objects = r.manifests.map((m) => m.object);
    files.push({
      index,
      ...(r.text !== undefined ? { text: r.text } : {}),
      findings: r.findings,
      refs: r.manifests.map((m) => m.ref),
      origins: r.manifests.map((m) => ({ line: m.origin.line, column: m.origin.column })),
      ...(r.recipes ? { recipes: r.recipes } : {}),
      ...(r.recipes && jsonExact(objects) ? { json: JSON.stringify(objects) } : { objects }),
      validation: r.validation,
      schemas: r.schemas,
      hasCrd: r.hasCrd,
    });
  }
  return { id: job.id, files };
}

parentPort?.on("message", (job: CheckJob) => {
  let reply: WorkerReply;
  try {
    reply = run(job);
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort?.postMessage(reply);
});
