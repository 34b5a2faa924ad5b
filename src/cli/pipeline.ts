/** The check pipeline shared by commands: render each environment, build its schema store, validate. */
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { ExternalObjects } from "../model/mesh-model.js";
import { identityKey } from "../model/resource.js";
import { applySuppressions } from "../policy/suppress.js";
import type { Finding } from "../report/finding.js";
import type { CheckReport } from "../report/formats.js";
import { renderEnvironment, type RenderResult } from "../source/render.js";
import type { OpenRepository } from "../source/repository.js";
import { finishParallel, startParse, type ParseStream } from "./check-parallel.js";
import { takeCheckWorker } from "./check-worker-start.js";
import { bundleFilesFor } from "./schema-cache.js";
import type { CrdSource } from "./schema-sources.js";

export { schemaCacheDir, schemaCacheFile } from "./schema-cache.js";

export interface CheckOptions {
  /** CRD files or folders from --crds (absolute or relative to cwd). */
  crds: string[];
  cwd: string;
  /** Skip x-kubernetes-validations. */
  cel?: boolean;
  /** Only render and validate input (no schema validation). */
  schema?: boolean;
  /** Run the semantic analyzers after schema validation (default true; false for --schema-only). */
  analyze?: boolean;
  /** A live cluster's objects for the environment, to resolve references the repository cannot (`check --live-refs`). */
  live?: (env: Environment) => Promise<ExternalObjects | undefined>;
}

/** Renders and validates every environment; findings identical across environments are merged. */
export async function runCheck(repo: OpenRepository, envs: Environment[], opts: CheckOptions): Promise<{ report: CheckReport; renders: RenderResult[] }> {
  const crdSources: CrdSource[] = [
    ...opts.crds.map((p) => ({ path: resolve(opts.cwd, p), base: opts.cwd })),
    ...(repo.loaded.config?.crds ?? []).map((p) => ({ path: resolve(repo.dir, p), base: repo.dir })),
  ];
  // plain environments are parsed by a worker thread while this one validates (check-parallel.ts): their files
  // go to it first, so that it parses while this thread loads the validator and reads the CRDs
  const worker = opts.schema !== false && envs.some((e) => e.renderer === "plain") ? takeCheckWorker() : undefined;
  const streams = new Map<Environment, ParseStream>();
  try {
    if (worker) {
      for (const env of envs) {
        const stream = startParse(worker, repo.dir, env);
        if (stream) streams.set(env, stream);
      }
    }
    const [{ compileErrorsRestorePoint, validateManifests }, { readCrdSources, storeFor }] = await Promise.all([import("../validate/index.js"), import("./schema-sources.js")]);
    const given = readCrdSources(crdSources);
    const findings: Finding[] = [...given.findings];
    const objects: CheckReport["objects"] = [];
    const renders: RenderResult[] = [];
    const cel = opts.cel !== false;
    // the MeshModel, the analyzers and the policy stage are loaded only when they run (not for --schema-only)
    const analysis = opts.analyze !== false && opts.schema !== false ? await loadAnalysis() : undefined;
    for (const env of envs) await checkEnvironment(env);
    return { report: { findings: applyPolicy(mergeAcrossEnvs(findings), envs), objects, environments: envs.map((e) => e.name) }, renders };

    async function checkEnvironment(env: Environment): Promise<void> {
      const bundleFiles = bundleFilesFor(env);
      const stream = streams.get(env);
      // no CRDs among the environment's objects (finishParallel undoes and returns undefined when there are): its store is the given schemas'
      const givenStore = stream ? storeFor(given, [], bundleFiles) : undefined;
      const par =
        stream && givenStore ? await finishParallel(stream, env, (ms) => validateManifests(ms, givenStore, { env: env.name, cel }), compileErrorsRestorePoint()) : undefined;
      const rendered = par?.rendered ?? (await renderEnvironment(repo.dir, env));
      renders.push(rendered);
      const envFindings: Finding[] = rendered.findings.map((f) => ({ ...f, env: env.name }));
      if (opts.schema === false) {
        for (const m of rendered.manifests) objects.push({ env: env.name, file: m.origin.file, line: m.origin.line, resource: m.ref });
        findings.push(...envFindings);
        return;
      }
      const store = par && givenStore ? givenStore : storeFor(given, rendered.manifests, bundleFiles);
      const v = par?.validated ?? validateManifests(rendered.manifests, store, { env: env.name, cel });
      envFindings.push(...v.findings);
      if (analysis) {
        const { buildMeshModel, runAnalyzers, runPolicyStage, isExternalFile } = analysis;
        // An object that failed schema validation is reported once, for that; analyzing its content would only add noise.
        const invalid = new Set(v.findings.filter((f) => f.severity === "error" && f.resource).map((f) => identityKey(f.resource as NonNullable<Finding["resource"]>)));
        const model = buildMeshModel(rendered.manifests, {}, await opts.live?.(env));
        envFindings.push(...runAnalyzers(model, { references: env.policy.references ?? "warn" }).filter((f) => !f.resource || !invalid.has(identityKey(f.resource))));
        // a live cluster's objects (check --live-refs) are in the model to resolve references, never to be blamed
        envFindings.push(...runPolicyStage(repo.dir, env, model, store, given.manifests, cel).filter((f) => !isExternalFile(f.file) && (!f.resource || !invalid.has(identityKey(f.resource)))));
      }
      findings.push(...applySuppressions(envFindings, rendered.manifests, env.policy).map((f) => ({ ...f, env: env.name })));
      for (const r of v.records) objects.push({ env: env.name, file: r.manifest.origin.file, line: r.manifest.origin.line, resource: r.manifest.ref, ...(r.schema ? { schema: r.schema } : {}) });
    }
  } finally {
    worker?.close();
  }
}

/** The analysis stages' modules (the MeshModel, every analyzer, the policy packs and CEL-based rules). */
async function loadAnalysis(): Promise<{
  buildMeshModel: typeof import("../model/mesh-model.js").buildMeshModel;
  isExternalFile: typeof import("../model/mesh-model.js").isExternalFile;
  runAnalyzers: typeof import("../analyze/index.js").runAnalyzers;
  runPolicyStage: typeof import("./policy-stage.js").runPolicyStage;
}> {
  const [model, analyze, policy] = await Promise.all([import("../model/mesh-model.js"), import("../analyze/index.js"), import("./policy-stage.js")]);
  return { buildMeshModel: model.buildMeshModel, isExternalFile: model.isExternalFile, runAnalyzers: analyze.runAnalyzers, runPolicyStage: policy.runPolicyStage };
}

/** The same finding in several environments (e.g. from a shared base) is reported once, naming all of them. */
function mergeAcrossEnvs(findings: Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const f of findings) {
    const k = `${f.code}|${f.file}|${f.line}|${f.column}|${f.message}|${f.suppressed ? "s" : ""}`;
    const prev = byKey.get(k);
    if (!prev) byKey.set(k, { ...f });
    else if (f.env && prev.env && !prev.env.split(", ").includes(f.env)) prev.env = `${prev.env}, ${f.env}`;
  }
  return [...byKey.values()];
}

/** Per-code severity overrides from meshops.yaml (`policy.rules`); input errors cannot be turned off. */
function applyPolicy(findings: Finding[], envs: Environment[]): Finding[] {
  const out: Finding[] = [];
  for (const f of findings) {
    if (f.category === "input") {
      out.push(f);
      continue;
    }
    const env = envs.find((e) => e.name === f.env?.split(", ")[0]) ?? envs[0];
    const setting = env?.policy.rules[f.code];
    if (setting === "off") continue;
    out.push(setting ? { ...f, severity: setting } : f);
  }
  return out;
}
