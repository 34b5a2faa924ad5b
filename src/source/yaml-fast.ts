/**
 * The fast path for plain YAML: js-yaml (about 10× faster than `yaml` on large streams) with the same
 * YAML 1.1 scalar rules the `yaml` path uses (go-yaml v2's, as kubectl reads manifests). Positions are
 * computed lazily: a document is re-parsed with `yaml` only when a finding needs a field's line.
 */
import jsyaml from "js-yaml";

const int = (re: RegExp, base: number, strip: number) => ({ re, base, strip });
const intForms = [int(/^[-+]?0b[0-1_]+$/, 2, 2), int(/^[-+]?0[0-7_]+$/, 8, 1), int(/^[-+]?[0-9][0-9_]*$/, 10, 0), int(/^[-+]?0x[0-9a-fA-F_]+$/, 16, 2)];

/** Digits only, no leading zero (ports, weights, counts): decimal under every rule of intForms, read without them. */
function isPlainDecimal(d: string): boolean {
  const n = d.length;
  if (n === 0 || n > 15 || (n > 1 && d.charCodeAt(0) === 48)) return false;
  for (let i = 0; i < n; i++) {
    const c = d.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Set when a number JSON cannot carry exactly (NaN, ±Infinity, -0) was read since the last takeInexactNumbers(). */
let inexact = false;

/**
 * True when the documents read since the last call hold a number JSON text cannot carry exactly (NaN, ±Infinity,
 * -0): the only values of the fast path that do not survive JSON.stringify → JSON.parse (it has no aliases, so no
 * shared objects, and no tags that make other types). Resets the flag.
 */
export function takeInexactNumbers(): boolean {
  const was = inexact;
  inexact = false;
  return was;
}

function exactly(n: number): number {
  if (!Number.isFinite(n) || Object.is(n, -0)) inexact = true;
  return n;
}

function parseInt11(data: string): number {
  if (isPlainDecimal(data)) return Number.parseInt(data, 10);
  for (const f of intForms) {
    if (!f.re.test(data)) continue;
    const sign = data.startsWith("-") ? -1 : 1;
    const body = data.replace(/^[-+]/, "").slice(f.strip).replaceAll("_", "");
    return sign * Number.parseInt(body, f.base);
  }
  return Number.NaN;
}

const floatNaN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const floatExp = /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/;
const floatDot = /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*$/;

/** YAML 1.1 booleans (go-yaml v2) and their values: a lookup instead of a regular expression per plain scalar. */
const bools = new Map<string, boolean>([
  ...["Y", "y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"].map((k) => [k, true] as [string, boolean]),
  ...["N", "n", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"].map((k) => [k, false] as [string, boolean]),
]);

/** First character of a plain scalar that can start a number: a digit, a sign, or (floats only) a dot or an exponent ("e5" is a float to go-yaml v2's rules, as to floatExp). */
function mayBeNumber(d: string, float: boolean): boolean {
  const c = d.charCodeAt(0);
  return (c >= 48 && c <= 57) || c === 43 || c === 45 || (float && (c === 46 || c === 101 || c === 69));
}

// js-yaml tries every implicit type's resolve() on every plain scalar (most are names, hosts, paths): each
// resolver rejects what cannot match by its first character or a lookup before any regular expression runs
const types = [
  new jsyaml.Type("tag:yaml.org,2002:null", {
    kind: "scalar",
    resolve: (d: string) => d === "" || d === "~" || d === "null" || d === "Null" || d === "NULL",
    construct: () => null,
    predicate: (o: unknown) => o === null,
  }),
  new jsyaml.Type("tag:yaml.org,2002:bool", {
    kind: "scalar",
    resolve: (d: string) => d.length <= 5 && bools.has(d),
    construct: (d: string) => bools.get(d) === true,
    predicate: (o: unknown) => typeof o === "boolean",
  }),
  new jsyaml.Type("tag:yaml.org,2002:int", {
    kind: "scalar",
    resolve: (d: string) => isPlainDecimal(d) || (mayBeNumber(d, false) && intForms.some((f) => f.re.test(d))),
    construct: (d: string) => exactly(parseInt11(d)),
    predicate: (o: unknown) => typeof o === "number" && Number.isInteger(o),
  }),
  new jsyaml.Type("tag:yaml.org,2002:float", {
    kind: "scalar",
    resolve: (d: string) => mayBeNumber(d, true) && (floatNaN.test(d) || floatExp.test(d) || floatDot.test(d)),
    construct: (d: string) => {
      if (floatNaN.test(d)) return exactly(d.toLowerCase().includes("nan") ? Number.NaN : d.startsWith("-") ? -Infinity : Infinity);
      return exactly(Number.parseFloat(d.replaceAll("_", "")));
    },
    predicate: (o: unknown) => typeof o === "number",
  }),
];

/** go-yaml v2's YAML 1.1 resolution: yes/no/on/off booleans, 0777 octal, underscores, no timestamps or sexagesimals. */
const schema = jsyaml.FAILSAFE_SCHEMA.extend({ implicit: types, explicit: [] });

/** One document of a stream: its text and where it starts. */
export interface Chunk {
  text: string;
  /** 1-based line of the chunk's first line in the file. */
  startLine: number;
}

const docStart = /^---(?:[ \t].*)?$/;
const docEnd = /^\.\.\.[ \t]*$/;

/** Splits a YAML stream at document markers (`---` at column 0 starts a document, `...` ends one). */
export function splitDocuments(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  let chunkStart = 0; // offset of the current chunk's first line
  let chunkLine = 1;
  let line = 1;
  let pos = 0;
  const flush = (end: number): void => {
    if (end > chunkStart) chunks.push({ text: text.slice(chunkStart, end), startLine: chunkLine });
  };
  while (pos <= text.length) {
    let eol = text.indexOf("\n", pos);
    if (eol < 0) eol = text.length;
    // only lines starting with '-' or '.' can be markers: skip the rest without slicing
    const c = text.charCodeAt(pos);
    if (c === 45 /* - */ || c === 46 /* . */) {
      const l = text.slice(pos, eol).replace(/\r$/, "");
      if (docStart.test(l) && pos > chunkStart) {
        flush(pos - 1);
        chunkStart = pos;
        chunkLine = line;
      } else if (docEnd.test(l)) {
        flush(pos > 0 ? pos - 1 : 0);
        chunkStart = eol + 1;
        chunkLine = line + 1;
      }
    }
    pos = eol + 1;
    line++;
  }
  flush(text.length);
  return chunks;
}

/**
 * True when the loaded value shares a collection between two places (js-yaml resolves an alias to the
 * anchored object itself, so sharing means an alias was used: expansion must be bounded by the `yaml` path)
 * or holds a merge key (`<<`, which only the `yaml` path resolves).
 */
function needsExactPath(value: unknown): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (seen.has(v)) return true;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else {
      for (const k in v) {
        if (k === "<<") return true;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return false;
}

/** Parses a chunk with js-yaml, or returns undefined when the `yaml` path must handle it (errors, unknown tags, aliases, merge keys). */
export function fastLoad(chunk: Chunk): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = jsyaml.load(chunk.text, { schema, json: false });
  } catch {
    return undefined;
  }
  // only a '*' (alias) or '<<' (merge key) in the text can make the value need the exact path
  if ((chunk.text.includes("*") || chunk.text.includes("<<")) && needsExactPath(value)) return undefined;
  return { value };
}

/** Line and column (1-based) of the first content line of a chunk: where the document's mapping starts. */
export function contentStart(chunk: Chunk): { line: number; column: number } {
  const text = chunk.text;
  let pos = 0;
  for (let i = 0; pos <= text.length; i++) {
    let eol = text.indexOf("\n", pos);
    if (eol < 0) eol = text.length;
    const l = text.slice(pos, eol).replace(/\r$/, "");
    const body = l.trimStart();
    if (body !== "" && !body.startsWith("#") && !docStart.test(l)) return { line: chunk.startLine + i, column: l.length - body.length + 1 };
    pos = eol + 1;
  }
  return { line: chunk.startLine, column: 1 };
}
