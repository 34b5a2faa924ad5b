// Regular expressions: RE2 (via @bufbuild/re2, the engine @bufbuild/cel uses for
// matches()) decides what is a valid pattern and answers matches(); compiled patterns
// are cached because rules evaluate the same constant pattern thousands of times.
// The Kubernetes regex library's find()/findAll() need match positions, which the
// RE2 port does not expose, so the (already RE2-validated) pattern is translated to
// an equivalent JavaScript RegExp for those two functions. Both engines are
// leftmost-first, so the translation gives the same matches for the RE2 syntax it
// supports; the rare constructs it cannot express are reported as errors.
import { RE2JS } from "@bufbuild/re2";
import { CelScalar, celList, celMethod, listType, type CelFunc } from "@bufbuild/cel";

const MAX_CACHE = 1000;

function cached<T>(cache: Map<string, T | Error>, key: string, make: (k: string) => T): T {
  let hit = cache.get(key);
  if (hit === undefined) {
    try {
      hit = make(key);
    } catch (e) {
      hit = e instanceof Error ? e : new Error(String(e));
    }
    if (cache.size >= MAX_CACHE) cache.clear();
    cache.set(key, hit);
  }
  if (hit instanceof Error) throw hit;
  return hit;
}

const re2Cache = new Map<string, RE2JS | Error>();

/** Compiles (and caches) an RE2 pattern; throws "error parsing regexp: ..." when invalid. */
export function compileRe2(pattern: string): RE2JS {
  return cached(re2Cache, pattern, (p) => {
    try {
      return RE2JS.compile(p);
    } catch (e) {
      throw new Error(`error parsing regexp: ${(e as Error).message}`);
    }
  });
}

/** The RE2 engine hook for celEnv({ re2 }): cached compilation for matches(). */
export const cachedRe2 = {
  compile(pattern: string): { test(text: string): boolean } {
    return compileRe2(pattern);
  },
};

const GENERAL_CATEGORIES = new Set(
  "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn".split(" "),
);

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7f",
  blank: "\\t ",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

class Unsupported extends Error {
  constructor(what: string) {
    super(`regular expression feature not supported by find/findAll: ${what}`);
  }
}

function hexEscape(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

interface JsPattern {
  source: string;
  flags: string;
}

/** Translates an RE2 pattern (already validated by RE2) to a JavaScript "u" RegExp. */
export function re2ToJs(pattern: string): JsPattern {
  let i = 0;
  const flags = new Set<string>(["u"]);
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(pattern.slice(i));
    if (!m || m[1] === undefined) break;
    for (const f of m[1]) {
      if (f === "U") throw new Unsupported("(?U)");
      flags.add(f);
    }
    i += m[0].length;
  }
  let out = "";
  let inClass = false;

  const escape = (): void => {
    // pattern[i] === "\\"
    const c = pattern[i + 1];
    if (c === undefined) throw new Unsupported("trailing backslash");
    i += 2;
    switch (c) {
      case "d":
      case "D":
      case "w":
      case "W":
      case "n":
      case "t":
      case "r":
      case "f":
      case "v":
        out += "\\" + c;
        return;
      case "b":
      case "B":
        if (inClass) throw new Unsupported("\\b in character class");
        out += "\\" + c;
        return;
      case "a":
        out += "\\x07";
        return;
      case "s":
        out += inClass ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]";
        return;
      case "S":
        if (inClass) throw new Unsupported("\\S in character class");
        out += "[^\\t\\n\\f\\r ]";
        return;
      case "A":
        out += "(?<![\\s\\S])";
        return;
      case "z":
        out += "(?![\\s\\S])";
        return;
      case "C":
        throw new Unsupported("\\C");
      case "Q": {
        const end = pattern.indexOf("\\E", i);
        const lit = end < 0 ? pattern.slice(i) : pattern.slice(i, end);
        i = end < 0 ? pattern.length : end + 2;
        for (const ch of lit) out += hexEscape(ch.codePointAt(0) ?? 0);
        return;
      }
      case "E":
        return;
      case "x": {
        if (pattern[i] === "{") {
          const end = pattern.indexOf("}", i);
          out += `\\u{${pattern.slice(i + 1, end)}}`;
          i = end + 1;
        } else {
          out += "\\x" + pattern.slice(i, i + 2);
          i += 2;
        }
        return;
      }
      case "p":
      case "P": {
        let name: string;
        if (pattern[i] === "{") {
          const end = pattern.indexOf("}", i);
          name = pattern.slice(i + 1, end);
          i = end + 1;
        } else {
          name = pattern[i] ?? "";
          i += 1;
        }
        let negate = c === "P";
        if (name.startsWith("^")) {
          negate = !negate;
          name = name.slice(1);
        }
        if (name === "Any") {
          if (negate) throw new Unsupported("\\P{Any}");
          out += inClass ? "\\s\\S" : "[\\s\\S]";
          return;
        }
        const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
        out += `\\${negate ? "P" : "p"}{${prop}}`;
        return;
      }
      default: {
        if (c >= "0" && c <= "7") {
          let j = i - 1;
          let digits = "";
          while (j < pattern.length && digits.length < 3 && (pattern[j] ?? "") >= "0" && (pattern[j] ?? "") <= "7") {
            digits += pattern[j];
            j++;
          }
          i = j;
          out += hexEscape(parseInt(digits, 8));
          return;
        }
        const cp = pattern.codePointAt(i - 1) ?? 0;
        if (cp > 0xffff) i++;
        out += hexEscape(cp);
      }
    }
  };

  while (i < pattern.length) {
    const c = pattern[i] ?? "";
    if (inClass) {
      if (c === "\\") {
        escape();
      } else if (c === "]") {
        out += "]";
        inClass = false;
        i++;
      } else if (c === "[") {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(i));
        if (m && m[2] !== undefined) {
          const cls = POSIX[m[2]];
          if (m[1] === "^" || cls === undefined) throw new Unsupported(m[0]);
          out += cls;
          i += m[0].length;
        } else {
          out += "\\[";
          i++;
        }
      } else {
        const cp = pattern.codePointAt(i) ?? 0;
        const ch = String.fromCodePoint(cp);
        out += ch;
        i += ch.length;
      }
      continue;
    }
    switch (c) {
      case "\\":
        escape();
        break;
      case "[":
        out += "[";
        i++;
        if (pattern[i] === "^") {
          out += "^";
          i++;
        }
        if (pattern[i] === "]") {
          out += "\\]";
          i++;
        }
        inClass = true;
        break;
      case ".":
        out += flags.has("s") ? "[\\s\\S]" : "[^\\n]";
        i++;
        break;
      case "(": {
        const inline = /^\(\?([imsU]+)\)/.exec(pattern.slice(i));
        if (inline && inline[1] !== undefined && /^(\^|\(\?<!\[\\s\\S\]\))*$/.test(out)) {
          // Flags set before anything but anchors apply to the whole pattern.
          for (const f of inline[1]) {
            if (f === "U") throw new Unsupported("(?U)");
            flags.add(f);
          }
          i += inline[0].length;
        } else if (pattern.startsWith("(?P<", i)) {
          out += "(?<";
          i += 4;
        } else if (pattern.startsWith("(?:", i) || pattern.startsWith("(?<", i) || pattern[i + 1] !== "?") {
          out += pattern.startsWith("(?:", i) ? "(?:" : pattern.startsWith("(?<", i) ? "(?<" : "(";
          i += pattern.startsWith("(?:", i) || pattern.startsWith("(?<", i) ? 3 : 1;
        } else {
          throw new Unsupported("inline flags after the start of the pattern");
        }
        break;
      }
      case "{": {
        const m = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i));
        if (m) {
          out += m[0];
          i += m[0].length;
        } else {
          out += "\\{";
          i++;
        }
        break;
      }
      case "}":
        out += "\\}";
        i++;
        break;
      case "]":
        out += "\\]";
        i++;
        break;
      default: {
        const cp = pattern.codePointAt(i) ?? 0;
        const ch = String.fromCodePoint(cp);
        out += ch;
        i += ch.length;
      }
    }
  }
  return { source: out, flags: [...flags].sort().join("") };
}

const jsCache = new Map<string, RegExp | Error>();

/** Returns a global ("g") JavaScript RegExp equivalent to the RE2 pattern. */
export function jsRegExpFor(pattern: string): RegExp {
  compileRe2(pattern);
  return cached(jsCache, pattern, (p) => {
    const { source, flags } = re2ToJs(p);
    return new RegExp(source, flags + "g");
  });
}

/**
 * Go's regexp FindAllString: leftmost-first, non-overlapping matches; an empty
 * match right after the previous match is skipped. n < 0 means no limit.
 */
export function findAll(text: string, pattern: string, n: number): string[] {
  const out: string[] = [];
  if (n === 0) return out;
  const re = jsRegExpFor(pattern);
  let pos = 0;
  let prevEnd = -1;
  while (pos <= text.length && (n < 0 || out.length < n)) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    let accept = true;
    if (end === start) {
      if (start === prevEnd) accept = false;
      const cp = text.codePointAt(start);
      pos = start + (cp !== undefined && cp > 0xffff ? 2 : 1);
    } else {
      pos = end;
    }
    prevEnd = end;
    if (accept) out.push(m[0]);
  }
  return out;
}

const { STRING, INT } = CelScalar;
const LIST_STRING = listType(STRING);

export const regexLibrary: CelFunc[] = [
  celMethod("find", STRING, [STRING], STRING, function (pattern) {
    return findAll(this, pattern, 1)[0] ?? "";
  }),
  celMethod("findAll", STRING, [STRING], LIST_STRING, function (pattern) {
    return celList(findAll(this, pattern, -1));
  }),
  celMethod("findAll", STRING, [STRING, INT], LIST_STRING, function (pattern, n) {
    return celList(findAll(this, pattern, Number(n)));
  }),
];
