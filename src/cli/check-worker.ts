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
import { takeInexactNumbers } from "../source/yaml-fast.js";
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

/** Files per message: small enough that the main thread can start validating early, large enough to be cheap to send. */
const BATCH_FILES = 8;

/** One file read, parsed and encoded as the worker sends it. */
export function parseForMainThread(index: number, f: { abs: string; rel: string }, limits: ParseLimits): WorkerFile {
  takeInexactNumbers();
  const r = parseFile(f.abs, f.rel, limits);
  const inexact = takeInexactNumbers();
  const objects = r.manifests.map((m) => m.object);
  return {
    index,
    ...(r.text !== undefined ? { text: r.text } : {}),
    findings: r.findings,
    refs: r.manifests.map((m) => m.ref),
    origins: r.manifests.map((m) => ({ line: m.origin.line, column: m.origin.column })),
    ...(r.recipes ? { recipes: r.recipes } : {}),
    // the fast path (recipes) gives values JSON carries exactly, unless a number is NaN, ±Infinity or -0; the
    // `yaml` path (no recipes) can share objects between places (aliases): those go as they are
    ...(r.recipes && !inexact ? { json: JSON.stringify(objects) } : { objects }),
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
