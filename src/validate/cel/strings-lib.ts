// The cel-go strings extension at the version Kubernetes enables (ext.Strings v2):
// charAt, indexOf, lastIndexOf, lowerAscii, upperAscii, replace, split, substring,
// trim, join, strings.quote and format. Indexes count Unicode code points like
// cel-go (Go runes), not UTF-16 units, so this is written here rather than taken
// from @bufbuild/cel/ext, whose versions index UTF-16 units and truncate split(sep, n).
import { CelScalar, celFunc, celList, celMethod, listType, type CelFunc, type CelList } from "@bufbuild/cel";
import { strings as bufStrings } from "@bufbuild/cel/ext";

const { STRING, INT, DYN } = CelScalar;
const LIST = listType(DYN);

const SURROGATE = /[\uD800-\uDFFF]/;

/** Code points of s; a plain split when s has no surrogate pairs. */
function codePoints(s: string): string[] {
  return SURROGATE.test(s) ? Array.from(s) : s.split("");
}

function outOfRange(i: bigint | number): Error {
  return new Error(`index out of range: ${i}`);
}

function charAt(this: string, index: bigint): string {
  const runes = codePoints(this);
  if (index < 0n || index > BigInt(runes.length)) throw outOfRange(index);
  return runes[Number(index)] ?? "";
}

function matchAt(runes: string[], sub: string[], i: number): boolean {
  for (let j = 0; j < sub.length; j++) {
    if (runes[i + j] !== sub[j]) return false;
  }
  return true;
}

function indexOfFrom(str: string, substr: string, offset: bigint, explicit: boolean): bigint {
  if (substr === "") return offset;
  const runes = codePoints(str);
  if (explicit && (offset < 0n || offset >= BigInt(runes.length))) throw outOfRange(offset);
  const sub = codePoints(substr);
  for (let i = Number(offset); i <= runes.length - sub.length; i++) {
    if (matchAt(runes, sub, i)) return BigInt(i);
  }
  return -1n;
}

function lastIndexOfFrom(str: string, substr: string, offset: bigint | undefined): bigint {
  const runes = codePoints(str);
  if (offset === undefined) {
    if (substr === "") return BigInt(runes.length);
    offset = BigInt(runes.length - 1);
  } else {
    if (substr === "") return offset;
    if (offset < 0n || offset >= BigInt(runes.length)) throw outOfRange(offset);
  }
  const sub = codePoints(substr);
  let off = Math.min(Number(offset), runes.length - sub.length);
  for (; off >= 0; off--) {
    if (matchAt(runes, sub, off)) return BigInt(off);
  }
  return -1n;
}

function asciiCase(s: string, upper: boolean): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (upper && c >= 97 && c <= 122) out += String.fromCharCode(c - 32);
    else if (!upper && c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else out += s[i];
  }
  return out;
}

/** Go's strings.Replace(s, old, new, n). */
export function goReplace(s: string, old: string, repl: string, n: number): string {
  if (old === repl || n === 0) return s;
  if (old === "") {
    const runes = codePoints(s);
    const limit = n < 0 ? runes.length + 1 : Math.min(n, runes.length + 1);
    let out = "";
    for (let i = 0; i < runes.length; i++) {
      if (i < limit) out += repl;
      out += runes[i];
    }
    if (runes.length < limit) out += repl;
    return out;
  }
  let out = "";
  let start = 0;
  let done = 0;
  while (n < 0 || done < n) {
    const at = s.indexOf(old, start);
    if (at < 0) break;
    out += s.slice(start, at) + repl;
    start = at + old.length;
    done++;
  }
  return out + s.slice(start);
}

/** Go's strings.SplitN(s, sep, n). */
export function goSplitN(s: string, sep: string, n: number): string[] {
  if (n === 0) return [];
  if (sep === "") {
    const runes = codePoints(s);
    if (n < 0 || n >= runes.length) return runes;
    return [...runes.slice(0, n - 1), runes.slice(n - 1).join("")];
  }
  if (n < 0) return s.split(sep);
  const out: string[] = [];
  let start = 0;
  while (out.length < n - 1) {
    const at = s.indexOf(sep, start);
    if (at < 0) break;
    out.push(s.slice(start, at));
    start = at + sep.length;
  }
  out.push(s.slice(start));
  return out;
}

function substring(this: string, start: bigint, end?: bigint): string {
  const runes = codePoints(this);
  const len = BigInt(runes.length);
  const e = end ?? len;
  if (end !== undefined && start > end) {
    throw new Error(`invalid substring range. start: ${start}, end: ${end}`);
  }
  if (start < 0n || start > len) throw outOfRange(start);
  if (e < 0n || e > len) throw outOfRange(e);
  return runes.slice(Number(start), Number(e)).join("");
}

// unicode.IsSpace, which Go's strings.TrimSpace uses.
const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

function join(list: CelList, sep: string): string {
  const parts: string[] = [];
  for (const v of list) {
    if (typeof v !== "string") throw new Error("join: list contains non-string value");
    parts.push(v);
  }
  return parts.join(sep);
}

const QUOTE_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
  '"': '\\"',
};

/** cel-go strings.quote: escapes control characters, quotes and backslashes. */
export function quoteString(s: string): string {
  let out = '"';
  const wellFormed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
  for (const ch of wellFormed) out += QUOTE_ESCAPES[ch] ?? ch;
  return out + '"';
}

const bufFormat = bufStrings.filter((f) => f.name === "format");

export const stringsLibrary: CelFunc[] = [
  celMethod("charAt", STRING, [INT], STRING, charAt),
  celMethod("indexOf", STRING, [STRING], INT, function (sub) {
    return indexOfFrom(this, sub, 0n, false);
  }),
  celMethod("indexOf", STRING, [STRING, INT], INT, function (sub, off) {
    return indexOfFrom(this, sub, off, true);
  }),
  celMethod("lastIndexOf", STRING, [STRING], INT, function (sub) {
    return lastIndexOfFrom(this, sub, undefined);
  }),
  celMethod("lastIndexOf", STRING, [STRING, INT], INT, function (sub, off) {
    return lastIndexOfFrom(this, sub, off);
  }),
  celMethod("lowerAscii", STRING, [], STRING, function () {
    return asciiCase(this, false);
  }),
  celMethod("upperAscii", STRING, [], STRING, function () {
    return asciiCase(this, true);
  }),
  celMethod("replace", STRING, [STRING, STRING], STRING, function (old, repl) {
    return goReplace(this, old, repl, -1);
  }),
  celMethod("replace", STRING, [STRING, STRING, INT], STRING, function (old, repl, n) {
    return goReplace(this, old, repl, Number(n));
  }),
  celMethod("split", STRING, [STRING], LIST, function (sep) {
    return celList(goSplitN(this, sep, -1));
  }),
  celMethod("split", STRING, [STRING, INT], LIST, function (sep, n) {
    return celList(goSplitN(this, sep, Number(n)));
  }),
  celMethod("substring", STRING, [INT], STRING, function (start) {
    return substring.call(this, start);
  }),
  celMethod("substring", STRING, [INT, INT], STRING, function (start, end) {
    return substring.call(this, start, end);
  }),
  celMethod("trim", STRING, [], STRING, function () {
    return this.replace(SPACE, "");
  }),
  celMethod("join", LIST, [], STRING, function () {
    return join(this, "");
  }),
  celMethod("join", LIST, [STRING], STRING, function (sep) {
    return join(this, sep);
  }),
  celFunc("strings.quote", [STRING], STRING, quoteString),
  ...bufFormat,
];
