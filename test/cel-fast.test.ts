// The CEL fast path (src/validate/cel/fast.ts) against @bufbuild/cel, on every x-kubernetes-validations rule of the
// real CRDs (../shared/crds): the values found at each rule's schema node in the real-world corpus and in the
// bundled examples, and seeded random values generated from the schema node (valid ones, and ones with fields
// dropped, emptied, of the wrong type or null). Whenever the fast path answers (true or false, not BAIL), the
// answer must be what evalCelRule says (ok, or a failed rule — never an evaluation error).
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { BAIL, compileCelRule, evalCelRule, fastCelRule, toCelValue, type CelRule, type CelSchema, type FastRule } from "../src/validate/cel/index.js";
import { corpusDir, crdsDir, repoRoot, seededRandom } from "./helpers.js";

interface Node extends CelSchema {
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  "x-kubernetes-validations"?: CelRule[];
}

interface Site {
  where: string;
  schema: Node;
  rule: CelRule;
  fast: FastRule | undefined;
  /** The same rule compiled for values without a schema (dyn). */
  untyped: FastRule | undefined;
  compiled: Exclude<ReturnType<typeof compileCelRule>, { error: string }>;
}

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

function docs(file: string): unknown[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => d.toJS() as unknown);
}

/** Schema roots by apiVersion/kind, and every node that has rules. */
const roots = new Map<string, Node>();
const sites: Site[] = [];
const siteByNode = new Map<Node, Site[]>();
for (const file of yamlFiles(crdsDir)) {
  for (const d of docs(file)) {
    const crd = d as { kind?: string; spec?: { group: string; names: { kind: string }; versions: { name: string; schema?: { openAPIV3Schema?: Node } }[] } } | null;
    if (crd?.kind !== "CustomResourceDefinition" || !crd.spec) continue;
    for (const v of crd.spec.versions) {
      const root = v.schema?.openAPIV3Schema;
      if (!root) continue;
      roots.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, root);
      const walk = (n: Node, at: string): void => {
        for (const rule of n["x-kubernetes-validations"] ?? []) {
          const compiled = compileCelRule(rule);
          if ("error" in compiled) continue;
          const site: Site = { where: `${crd.spec?.names.kind} ${v.name} ${at}`, schema: n, rule, compiled, fast: fastCelRule(compiled, n), untyped: fastCelRule(compiled, undefined) };
          sites.push(site);
          siteByNode.set(n, [...(siteByNode.get(n) ?? []), site]);
        }
        for (const [k, p] of Object.entries(n.properties ?? {})) walk(p as Node, `${at}.${k}`);
        if (n.items) walk(n.items as Node, `${at}[]`);
        if (typeof n.additionalProperties === "object") walk(n.additionalProperties as Node, `${at}{}`);
      };
      walk(root, "");
    }
  }
}

/** Values found at the nodes with rules, walking a manifest along its schema. */
function valuesAt(obj: unknown, n: Node, out: [Node, unknown][]): void {
  if (obj === null || obj === undefined) return;
  if (siteByNode.has(n)) out.push([n, obj]);
  if (Array.isArray(obj)) {
    if (n.items) for (const item of obj) valuesAt(item, n.items as Node, out);
  } else if (typeof obj === "object") {
    for (const [k, v] of Object.entries(obj)) {
      const p = n.properties?.[k] ?? (typeof n.additionalProperties === "object" ? n.additionalProperties : undefined);
      if (p) valuesAt(v, p as Node, out);
    }
  }
}

function realValues(): [Node, unknown][] {
  const out: [Node, unknown][] = [];
  for (const dir of [corpusDir, path.join(repoRoot, "examples")]) {
    for (const file of yamlFiles(dir)) {
      let ds: unknown[];
      try {
        ds = docs(file);
      } catch {
        continue;
      }
      for (const d of ds) {
        const o = d as { apiVersion?: string; kind?: string } | null;
        if (!o?.apiVersion || !o.kind) continue;
        const root = roots.get(`${o.apiVersion}/${o.kind}`);
        if (root) valuesAt(o, root, out);
      }
    }
  }
  return out;
}

const STRINGS = ["", "a", "*", "/", "/a/b", "a/b", "//", "/./", "/..", "%2F", "#", "*.example.com", "example.com", "unix:///var/run/s", "unix://@a", "http://x", "Service", "PathPrefix", "Exact", "RegularExpression", "ReplacePrefixMatch", "ReplaceFullPath", "RequestRedirect", "URLRewrite", "RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "CORS", "ExtensionRef", "Hostname", "IPAddress", "HTTP", "HTTPS", "TLS", "TCP", "UDP", "Terminate", "UPSERT", "REMOVE", "NONE", "STATIC", "DNS_ROUND_ROBIN", "8080", "0", "65536", "10.0.0.1", "10.0.0.0/8", "héllo", "日本", "😀x", "a__dash__b", "gateway.networking.k8s.io", "v1", "-1"];
const INTS = [0, 1, -1, 2, 80, 443, 65535, 65536, 2 ** 31, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER];

function generate(n: Node, rand: () => number, depth: number, mutate: boolean): unknown {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  if (mutate && rand() < 0.06) return pick<unknown>([null, "", 0, 1.5, true, [], {}, "x"]);
  if (n.enum && rand() < 0.85) return pick(n.enum);
  if (n["x-kubernetes-int-or-string"]) return rand() < 0.5 ? pick(INTS) : pick(STRINGS);
  switch (n.type) {
    case "integer":
      return rand() < 0.3 && n.minimum !== undefined ? n.minimum : pick(INTS);
    case "number":
      return pick([0, 0.5, 1, 100, -2.5]);
    case "boolean":
      return rand() < 0.5;
    case "string":
      return rand() < 0.1 ? `${pick(STRINGS)}${pick(STRINGS)}` : pick(STRINGS);
    case "array": {
      if (!n.items || depth > 6) return [];
      const len = Math.floor(rand() * Math.min(4, (n.maxItems ?? 4) + 1));
      const items = Array.from({ length: len }, () => generate(n.items as Node, rand, depth + 1, mutate));
      // repeat an item now and then: the uniqueness rules (exists_one) need duplicates
      if (items.length > 0 && rand() < 0.3) items.push(structuredClone(items[0]));
      return items;
    }
    case "object": {
      if (depth > 6) return {};
      const out: Record<string, unknown> = {};
      if (n.properties) {
        for (const [k, p] of Object.entries(n.properties)) {
          const required = n.required?.includes(k) ?? false;
          if (rand() < (required ? (mutate ? 0.9 : 1) : 0.45)) out[k] = generate(p as Node, rand, depth + 1, mutate);
        }
      } else if (typeof n.additionalProperties === "object") {
        const len = Math.floor(rand() * 4);
        for (let i = 0; i < len; i++) out[pick(STRINGS)] = generate(n.additionalProperties as Node, rand, depth + 1, mutate);
      }
      return out;
    }
    default:
      return pick<unknown>(["x", 1, {}, []]);
  }
}

interface Tally {
  answered: number;
  bailed: number;
  notCompiled: number;
  trueAnswers: number;
  falseAnswers: number;
}

/**
 * Evaluates every rule of the node both ways; returns the disagreements. `untyped`: as values without a schema
 * (the fast path's dyn type against convert.ts' generic conversion), as a policy sees an object of a built-in kind.
 */
function compare(n: Node, value: unknown, tally: Tally, untyped = false): string[] {
  const problems: string[] = [];
  let self: unknown;
  for (const site of siteByNode.get(n) ?? []) {
    const rule = untyped ? site.untyped : site.fast;
    if (!rule) {
      tally.notCompiled++;
      continue;
    }
    const fast = rule(value);
    if (fast === BAIL) {
      tally.bailed++;
      continue;
    }
    tally.answered++;
    if (fast) tally.trueAnswers++;
    else tally.falseAnswers++;
    self ??= toCelValue(value, untyped ? undefined : n);
    const slow = evalCelRule(site.compiled, self);
    const agrees = fast ? slow.ok : !slow.ok && !("evalError" in slow);
    if (!agrees) problems.push(`${site.where}${untyped ? " (untyped)" : ""}: ${JSON.stringify(site.rule.rule)} on ${JSON.stringify(value)}: fast ${fast}, @bufbuild/cel ${JSON.stringify(slow)}`);
  }
  return problems;
}

const newTally = (): Tally => ({ answered: 0, bailed: 0, notCompiled: 0, trueAnswers: 0, falseAnswers: 0 });

describe("CEL fast path", () => {
  it("compiles most rules of the real CRDs", () => {
    const compiled = sites.filter((s) => s.fast).length;
    // 657 rule sites (115 distinct rules) in ../shared/crds; 485 compile. What is left to @bufbuild/cel:
    // duration() (160 sites of Istio's "duration(self) >= duration('1ms')"), url()/isURL(), isIP() and oldSelf
    expect(sites.length).toBeGreaterThan(300);
    expect(compiled / sites.length).toBeGreaterThan(0.7);
    // every rule left to @bufbuild/cel uses one of these
    const notCompiled = new Set(sites.filter((s) => !s.fast).map((s) => s.rule.rule));
    for (const rule of notCompiled) expect(rule).toMatch(/duration\(|url\(|isURL\(|isIP\(|oldSelf/);
  });

  it("answers as @bufbuild/cel does on the corpus and the examples", () => {
    const tally = newTally();
    const problems = realValues().flatMap(([n, v]) => compare(n, v, tally));
    expect(problems).toEqual([]);
    // the corpus is valid: the fast path answers nearly every evaluation itself, and true
    expect(tally.answered).toBeGreaterThan(500);
    expect(tally.bailed).toBeLessThan(tally.answered / 20);
    expect(tally.trueAnswers).toBe(tally.answered);
  });

  it("answers as @bufbuild/cel does on values without a schema (dyn), random and real", () => {
    const tally = newTally();
    const problems = realValues().flatMap(([n, v]) => compare(n, v, tally, true));
    const rand = seededRandom(11);
    for (const n of siteByNode.keys()) for (let i = 0; i < 40; i++) problems.push(...compare(n, generate(n, rand, 0, i % 2 === 1), tally, true));
    expect(problems.slice(0, 20)).toEqual([]);
    expect(tally.trueAnswers).toBeGreaterThan(5_000);
    expect(tally.falseAnswers).toBeGreaterThan(500);
  });

  it("answers as @bufbuild/cel does on random values, valid and mutated", () => {
    const tally = newTally();
    const problems: string[] = [];
    const nodes = [...siteByNode.keys()];
    for (const [seed, mutate] of [[1, false], [2, true], [3, true]] as const) {
      const rand = seededRandom(seed);
      for (const n of nodes) {
        for (let i = 0; i < 60; i++) problems.push(...compare(n, generate(n, rand, 0, mutate), tally));
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    // both answers occur often, and BAIL (a runtime error, or a value off its schema) stays the exception
    expect(tally.trueAnswers).toBeGreaterThan(10_000);
    expect(tally.falseAnswers).toBeGreaterThan(1_000);
    expect(tally.bailed).toBeLessThan(tally.answered / 2);
  });
});

describe("CEL fast path semantics", () => {
  const fast = (rule: string, schema: Node): FastRule | undefined => {
    const c = compileCelRule({ rule });
    if ("error" in c) throw new Error(c.error);
    return fastCelRule(c, schema);
  };
  const str: Node = { type: "string" };
  const obj = (properties: Record<string, Node>): Node => ({ type: "object", properties });

  it("reads escaped property names, and bails when the escaped spelling is also a key", () => {
    const f = fast("has(self.__namespace__) && self.__namespace__ == 'a' && self.a__dash__b == 'x'", obj({ namespace: str, "a-b": str }));
    expect(f?.({ namespace: "a", "a-b": "x" })).toBe(true);
    expect(f?.({ namespace: "b", "a-b": "x" })).toBe(false);
    expect(f?.({ namespace: "a", __namespace__: "a", "a-b": "x" })).toBe(BAIL);
  });

  it("applies schema defaults and treats null fields as absent", () => {
    const s = obj({ mode: { type: "string", default: "On" }, port: { type: "integer" } });
    expect(fast("has(self.mode) && self.mode == 'On'", s)?.({})).toBe(true);
    expect(fast("has(self.mode) && self.mode == 'On'", s)?.({ mode: null })).toBe(true);
    expect(fast("!has(self.port)", s)?.({ port: null })).toBe(true);
  });

  it("bails on runtime errors and on values off their schema", () => {
    const s = obj({ port: { type: "integer" }, name: str, list: { type: "array", items: str } });
    expect(fast("self.port > 0", s)?.({})).toBe(BAIL); // no such key
    expect(fast("self.port > 0", s)?.({ port: "80" })).toBe(BAIL); // a string where an integer belongs
    expect(fast("self.port > 0", s)?.({ port: 1.5 })).toBe(BAIL); // a double there
    expect(fast("self.port * 2 > 0", s)?.({ port: Number.MAX_SAFE_INTEGER })).toBe(BAIL); // beyond ±2^53
    expect(fast("self.port / 0 > 0", s)?.({ port: 1 })).toBe(BAIL); // division by zero
    expect(fast("self.list[2] == 'a'", s)?.({ list: ["a"] })).toBe(BAIL); // index out of range
    expect(fast("self.name.substring(1) == 'b'", s)?.({ name: "éb" })).toBe(BAIL); // positions in a non-ASCII string
    expect(fast("self.name < 'b'", s)?.({ name: "é" })).toBe(BAIL); // UTF-8 and UTF-16 order differ
    expect(fast("self.name.substring(1) == 'b'", s)?.({ name: "ab" })).toBe(true);
  });

  it("counts code points, not UTF-16 units", () => {
    expect(fast("self.size() == 2", str)?.("😀x")).toBe(true);
    expect(fast("size(self) == 3", str)?.("日本x")).toBe(true);
  });

  it("keeps the short-circuit answers and the macros' results", () => {
    const list: Node = { type: "array", items: obj({ n: { type: "integer" }, t: str }) };
    expect(fast("self.exists_one(x, x.n == 1)", list)?.([{ n: 1 }, { n: 2 }])).toBe(true);
    expect(fast("self.exists_one(x, x.n == 1)", list)?.([{ n: 1 }, { n: 1 }])).toBe(false);
    expect(fast("self.filter(x, x.n > 1).size() == 2", list)?.([{ n: 1 }, { n: 2 }, { n: 3 }])).toBe(true);
    expect(fast("self.map(x, x.n).exists(n, n == 3)", list)?.([{ n: 1 }, { n: 3 }])).toBe(true);
    expect(fast("self.all(x, has(x.t) && x.t == 'a')", list)?.([{ t: "a" }, { n: 1 }])).toBe(false);
    // true || <error> is true in CEL; false && <error> is false
    expect(fast("self.size() == 0 || self[0].n == 1", list)?.([])).toBe(true);
    expect(fast("self.size() > 0 && self[5].n == 1", list)?.([])).toBe(false);
  });

  it("leaves what it does not model to @bufbuild/cel", () => {
    expect(fast("duration(self) >= duration('1ms')", str)).toBeUndefined();
    expect(fast("isURL(self)", str)).toBeUndefined();
    expect(fast("self == oldSelf", str)).toBeUndefined();
    expect(fast("self.x == 1", { type: "object", "x-kubernetes-preserve-unknown-fields": true })).toBeUndefined();
    expect(fast("self == 1", { "x-kubernetes-int-or-string": true })).toBeUndefined();
    expect(fast("self.missing == 'a'", obj({ name: str }))).toBeUndefined();
  });
});
