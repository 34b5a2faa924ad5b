/**
 * Where schemas come from, in precedence order: CRDs given with --crds or found in the repository,
 * a cache written by `meshops schemas pull` (a cluster's OpenAPI v3), and the bundled Kubernetes core
 * schemas. Each entry remembers its source and version so every result can say what validated it.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { decodeUtf8, parseManifests } from "../source/yaml.js";
import type { Schema } from "./schema-types.js";

export interface SchemaEntry {
  group: string;
  version: string;
  kind: string;
  /** The object schema (openAPIV3Schema for CRDs; a component schema for OpenAPI documents). */
  schema: Schema;
  /** Named schemas that `$ref`s in `schema` point to (OpenAPI `#/components/schemas/...`). */
  definitions?: Record<string, Schema>;
  /** Human-readable origin with a version: "CRD virtualservices.networking.istio.io (…/crd-all.gen.yaml, sha256:…)". */
  source: string;
  scope: "Namespaced" | "Cluster";
  served: boolean;
  deprecated?: string;
  /** CRD origin, for pointing at a CRD's own faults (e.g. a CEL rule that does not compile). */
  crdFile?: string;
}

/** A bundle in the format of schemas/kubernetes-core.json and of `schemas pull` caches. */
export interface OpenApiBundle {
  source: string;
  kinds: { group: string; version: string; kind: string; ref: string; scope?: "Namespaced" | "Cluster" }[];
  schemas: Record<string, Schema>;
}

const key = (group: string, version: string, kind: string): string => `${group}/${version}/${kind}`;

export class SchemaStore {
  private readonly entries = new Map<string, SchemaEntry>();
  /** group/kind → versions known, to tell "unknown version" from "unknown kind". */
  private readonly kinds = new Map<string, Set<string>>();
  readonly sources: string[] = [];

  /** Adds an entry unless one with higher precedence (added earlier) exists. */
  add(e: SchemaEntry): void {
    const k = key(e.group, e.version, e.kind);
    if (this.entries.has(k)) return;
    this.entries.set(k, e);
    const gk = `${e.group}/${e.kind}`;
    if (!this.kinds.has(gk)) this.kinds.set(gk, new Set());
    this.kinds.get(gk)?.add(e.version);
  }

  get(group: string, version: string, kind: string): SchemaEntry | undefined {
    return this.entries.get(key(group, version, kind));
  }

  /** Versions known for a group and kind (empty when the kind is unknown). */
  versionsOf(group: string, kind: string): string[] {
    return [...(this.kinds.get(`${group}/${kind}`) ?? [])].sort();
  }

  get size(): number {
    return this.entries.size;
  }

  all(): SchemaEntry[] {
    return [...this.entries.values()];
  }

  /** Adds every served version of the CRDs among these manifests. */
  addCrds(manifests: readonly Manifest[], label: (m: Manifest) => string): void {
    for (const m of manifests) {
      if (m.ref.kind !== "CustomResourceDefinition" || !m.ref.apiVersion.startsWith("apiextensions.k8s.io/")) continue;
      const spec = m.object.spec as CrdSpec | undefined;
      if (!spec?.group || !spec.names?.kind || !Array.isArray(spec.versions)) continue;
      const meta = m.object.metadata as { annotations?: Record<string, string>; labels?: Record<string, string> };
      const version =
        meta.annotations?.["gateway.networking.k8s.io/bundle-version"] ??
        meta.annotations?.["linkerd.io/created-by"]?.replace(/^linkerd\/cli /, "linkerd ") ??
        meta.labels?.["app.kubernetes.io/version"];
      for (const v of spec.versions) {
        const schema = v.schema?.openAPIV3Schema;
        if (!schema) continue;
        this.add({
          group: spec.group,
          version: v.name,
          kind: spec.names.kind,
          schema,
          source: `CRD ${String((m.object.metadata as { name?: string }).name)} ${v.name} (${label(m)}${version ? `, ${version}` : ""})`,
          scope: spec.scope === "Cluster" ? "Cluster" : "Namespaced",
          served: v.served !== false,
          ...(v.deprecated ? { deprecated: v.deprecationWarning ?? `${spec.group}/${v.name} ${spec.names.kind} is deprecated` } : {}),
          crdFile: `${m.origin.file}:${m.origin.line}`,
        });
      }
    }
  }

  /** Adds every kind of an OpenAPI bundle (bundled core schemas or a `schemas pull` cache). */
  addBundle(bundle: OpenApiBundle): void {
    this.sources.push(bundle.source);
    for (const k of bundle.kinds) {
      const schema = bundle.schemas[k.ref];
      if (!schema) continue;
      this.add({
        group: k.group,
        version: k.version,
        kind: k.kind,
        schema,
        definitions: bundle.schemas,
        source: bundle.source,
        scope: k.scope ?? "Namespaced",
        served: true,
      });
    }
  }
}

interface CrdSpec {
  group?: string;
  scope?: string;
  names?: { kind?: string };
  versions?: { name: string; served?: boolean; deprecated?: boolean; deprecationWarning?: string; schema?: { openAPIV3Schema?: Schema } }[];
}

const bundledCore = fileURLToPath(new URL("../../schemas/kubernetes-core.json", import.meta.url));
let coreBundle: OpenApiBundle | undefined;

/** The bundled Kubernetes core schemas (generated by scripts/gen-core-schemas.mjs). */
export function loadCoreBundle(): OpenApiBundle {
  coreBundle ??= JSON.parse(readFileSync(bundledCore, "utf8")) as OpenApiBundle;
  return coreBundle;
}

/** Lists YAML/JSON files under a file or folder, sorted. */
export function listYamlFiles(path: string): string[] {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    const p = join(path, name);
    if (statSync(p).isDirectory()) out.push(...listYamlFiles(p));
    else if (/\.(ya?ml|json)$/i.test(name)) out.push(p);
  }
  return out;
}

/** Reads CRD files from a file or folder (for --crds and meshops.yaml `crds:`); label paths relative to `base`. */
export function readCrdFiles(path: string, base: string): { manifests: Manifest[]; findings: Finding[]; hashes: Map<string, string> } {
  // CRD bundles are large (Istio's alone is 870 kB) and the same for every environment: parse once per process
  const stamp = listYamlFiles(path)
    .map((f) => {
      const st = statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join("|");
  const key = `${base}\0${stamp}`;
  const hit = crdFileCache.get(key);
  if (hit) return hit;
  const result = readCrdFilesUncached(path, base);
  crdFileCache.set(key, result);
  return result;
}

const crdFileCache = new Map<string, ReturnType<typeof readCrdFilesUncached>>();

/** On-disk cache of parsed CRD files, keyed by content hash (parsing Istio's 870 kB bundle costs ~0.3 s). */
function parsedCacheDir(): string {
  return process.env.MESHOPS_PARSE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "meshops", "parsed");
}

interface CachedDoc {
  ref: Manifest["ref"];
  object: Record<string, unknown>;
  origin: Manifest["origin"];
}

/** Parses a CRD file, or reads the parse of the same bytes from the cache; field positions stay exact (parsed on demand). */
function parseCached(text: string, rel: string, digest: string): { manifests: Manifest[]; findings: Finding[] } {
  const limits = { maxFileBytes: 64 * 1024 * 1024, maxAliasCount: 100 };
  const file = join(parsedCacheDir(), `${digest}.json`);
  let docs: CachedDoc[] | undefined;
  try {
    docs = JSON.parse(readFileSync(file, "utf8")) as CachedDoc[];
  } catch {
    docs = undefined;
  }
  if (docs) {
    let exact: Manifest[] | undefined;
    return {
      findings: [],
      manifests: docs.map((d, i) => ({
        ref: d.ref,
        object: d.object,
        origin: { ...d.origin, file: rel },
        locate: (path) => {
          exact ??= parseManifests(text, rel, { limits }).manifests;
          return exact[i]?.locate(path);
        },
      })),
    };
  }
  const parsed = parseManifests(text, rel, { limits });
  if (parsed.findings.length === 0) {
    try {
      mkdirSync(parsedCacheDir(), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(parsed.manifests.map((m) => ({ ref: m.ref, object: m.object, origin: m.origin }))));
      renameSync(tmp, file);
    } catch {
      // a read-only or full cache folder only costs speed
    }
  }
  return parsed;
}

function readCrdFilesUncached(path: string, base: string): { manifests: Manifest[]; findings: Finding[]; hashes: Map<string, string> } {
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  const hashes = new Map<string, string>();
  for (const f of listYamlFiles(path)) {
    const rel = relative(base, f).split(sep).join("/");
    const bytes = readFileSync(f);
    const d = decodeUtf8(bytes, rel, { maxFileBytes: 64 * 1024 * 1024, maxAliasCount: 100 });
    if ("finding" in d) {
      findings.push(d.finding);
      continue;
    }
    const digest = createHash("sha256").update(bytes).digest("hex");
    hashes.set(rel, digest.slice(0, 12));
    const parsed = parseCached(d.text, rel, digest);
    manifests.push(...parsed.manifests);
    findings.push(...parsed.findings);
  }
  return { manifests, findings, hashes };
}
