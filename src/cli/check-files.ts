/**
 * One file of a plain environment read and parsed on its own: what `check`'s worker thread (check-worker.ts)
 * does for every file while the main thread validates the files already parsed (check-parallel.ts).
 */
import { readFileSync } from "node:fs";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { decodeUtf8, parseManifestsTraced, type LocateRecipe, type ParseLimits } from "../source/yaml.js";

/** A parsed file, as the plain renderer would parse it. */
export interface ParsedFile {
  /** The decoded text (absent when the file could not be decoded). */
  text?: string;
  /** Input findings of reading and parsing the file. */
  findings: Finding[];
  manifests: Manifest[];
  /** Each manifest's LocateRecipe (fast path), to rebuild locate() in another thread. */
  recipes?: LocateRecipe[];
}

/** Reads and parses one file of a plain environment (the plain renderer's parse, without its cache). */
export function parseFile(abs: string, rel: string, limits: ParseLimits): ParsedFile {
  const decoded = decodeUtf8(readFileSync(abs), rel, limits);
  if ("finding" in decoded) return { findings: [decoded.finding], manifests: [] };
  const parsed = parseManifestsTraced(decoded.text, rel, { renderer: "plain", limits });
  return { text: decoded.text, findings: parsed.findings, manifests: parsed.manifests, ...(parsed.recipes ? { recipes: parsed.recipes } : {}) };
}
