/** `meshops schemas pull|export`: cache a cluster's OpenAPI v3 schemas; export schemas for kubeconform. */
import { Option, type Command } from "commander";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { openRepository } from "../source/repository.js";
import { renderEnvironment } from "../source/render.js";
import { buildSchemaStore, loadCoreBundle, readCrdFiles, toKubeconformSchema, type OpenApiBundle, type Schema } from "../validate/index.js";
import { UsageError } from "./errors.js";
import { addClusterOptions, addCommonOptions, type Io } from "./main.js";
import { schemaCacheFile } from "./pipeline.js";

/** Fetches every group-version document of a cluster's /openapi/v3 into one bundle. */
export async function pullOpenApi(target: { context?: string; kubeconfig?: string }): Promise<{ bundle: OpenApiBundle; context: string }> {
  // loaded on demand: the Kubernetes client takes most of a second to import, and `check` never needs it
  const { getJson, loadKubeConfig } = await import("../cluster/kubeconfig.js");
  const kc = loadKubeConfig(target);
  const context = kc.getCurrentContext();
  const index = (await getJson(kc, "/openapi/v3")) as { paths?: Record<string, { serverRelativeURL?: string }> };
  if (!index.paths) throw new UsageError("the cluster's /openapi/v3 has no paths (Kubernetes 1.27+ serves OpenAPI v3)");
  const version = (await getJson(kc, "/version")) as { gitVersion?: string };
  const schemas: Record<string, Schema> = {};
  const kinds: OpenApiBundle["kinds"] = [];
  const paths = Object.entries(index.paths).filter(([p]) => p === "api/v1" || /^apis\/[^/]+\/[^/]+$/.test(p));
  // bounded concurrency: a cluster with many CRDs serves one document per group-version
  for (let i = 0; i < paths.length; i += 8) {
    const docs = await Promise.all(
      paths.slice(i, i + 8).map(async ([p, v]) => (await getJson(kc, v.serverRelativeURL ?? `/openapi/v3/${p}`)) as { components?: { schemas?: Record<string, Schema> } }),
    );
    for (const doc of docs) {
      for (const [name, s] of Object.entries(doc.components?.schemas ?? {})) {
        schemas[name] ??= s;
        const gvks = (s as { "x-kubernetes-group-version-kind"?: { group: string; version: string; kind: string }[] })["x-kubernetes-group-version-kind"] ?? [];
        for (const gvk of gvks) {
          if (gvk.kind.endsWith("List") || gvk.kind === "WatchEvent" || gvk.kind === "DeleteOptions" || gvk.kind === "Status") continue;
          if (!kinds.some((k) => k.group === gvk.group && k.version === gvk.version && k.kind === gvk.kind)) kinds.push({ ...gvk, ref: name });
        }
      }
    }
  }
  kinds.sort((a, b) => `${a.group}/${a.version}/${a.kind}`.localeCompare(`${b.group}/${b.version}/${b.kind}`));
  return { bundle: { source: `cluster ${context} OpenAPI v3 (${version.gitVersion ?? "unknown version"}, pulled ${new Date().toISOString()})`, kinds, schemas }, context };
}

export function registerSchemas(program: Command, io: Io, _setExit: (code: number) => void): void {
  const schemas = program.command("schemas").description("manage the schemas objects are validated against");
  addClusterOptions(
    addCommonOptions(schemas.command("pull").description("cache a live cluster's OpenAPI v3 schemas (built-in kinds and CRDs) for offline checks")),
  ).action(async (flags: { context?: string; kubeconfig?: string }) => {
    const { bundle, context } = await pullOpenApi({ ...(flags.context ? { context: flags.context } : {}), ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) });
    const file = schemaCacheFile(context);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(bundle));
    io.stdout(`cached ${bundle.kinds.length} kinds from context ${context} in ${file}\n`);
  });
  addCommonOptions(
    schemas
      .command("export")
      .description("write the schemas as JSON Schema files other validators read")
      .argument("<dir>", "output folder")
      .argument("[path]", "repository (its CRDs and its environments' rendered CRDs are included)"),
  )
    .addOption(new Option("--format <format>", "schema layout").choices(["kubeconform"]).default("kubeconform"))
    .option("--crds <path>", "CRD file or folder to include (repeatable)", (v: string, p: string[]) => [...p, v], [])
    .action(async (dir: string, path: string | undefined, flags: { crds: string[]; chdir?: string }) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const crdManifests = flags.crds.flatMap((p) => readCrdFiles(resolve(cwd, p), cwd).manifests);
      if (path !== undefined) {
        const repo = await openRepository({ cwd, target: path });
        try {
          for (const p of repo.loaded.config?.crds ?? []) crdManifests.push(...readCrdFiles(resolve(repo.dir, p), repo.dir).manifests);
          for (const env of repo.loaded.environments) {
            const r = await renderEnvironment(repo.dir, env);
            crdManifests.push(...r.manifests.filter((m) => m.ref.kind === "CustomResourceDefinition"));
          }
        } finally {
          repo.dispose();
        }
      }
      const store = buildSchemaStore({ crdManifests });
      const out = resolve(cwd, dir);
      const core = loadCoreBundle().schemas;
      let n = 0;
      for (const e of store.all()) {
        // layout: {{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json (kubeconform names the core group "v1")
        const file = join(out, e.group || "v1", `${e.kind.toLowerCase()}_${e.version}.json`);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${JSON.stringify(toKubeconformSchema(e, core))}\n`);
        n++;
      }
      io.stdout(`wrote ${n} schemas to ${out}\nuse: kubeconform -strict -schema-location '${out}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json' FILES\n`);
    });
}
