/**
 * Starting `check`'s worker thread (check-worker.ts). Kept apart from everything else check loads, so that
 * main.ts can start the worker before it loads the check command: the worker then loads its own modules on
 * the second core while the main thread loads its own.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { ParseJob, WorkerReply } from "./check-worker.js";

/** A worker thread for `check`: send it a job, receive the job's replies in order. */
export interface CheckWorker {
  /** Posts the job; its replies are delivered to onReply, in order, until one is `done` or an error. */
  post(job: ParseJob, onReply: (r: WorkerReply) => void): void;
  close(): void;
}

const workerFile = fileURLToPath(new URL("./check-worker.js", import.meta.url));

/** Starts the worker, or undefined when check runs on one thread (one core, MESHOPS_CHECK_WORKER=0, no built worker script, as under vitest). */
export function startCheckWorker(env: NodeJS.ProcessEnv = process.env): CheckWorker | undefined {
  if (env.MESHOPS_CHECK_WORKER === "0" || availableParallelism() < 2 || !existsSync(workerFile)) return undefined;
  const worker = new Worker(workerFile);
  // the worker keeps the process alive only while a job waits for its replies (not, say, after a usage error)
  worker.unref();
  const listeners = new Map<number, (r: WorkerReply) => void>();
  const failAll = (message: string): void => {
    for (const [id, listener] of listeners) listener({ id, error: message });
    listeners.clear();
    worker.unref();
  };
  worker.on("message", (r: WorkerReply) => {
    listeners.get(r.id)?.(r);
    if ("error" in r || r.done) listeners.delete(r.id);
    if (listeners.size === 0) worker.unref();
  });
  worker.on("error", (e) => failAll(e.message));
  worker.on("exit", (code) => failAll(`check worker exited with code ${code}`));
  return {
    post(job, onReply) {
      listeners.set(job.id, onReply);
      worker.ref();
      worker.postMessage(job);
    },
    close() {
      worker.removeAllListeners("exit");
      void worker.terminate();
    },
  };
}

let early: CheckWorker | undefined;

/** Starts the worker ahead of the check command's own loading (main.ts); the check takes it with takeCheckWorker. */
export function prestartCheckWorker(env: NodeJS.ProcessEnv = process.env): void {
  early ??= startCheckWorker(env);
}

/** The worker started ahead, else a new one (undefined: check on one thread). The caller closes it. */
export function takeCheckWorker(env: NodeJS.ProcessEnv = process.env): CheckWorker | undefined {
  const w = early ?? startCheckWorker(env);
  early = undefined;
  return w;
}

/** Closes a worker started ahead that no check took (e.g. a usage error, or only Helm environments). */
export function discardPrestartedWorker(): void {
  early?.close();
  early = undefined;
}
