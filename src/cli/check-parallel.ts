/**
 * `meshops check` on two cores, as a pipeline: a worker thread (check-worker.ts) reads and parses a plain
 * environment's files in order while the main thread loads the validator, reads the CRDs and then validates each
 * batch of parsed files as it arrives. Each thread warms up only its own half of the code (YAML parsing or schema
 * validation and CEL), and the worker starts parsing before the main thread has loaded the validator. The results
 * are put together in file order, so the report is byte-identical to the single-threaded one.
 *
 * Used only where it gives the same result: plain environments (Kustomize and Helm render in one process) with
 * no CustomResourceDefinition among their objects (checked, not assumed: such an environment is checked again
 * on one thread, as its CRDs change the other files' schemas and default namespaces), at least two cores, and
 * not turned off with MESHOPS_CHECK_WORKER=0.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { findDuplicates, plainInputs, type PlainInput, type RenderResult } from "../source/render.js";
import { applyNamespaceDefault } from "../source/namespace-default.js";
import { defaultParseLimits, locatorsFor } from "../source/yaml.js";
import type { ValidationRecord } from "../validate/index.js";
import { parseFile, type ParsedFile } from "./check-files.js";
import type { WorkerFile, WorkerReply } from "./check-worker.js";
import type { CheckWorker } from "./check-worker-start.js";

/** A plain environment's files, being parsed by the worker. */
export interface ParseStream {
  inputs: PlainInput[];
  files: { abs: string; rel: string }[];
  /** The worker's next reply for this environment. */
  next(): Promise<WorkerReply>;
}

let nextJob = 1;

/** Sends a plain environment's files to the worker; undefined when the environment is checked on one thread. */
export function startParse(worker: CheckWorker, root: string, env: Environment): ParseStream | undefined {
  const abs = resolve(root, env.path);
  if (env.renderer !== "plain" || !existsSync(abs)) return undefined;
  const inputs = plainInputs(root, abs);
  const files = inputs.flatMap((i) => ("abs" in i ? [i] : []));
  if (files.length < 2) return undefined;
  const replies: WorkerReply[] = [];
  let wake: (() => void) | undefined;
  worker.post({ id: nextJob++, files, limits: defaultParseLimits }, (r) => {
    replies.push(r);
    wake?.();
  });
  return {
    inputs,
    files,
    async next() {
      while (replies.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      return replies.shift() as WorkerReply;
    },
  };
}

/** What validating the environment's objects gave (the shape of validateManifests' result). */
export interface Validated {
  findings: Finding[];
  records: ValidationRecord[];
}

/**
 * Validates the environment's files as the worker's batches arrive (with `validate`, over the given schemas:
 * there are no CRDs among the files, or this returns undefined after `undo()` and the caller checks the
 * environment on one thread); files the worker could not parse (it failed) are parsed here.
 */
export async function finishParallel(stream: ParseStream, env: Environment, validate: (manifests: Manifest[]) => Validated, undo: () => void): Promise<{ rendered: RenderResult; validated: Validated } | undefined> {
  const parsed: ParsedFile[] = [];
  const validated: Validated[] = [];
  let crd = false;
  const take = (index: number, p: ParsedFile): void => {
    parsed[index] = p;
    if (p.manifests.some((m) => m.ref.kind === "CustomResourceDefinition")) crd = true;
    if (crd) return; // validated on one thread, once every file is known
    // with no CRD among the objects, an object's scope (and so its default namespace) depends on the object alone
    applyNamespaceDefault(p.manifests, env.namespace);
    validated[index] = validate(p.manifests);
  };
  for (let done = false; !done; ) {
    const r = await stream.next();
    if ("error" in r) break;
    for (const wf of r.files) take(wf.index, fromWorker(wf, stream.files[wf.index]?.rel ?? ""));
    done = r.done;
  }
  // the worker failed: the files it did not parse are parsed here, in order
  stream.files.forEach((f, i) => {
    if (!parsed[i]) take(i, parseFile(f.abs, f.rel, defaultParseLimits));
  });
  if (crd) {
    undo();
    return undefined;
  }
  const rendered: RenderResult = { env: env.name, manifests: [], findings: [] };
  const all: Validated = { findings: [], records: [] };
  let k = 0;
  for (const input of stream.inputs) {
    if ("finding" in input) {
      rendered.findings.push(input.finding);
      continue;
    }
    const p = parsed[k] as ParsedFile;
    const v = validated[k++] as Validated;
    rendered.findings.push(...p.findings);
    rendered.manifests.push(...p.manifests);
    all.findings.push(...v.findings);
    all.records.push(...v.records);
  }
  rendered.findings.push(...findDuplicates(rendered.manifests, env.name));
  return { rendered, validated: all };
}

/** A file the worker parsed, as the main thread's ParsedFile: objects from JSON, locate() rebuilt from the text. */
function fromWorker(wf: WorkerFile, rel: string): ParsedFile {
  const objects = wf.json !== undefined ? (JSON.parse(wf.json) as Record<string, unknown>[]) : (wf.objects ?? []);
  const locators = wf.text !== undefined ? locatorsFor(wf.text, rel, wf.refs.length, wf.recipes, { renderer: "plain", limits: defaultParseLimits }) : [];
  const manifests: Manifest[] = wf.refs.map((ref, j) => {
    const origin = wf.origins[j] ?? { line: 1, column: 1 };
    return { ref, object: objects[j] ?? {}, origin: { file: rel, line: origin.line, column: origin.column, renderer: "plain" }, locate: locators[j] ?? (() => undefined) };
  });
  return { ...(wf.text !== undefined ? { text: wf.text } : {}), findings: wf.findings, manifests, ...(wf.recipes ? { recipes: wf.recipes } : {}) };
}
