import { describe, expect, it } from "vitest";
import { writeTree } from "../../test/helpers.js";
import { openRepository } from "../source/repository.js";
import { defaultParseLimits } from "../source/yaml.js";
import { renderEnvironment } from "../source/render.js";
import { buildSchemaStore, compileErrorsRestorePoint, validateManifests } from "../validate/index.js";
import type { Manifest } from "../model/resource.js";
import { finishParallel, startParse } from "./check-parallel.js";
import { parseForMainThread, type ParseJob, type WorkerReply } from "./check-worker.js";
import type { CheckWorker } from "./check-worker-start.js";

const service = (name: string, extra = ""): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n    - port: 80\n${extra}`;

/** A worker in this thread: answers a job with its files parsed as check-worker.ts does, in batches, or fails after `failAfter` files. */
function fakeWorker(failAfter?: number): CheckWorker {
  return {
    post(job: ParseJob, onReply: (r: WorkerReply) => void) {
      const files = job.files.map((f, i) => parseForMainThread(i, f, job.limits));
      if (failAfter !== undefined) {
        onReply({ id: job.id, files: files.slice(0, failAfter), done: false });
        onReply({ id: job.id, error: "worker failed" });
        return;
      }
      onReply({ id: job.id, files: files.slice(0, 2), done: false });
      onReply({ id: job.id, files: files.slice(2), done: true });
    },
    close() {},
  };
}

async function both(failAfter?: number): Promise<{ serial: unknown; parallel: unknown }> {
  const dir = writeTree({
    "meshops.yaml": "version: 1\nenvironments:\n  e: { path: m, namespace: shop }\n",
    "m/a.yaml": service("a"),
    "m/b.yaml": `${service("b", "  bogus: 1\n")}---\n${service("c")}`,
    "m/c.yaml": "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: d}\n    data: {x: 1}\n",
    "m/d.yaml": service("dup"),
    "m/e.yaml": `${service("dup")}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n`,
  });
  const repo = await openRepository({ cwd: dir, target: dir });
  const env = repo.loaded.environments[0];
  if (!env) throw new Error("no environment");
  const store = buildSchemaStore({});
  const validate = (ms: Manifest[]) => validateManifests(ms, store, { env: env.name });
  const summary = (rendered: { manifests: Manifest[]; findings: unknown[] }, v: ReturnType<typeof validate>) => ({
    findings: rendered.findings,
    objects: rendered.manifests.map((m) => ({ ref: m.ref, object: m.object, origin: m.origin, at: m.locate(["spec", "ports", 0]) ?? null })),
    validation: v.findings,
    records: v.records.map((r) => [r.manifest.ref, r.schema]),
  });
  const rendered = await renderEnvironment(repo.dir, env);
  const serial = summary(rendered, validate(rendered.manifests));
  const stream = startParse(fakeWorker(failAfter), repo.dir, env);
  if (!stream) throw new Error("not parallel");
  const par = await finishParallel(stream, env, validate, compileErrorsRestorePoint());
  if (!par) throw new Error("fell back");
  return { serial, parallel: summary(par.rendered, par.validated) };
}

describe("check's parsing in a worker thread (check-parallel.ts)", () => {
  it("gives the objects, positions, input and schema findings of the single-threaded path, in file order", async () => {
    const { serial, parallel } = await both();
    expect(parallel).toEqual(serial);
    expect(JSON.stringify(serial)).toContain("MSH0007"); // the duplicate across files, found after merging
    expect(JSON.stringify(serial)).toContain("MSH1001");
  });

  it("parses the files a failed worker did not send, with the same result", async () => {
    const { serial, parallel } = await both(2);
    expect(parallel).toEqual(serial);
  });
});

describe("what the worker sends (parseForMainThread)", () => {
  it("sends JSON text unless a number cannot travel as JSON (NaN, ±Infinity, -0), which go as objects", () => {
    const dir = writeTree({
      "plain.yaml": `${service("a")}---\n${service("b")}`,
      "nan.yaml": `${service("a")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nweights: [.nan, .inf, -.inf, -0, -0.0]\n`,
      "after.yaml": service("d"),
    });
    const at = (rel: string) => ({ abs: `${dir}/${rel}`, rel });
    const plain = parseForMainThread(0, at("plain.yaml"), defaultParseLimits);
    expect(plain.json).toBeDefined();
    expect(JSON.parse(plain.json ?? "[]")).toHaveLength(2);
    const inexact = parseForMainThread(1, at("nan.yaml"), defaultParseLimits);
    expect(inexact.json).toBeUndefined();
    const weights = (inexact.objects?.[1] as { weights: number[] }).weights;
    expect(weights.map((w) => (Object.is(w, -0) ? "-0" : String(w)))).toEqual(["NaN", "Infinity", "-Infinity", "-0", "-0"]);
    // the flag is per file: the next file goes as JSON again
    expect(parseForMainThread(2, at("after.yaml"), defaultParseLimits).json).toBeDefined();
  });
});
