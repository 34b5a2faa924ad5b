/**
 * The worker thread of `meshops check` (started by check-worker-start.ts): it reads and parses the files of a
 * plain environment in order and sends them to the main thread in batches, which validates each batch while the
 * next is parsed (check-parallel.ts). Objects travel as JSON text when that is exact (parsing it is several times
 * cheaper than parsing the YAML), with what the main thread needs to locate their fields later.
 */
import { parentPort } from "node:worker_threads";
import type { Position, ResourceRef } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import type { LocateRecipe, ParseLimits } from "../source/yaml.js";
import { parseFile } from "./check-files.js";

/** One environment's files for the worker to parse. */
export interface ParseJob {
  id: number;
  files: { abs: string; rel: string }[];
  limits: ParseLimits;
}

/** One file as the worker parsed it. */
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
}

/** Files parsed since the last message; `done` on the job's last message. */
export type WorkerReply = { id: number; files: WorkerFile[]; done: boolean } | { id: number; error: string };

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
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in value) if (!jsonExact((value as Record<string, unknown>)[k], seen)) return false;
  return true;
}

/** Files per message: small enough that the main thread can start validating early, large enough to be cheap to send. */
const BATCH_FILES = 8;

/** One file read, parsed and encoded as the worker sends it. */
export function parseForMainThread(index: number, f: { abs: string; rel: string }, limits: ParseLimits): WorkerFile {
  const r = parseFile(f.abs, f.rel, limits);
  const objects = r.manifests.map((m) => m.object);
  return {
    index,
    ...(r.text !== undefined ? { text: r.text } : {}),
    findings: r.findings,
    refs: r.manifests.map((m) => m.ref),
    origins: r.manifests.map((m) => ({ line: m.origin.line, column: m.origin.column })),
    ...(r.recipes ? { recipes: r.recipes } : {}),
    // the `yaml` path (no recipes) can share objects between places (aliases): those go as they are
    ...(r.recipes && jsonExact(objects) ? { json: JSON.stringify(objects) } : { objects }),
  };
}

function run(job: ParseJob): void {
  let batch: WorkerFile[] = [];
  job.files.forEach((f, index) => {
    batch.push(parseForMainThread(index, f, job.limits));
    if (batch.length >= BATCH_FILES && index < job.files.length - 1) {
      parentPort?.postMessage({ id: job.id, files: batch, done: false } satisfies WorkerReply);
      batch = [];
    }
  });
  parentPort?.postMessage({ id: job.id, files: batch, done: true } satisfies WorkerReply);
}

parentPort?.on("message", (job: ParseJob) => {
  try {
    run(job);
  } catch (e) {
    parentPort?.postMessage({ id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies WorkerReply);
  }
});
