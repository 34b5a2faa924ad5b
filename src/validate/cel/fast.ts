// A fast path for x-kubernetes-validations rules: the parsed rule is compiled, for one schema node, into
// JavaScript closures that read the manifest's plain JSON values directly (no conversion to CEL values, no
// interpreter). It covers the subset of CEL that CRD rules are written in (field selection, has(), the
// comparison, logical and arithmetic operators, size(), the string functions, in, list literals and the
// all/exists/exists_one/filter/map macros) with the static types the schema gives; anything else is not
// compiled (undefined) and the rule is evaluated by @bufbuild/cel as before.
//
// The closures follow the conversion in convert.ts exactly (integer → int, number → double, objects with
// properties → maps keyed by the escaped property names with null fields absent and defaults applied,
// additionalProperties → maps with null values kept). Whenever the answer could depend on a detail the
// closures do not model — a runtime error (absent field, index out of range, division by zero), a value whose
// type differs from its schema, an integer outside ±2^53, a non-ASCII string compared or cut by position — the
// evaluation stops with BAIL and the caller evaluates the rule with @bufbuild/cel, which gives the exact
// result or error. So a true or false from here is always what CEL answers.
//
// Values without a schema (a ValidatingAdmissionPolicy's object of a built-in kind) are converted by kind at run
// time (convert.ts' generic(): integral numbers are ints, objects are maps without their null fields): they have
// the type dyn here, and every operation on them checks what the value is, or bails.
import { escapePropertyName } from "./convert.js";
import type { Expr } from "./check.js";
import { compileRe2 } from "./regex-lib.js";
import type { CelSchema } from "./types.js";

/** The evaluation needs @bufbuild/cel (see the file comment). */
export const BAIL: unique symbol = Symbol("bail");

/** A compiled rule: true or false as CEL would answer, or BAIL. */
export type FastRule = (self: unknown) => boolean | typeof BAIL;

type Type =
  | { k: "bool" }
  | { k: "int" }
  | { k: "double" }
  | { k: "string" }
  /** elem undefined: not known (an empty list literal) or not modelled. */
  | { k: "list"; elem: Type | undefined }
  /** A map with string keys: additionalProperties (null values kept) or an empty map literal. */
  | { k: "map"; val: Type | undefined }
  /** An object with properties: a map keyed by the escaped property names. */
  | { k: "obj"; schema: CelSchema; fields: Map<string, Field> }
  /** A value without a schema, typed by what it is at run time (see the file comment). */
  | { k: "dyn" };

interface Field {
  name: string;
  schema: CelSchema;
  type: Type | undefined;
}

type Frame = unknown[];
type Fn = (f: Frame) => unknown;

class Unsupported extends Error {}

function unsupported(what: string): never {
  throw new Unsupported(what);
}

/** Stops the evaluation: the caller evaluates the rule with @bufbuild/cel. */
class Bail {}
const BAIL_SIGNAL = new Bail();
function bail(): never {
  throw BAIL_SIGNAL;
}

const BOOL: Type = { k: "bool" };
const INT: Type = { k: "int" };
const DOUBLE: Type = { k: "double" };
const STRING: Type = { k: "string" };
const DYN: Type = { k: "dyn" };

const typeCache = new WeakMap<CelSchema, Type | null>();

/** The CEL type convert.ts gives values of this schema node, when the fast path models it. */
function typeOfSchema(s: CelSchema | undefined): Type | undefined {
  if (s === undefined) return undefined;
  const hit = typeCache.get(s);
  if (hit !== undefined) return hit ?? undefined;
  typeCache.set(s, null); // recursive schemas: not modelled while being computed
  const t = computeType(s);
  typeCache.set(s, t ?? null);
  return t;
}

function computeType(s: CelSchema): Type | undefined {
  if (s["x-kubernetes-int-or-string"] || s["x-kubernetes-embedded-resource"]) return undefined;
  switch (s.type) {
    case "integer":
      return INT;
    case "number":
      return DOUBLE;
    case "boolean":
      return BOOL;
    case "string":
      // byte, duration, date and date-time strings become bytes, durations and timestamps
      return s.format === "byte" || s.format === "duration" || s.format === "date" || s.format === "date-time" ? undefined : STRING;
    case "array":
      return { k: "list", elem: s.items ? typeOfSchema(s.items) : undefined };
    case "object": {
      const addl = typeof s.additionalProperties === "object" && s.additionalProperties !== null ? s.additionalProperties : undefined;
      if (s.properties) {
        const fields = new Map<string, Field>();
        for (const [name, schema] of Object.entries(s.properties)) {
          fields.set(escapePropertyName(name) ?? name, { name, schema, type: undefined });
        }
        return { k: "obj", schema: s, fields };
      }
      if (addl) return { k: "map", val: typeOfSchema(addl) };
      return undefined;
    }
    default:
      return undefined;
  }
}

/** An object's field types are computed when a rule first selects the field (list and map types at once). */
function fieldType(f: Field): Type | undefined {
  f.type ??= typeOfSchema(f.schema);
  return f.type;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The value, when it is what convert.ts turns into a value of type t; otherwise BAIL. */
function guard(t: Type, v: unknown): unknown {
  switch (t.k) {
    case "bool":
      if (typeof v === "boolean") return v;
      break;
    case "int":
      if (typeof v === "number" && Number.isSafeInteger(v)) return v;
      break;
    case "double":
      if (typeof v === "number") return v;
      break;
    case "string":
      if (typeof v === "string") return v;
      break;
    case "list":
      if (Array.isArray(v)) return v;
      break;
    case "map":
    case "obj":
      if (isPlainObject(v)) return v;
      break;
    case "dyn":
      if (v !== undefined) return v;
      break;
  }
  return bail();
}

function sameType(a: Type | undefined, b: Type | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  if (a.k !== b.k) return false;
  if (a.k === "list" && b.k === "list") return sameType(a.elem, b.elem) || (a.elem === undefined && b.elem === undefined);
  if (a.k === "map" && b.k === "map") return sameType(a.val, b.val) || (a.val === undefined && b.val === undefined);
  if (a.k === "obj" && b.k === "obj") return a.schema === b.schema;
  return true;
}

/** The common type of two branches or list elements (an unknown element type unifies with any). */
function unify(a: Type, b: Type): Type {
  if (a.k === "dyn" || b.k === "dyn") return DYN;
  if (a.k === "list" && b.k === "list") {
    if (a.elem === undefined) return b;
    if (b.elem === undefined) return a;
    return sameType(a.elem, b.elem) ? a : unsupported("lists of different element types");
  }
  if (a.k === "map" && b.k === "map") {
    if (a.val === undefined) return b;
    if (b.val === undefined) return a;
    return sameType(a.val, b.val) ? a : unsupported("maps of different value types");
  }
  return sameType(a, b) ? a : unsupported(`${a.k} and ${b.k}`);
}

function isScalar(t: Type | undefined): t is { k: "bool" } | { k: "int" } | { k: "double" } | { k: "string" } {
  return t !== undefined && (t.k === "bool" || t.k === "int" || t.k === "double" || t.k === "string");
}

type ScalarKind = "bool" | "int" | "double" | "string";

/** The CEL type generic() gives a value without a schema, when it is a scalar the fast path compares; else BAIL. */
function dynKind(v: unknown): ScalarKind {
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "bool";
    case "number":
      if (!Number.isInteger(v)) return "double";
      return Number.isSafeInteger(v) ? "int" : bail();
    default:
      return bail();
  }
}

/** The static scalar kind of a type; undefined for dyn (known at run time only). */
function staticKind(t: Type): ScalarKind | undefined {
  return isScalar(t) ? t.k : undefined;
}

/** Both operands' CEL types, checked to be the same scalar type (dyn ones at run time). */
function kindCheck(a: Type, b: Type): ((x: unknown, y: unknown) => ScalarKind) | undefined {
  const ka = staticKind(a);
  const kb = staticKind(b);
  if ((ka === undefined && a.k !== "dyn") || (kb === undefined && b.k !== "dyn")) return undefined;
  if (ka !== undefined && kb !== undefined) return ka === kb ? () => ka : undefined;
  return (x, y) => {
    const kx = ka ?? dynKind(x);
    const ky = kb ?? dynKind(y);
    return kx === ky ? kx : bail();
  };
}

/** A dyn value as a string (the string functions' receiver and arguments), or BAIL. */
function str(v: unknown): string {
  return typeof v === "string" ? v : bail();
}

const NON_ASCII = /[^ -~\t\n\r]/; // a character outside printable ASCII and whitespace: the slower exact path
const isAscii = (s: string): boolean => !NON_ASCII.test(s);

function codePointCount(s: string): number {
  if (isAscii(s)) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function intResult(n: number): number {
  return Number.isSafeInteger(n) ? n : bail();
}

function bool(v: unknown): boolean {
  return typeof v === "boolean" ? v : bail();
}

interface Compiled {
  fn: Fn;
  type: Type;
}

interface Scope {
  /** Variable name → frame slot and type. */
  vars: Map<string, { slot: number; type: Type }>;
}

/**
 * Compiles a parsed rule for a schema node; undefined when the rule uses something the fast path does not model.
 */
export function compileFast(expr: Expr | undefined, schema: CelSchema | undefined, root = "self"): FastRule | undefined {
  // MESHOPS_CEL_FAST=0: every rule through @bufbuild/cel (the tests compare the two on whole repositories)
  if (process.env["MESHOPS_CEL_FAST"] === "0") return undefined;
  const selfType = schema === undefined ? DYN : typeOfSchema(schema);
  if (expr === undefined || selfType === undefined) return undefined;
  let slots = 1;
  const newSlot = (): number => slots++;
  let compiled: Compiled;
  try {
    compiled = compile(expr, { vars: new Map([[root, { slot: 0, type: selfType }]]) }, newSlot);
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  if (compiled.type.k !== "bool" && compiled.type.k !== "dyn") return undefined;
  const fn = compiled.fn;
  const size = slots;
  return (self) => {
    const frame: Frame = new Array(size);
    try {
      frame[0] = guard(selfType, self);
      return bool(fn(frame));
    } catch (e) {
      if (e === BAIL_SIGNAL) return BAIL;
      throw e;
    }
  };
}

function compile(e: Expr, scope: Scope, newSlot: () => number): Compiled {
  const c = (x: Expr | undefined): Compiled => (x === undefined ? unsupported("missing operand") : compile(x, scope, newSlot));
  switch (e.exprKind.case) {
    case "constExpr": {
      const k = e.exprKind.value.constantKind;
      switch (k.case) {
        case "boolValue": {
          const v = k.value;
          return { fn: () => v, type: BOOL };
        }
        case "stringValue": {
          const v = k.value;
          return { fn: () => v, type: STRING };
        }
        case "int64Value": {
          if (k.value > BigInt(Number.MAX_SAFE_INTEGER) || k.value < BigInt(Number.MIN_SAFE_INTEGER)) unsupported("large int");
          const v = Number(k.value);
          return { fn: () => v, type: INT };
        }
        case "doubleValue": {
          const v = k.value;
          return { fn: () => v, type: DOUBLE };
        }
        default:
          return unsupported(`constant ${k.case}`);
      }
    }
    case "identExpr": {
      const v = scope.vars.get(e.exprKind.value.name);
      if (!v) return unsupported(`identifier ${e.exprKind.value.name}`);
      const slot = v.slot;
      return { fn: (f) => f[slot], type: v.type };
    }
    case "selectExpr": {
      const { operand, field, testOnly } = e.exprKind.value;
      const o = c(operand);
      return testOnly ? hasField(o, field) : selectField(o, field);
    }
    case "listExpr": {
      if (e.exprKind.value.optionalIndices.length > 0) unsupported("optional list elements");
      const elems = e.exprKind.value.elements.map((x) => c(x));
      let elem: Type | undefined;
      for (const x of elems) elem = elem === undefined ? x.type : unify(elem, x.type);
      const fns = elems.map((x) => x.fn);
      return { fn: (f) => fns.map((g) => g(f)), type: { k: "list", elem } };
    }
    case "structExpr": {
      const v = e.exprKind.value;
      if (v.messageName !== "" || v.entries.length > 0) unsupported("map or message literal");
      return { fn: () => ({}), type: { k: "map", val: undefined } };
    }
    case "comprehensionExpr":
      return comprehension(e.exprKind.value, scope, newSlot);
    case "callExpr": {
      const { target, args } = e.exprKind.value;
      return call(e.exprKind.value.function, target === undefined ? undefined : c(target), args.map((a) => c(a)));
    }
    default:
      return unsupported(`expression ${e.exprKind.case}`);
  }
}

function selectField(o: Compiled, name: string): Compiled {
  const t = o.type;
  const g = o.fn;
  if (t.k === "obj") {
    const field = t.fields.get(name) ?? unsupported(`field ${name} not in the schema`);
    const ft = fieldType(field) ?? unsupported(`field ${name} of a type not modelled`);
    const prop = field.name;
    const def = field.schema.default;
    const read = fieldReader(prop, name, g);
    if (def === undefined) {
      return {
        fn: (f) => {
          const v = read(f);
          return v === null || v === undefined ? bail() : guard(ft, v);
        },
        type: ft,
      };
    }
    return {
      fn: (f) => {
        const v = read(f);
        return guard(ft, v === null || v === undefined ? def : v);
      },
      type: ft,
    };
  }
  if (t.k === "map") {
    const vt = t.val ?? unsupported("map of values not modelled");
    return {
      fn: (f) => {
        const m = g(f) as Record<string, unknown>;
        return Object.hasOwn(m, name) ? guard(vt, m[name]) : bail();
      },
      type: vt,
    };
  }
  if (t.k === "dyn") {
    return {
      fn: (f) => {
        const o = g(f);
        if (!isPlainObject(o) || !Object.hasOwn(o, name)) return bail();
        const v = o[name];
        return v === null || v === undefined ? bail() : v;
      },
      type: DYN,
    };
  }
  return unsupported(`field selection on ${t.k}`);
}

/**
 * Reads a property of an object value. When the CEL name is an escaped one (__namespace__ for namespace) and
 * the object also has a key spelled like the escaped name, convert.ts would let one overwrite the other: BAIL.
 */
function fieldReader(prop: string, celName: string, g: Fn): (f: Frame) => unknown {
  if (prop === celName) {
    return (f) => {
      const o = g(f) as Record<string, unknown>;
      return Object.hasOwn(o, prop) ? o[prop] : undefined;
    };
  }
  return (f) => {
    const o = g(f) as Record<string, unknown>;
    return Object.hasOwn(o, celName) ? bail() : Object.hasOwn(o, prop) ? o[prop] : undefined;
  };
}

function hasField(o: Compiled, name: string): Compiled {
  const t = o.type;
  const g = o.fn;
  if (t.k === "obj") {
    const field = t.fields.get(name) ?? unsupported(`field ${name} not in the schema`);
    const read = fieldReader(field.name, name, g);
    if (field.schema.default !== undefined) {
      return {
        fn: (f) => {
          read(f);
          return true;
        },
        type: BOOL,
      };
    }
    return {
      fn: (f) => {
        const v = read(f);
        return v !== null && v !== undefined;
      },
      type: BOOL,
    };
  }
  if (t.k === "map") return { fn: (f) => Object.hasOwn(g(f) as object, name), type: BOOL };
  if (t.k === "dyn") {
    return {
      fn: (f) => {
        const o = g(f);
        if (!isPlainObject(o)) return bail();
        return Object.hasOwn(o, name) && o[name] !== null && o[name] !== undefined;
      },
      type: BOOL,
    };
  }
  return unsupported(`has() on ${t.k}`);
}

function comprehension(
  v: Extract<Expr["exprKind"], { case: "comprehensionExpr" }>["value"],
  scope: Scope,
  newSlot: () => number,
): Compiled {
  if (v.iterVar2) unsupported("two-variable comprehension");
  if (!v.iterRange || !v.accuInit || !v.loopCondition || !v.loopStep || !v.result) unsupported("incomplete comprehension");
  const range = compile(v.iterRange, scope, newSlot);
  let iterType: Type;
  let keys = false;
  const dynRange = range.type.k === "dyn";
  if (range.type.k === "list") iterType = range.type.elem ?? unsupported("list elements not modelled");
  else if (range.type.k === "map") {
    iterType = STRING;
    keys = true;
  } else if (dynRange) iterType = DYN;
  else return unsupported(`iteration over ${range.type.k}`);
  const init = compile(v.accuInit, scope, newSlot);
  const iterSlot = newSlot();
  const accuSlot = newSlot();
  const inner = (accuType: Type): Scope => ({
    vars: new Map([...scope.vars, [v.iterVar, { slot: iterSlot, type: iterType }], [v.accuVar, { slot: accuSlot, type: accuType }]]),
  });
  // the accumulator's type: the initial value's, refined by the step (an empty list literal gets its elements)
  let accuType = init.type;
  let step = compile(v.loopStep, inner(accuType), newSlot);
  const refined = unify(accuType, step.type);
  if (refined !== accuType) {
    accuType = refined;
    step = compile(v.loopStep, inner(accuType), newSlot);
    unify(accuType, step.type);
  }
  const cond = compile(v.loopCondition, inner(accuType), newSlot);
  if (cond.type.k !== "bool") unsupported("loop condition");
  const resultScope: Scope = { vars: new Map([...scope.vars, [v.accuVar, { slot: accuSlot, type: accuType }]]) };
  const result = compile(v.result, resultScope, newSlot);
  const rangeFn = range.fn;
  const initFn = init.fn;
  const stepFn = step.fn;
  const condFn = cond.fn;
  const resultFn = result.fn;
  const it = iterType;
  return {
    fn: (f) => {
      let r = rangeFn(f);
      let overKeys = keys;
      if (dynRange) {
        // a list's elements, or a map's keys (generic() leaves out null fields)
        if (Array.isArray(r)) overKeys = false;
        else if (isPlainObject(r)) {
          const o = r;
          r = Object.keys(o).filter((k) => o[k] !== null && o[k] !== undefined);
          overKeys = false;
        } else return bail();
      }
      f[accuSlot] = initFn(f);
      if (overKeys) {
        for (const k of Object.keys(r as object)) {
          if (!bool(condFn(f))) break;
          f[iterSlot] = k;
          f[accuSlot] = stepFn(f);
        }
      } else {
        for (const item of r as unknown[]) {
          if (!bool(condFn(f))) break;
          f[iterSlot] = guard(it, item);
          f[accuSlot] = stepFn(f);
        }
      }
      return resultFn(f);
    },
    type: result.type,
  };
}

function equalsFn(a: Compiled, b: Compiled): (f: Frame) => boolean {
  const ga = a.fn;
  const gb = b.fn;
  if (isScalar(a.type) && isScalar(b.type) && a.type.k === b.type.k) return (f) => ga(f) === gb(f);
  if (a.type.k === "dyn" || b.type.k === "dyn") {
    const kinds = kindCheck(a.type, b.type) ?? unsupported(`== on ${a.type.k} and ${b.type.k}`);
    return (f) => {
      const x = ga(f);
      const y = gb(f);
      kinds(x, y);
      return x === y;
    };
  }
  if (a.type.k === "list" && b.type.k === "list") {
    const ea = a.type.elem;
    const eb = b.type.elem;
    // lists of one scalar type (or an empty literal against one)
    if ((ea === undefined || isScalar(ea)) && (eb === undefined || isScalar(eb)) && (ea === undefined || eb === undefined || ea.k === eb.k)) {
      return (f) => {
        const x = ga(f) as unknown[];
        const y = gb(f) as unknown[];
        return x.length === y.length && x.every((item, i) => item === y[i]);
      };
    }
  }
  return unsupported(`== on ${a.type.k} and ${b.type.k}`);
}

function compareFn(op: string, a: Compiled, b: Compiled): Compiled {
  const kinds = kindCheck(a.type, b.type);
  if (kinds === undefined || a.type.k === "bool" || b.type.k === "bool") return unsupported(`${op} on ${a.type.k} and ${b.type.k}`);
  const ga = a.fn;
  const gb = b.fn;
  const cmp = (f: Frame): [number | string, number | string] => {
    const x = ga(f) as number | string;
    const y = gb(f) as number | string;
    const k = kinds(x, y);
    if (k === "bool") bail();
    // Go compares strings by UTF-8 bytes, JavaScript by UTF-16 units: the same order for ASCII only
    if (k === "string" && !(isAscii(x as string) && isAscii(y as string))) bail();
    return [x, y];
  };
  switch (op) {
    case "_<_":
      return { fn: (f) => { const [x, y] = cmp(f); return x < y; }, type: BOOL };
    case "_<=_":
      return { fn: (f) => { const [x, y] = cmp(f); return x <= y; }, type: BOOL };
    case "_>_":
      return { fn: (f) => { const [x, y] = cmp(f); return x > y; }, type: BOOL };
    default:
      return { fn: (f) => { const [x, y] = cmp(f); return x >= y; }, type: BOOL };
  }
}

function arithmetic(op: string, a: Compiled, b: Compiled): Compiled {
  const ga = a.fn;
  const gb = b.fn;
  if (op === "_+_" && a.type.k === "string" && b.type.k === "string") return { fn: (f) => (ga(f) as string) + (gb(f) as string), type: STRING };
  if (op === "_+_" && a.type.k === "list" && b.type.k === "list") {
    return { fn: (f) => (ga(f) as unknown[]).concat(gb(f) as unknown[]), type: unify(a.type, b.type) };
  }
  if (a.type.k === "int" && b.type.k === "int") {
    switch (op) {
      case "_+_":
        return { fn: (f) => intResult((ga(f) as number) + (gb(f) as number)), type: INT };
      case "_-_":
        return { fn: (f) => intResult((ga(f) as number) - (gb(f) as number)), type: INT };
      case "_*_":
        return { fn: (f) => intResult((ga(f) as number) * (gb(f) as number)), type: INT };
      case "_/_":
        return {
          fn: (f) => {
            const y = gb(f) as number;
            return y === 0 ? bail() : intResult(Math.trunc((ga(f) as number) / y));
          },
          type: INT,
        };
      default: // _%_
        return {
          fn: (f) => {
            const y = gb(f) as number;
            return y === 0 ? bail() : intResult((ga(f) as number) % y);
          },
          type: INT,
        };
    }
  }
  if (a.type.k === "double" && b.type.k === "double" && op !== "_%_") {
    switch (op) {
      case "_+_":
        return { fn: (f) => (ga(f) as number) + (gb(f) as number), type: DOUBLE };
      case "_-_":
        return { fn: (f) => (ga(f) as number) - (gb(f) as number), type: DOUBLE };
      case "_*_":
        return { fn: (f) => (ga(f) as number) * (gb(f) as number), type: DOUBLE };
      default:
        return { fn: (f) => (ga(f) as number) / (gb(f) as number), type: DOUBLE };
    }
  }
  return unsupported(`${op} on ${a.type.k} and ${b.type.k}`);
}

function sizeOf(x: Compiled): Compiled {
  const g = x.fn;
  switch (x.type.k) {
    case "string":
      return { fn: (f) => codePointCount(g(f) as string), type: INT };
    case "list":
      return { fn: (f) => (g(f) as unknown[]).length, type: INT };
    case "map":
      return { fn: (f) => Object.keys(g(f) as object).length, type: INT };
    case "dyn":
      return {
        fn: (f) => {
          const v = g(f);
          if (typeof v === "string") return codePointCount(v);
          if (Array.isArray(v)) return v.length;
          if (isPlainObject(v)) return Object.values(v).filter((x) => x !== null && x !== undefined).length;
          return bail();
        },
        type: INT,
      };
    default:
      return unsupported(`size() of ${x.type.k}`);
  }
}

const boolish = (t: Type): boolean => t.k === "bool" || t.k === "dyn";
const stringish = (t: Type | undefined): boolean => t?.k === "string" || t?.k === "dyn";

/** A string method with one string argument (dyn receivers and arguments are checked to be strings at run time). */
function stringMethod(fn: string, target: Compiled | undefined, args: Compiled[], type: Type, op: (s: string, arg: string) => unknown): Compiled {
  const a = args[0];
  if (!target || !a || args.length !== 1 || !stringish(target.type) || !stringish(a.type)) return unsupported(`${fn} arguments`);
  const gt = target.fn;
  const ga = a.fn;
  return { fn: (f) => op(str(gt(f)), str(ga(f))), type };
}

function call(fn: string, target: Compiled | undefined, args: Compiled[]): Compiled {
  const [a, b, c3] = args;
  switch (fn) {
    case "_&&_":
    case "_||_": {
      if (target || !a || !b || !boolish(a.type) || !boolish(b.type)) return unsupported(fn);
      const ga = a.fn;
      const gb = b.fn;
      return fn === "_&&_" ? { fn: (f) => bool(ga(f)) && bool(gb(f)), type: BOOL } : { fn: (f) => bool(ga(f)) || bool(gb(f)), type: BOOL };
    }
    case "!_": {
      if (target || !a || !boolish(a.type)) return unsupported(fn);
      const ga = a.fn;
      return { fn: (f) => !bool(ga(f)), type: BOOL };
    }
    case "@not_strictly_false": {
      if (target || !a || !boolish(a.type)) return unsupported(fn);
      const ga = a.fn;
      return { fn: (f) => bool(ga(f)), type: BOOL };
    }
    case "_?_:_": {
      if (target || !a || !b || !c3 || !boolish(a.type)) return unsupported(fn);
      const type = unify(b.type, c3.type);
      const ga = a.fn;
      const gb = b.fn;
      const gc = c3.fn;
      return { fn: (f) => (bool(ga(f)) ? gb(f) : gc(f)), type };
    }
    case "_==_":
    case "_!=_": {
      if (target || !a || !b) return unsupported(fn);
      const eq = equalsFn(a, b);
      return fn === "_==_" ? { fn: eq, type: BOOL } : { fn: (f) => !eq(f), type: BOOL };
    }
    case "_<_":
    case "_<=_":
    case "_>_":
    case "_>=_":
      if (target || !a || !b) return unsupported(fn);
      return compareFn(fn, a, b);
    case "_+_":
    case "_-_":
    case "_*_":
    case "_/_":
    case "_%_":
      if (target || !a || !b) return unsupported(fn);
      return arithmetic(fn, a, b);
    case "-_": {
      if (target || !a || a.type.k !== "int") return unsupported(fn);
      const ga = a.fn;
      return { fn: (f) => intResult(0 - (ga(f) as number)), type: INT };
    }
    case "@in": {
      if (target || !a || !b) return unsupported(fn);
      const ga = a.fn;
      const gb = b.fn;
      if (b.type.k === "list" && isScalar(a.type) && (b.type.elem === undefined || b.type.elem.k === a.type.k)) {
        return {
          fn: (f) => {
            const x = ga(f);
            for (const item of gb(f) as unknown[]) if (item === x) return true;
            return false;
          },
          type: BOOL,
        };
      }
      if (b.type.k === "map" && a.type.k === "string") return { fn: (f) => Object.hasOwn(gb(f) as object, ga(f) as string), type: BOOL };
      if (b.type.k === "list" && a.type.k === "dyn" && (b.type.elem === undefined || isScalar(b.type.elem))) {
        const ek = b.type.elem?.k;
        return {
          fn: (f) => {
            const x = ga(f);
            const kx = dynKind(x);
            for (const item of gb(f) as unknown[]) {
              if (kx !== ek) return bail();
              if (item === x) return true;
            }
            return false;
          },
          type: BOOL,
        };
      }
      if (b.type.k === "dyn" && (isScalar(a.type) || a.type.k === "dyn")) {
        const ka = staticKind(a.type);
        return {
          fn: (f) => {
            const x = ga(f);
            const c = gb(f);
            const kx = ka ?? dynKind(x);
            if (Array.isArray(c)) {
              for (const item of c) {
                if (dynKind(item) !== kx) return bail();
                if (item === x) return true;
              }
              return false;
            }
            // a map: its keys are strings, and generic() leaves out null fields
            if (isPlainObject(c) && kx === "string") return Object.hasOwn(c, x as string) && c[x as string] !== null && c[x as string] !== undefined;
            return bail();
          },
          type: BOOL,
        };
      }
      return unsupported(`in ${b.type.k}`);
    }
    case "_[_]": {
      if (target || !a || !b) return unsupported(fn);
      const ga = a.fn;
      const gb = b.fn;
      if (a.type.k === "list" && b.type.k === "int") {
        const et = a.type.elem ?? unsupported("list elements not modelled");
        return {
          fn: (f) => {
            const l = ga(f) as unknown[];
            const i = gb(f) as number;
            return i >= 0 && i < l.length ? guard(et, l[i]) : bail();
          },
          type: et,
        };
      }
      if (a.type.k === "map" && b.type.k === "string") {
        const vt = a.type.val ?? unsupported("map values not modelled");
        return {
          fn: (f) => {
            const m = ga(f) as Record<string, unknown>;
            const k = gb(f) as string;
            return Object.hasOwn(m, k) ? guard(vt, m[k]) : bail();
          },
          type: vt,
        };
      }
      if (a.type.k === "dyn" && (b.type.k === "int" || b.type.k === "string" || b.type.k === "dyn")) {
        return {
          fn: (f) => {
            const c = ga(f);
            const i = gb(f);
            let v: unknown;
            if (Array.isArray(c) && typeof i === "number" && Number.isSafeInteger(i) && i >= 0 && i < c.length) v = c[i];
            else if (isPlainObject(c) && typeof i === "string" && Object.hasOwn(c, i)) v = c[i];
            return v === null || v === undefined ? bail() : v;
          },
          type: DYN,
        };
      }
      return unsupported(`index of ${a.type.k}`);
    }
    case "size":
      if (target && args.length === 0) return sizeOf(target);
      if (!target && a && args.length === 1) return sizeOf(a);
      return unsupported("size arguments");
    case "contains":
      return stringMethod(fn, target, args, BOOL, (s, x) => s.includes(x));
    case "startsWith":
      return stringMethod(fn, target, args, BOOL, (s, x) => s.startsWith(x));
    case "endsWith":
      return stringMethod(fn, target, args, BOOL, (s, x) => s.endsWith(x));
    case "matches":
      return stringMethod(fn, target, args, BOOL, (s, pattern) => {
        let re;
        try {
          re = compileRe2(pattern);
        } catch {
          return bail();
        }
        return re.test(s);
      });
    case "substring": {
      if (target?.type.k !== "string" || args.length < 1 || args.length > 2 || args.some((x) => x.type.k !== "int")) return unsupported(fn);
      const gt = target.fn;
      const ga = (a as Compiled).fn;
      const gb = b?.fn;
      return {
        fn: (f) => {
          const s = gt(f) as string;
          const start = ga(f) as number;
          const end = gb ? (gb(f) as number) : s.length;
          // code points, not UTF-16 units: positions in a non-ASCII string are left to @bufbuild/cel
          if (!isAscii(s) || start < 0 || end > s.length || start > end) return bail();
          return s.substring(start, end);
        },
        type: STRING,
      };
    }
    case "split":
      return stringMethod(fn, target, args, { k: "list", elem: STRING }, (s, sep) => (sep === "" ? bail() : s.split(sep)));
    case "int": {
      if (target || !a || args.length !== 1) return unsupported(fn);
      if (a.type.k === "int") return a;
      if (a.type.k !== "string") return unsupported(`int(${a.type.k})`);
      const ga = a.fn;
      return {
        fn: (f) => {
          const s = ga(f) as string;
          // strconv.ParseInt(s, 10, 64)
          if (!/^[+-]?[0-9]+$/.test(s)) return bail();
          return intResult(Number(s));
        },
        type: INT,
      };
    }
    default:
      return unsupported(`function ${fn}`);
  }
}
