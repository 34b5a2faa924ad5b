// parser.ts against @bufbuild/cel's parser: every rule and messageExpression of the real CRDs, the CEL of the
// bundled policies, seeded random expressions and a list of awkward ones. Whatever parser.ts accepts, @bufbuild/cel
// must accept with the same syntax tree (ids and type names aside); what @bufbuild/cel rejects, parser.ts must
// decline.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { parse } from "@bufbuild/cel";
import { parseAllDocuments } from "yaml";
import { parseCel } from "../src/validate/cel/parser.js";
import { crdsDir, repoRoot, seededRandom } from "./helpers.js";

function strip(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return v.map(strip);
  if (v instanceof Uint8Array) return Array.from(v);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (k !== "$typeName" && k !== "id") out[k] = strip((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The two parses of one source: "same", "declined" (parser.ts left it to @bufbuild/cel), or what differed. */
function compare(src: string): "same" | "declined" | "both reject" | string {
  let theirs: unknown;
  let theirError: string | undefined;
  try {
    theirs = strip(parse(src).expr);
  } catch (e) {
    theirError = (e as Error).message;
  }
  const ours = parseCel(src);
  if (ours === undefined) return theirError === undefined ? "declined" : "both reject";
  if (theirError !== undefined) return `${JSON.stringify(src)}: parser.ts accepts what @bufbuild/cel rejects (${theirError})`;
  const mine = strip(ours.expr);
  return JSON.stringify(mine) === JSON.stringify(theirs) ? "same" : `${JSON.stringify(src)}: trees differ\n ours ${JSON.stringify(mine)}\n theirs ${JSON.stringify(theirs)}`;
}

function files(dir: string, re: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, re) : re.test(e.name) ? [p] : [];
  });
}

/** Every rule and messageExpression in the CRDs, and every CEL expression of the examples' policies. */
function realExpressions(): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, keys: ReadonlySet<string>): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, keys));
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (keys.has(k) && typeof x === "string") out.add(x);
        else walk(x, keys);
      }
    }
  };
  const read = (dir: string, keys: ReadonlySet<string>): void => {
    for (const f of files(dir, /\.ya?ml$/)) {
      for (const d of parseAllDocuments(fs.readFileSync(f, "utf8"))) walk(d.toJS(), keys);
    }
  };
  read(crdsDir, new Set(["rule", "messageExpression"]));
  read(path.join(repoRoot, "examples"), new Set(["expression", "messageExpression", "rule"]));
  return [...out];
}

/** Random CEL text: valid expressions of every construct parser.ts reads, with random spacing, parentheses and the odd corruption. */
function randomExpression(rand: () => number): string {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const sp = (): string => pick(["", "", " ", "  ", "\n", "\t"]);
  const atom = (): string =>
    pick([
      "self", "x", "a_b", "nullable", "index", "trueish", "in", "null", "true", "false", "1", "0", "-1", "42u", "0x1f", "-0x10", "1.5", ".5", "-2.5e3", "1e9", "1e", "007",
      "'a'", '"b"', "'''t\nq'''", '"""x"y"""', "r'\\d'", "R\"\\w+\"", "'\\n\\t\\\\'", "'\\x41\\u00e9\\U0001F600'", "'\\101'", "'\\q'", "b'x'", "'\\ud800'", "'😀'",
    ]);
  const gen = (depth: number): string => {
    if (depth > 4 || rand() < 0.25) return atom();
    switch (Math.floor(rand() * 14)) {
      case 0: return `${gen(depth + 1)}${sp()}${pick(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in", "&&", "||"])}${sp()}${gen(depth + 1)}`;
      case 1: return `${gen(depth + 1)} ? ${gen(depth + 1)} :${sp()}${gen(depth + 1)}`;
      case 2: return `${pick(["!", "!!", "-", "--", "!-", "- "])}${gen(depth + 1)}`;
      case 3: return `(${sp()}${gen(depth + 1)}${sp()})`;
      case 4: return `${gen(depth + 1)}.${pick(["f", "size()", "contains('a')", "startsWith(x, )", "in", "__ns__", "?f"])}`;
      case 5: return `${gen(depth + 1)}[${gen(depth + 1)}]`;
      case 6: return `[${Array.from({ length: Math.floor(rand() * 3) }, () => gen(depth + 1)).join(", ")}${pick(["", ","])}]`;
      case 7: return `{${pick(["", "'k': 1", "'k': 1, 'j': x,", "?'k': 1"])}}`;
      case 8: return `has(${gen(depth + 1)}${pick([".f", ""])})`;
      case 9: return `${gen(depth + 1)}.${pick(["all", "exists", "exists_one", "existsOne", "map", "filter"])}(${pick(["v", "1"])},${sp()}${gen(depth + 1)}${pick(["", `, ${gen(depth + 1)}`])})`;
      case 10: return `${pick(["size", "int", "duration", "f"])}(${gen(depth + 1)})`;
      case 11: return `${gen(depth + 1)} // c\n`;
      case 12: return `Msg{f: ${gen(depth + 1)}}`;
      default: return `${gen(depth + 1)}${pick(["", "", " ", ")", "]", "?", ":", ".", ","])}`;
    }
  };
  return gen(0);
}

describe("CEL parser (parser.ts) against @bufbuild/cel", () => {
  it("parses every rule of the real CRDs and the policies' CEL, with the same trees", () => {
    const exprs = realExpressions();
    expect(exprs.length).toBeGreaterThan(100);
    const results = exprs.map((e) => [e, compare(e)] as const);
    expect(results.filter(([, r]) => r !== "same")).toEqual([]);
  });

  it("agrees on seeded random expressions: the same tree whenever it accepts one", () => {
    const rand = seededRandom(7);
    const tally = { same: 0, declined: 0, bothReject: 0 };
    const problems: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const r = compare(randomExpression(rand));
      if (r === "same") tally.same++;
      else if (r === "declined") tally.declined++;
      else if (r === "both reject") tally.bothReject++;
      else problems.push(r);
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // most valid expressions are read here, not left to @bufbuild/cel
    expect(tally.same).toBeGreaterThan(1500);
    expect(tally.same).toBeGreaterThan(tally.declined * 2);
  });

  it("declines what it does not read exactly as @bufbuild/cel", () => {
    for (const src of ["a // comment", "b'bytes'", "Msg{f: 1}", ".x", "a.?b", "a[?0]", "{?'k': 1}", "trueish", "'\\ud800'", "'\\q'", "1e", "a.true", "in", "!-x", "f(a,)", "0X1F"]) {
      expect(parseCel(src), src).toBeUndefined();
    }
  });
});
