/**
 * Renderers: plain folders, Kustomize (`kubectl kustomize`) and Helm (`helm template`). Every object
 * points back to the file it came from: plain files directly, Kustomize through its origin annotations,
 * Helm through the `# Source:` comments.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Environment } from "../config/load.js";
import { identityKey, subjectOf, type FieldPath, type Manifest, type Position } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { run } from "./exec.js";
import { applyNamespaceDefault } from "./namespace-default.js";
import { decodeUtf8, defaultParseLimits, inputFinding, parseManifests, type ParseLimits } from "./yaml.js";

export interface RenderResult {
  env: string;
  manifests: Manifest[];
  /** Input findings: unreadable files, malformed YAML, duplicates, renderer failures. */
  findings: Finding[];
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;
/** Files in a plain folder that are tool configuration, not Kubernetes objects. */
const NOT_MANIFESTS = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml", "values.yaml", "meshops.yaml", ".gitlab-ci.yml"]);

function toPosix(p: string): string {
  return p.split(sep).join("/");
}

/**
 * Parsed files shared between renders of one environment at two revisions (`meshops diff`): a file with the
 * same path and bytes is parsed once. Keyed by environment and namespace default too, because rendering sets
 * the namespace of the objects it returns.
 */
export type ParseCache = Map<string, { manifests: Manifest[]; findings: Finding[] }>;

/** Renders one environment of the repository checked out (or extracted) at `root`. */
export async function renderEnvironment(root: string, env: Environment, limits: ParseLimits = defaultParseLimits, cache?: ParseCache): Promise<RenderResult> {
  const abs = resolve(root, env.path);
  const result: RenderResult = { env: env.name, manifests: [], findings: [] };
  if (!existsSync(abs)) {
    result.findings.push(inputFinding("MSH0008", env.path, { line: 1, column: 1 }, `path "${env.path}" of environment ${env.name} does not exist`));
    return result;
  }
  if (env.renderer === "plain") renderPlain(root, abs, result, limits, cache ? { cache, scope: `${env.name}\0${env.namespace ?? ""}` } : undefined);
  else if (env.renderer === "kustomize") await renderKustomize(root, abs, result, limits);
  else await renderHelm(root, env, result, limits);
  applyNamespaceDefault(result.manifests, env.namespace);
  result.findings.push(...findDuplicates(result.manifests, env.name));
  return result;
}

/** Plain folders: every .yaml/.yml/.json file below the path, recursively, in sorted order. */
function listPlainFiles(abs: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    // the entries' types come with the listing: only a symbolic link needs a stat (of what it points to)
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const name = entry.name;
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      if (entry.isSymbolicLink() ? statSync(p).isDirectory() : entry.isDirectory()) {
        // a Helm chart inside a plain folder holds templates, not manifests
        if (!existsSync(join(p, "Chart.yaml"))) walk(p);
      } else if (MANIFEST_EXT.test(name) && !NOT_MANIFESTS.has(name)) {
        files.push(p);
      }
    }
  };
  if (statSync(abs).isDirectory()) walk(abs);
  else files.push(abs);
  return files;
}

/** One input of a plain environment, in render order: a file to parse, or the finding that it is not read. */
export type PlainInput = { abs: string; rel: string } | { finding: Finding };

/** The inputs of a plain folder (or file) `abs` of the repository at `root`, in render order. */
export function plainInputs(root: string, abs: string): PlainInput[] {
  const realRoot = realpathSync(root);
  // path.relative resolves both paths again on every call: for a path below the (normalized) folder, it is the rest of it
  const below = (base: string): ((p: string) => string) => {
    const prefix = base === resolve(base) && !base.endsWith(sep) ? base + sep : undefined;
    return (p) => (prefix && p.startsWith(prefix) ? p.slice(prefix.length) : relative(base, p));
  };
  const fromRoot = below(root);
  const fromRealRoot = below(realRoot);
  return listPlainFiles(abs).map((f) => {
    // one realpath(3) call per file (the JavaScript realpathSync stats every component of the path)
    const real = realpathSync.native(f);
    const rel = fromRealRoot(real);
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel)) // within(realRoot, real)
      ? { abs: f, rel: toPosix(fromRoot(f)) }
      : { finding: inputFinding("MSH0008", toPosix(fromRoot(f)), { line: 1, column: 1 }, `symbolic link leads outside the repository (to ${real}): not read`) };
  });
}

function renderPlain(root: string, abs: string, result: RenderResult, limits: ParseLimits, cache?: { cache: ParseCache; scope: string }): void {
  for (const input of plainInputs(root, abs)) {
    if ("finding" in input) result.findings.push(input.finding);
    else parseFileInto(root, input.abs, result, limits, "plain", cache);
  }
}

function parseFileInto(root: string, absFile: string, result: RenderResult, limits: ParseLimits, renderer: "plain", cache?: { cache: ParseCache; scope: string }): void {
  const rel = toPosix(relative(root, absFile));
  const bytes = readFileSync(absFile);
  const key = cache ? `${cache.scope}\0${rel}\0${createHash("sha1").update(bytes).digest("hex")}` : undefined;
  const hit = key ? cache!.cache.get(key) : undefined;
  if (hit) {
    result.manifests.push(...hit.manifests);
    result.findings.push(...hit.findings);
    return;
  }
  const decoded = decodeUtf8(bytes, rel, limits);
  if ("finding" in decoded) {
    result.findings.push(decoded.finding);
    return;
  }
  const parsed = parseManifests(decoded.text, rel, { renderer, limits });
  if (key) cache!.cache.set(key, parsed);
  result.manifests.push(...parsed.manifests);
  result.findings.push(...parsed.findings);
}

/** Parsed source files, cached per render, used to point rendered objects at their source lines. */
class SourceIndex {
  private readonly cache = new Map<string, Manifest[] | undefined>();
  constructor(
    private readonly root: string,
    private readonly limits: ParseLimits,
  ) {}

  /** The document in `relFile` for this kind and name (or the only one of that kind), if it parses. */
  find(relFile: string, kind: string, names: string[]): Manifest | undefined {
    let docs = this.cache.get(relFile);
    if (!this.cache.has(relFile)) {
      docs = undefined;
      const abs = resolve(this.root, relFile);
      if (existsSync(abs) && statSync(abs).isFile()) {
        const d = decodeUtf8(readFileSync(abs), relFile, this.limits);
        if ("text" in d) docs = parseManifests(d.text, relFile, { limits: this.limits, requireName: false }).manifests;
      }
      this.cache.set(relFile, docs);
    }
    if (!docs) return undefined;
    const sameKind = docs.filter((m) => m.ref.kind === kind);
    return sameKind.find((m) => names.includes(m.ref.name)) ?? (sameKind.length === 1 ? sameKind[0] : undefined);
  }
}

const ORIGIN_ANNOTATION = "config.kubernetes.io/origin";

/**
 * Kustomize: `kubectl kustomize` on a wrapper kustomization (in a temporary folder) that includes the
 * environment's overlay and turns on `buildMetadata: [originAnnotations]`, so each object names its
 * source file without changing the user's kustomization. The annotation is removed from the output.
 */
async function renderKustomize(root: string, abs: string, result: RenderResult, limits: ParseLimits): Promise<void> {
  const wrapper = mkdtempSync(join(tmpdir(), "meshops-kustomize-"));
  try {
    const target = toPosix(relative(wrapper, abs));
    writeFileSync(join(wrapper, "kustomization.yaml"), `resources:\n- ${JSON.stringify(target)}\nbuildMetadata: [originAnnotations]\n`);
    const r = await run("kubectl", ["kustomize", wrapper]);
    if (r.code !== 0) {
      // drop klog's prefix and the wrapper's own accumulation layer: keep kustomize's message about the user's files
      const msg = r.stderr
        .trim()
        .replace(/^E\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=/m, "")
        .replace(/^"(.*)"$/s, "$1")
        .replace(/accumulating resources: accumulation err='accumulating resources from '[^']*': '[^']*' must resolve to a file': (couldn't make target for path '[^']*': )?/, "")
        .replace(/'?\)?$/, "")
        .replaceAll(`${abs}/`, "")
        .replaceAll(wrapper, "<wrapper>");
      result.findings.push(inputFinding("MSH0009", toPosix(relative(root, abs)) || ".", { line: 1, column: 1 }, `kubectl kustomize failed: ${msg}`));
      return;
    }
    const overlayRel = toPosix(relative(root, abs)) || ".";
    const parsed = parseManifests(r.stdout, overlayRel, { renderer: "kustomize", limits });
    result.findings.push(...parsed.findings);
    const sources = new SourceIndex(root, limits);
    for (const m of parsed.manifests) {
      const meta = m.object.metadata as Record<string, unknown>;
      const ann = meta.annotations as Record<string, string> | undefined;
      const originText = ann?.[ORIGIN_ANNOTATION];
      if (ann && originText !== undefined) {
        delete ann[ORIGIN_ANNOTATION];
        if (Object.keys(ann).length === 0) delete meta.annotations;
      }
      let file = overlayRel;
      if (originText) {
        const origin = parseYaml(originText) as { path?: string; configuredIn?: string; repo?: string } | null;
        const p = origin?.repo ? undefined : (origin?.path ?? origin?.configuredIn);
        if (p) file = toPosix(relative(root, resolve(wrapper, p)));
      }
      result.manifests.push(pointAtSource(m, file, "kustomize", sources));
    }
  } finally {
    rmSync(wrapper, { recursive: true, force: true });
  }
}

/** Re-points a rendered object at its source document: fields present in the source keep their lines. */
function pointAtSource(m: Manifest, file: string, renderer: "kustomize" | "helm", sources: SourceIndex, originalNames: string[] = []): Manifest {
  const src = file.startsWith("..") ? undefined : sources.find(file, m.ref.kind, [m.ref.name, ...originalNames, ...unprefixed(m.ref.name)]);
  const docPos: Position = src ? { line: src.origin.line, column: src.origin.column } : { line: 1, column: 1 };
  const locate = (path: FieldPath): Position | undefined => src?.locate(path) ?? docPos;
  return { ref: m.ref, object: m.object, origin: { file, line: docPos.line, column: docPos.column, renderer }, locate };
}

/** Candidate names before a namePrefix/nameSuffix: every '-' split of the rendered name. */
function unprefixed(name: string): string[] {
  const out: string[] = [];
  const parts = name.split("-");
  for (let i = 0; i < parts.length; i++) for (let j = parts.length; j > i; j--) if (i > 0 || j < parts.length) out.push(parts.slice(i, j).join("-"));
  return out;
}

/** Helm: `helm template` with the environment's values; `# Source:` comments map objects to templates. */
async function renderHelm(root: string, env: Environment, result: RenderResult, limits: ParseLimits): Promise<void> {
  const helm = env.helm ?? { chart: env.path, values: [], set: {}, apiVersions: [] };
  const chartAbs = resolve(root, helm.chart);
  if (!existsSync(join(chartAbs, "Chart.yaml"))) {
    result.findings.push(inputFinding("MSH0008", helm.chart, { line: 1, column: 1 }, `helm chart "${helm.chart}" has no Chart.yaml`));
    return;
  }
  const args = ["template", helm.releaseName ?? env.name, chartAbs];
  if (env.namespace) args.push("--namespace", env.namespace);
  for (const v of helm.values) {
    if (!existsSync(resolve(root, v))) {
      result.findings.push(inputFinding("MSH0008", v, { line: 1, column: 1 }, `helm values file "${v}" of environment ${env.name} does not exist`));
      return;
    }
    args.push("--values", resolve(root, v));
  }
  for (const [k, v] of Object.entries(helm.set)) args.push(typeof v === "string" ? "--set-string" : "--set", `${k}=${String(v)}`);
  for (const a of helm.apiVersions) args.push("--api-versions", a);
  if (helm.kubeVersion) args.push("--kube-version", helm.kubeVersion);
  const r = await run("helm", args);
  const chartRel = toPosix(relative(root, chartAbs)) || ".";
  if (r.code !== 0) {
    const msg = r.stderr.trim().replaceAll(chartAbs, chartRel);
    const at = /\(([^)]*?\/templates\/[^:)]+):(\d+)(?::(\d+))?\)/.exec(msg);
    const file = at?.[1] ? toPosix(join(chartRel, at[1].split("/").slice(1).join("/"))) : chartRel;
    result.findings.push(inputFinding("MSH0009", file, { line: Number(at?.[2] ?? 1), column: Number(at?.[3] ?? 1) }, `helm template failed: ${msg}`));
    return;
  }
  const chartName = (parseYaml(readFileSync(join(chartAbs, "Chart.yaml"), "utf8")) as { name?: string } | null)?.name ?? basename(chartAbs);
  // split the stream at document markers, remembering each document's "# Source:" template
  const docs = r.stdout.split(/^---[ \t]*$/m);
  for (const doc of docs) {
    const src = /^# Source: (.+)$/m.exec(doc)?.[1]?.trim();
    let file = chartRel;
    if (src) {
      const parts = src.split("/");
      // "<chart>/templates/x.yaml" or "<chart>/charts/<sub>/templates/x.yaml"
      file = toPosix(join(chartRel, parts[0] === chartName ? parts.slice(1).join("/") : src));
    }
    const parsed = parseManifests(doc, file, { renderer: "helm", limits });
    result.findings.push(...parsed.findings.map((f) => ({ ...f, message: `${f.message} (in the output of helm template)` })));
    for (const m of parsed.manifests) result.manifests.push(locateInTemplate(m, file, root));
  }
}

/** Best-effort line in a Helm template: the `kind: X` line when it is unique in the template. */
function locateInTemplate(m: Manifest, file: string, root: string): Manifest {
  let line = 1;
  const abs = resolve(root, file);
  if (existsSync(abs)) {
    const lines = readFileSync(abs, "utf8").split("\n");
    const hits = lines.flatMap((l, i) => (new RegExp(`^kind:\\s*["']?${m.ref.kind}["']?\\s*$`).test(l) ? [i + 1] : []));
    if (hits.length === 1 && hits[0] !== undefined) {
      line = hits[0];
      // step back to the document's apiVersion line if it is just above
      for (let i = line - 2; i >= 0 && i >= line - 4; i--) if (/^apiVersion:/.test(lines[i] ?? "")) line = i + 1;
    }
  }
  const pos = { line, column: 1 };
  return { ref: m.ref, object: m.object, origin: { file, line, column: 1, renderer: "helm" }, locate: () => pos };
}

/** The same object (group, kind, namespace, name) twice in one environment is an input error naming both origins. */
export function findDuplicates(manifests: Manifest[], env: string): Finding[] {
  const seen = new Map<string, Manifest>();
  const out: Finding[] = [];
  for (const m of manifests) {
    const key = identityKey(m.ref);
    const first = seen.get(key);
    if (first) {
      out.push({
        ...inputFinding(
          "MSH0007",
          m.origin.file,
          m.origin,
          `${subjectOf(m.ref)} is defined twice in environment ${env}: here and at ${first.origin.file}:${first.origin.line}`,
          m.ref,
        ),
        env,
      });
    } else {
      seen.set(key, m);
    }
  }
  return out;
}

