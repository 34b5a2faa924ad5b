/**
 * Structural-schema validation with the API server's semantics: unknown fields rejected (strict field
 * validation), x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, x-kubernetes-embedded-resource,
 * list types, enums, formats, patterns, CEL rules (x-kubernetes-validations) evaluated with schema defaults
 * applied (as the API server defaults before it validates). The object is never modified.
 */
import { compileCelRule, evalCelRule, fastCelRule, isTransitionRule, toCelValue, type CelSchema, type CompiledCelRule, type FastRule } from "./cel/index.js";
import { checkDns1035Label, checkDns1123Label, checkDns1123Subdomain, checkFormat, checkLabelValue, checkQualifiedName, checkQuantity } from "./formats.js";
import type { Schema } from "./schema-types.js";

/** One problem found in an object, with a path to the field it concerns. */
export interface SchemaIssue {
  code: string;
  /** Path to the offending field (for a missing field: its parent). */
  path: (string | number)[];
  message: string;
  severity: "error" | "warning";
}

export const SchemaCodes = {
  unknownField: "MSH1001",
  wrongType: "MSH1002",
  required: "MSH1003",
  enum: "MSH1004",
  pattern: "MSH1005",
  format: "MSH1006",
  bounds: "MSH1007",
  celRule: "MSH1008",
  celError: "MSH1009",
  duplicate: "MSH1010",
  combinator: "MSH1011",
  metadata: "MSH1012",
} as const;

/** Renders a path the way the API server does: spec.http[0].route. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || "(root)";
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return "object";
  const s = JSON.stringify(v);
  return `${typeof v === "number" && Number.isInteger(v) ? "integer" : typeof v} ${s.length > 40 ? `${s.slice(0, 37)}...` : s}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const OBJECT_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/** Kinds whose names are DNS-1035 / DNS-1123 labels rather than subdomains (apimachinery name validators). */
const labelNamedKinds: Record<string, (v: string) => string | undefined> = {
  "v1/Service": checkDns1035Label,
  "v1/Namespace": checkDns1123Label,
};

export interface ValidatorOptions {
  /** Schemas `$ref`s point to (OpenAPI components); also used for ObjectMeta. */
  definitions: Record<string, Schema>;
  /** True for schemas from OpenAPI documents of built-in types (Go structs): free-form `type: object`. */
  builtin: boolean;
  /** Run x-kubernetes-validations rules. */
  cel: boolean;
}

const patternCache = new Map<string, RegExp | null>();
function compilePattern(p: string): RegExp | null {
  let re = patternCache.get(p);
  if (re === undefined) {
    try {
      re = new RegExp(p, "u");
    } catch {
      try {
        re = new RegExp(p);
      } catch {
        re = null;
      }
    }
    patternCache.set(p, re);
  }
  return re;
}

/** A schema node's rules, each with its fast-path closure for values of that node when it has one. */
interface NodeRule {
  compiled: CompiledCelRule | { error: string };
  fast: FastRule | undefined;
}
const celCache = new WeakMap<object, NodeRule[]>();
interface CelOutcomeRecord {
  code: string;
  rel: (string | number)[];
  message: string;
  severity: "error" | "warning";
}
/** Outcomes of a schema node's rules per value (JSON text), shared across objects. */
const celMemo = new WeakMap<Schema, Map<string, CelOutcomeRecord[]>>();
const reportedCompileErrors = new Set<string>();

/** Forgets the CEL compile errors reported after this call when the returned function is called (a validation that is discarded and done again). */
export function compileErrorsRestorePoint(): () => void {
  const before = new Set(reportedCompileErrors);
  return () => {
    for (const e of [...reportedCompileErrors]) if (!before.has(e)) reportedCompileErrors.delete(e);
  };
}
/** Resolved $refs per definitions map, shared by every object validated against it. */
const derefCaches = new WeakMap<Record<string, Schema>, WeakMap<Schema, Schema>>();

/**
 * What the walk needs of a (dereferenced) schema node, read once into one object shape: schema nodes come in
 * hundreds of shapes, so reading their keywords on every value is slow (megamorphic) property access.
 */
class Plan {
  readonly intOrString: boolean;
  readonly quantity: boolean;
  readonly type: Schema["type"];
  readonly enum: unknown[] | undefined;
  readonly stringChecks: boolean;
  readonly numberChecks: boolean;
  readonly arrayChecks: boolean;
  readonly items: Schema | undefined;
  readonly props: Record<string, Schema> | undefined;
  readonly preserve: boolean;
  readonly embedded: boolean;
  readonly addl: Schema | boolean | undefined;
  readonly required: string[] | undefined;
  readonly propertyBounds: boolean;
  /** allOf members that are not $refs (those were followed by deref). */
  readonly allOf: Schema[] | undefined;
  readonly combinators: boolean;
  readonly cel: boolean;
  /** Properties with a default (the API server applies them before validating). */
  readonly defaults: [string, unknown][];
  constructor(readonly s: Schema) {
    this.intOrString = s["x-kubernetes-int-or-string"] === true || s.format === "int-or-string";
    this.quantity = s.format === "quantity";
    this.type = s.type;
    this.enum = s.enum;
    this.stringChecks = s.maxLength !== undefined || s.minLength !== undefined || s.pattern !== undefined || s.format !== undefined;
    this.numberChecks = s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined;
    this.arrayChecks = s.maxItems !== undefined || s.minItems !== undefined || s.uniqueItems === true || s["x-kubernetes-list-type"] === "set" || s["x-kubernetes-list-type"] === "map";
    this.items = s.items;
    this.props = s.properties;
    this.preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
    this.embedded = s["x-kubernetes-embedded-resource"] === true;
    this.addl = s.additionalProperties;
    this.required = s.required;
    this.propertyBounds = s.maxProperties !== undefined || s.minProperties !== undefined;
    const allOf = s.allOf?.filter((sub) => !sub.$ref);
    this.allOf = allOf && allOf.length > 0 ? allOf : undefined;
    this.combinators = s.anyOf !== undefined || s.oneOf !== undefined || s.not !== undefined;
    this.cel = s["x-kubernetes-validations"] !== undefined;
    this.defaults = s.properties ? Object.entries(s.properties).flatMap(([k, p]) => (p.default !== undefined ? [[k, p.default] as [string, unknown]] : [])) : [];
  }
}
const planCaches = new WeakMap<Record<string, Schema>, WeakMap<Schema, Plan>>();

/** Validates one object against one schema entry; returns the issues found (empty when valid). */
export function validateObject(
  obj: Record<string, unknown>,
  schema: Schema,
  apiVersion: string,
  kind: string,
  opts: ValidatorOptions,
): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const path: (string | number)[] = [];
  let derefCache = derefCaches.get(opts.definitions);
  if (!derefCache) {
    derefCache = new WeakMap<Schema, Schema>();
    derefCaches.set(opts.definitions, derefCache);
  }
  const refs = derefCache;
  let planCache = planCaches.get(opts.definitions);
  if (!planCache) {
    planCache = new WeakMap<Schema, Plan>();
    planCaches.set(opts.definitions, planCache);
  }
  const plans = planCache;

  // inside a trial of an anyOf/oneOf/not branch only whether issues were found counts (they are all dropped):
  // no path or message is built for them
  let trials = 0;
  const issue = (code: string, message: string, at: (string | number)[] = path, severity: "error" | "warning" = "error"): void => {
    if (trials > 0) {
      issues.push(TRIAL_ISSUE);
      return;
    }
    // unknown-field messages already name the field, as kubectl's strict validation does
    issues.push({ code, path: [...at], message: code === SchemaCodes.unknownField ? message : `${formatPath(at)}: ${message}`, severity });
  };

  const deref = (s: Schema): Schema => {
    const hit = refs.get(s);
    if (hit) return hit;
    let cur = s;
    for (let i = 0; i < 32; i++) {
      const ref = cur.$ref ?? (cur.allOf?.length === 1 && !cur.type && !cur.properties ? cur.allOf[0]?.$ref : undefined);
      if (!ref) break;
      const name = ref.replace(/^#\/(components\/schemas|definitions)\//, "");
      const target = opts.definitions[name];
      if (!target) break;
      cur = name === QUANTITY_REF ? { ...target, format: "quantity" } : target;
    }
    refs.set(s, cur);
    return cur;
  };

  const planOf = (raw: Schema): Plan => {
    let p = plans.get(raw);
    if (!p) {
      const s = deref(raw);
      p = plans.get(s);
      if (!p) {
        p = new Plan(s);
        plans.set(s, p);
      }
      plans.set(raw, p);
    }
    return p;
  };

  /** Value checks shared by the main pass and the allOf/anyOf/oneOf/not branches. */
  const check = (input: unknown, raw: Schema, valueOnly: boolean): void => {
    if (input === null || input === undefined) return; // nulls are pruned (or zero values for built-in types)
    const p = planOf(raw);
    // the API server applies defaults before validating (they decide oneOf branches and CEL rules):
    // validate a shallow copy with the missing defaults filled in; the object itself is never changed
    const value = opts.builtin || p.defaults.length === 0 ? input : withDefaults(input, p.defaults);
    if (p.intOrString) {
      if (!(typeof value === "string" || (typeof value === "number" && Number.isInteger(value)))) {
        issue(SchemaCodes.wrongType, `expected an integer or a string, got ${describe(value)}`);
        return;
      }
    } else if (p.quantity) {
      const q = checkQuantity(value);
      if (q) issue(SchemaCodes.format, q);
      return;
    } else if (p.type && !typeMatches(p.type, value)) {
      issue(SchemaCodes.wrongType, `expected ${p.type === "integer" ? "an integer" : p.type === "object" || p.type === "array" ? `an ${p.type}` : `a ${p.type}`}, got ${describe(value)}`);
      return;
    }
    if (p.enum && !p.enum.some((e) => deepEqual(e, value))) {
      const allowed = p.enum.map((e) => JSON.stringify(e));
      issue(SchemaCodes.enum, `unsupported value ${JSON.stringify(value)}: must be one of ${allowed.length > 12 ? `${allowed.slice(0, 12).join(", ")}, ...` : allowed.join(", ")}`);
    }
    if (typeof value === "string") {
      if (p.stringChecks) checkString(value, p.s);
    } else if (typeof value === "number") {
      if (p.numberChecks) checkNumber(value, p.s);
    } else if (Array.isArray(value)) checkArray(value, p, valueOnly);
    else if (typeof value === "object") checkObject(value as Record<string, unknown>, p, valueOnly);
    if (p.allOf) for (const sub of p.allOf) check(value, sub, true);
    if (p.combinators) checkCombinators(value, p.s);
    if (opts.cel && !valueOnly && p.cel) checkCel(value, p.s);
  };

  const checkString = (v: string, s: Schema): void => {
    if (s.maxLength !== undefined || s.minLength !== undefined) {
      const len = [...v].length;
      if (s.maxLength !== undefined && len > s.maxLength) issue(SchemaCodes.bounds, `must have at most ${s.maxLength} characters (has ${len})`);
      if (s.minLength !== undefined && len < s.minLength) issue(SchemaCodes.bounds, `must have at least ${s.minLength} characters (has ${len})`);
    }
    if (s.pattern) {
      const re = compilePattern(s.pattern);
      if (re && !re.test(v)) issue(SchemaCodes.pattern, `${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)} does not match the pattern ${s.pattern}`);
    }
    if (s.format) {
      const f = checkFormat(s.format, v);
      if (f) issue(SchemaCodes.format, `${JSON.stringify(v)} ${f}`);
    }
  };

  const checkNumber = (v: number, s: Schema): void => {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum))
      issue(SchemaCodes.bounds, `${v} must be ${s.exclusiveMinimum ? "greater than" : "greater than or equal to"} ${s.minimum}`);
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum))
      issue(SchemaCodes.bounds, `${v} must be ${s.exclusiveMaximum ? "less than" : "less than or equal to"} ${s.maximum}`);
    if (s.multipleOf !== undefined && s.multipleOf > 0 && Math.abs(v / s.multipleOf - Math.round(v / s.multipleOf)) > 1e-9)
      issue(SchemaCodes.bounds, `${v} must be a multiple of ${s.multipleOf}`);
  };

  const checkArray = (v: unknown[], p: Plan, valueOnly: boolean): void => {
    if (p.arrayChecks) checkArrayBounds(v, p.s);
    const items = p.items;
    if (items) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        check(v[i], items, valueOnly);
        path.pop();
      }
    }
  };

  /** Item counts, and duplicates in sets and maps. */
  const checkArrayBounds = (v: unknown[], s: Schema): void => {
    if (s.maxItems !== undefined && v.length > s.maxItems) issue(SchemaCodes.bounds, `must have at most ${s.maxItems} items (has ${v.length})`);
    if (s.minItems !== undefined && v.length < s.minItems) issue(SchemaCodes.bounds, `must have at least ${s.minItems} items (has ${v.length})`);
    const listType = s["x-kubernetes-list-type"];
    if (s.uniqueItems || listType === "set") {
      for (let i = 1; i < v.length; i++) {
        for (let j = 0; j < i; j++) {
          if (deepEqual(v[i], v[j])) {
            issue(SchemaCodes.duplicate, `duplicate value ${JSON.stringify(v[i])} (same as item ${j})`, [...path, i]);
            break;
          }
        }
      }
    } else if (listType === "map" && s["x-kubernetes-list-map-keys"]) {
      const keys = s["x-kubernetes-list-map-keys"];
      const seen = new Map<string, number>();
      v.forEach((item, i) => {
        if (typeof item !== "object" || item === null) return;
        const k = JSON.stringify(keys.map((key) => (item as Record<string, unknown>)[key] ?? null));
        const prev = seen.get(k);
        if (prev !== undefined) issue(SchemaCodes.duplicate, `duplicate entry for key ${keys.map((key) => `${key}=${JSON.stringify((item as Record<string, unknown>)[key])}`).join(", ")} (same as item ${prev})`, [...path, i]);
        else seen.set(k, i);
      });
    }
  };

  const checkObject = (v: Record<string, unknown>, p: Plan, valueOnly: boolean): void => {
    const props = p.props;
    const preserve = p.preserve;
    const embedded = p.embedded;
    const addl = p.addl;
    const keys = Object.keys(v);
    for (const k of keys) {
      const sub = props?.[k];
      path.push(k);
      if (sub) check(v[k], sub, valueOnly);
      else if (embedded && (k === "apiVersion" || k === "kind" || k === "metadata")) checkEmbeddedMeta(k, v[k]);
      else if (addl && typeof addl === "object") check(v[k], addl, valueOnly);
      else if (!valueOnly && !preserve && addl !== true && !(opts.builtin && !props && addl === undefined)) {
        issue(SchemaCodes.unknownField, `unknown field "${formatPath(path)}"`);
      }
      path.pop();
    }
    if (p.required) {
      for (const r of p.required) {
        // the API server applies defaults before validating: a required field with a default is never missing
        if ((v[r] === undefined || v[r] === null) && (opts.builtin || props?.[r]?.default === undefined)) issue(SchemaCodes.required, `required field "${r}" is missing`);
      }
    }
    if (p.propertyBounds) {
      const s = p.s;
      const n = keys.length;
      if (s.maxProperties !== undefined && n > s.maxProperties) issue(SchemaCodes.bounds, `must have at most ${s.maxProperties} properties (has ${n})`);
      if (s.minProperties !== undefined && n < s.minProperties) issue(SchemaCodes.bounds, `must have at least ${s.minProperties} properties (has ${n})`);
    }
    if (embedded && !valueOnly) {
      if (typeof v.apiVersion !== "string" || v.apiVersion === "") issue(SchemaCodes.required, `required field "apiVersion" is missing`);
      if (typeof v.kind !== "string" || v.kind === "") issue(SchemaCodes.required, `required field "kind" is missing`);
    }
  };

  const checkEmbeddedMeta = (k: string, value: unknown): void => {
    if (k === "metadata") {
      const meta = opts.definitions[OBJECT_META_REF];
      if (meta) check(value, meta, false);
    } else if (typeof value !== "string") {
      issue(SchemaCodes.wrongType, `expected a string, got ${describe(value)}`);
    }
  };

  const checkCombinators = (value: unknown, s: Schema): void => {
    const trial = (sub: Schema): boolean => {
      const before = issues.length;
      trials++;
      try {
        check(value, sub, true);
      } finally {
        trials--;
      }
      const ok = issues.length === before;
      issues.length = before;
      return ok;
    };
    if (s.anyOf && !s.anyOf.some(trial)) issue(SchemaCodes.combinator, describeCombinator("must match at least one of", s.anyOf));
    if (s.oneOf) {
      const exclusive = exclusiveFields(s.oneOf);
      if (exclusive && typeof value === "object" && value !== null) {
        // Istio's generated pattern for mutually exclusive fields: name the fields, not the schema shape
        const present = exclusive.filter((f) => (value as Record<string, unknown>)[f] !== undefined);
        if (present.length > 1) issue(SchemaCodes.combinator, `only one of ${exclusive.join(", ")} may be set (found ${present.join(", ")})`);
        return;
      }
      const n = s.oneOf.filter(trial).length;
      if (n !== 1) issue(SchemaCodes.combinator, n === 0 ? describeCombinator("must match exactly one of", s.oneOf) : describeCombinator(`matches ${n} of (must match exactly one)`, s.oneOf));
    }
    if (s.not && trial(s.not)) issue(SchemaCodes.combinator, describeCombinator("must not match", [s.not]));
  };

  const checkCel = (value: unknown, s: Schema): void => {
    let rules = celCache.get(s);
    if (!rules) {
      rules = (s["x-kubernetes-validations"] ?? []).map((r) => {
        const compiled = compileCelRule(r);
        return { compiled, fast: "error" in compiled ? undefined : fastCelRule(compiled, s as CelSchema) };
      });
      celCache.set(s, rules);
    }
    // a rule that cannot be compiled is said once, never per object: outside the memo, which would repeat it
    // for every identical value
    // the fast path answers most rules on valid values without @bufbuild/cel; firstSlow: the first rule it did not
    // (the rules before it passed, the ones after it are not evaluated yet)
    let firstSlow = -1;
    for (let i = 0; i < rules.length; i++) {
      const { compiled: c, fast } = rules[i] as NodeRule;
      if ("error" in c) {
        if (reportedCompileErrors.has(c.error)) continue;
        reportedCompileErrors.add(c.error);
        issue(SchemaCodes.celError, `a CEL rule of this kind's schema could not be compiled, so it is not checked: ${c.error}`, path, "warning");
        continue;
      }
      if (firstSlow < 0 && !isTransitionRule(c) && fast?.(value) !== true) firstSlow = i;
    }
    if (firstSlow < 0) return;
    // Rules are pure functions of the value: identical values (common in mesh configs: the same parentRefs,
    // matches and backendRefs over and over) reuse the outcome. Bounded per schema node.
    let memo = celMemo.get(s);
    if (!memo) {
      memo = new Map();
      celMemo.set(s, memo);
    }
    const key = JSON.stringify(value);
    let outcomes = memo.get(key);
    if (!outcomes) {
      outcomes = [];
      let self: unknown;
      for (let i = firstSlow; i < rules.length; i++) {
        const { compiled: c, fast } = rules[i] as NodeRule;
        if ("error" in c) continue; // reported above
        if (isTransitionRule(c)) continue; // needs oldSelf: only on update, never on create
        if (i > firstSlow && fast?.(value) === true) continue;
        self ??= toCelValue(value, s as CelSchema);
        const out = evalCelRule(c, self);
        if (out.ok) continue;
        if ("evalError" in out) outcomes.push({ code: SchemaCodes.celError, rel: [], message: `rule ${JSON.stringify(c.rule.rule)} could not be evaluated: ${out.evalError}`, severity: "warning" });
        else outcomes.push({ code: SchemaCodes.celRule, rel: out.fieldPath ? parseFieldPath(out.fieldPath) : [], message: out.message, severity: "error" });
      }
      if (memo.size < 4096) memo.set(key, outcomes);
    }
    for (const o of outcomes) issue(o.code, o.message, [...path, ...o.rel], o.severity);
  };

  // root: apiVersion/kind/metadata are implicit for CRDs; metadata is validated as ObjectMeta
  const root = deref(schema);
  if (!opts.builtin) {
    const { apiVersion: _a, kind: _k, metadata, ...rest } = obj;
    const props = root.properties ?? {};
    for (const k of Object.keys(rest)) {
      path.push(k);
      const sub = props[k];
      if (sub) check(rest[k], sub, false);
      else if (root["x-kubernetes-preserve-unknown-fields"] !== true) issue(SchemaCodes.unknownField, `unknown field "${k}"`);
      path.pop();
    }
    for (const r of root.required ?? []) if (r !== "metadata" && obj[r] === undefined) issue(SchemaCodes.required, `required field "${r}" is missing`);
    path.push("metadata");
    const meta = opts.definitions[OBJECT_META_REF];
    if (meta) check(metadata, meta, false);
    path.pop();
    if (opts.cel && root["x-kubernetes-validations"]) checkCel(obj, root);
  } else {
    check(obj, root, false);
  }
  checkMetadataSyntax(obj.metadata, `${apiVersion.includes("/") ? apiVersion.split("/")[0] : "v1"}/${kind}`, issue);
  return issues;
}

/** What a trial of a combinator branch records for an issue (never reported: trials drop their issues). */
const TRIAL_ISSUE: SchemaIssue = { code: "", path: [], message: "", severity: "error" };

/** The object with the defaults (of its schema's properties) filled in for absent (or null) properties; the same object when none apply. */
function withDefaults(value: unknown, defs: readonly [string, unknown][]): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const [k, d] of defs) {
    const v = value as Record<string, unknown>;
    if (v[k] === undefined || v[k] === null) {
      out ??= { ...v };
      out[k] = typeof d === "object" && d !== null ? structuredClone(d) : d;
    }
  }
  return out ?? value;
}

/** Field names when a oneOf is "none of these, or exactly one of them" (each member requires one field). */
function exclusiveFields(oneOf: Schema[]): string[] | undefined {
  const names: string[] = [];
  for (const m of oneOf) {
    const keys = Object.keys(m);
    if (keys.length === 1 && m.required?.length === 1 && m.required[0]) names.push(m.required[0]);
    else if (keys.length === 1 && m.not && Object.keys(m.not).length === 1 && m.not.anyOf?.every((a) => Object.keys(a).length === 1 && a.required?.length === 1)) continue;
    else return undefined;
  }
  return names.length > 1 ? names : undefined;
}

function describeCombinator(lead: string, subs: Schema[]): string {
  const parts = subs.map((s) => {
    if (s.required) return `{${s.required.join(", ")} set}`;
    if (s.not?.anyOf) return `{none of ${s.not.anyOf.map((a) => a.required?.join("+") ?? "?").join(", ")} set}`;
    if (s.type) return s.type;
    return "a schema";
  });
  return `${lead} ${parts.join(" | ")}`;
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    default:
      return true;
  }
}

/** ".spec.foo[0]" / "spec.foo['bar']" → path segments. */
function parseFieldPath(fp: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[['"]([^'"]*)['"]\]/g;
  for (const m of fp.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(m[3]);
  }
  return out;
}

/** Object name and label/annotation syntax, which the API server checks for every kind. */
function checkMetadataSyntax(meta: unknown, groupKind: string, issue: (code: string, message: string, at?: (string | number)[]) => void): void {
  if (typeof meta !== "object" || meta === null) return;
  const m = meta as Record<string, unknown>;
  if (typeof m.name === "string") {
    const problem = (labelNamedKinds[groupKind] ?? checkDns1123Subdomain)(m.name);
    if (problem) issue(SchemaCodes.metadata, `invalid name ${JSON.stringify(m.name)}: ${problem}`, ["metadata", "name"]);
  }
  if (typeof m.namespace === "string") {
    const problem = checkDns1123Label(m.namespace);
    if (problem) issue(SchemaCodes.metadata, `invalid namespace ${JSON.stringify(m.namespace)}: ${problem}`, ["metadata", "namespace"]);
  }
  if (typeof m.labels === "object" && m.labels !== null) {
    for (const [k, v] of Object.entries(m.labels)) {
      const kp = checkQualifiedName(k);
      if (kp) issue(SchemaCodes.metadata, `invalid label key ${JSON.stringify(k)}: ${kp}`, ["metadata", "labels", k]);
      if (typeof v === "string") {
        const vp = checkLabelValue(v);
        if (vp) issue(SchemaCodes.metadata, `invalid label value ${JSON.stringify(v)}: ${vp}`, ["metadata", "labels", k]);
      }
    }
  }
  if (typeof m.annotations === "object" && m.annotations !== null) {
    let total = 0;
    for (const [k, v] of Object.entries(m.annotations)) {
      const kp = checkQualifiedName(k);
      if (kp) issue(SchemaCodes.metadata, `invalid annotation key ${JSON.stringify(k)}: ${kp}`, ["metadata", "annotations", k]);
      total += k.length + (typeof v === "string" ? v.length : 0);
    }
    if (total > 256 * 1024) issue(SchemaCodes.metadata, `annotations total ${total} bytes, over the 262144-byte limit`, ["metadata", "annotations"]);
  }
}
