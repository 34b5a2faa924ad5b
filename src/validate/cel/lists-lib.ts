// Kubernetes list library (isSorted, sum, min, max, indexOf, lastIndexOf) and the
// cel-go sets extension (sets.contains/equivalent/intersects). Equality, ordering
// and addition are delegated to CEL's own operators (planned once on a bare
// environment) so heterogeneous numbers, durations and timestamps behave exactly
// like `==`, `<` and `+` do in rules.
import {
  CelScalar,
  celEnv,
  celFunc,
  celMethod,
  isCelError,
  isCelUint,
  listType,
  parse,
  plan,
  type CelFunc,
  type CelList,
  type CelValue,
} from "@bufbuild/cel";
import { isReflectMessage } from "@bufbuild/protobuf/reflect";
import { DurationSchema } from "@bufbuild/protobuf/wkt";

const opEnv = celEnv();
const eqProgram = plan(opEnv, parse("a == b"));
const ltProgram = plan(opEnv, parse("a < b"));
const addProgram = plan(opEnv, parse("a + b"));

function run(program: typeof eqProgram, a: CelValue, b: CelValue): CelValue {
  const r = program({ a, b });
  if (isCelError(r)) throw new Error(r.message);
  return r;
}

/** CEL equality (same semantics as `==`). */
export function celEquals(a: CelValue, b: CelValue): boolean {
  return run(eqProgram, a, b) === true;
}

function less(a: CelValue, b: CelValue): boolean {
  return run(ltProgram, a, b) === true;
}

function isSummable(v: CelValue): boolean {
  return typeof v === "bigint" || typeof v === "number" || isCelUint(v) || isReflectMessage(v, DurationSchema);
}

function extreme(list: CelList, name: "min" | "max"): CelValue {
  let best: CelValue | undefined;
  for (const v of list) {
    if (best === undefined) {
      less(v, v); // rejects types without an ordering
      best = v;
    } else if (name === "min" ? less(v, best) : less(best, v)) {
      best = v;
    }
  }
  if (best === undefined) throw new Error(`${name} called on empty list`);
  return best;
}

function indexOf(list: CelList, elem: CelValue, last: boolean): bigint {
  let found = -1n;
  let i = 0n;
  for (const v of list) {
    if (celEquals(v, elem)) {
      if (!last) return i;
      found = i;
    }
    i++;
  }
  return found;
}

const { BOOL, DYN, INT } = CelScalar;
const LIST = listType(DYN);

export const listsLibrary: CelFunc[] = [
  celMethod("isSorted", LIST, [], BOOL, function () {
    let prev: CelValue | undefined;
    for (const v of this) {
      if (prev === undefined) less(v, v);
      else if (less(v, prev)) return false;
      prev = v;
    }
    return true;
  }),
  celMethod("sum", LIST, [], DYN, function () {
    let acc: CelValue = 0n;
    let first = true;
    for (const v of this) {
      if (!isSummable(v)) throw new Error("no such overload: sum");
      acc = first ? v : run(addProgram, acc, v);
      first = false;
    }
    return acc;
  }),
  celMethod("min", LIST, [], DYN, function () {
    return extreme(this, "min");
  }),
  celMethod("max", LIST, [], DYN, function () {
    return extreme(this, "max");
  }),
  celMethod("indexOf", LIST, [DYN], INT, function (elem) {
    return indexOf(this, elem, false);
  }),
  celMethod("lastIndexOf", LIST, [DYN], INT, function (elem) {
    return indexOf(this, elem, true);
  }),
];

function contains(list: CelList, elem: CelValue): boolean {
  for (const v of list) if (celEquals(v, elem)) return true;
  return false;
}

function containsAll(a: CelList, b: CelList): boolean {
  for (const v of b) if (!contains(a, v)) return false;
  return true;
}

export const setsLibrary: CelFunc[] = [
  celFunc("sets.contains", [LIST, LIST], BOOL, (a, b) => containsAll(a, b)),
  celFunc("sets.equivalent", [LIST, LIST], BOOL, (a, b) => containsAll(a, b) && containsAll(b, a)),
  celFunc("sets.intersects", [LIST, LIST], BOOL, (a, b) => {
    for (const v of b) if (contains(a, v)) return true;
    return false;
  }),
];
