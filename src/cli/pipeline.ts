/** The check pipeline shared by commands: render each environment, build its schema store, validate. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Environment } from "../config/load.js";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import type { CheckReport } from "../report/formats.js";
import { renderEnvironment, type RenderResult } from "../source/render.js";
import type { OpenRepository } from "../source/repository.js";
import { applySuppressions } from "../policy/suppress.js";
import { buildSchemaStore, readCrdFiles, validateManifests, type OpenApiBundle } from "../validate/index.js";

export interface CheckOptions {
  /** CRD files or folders from --crds (absolute or relative to cwd). */
  crds: string[];
  cwd: string;
  /** Skip x-kubernetes-validations. */
  cel?: boolean;
  /** Only render and validate input (no schema validation). */
  schema?: boolean;
}

/** Folder of `schemas pull` caches: one OpenAPI bundle per kubeconfig context. */
export function schemaCacheDir(): string {
  return process.env.MESHOPS_SCHEMA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "meshops", "schemas");
}

/** Cache file for a context (names are sanitised for the file system). */
export function schemaCacheFile(context: string): string {
  return join(schemaCacheDir(), `${context.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
}

function readPulledBundle(env: Environment): OpenApiBundle | undefined {
  const ctx = env.cluster.context;
  if (!ctx) return undefined;
  const f = schemaCacheFile(ctx);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, "utf8")) as OpenApiBundle;
}

/** Renders and validates every environment; findings identical across environments are merged. */
export async function runCheck(repo: OpenRepository, envs: Environment[], opts: CheckOptions): Promise<{ report: CheckReport; renders: RenderResult[] }> {
  const extra = opts.crds.map((p) => readCrdFiles(resolve(opts.cwd, p), opts.cwd));
  const repoCrds = (repo.loaded.config?.crds ?? []).map((p) => readCrdFiles(resolve(repo.dir, p), repo.dir));
  const given: Manifest[] = [...extra, ...repoCrds].flatMap((r) => r.manifests);
  const hashes = new Map<string, string>();
  for (const r of [...extra, ...repoCrds]) for (const [f, h] of r.hashes) hashes.set(f, h);
  const findings: Finding[] = [...extra, ...repoCrds].flatMap((r) => r.findings);
  const objects: CheckReport["objects"] = [];
  const renders: RenderResult[] = [];
  for (const env of envs) {
    const rendered = await renderEnvironment(repo.dir, env);
    renders.push(rendered);
    const envFindings: Finding[] = rendered.findings.map((f) => ({ ...f, env: env.name }));
    const inRepo = rendered.manifests.filter((m) => m.ref.kind === "CustomResourceDefinition");
    const pulled = readPulledBundle(env);
    const store = buildSchemaStore({
      crdManifests: [...given, ...inRepo],
      crdLabel: (m) => `${m.origin.file}${hashes.has(m.origin.file) ? ` sha256:${hashes.get(m.origin.file)}` : ""}`,
      bundles: pulled ? [pulled] : [],
    });
    if (opts.schema === false) {
      for (const m of rendered.manifests) objects.push({ env: env.name, file: m.origin.file, line: m.origin.line, resource: m.ref });
      findings.push(...envFindings);
      continue;
    }
    const v = validateManifests(rendered.manifests, store, { env: env.name, cel: opts.cel !== false });
    envFindings.push(...v.findings);
    findings.push(...applySuppressions(envFindings, rendered.manifests, env.policy).map((f) => ({ ...f, env: env.name })));
    for (const r of v.records) objects.push({ env: env.name, file: r.manifest.origin.file, line: r.manifest.origin.line, resource: r.manifest.ref, ...(r.schema ? { schema: r.schema } : {}) });
  }
  return { report: { findings: applyPolicy(mergeAcrossEnvs(findings), envs), objects, environments: envs.map((e) => e.name) }, renders };
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
