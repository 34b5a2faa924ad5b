/**
 * `meshops check` on two cores: the files of a plain environment are read, parsed and schema-validated by the
 * main thread and one worker thread (check-worker.ts) together, each taking the next file from a shared queue,
 * and the results are put back in file order, so the report is the one the single-threaded path gives. The
 * worker sends its objects back (as JSON text: parsing that is several times cheaper than parsing the YAML) for
 * the analyzers, and the main thread locates their fields only when a finding needs it.
 *
 * Used only where it can give the same result: plain environments (Kustomize and Helm render in one process),
 * no CustomResourceDefinition among the objects (checked, not assumed: the environment is then checked again
 * on one thread), at least two cores, and not turned off with MESHOPS_CHECK_WORKER=0.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { findDuplicates, plainInputs, type RenderResult } from "../source/render.js";
import { defaultParseLimits, locatorsFor } from "../source/yaml.js";
import { COMPILE_ERROR_LEAD, SchemaCodes, type ValidationRecord } from "../validate/index.js";
import { reportedCompileErrors } from "../validate/validator.js";
import { checkFile, type FileCheck } from "./check-files.js";
import type { CheckJob, WorkerFile } from "./check-worker.js";
import type { CheckWorker } from "./check-worker-start.js";
import type { CrdSource } from "./schema-sources.js";
import type { SchemaStore } from "../validate/index.js";

let nextJob = 1;

/** Renders and validates a plain environment on both threads; undefined when it must be done on one (see above). */
export async function checkPlainParallel(
  worker: CheckWorker,
  root: string,
  env: Environment,
  ctx: { store: SchemaStore; crdSources: CrdSource[]; bundleFiles: string[]; cel: boolean },
): Promise<{ rendered: RenderResult; findings: Finding[]; records: ValidationRecord[] } | undefined> {
  const abs = resolve(root, env.path);
  if (env.renderer !== "plain" || !existsSync(abs)) return undefined;
  const inputs = plainInputs(root, abs);
  const files = inputs.flatMap((i) => ("abs" in i ? [i] : []));
  if (files.length < 2) return undefined;
  const limits = defaultParseLimits;
  const queue = new SharedArrayBuffer(8);
  const state = new Int32Array(queue);
  const job: CheckJob = { id: nextJob++, crdSources: ctx.crdSources, bundleFiles: ctx.bundleFiles, env: env.name, cel: ctx.cel, limits, files, queue, ...(env.namespace ? { namespace: env.namespace } : {}) };
  const reply = worker.run(job);
  const results: (FileCheck | undefined)[] = new Array(files.length);
  const fileCtx = { store: ctx.store, env: env.name, cel: ctx.cel, limits, reportedCompileErrors: new Set<string>(), ...(env.namespace ? { namespace: env.namespace } : {}) };
  while (worker.mode === "share") {
    const i = Atomics.add(state, 0, 1);
    const f = files[i];
    if (!f) break;
    results[i] = checkFile(f.abs, f.rel, fileCtx);
  }
  // the worker had not started: it never will (it sees -1), and nothing of its is awaited
  if (worker.mode === "worker" || Atomics.compareExchange(state, 1, 0, -1) !== 0) {
    const r = await reply;
    if ("files" in r) for (const wf of r.files) results[wf.index] = fromWorker(wf, files[wf.index]?.rel ?? "");
  }
  // files the worker took but did not answer for (it failed): checked here
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    if (!results[i] && f) results[i] = checkFile(f.abs, f.rel, fileCtx);
  }
  if (results.some((r) => r?.hasCrd)) return undefined;

  const rendered: RenderResult = { env: env.name, manifests: [], findings: [] };
  const findings: Finding[] = [];
  const records: ValidationRecord[] = [];
  let k = 0;
  for (const input of inputs) {
    if ("finding" in input) {
      rendered.findings.push(input.finding);
      continue;
    }
    const r = results[k++] as FileCheck;
    rendered.findings.push(...r.findings);
    rendered.manifests.push(...r.manifests);
    findings.push(...r.validation);
    r.manifests.forEach((m, j) => records.push(r.schemas[j] !== undefined ? { manifest: m, schema: r.schemas[j] } : { manifest: m }));
  }
  rendered.findings.push(...findDuplicates(rendered.manifests, env.name));
  return { rendered, findings: onceEach(findings), records };
}

/**
 * Each thread reports a CEL rule that does not compile at the first of its own objects that meets it; in file
 * order, the first of those is the one the single-threaded path reports (and only if this process has not yet).
 */
function onceEach(findings: Finding[]): Finding[] {
  return findings.filter((f) => {
    if (f.code !== SchemaCodes.celError || !f.message.startsWith(COMPILE_ERROR_LEAD)) return true;
    const error = f.message.slice(COMPILE_ERROR_LEAD.length);
    if (reportedCompileErrors.has(error)) return false;
    reportedCompileErrors.add(error);
    return true;
  });
}

/** A worker's file as the main thread's FileCheck: objects parsed from JSON, locate() rebuilt from the text. */
function fromWorker(wf: WorkerFile, rel: string): FileCheck {
  const objects = wf.json !== undefined ? (JSON.parse(wf.json) as Record<string, unknown>[]) : (wf.objects ?? []);
  const locators = wf.text !== undefined ? locatorsFor(wf.text, rel, wf.refs.length, wf.recipes, { renderer: "plain", limits: defaultParseLimits }) : [];
  const manifests: Manifest[] = wf.refs.map((ref, j) => {
    const origin = wf.origins[j] ?? { line: 1, column: 1 };
    return { ref, object: objects[j] ?? {}, origin: { file: rel, line: origin.line, column: origin.column, renderer: "plain" }, locate: locators[j] ?? (() => undefined) };
  });
  return {
    ...(wf.text !== undefined ? { text: wf.text } : {}),
    findings: wf.findings,
    manifests,
    validation: wf.validation,
    schemas: wf.schemas,
    hasCrd: wf.hasCrd,
  };
}
