/**
 * YAML/JSON manifest parsing that keeps origins: every object knows its file, line and column,
 * and can locate any of its fields. Bad input becomes findings (category "input"), never a throw.
 */
import { isMap, isSeq, LineCounter, parseAllDocuments, parseDocument, type Document, type Node as YamlNode } from "yaml";
import { contentStart, fastLoad, splitDocuments, type Chunk } from "./yaml-fast.js";
import type { Manifest, Origin, Position, FieldPath, ResourceRef } from "../model/resource.js";
import type { Finding } from "../report/finding.js";

/** Limits that keep hostile input from exhausting memory. */
export interface ParseLimits {
  /** Largest file accepted, in bytes. */
  maxFileBytes: number;
  /** Most alias expansions per document (bounds "billion laughs" alias bombs). */
  maxAliasCount: number;
}

export const defaultParseLimits: ParseLimits = { maxFileBytes: 8 * 1024 * 1024, maxAliasCount: 100 };

export interface ParseResult {
  manifests: Manifest[];
  findings: Finding[];
}

/** LineCounter positions ({line, col}) as Positions. */
function at(lc: LineCounter, offset: number): Position {
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Input-category finding at a position in a file. */
export function inputFinding(code: string, file: string, pos: Position, message: string, resource?: ResourceRef): Finding {
  return { code, category: "input", severity: "error", message, file, line: pos.line, column: pos.column, ...(resource ? { resource } : {}) };
}

/** Decodes bytes as strict UTF-8; returns a finding for anything else (e.g. a Latin-1 file). */
export function decodeUtf8(bytes: Uint8Array, file: string, limits: ParseLimits = defaultParseLimits): { text: string } | { finding: Finding } {
  if (bytes.byteLength > limits.maxFileBytes) {
    return {
      finding: inputFinding("MSH0004", file, { line: 1, column: 1 }, `file is ${bytes.byteLength} bytes, over the ${limits.maxFileBytes}-byte limit`),
    };
  }
  try {
    let text = utf8.decode(bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { text };
  } catch {
    // find the first invalid byte so the user can find it
    let offset = 0;
    for (let lo = 0, hi = bytes.byteLength; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      try {
        utf8.decode(bytes.subarray(0, mid + 1));
        lo = mid + 1;
        offset = lo;
      } catch {
        hi = mid;
      }
    }
    // a multi-byte sequence cut at mid also fails: step back to the start of the bad sequence
    const before = Buffer.from(bytes.subarray(0, offset)).toString("utf8").replace(/\uFFFD+$/, "");
    const lines = before.split("\n");
    return {
      finding: inputFinding(
        "MSH0005",
        file,
        { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 },
        "file is not valid UTF-8 (Kubernetes manifests must be UTF-8)",
      ),
    };
  }
}

/** The YAML 1.1 types Kubernetes' YAML decoder (go-yaml v2) resolves: yes/no/on/off booleans, but no sexagesimal numbers or timestamps. */
const yamlOptions = {
  version: "1.1" as const,
  uniqueKeys: true,
  merge: true,
  prettyErrors: false,
  customTags: (tags: unknown[]) =>
    tags.filter((t) => {
      const tag = t as { tag?: string; format?: string };
      return tag.format !== "TIME" && tag.tag !== "tag:yaml.org,2002:timestamp";
    }) as never,
};

/** Builds a locate() function for a document: field path → position of that field's key (or value for array items). */
function locator(doc: Document.Parsed, lc: LineCounter, base: Position | undefined): (path: FieldPath) => Position | undefined {
  return (path) => {
    let node: unknown = doc.contents;
    let last: Position | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const k = p.key as { value?: unknown } | null;
          return k !== null && typeof k === "object" && String(k.value) === String(seg);
        });
        if (!pair) return undefined;
        const keyNode = pair.key as YamlNode;
        if (keyNode.range) last = at(lc, keyNode.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
        const n = node as YamlNode | undefined;
        if (!n?.range) return undefined;
        last = at(lc, n.range[0]);
      } else {
        return undefined;
      }
    }
    if (path.length === 0) {
      const n = node as YamlNode | undefined;
      return n?.range ? at(lc, n.range[0]) : base;
    }
    return last;
  };
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

export interface ParseOptions {
  /** Renderer recorded in origins. */
  renderer?: Origin["renderer"];
  limits?: ParseLimits;
  /** Require metadata.name (generated manifests from Helm/Kustomize always have one). */
  requireName?: boolean;
  /** "yaml" forces the exact-position parser for every document (tests compare both paths). */
  engine?: "auto" | "yaml";
}

/**
 * Parses one file's text (YAML stream or JSON) into manifests. Documents that are empty or only comments
 * are skipped; `kind: List` documents are expanded into their items.
 */
export function parseManifests(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const { manifests, findings } = parseManifestsTraced(text, file, opts);
  return { manifests, findings };
}

/**
 * Where a manifest of the fast path came from: its document (chunk) in the file and, for an item of a `kind: List`,
 * the path to the item. With the file's text this rebuilds its locate() in another thread (see locatorsFor).
 */
export interface LocateRecipe {
  chunk: number;
  prefix: FieldPath;
}

/** parseManifests, plus each manifest's LocateRecipe when the whole file took the fast path (recipes undefined otherwise). */
export function parseManifestsTraced(text: string, file: string, opts: ParseOptions = {}): ParseResult & { recipes?: LocateRecipe[] } {
  const limits = opts.limits ?? defaultParseLimits;
  const renderer = opts.renderer ?? "plain";
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  const fast = opts.engine === "yaml" ? undefined : loadFast(text);
  const recipes: LocateRecipe[] | undefined = fast ? [] : undefined;
  let recipe: LocateRecipe = { chunk: 0, prefix: [] };
  const docs = fast ?? loadSlow(text, file, limits, findings);
  for (const { data, docPos, locate, chunk } of docs) {
    recipe = { chunk, prefix: [] };
    if (data === null || data === undefined) continue;
    if (typeof data !== "object" || Array.isArray(data)) {
      findings.push(inputFinding("MSH0006", file, docPos, "document is not a Kubernetes object (expected a mapping with apiVersion, kind and metadata)"));
      continue;
    }
    const obj = data as Record<string, unknown>;
    if (typeof obj.kind === "string" && obj.kind.endsWith("List") && Array.isArray(obj.items) && obj.apiVersion === "v1") {
      obj.items.forEach((item, i) => {
        const pos = locate(["items", i]) ?? docPos;
        const sub = (p: FieldPath) => locate(["items", i, ...p]);
        recipe = { chunk, prefix: ["items", i] };
        pushObject(item, pos, sub);
      });
      continue;
    }
    pushObject(obj, docPos, locate);
  }
  return { manifests, findings, ...(recipes ? { recipes } : {}) };

  function pushObject(data: unknown, pos: Position, locate: (p: FieldPath) => Position | undefined): void {
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      findings.push(inputFinding("MSH0006", file, pos, "list item is not a Kubernetes object"));
      return;
    }
    const obj = data as Record<string, unknown>;
    const meta = obj.metadata;
    const missing: string[] = [];
    if (!str(obj.apiVersion)) missing.push("apiVersion");
    if (!str(obj.kind)) missing.push("kind");
    const metaObj = typeof meta === "object" && meta !== null && !Array.isArray(meta) ? (meta as Record<string, unknown>) : undefined;
    const name = str(metaObj?.name);
    const rawName = metaObj?.name;
    if (rawName !== undefined && rawName !== null && typeof rawName !== "string") {
      const at = locate(["metadata", "name"]) ?? pos;
      findings.push(inputFinding("MSH0006", file, at, `metadata.name must be a string, got ${typeof rawName} ${JSON.stringify(rawName)} (quote it: YAML reads y/n/yes/no/on/off as booleans)`));
      return;
    }
    if (!name && (opts.requireName !== false || !str(metaObj?.generateName))) missing.push("metadata.name");
    if (missing.length > 0) {
      findings.push(inputFinding("MSH0006", file, pos, `document has no ${missing.join(", ")}: every object needs apiVersion, kind and metadata.name`));
      return;
    }
    const ns = str(metaObj?.namespace);
    const ref: ResourceRef = { apiVersion: obj.apiVersion as string, kind: obj.kind as string, name: name ?? "", ...(ns ? { namespace: ns } : {}) };
    manifests.push({ ref, object: obj, origin: { file, line: pos.line, column: pos.column, renderer }, locate });
    recipes?.push(recipe);
  }
}

interface LoadedDoc {
  data: unknown;
  docPos: Position;
  locate: (path: FieldPath) => Position | undefined;
  /** Index of the document's chunk (fast path; 0 for the `yaml` path). */
  chunk: number;
}

/** A chunk's locate(): the chunk is parsed with `yaml` on the first call only (findings are rare). */
function chunkLocate(chunk: Chunk, docPos: Position): (path: FieldPath) => Position | undefined {
  let lazy: ((path: FieldPath) => Position | undefined) | undefined;
  return (path) => {
    if (!lazy) {
      const lc = new LineCounter();
      const doc = parseDocument(chunk.text, { ...yamlOptions, lineCounter: lc });
      const inner = locator(doc, lc, docPos);
      const shift = chunk.startLine - 1;
      lazy = (p) => {
        const pos = inner(p);
        return pos && pos !== docPos ? { line: pos.line + shift, column: pos.column } : pos;
      };
    }
    return lazy(path);
  };
}

/** js-yaml for every document, positions parsed lazily; undefined when any document needs the `yaml` path. */
function loadFast(text: string): LoadedDoc[] | undefined {
  const out: LoadedDoc[] = [];
  const chunks = splitDocuments(text);
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i] as Chunk;
    const loaded = fastLoad(chunk);
    if (!loaded) return undefined;
    const docPos = contentStart(chunk);
    out.push({ data: loaded.value, docPos, locate: chunkLocate(chunk, docPos), chunk: i });
  }
  return out;
}

/**
 * The locate() functions of a file's manifests parsed elsewhere (a worker thread), from the file's text and
 * the manifests' recipes (fast path), or by parsing the text again on first use (`yaml` path): the same
 * positions parseManifests' own locate() gives, at no cost until a finding asks for one.
 */
export function locatorsFor(text: string, file: string, count: number, recipes: readonly LocateRecipe[] | undefined, opts: ParseOptions = {}): ((path: FieldPath) => Position | undefined)[] {
  const out: ((path: FieldPath) => Position | undefined)[] = [];
  if (!recipes) {
    let exact: Manifest[] | undefined;
    for (let i = 0; i < count; i++) {
      out.push((path) => {
        exact ??= parseManifests(text, file, opts).manifests;
        return exact[i]?.locate(path);
      });
    }
    return out;
  }
  let chunks: Chunk[] | undefined;
  const byChunk = new Map<number, (path: FieldPath) => Position | undefined>();
  const chunkOf = (n: number): ((path: FieldPath) => Position | undefined) => {
    let loc = byChunk.get(n);
    if (!loc) {
      chunks ??= splitDocuments(text);
      const chunk = chunks[n] as Chunk;
      loc = chunkLocate(chunk, contentStart(chunk));
      byChunk.set(n, loc);
    }
    return loc;
  };
  for (const r of recipes) out.push(r.prefix.length === 0 ? (path) => chunkOf(r.chunk)(path) : (path) => chunkOf(r.chunk)([...r.prefix, ...path]));
  return out;
}

/** The `yaml` path: exact error positions, duplicate keys, bounded alias expansion. */
function loadSlow(text: string, file: string, limits: ParseLimits, findings: Finding[]): LoadedDoc[] {
  const lc = new LineCounter();
  const out: LoadedDoc[] = [];
  for (const doc of parseAllDocuments(text, { ...yamlOptions, lineCounter: lc })) {
    if (doc.errors.length > 0) {
      const seen = new Set<string>();
      for (const err of doc.errors) {
        const lp = err.linePos?.[0];
        const pos = lp ? { line: lp.line, column: lp.col } : at(lc, err.pos[0]);
        // one message per position: the parser often reports a cascade at the same place
        if (seen.has(`${pos.line}:${pos.column}`)) continue;
        seen.add(`${pos.line}:${pos.column}`);
        const code = err.code === "DUPLICATE_KEY" ? "MSH0002" : "MSH0001";
        const what = err.code === "DUPLICATE_KEY" ? "duplicate key" : "malformed YAML";
        findings.push(inputFinding(code, file, pos, `${what}: ${firstLine(err.message)}`));
      }
      continue;
    }
    const docPos: Position = doc.contents?.range ? at(lc, doc.contents.range[0]) : { line: 1, column: 1 };
    try {
      out.push({ data: doc.toJS({ maxAliasCount: limits.maxAliasCount }), docPos, locate: locator(doc, lc, docPos), chunk: 0 });
    } catch (e) {
      const msg = (e as Error).message;
      const bomb = /alias/i.test(msg);
      findings.push(
        inputFinding(bomb ? "MSH0003" : "MSH0001", file, docPos, bomb ? `too many alias expansions (limit ${limits.maxAliasCount}): ${firstLine(msg)}` : `malformed YAML: ${firstLine(msg)}`),
      );
    }
  }
  return out;
}

function firstLine(s: string): string {
  return s.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? s;
}
