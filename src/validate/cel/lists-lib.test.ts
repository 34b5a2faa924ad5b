import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule, toCelValue } from "./index.js";

function outcome(rule: string, self: unknown = null) {
  const c = compileCelRule({ rule });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, self);
}

const lists = toCelValue(
  {
    ints: [1, 2, 2, 3],
    unsortedInts: [2, 1],
    emptyInts: [],
    doubles: [1, 2, 2, 3],
    durations: ["1s", "1m", "1m", "1h"],
    strings: ["a", "b", "b", "c"],
    dates: ["2000-01-01", "2000-02-01", "2000-02-01", "2010-01-01"],
    objs: [
      { f1: "a", f2: "a" },
      { f1: "a", f2: "b" },
      { f1: "a", f2: "b" },
    ],
  },
  {
    type: "object",
    properties: {
      ints: { type: "array", items: { type: "integer" } },
      unsortedInts: { type: "array", items: { type: "integer" } },
      emptyInts: { type: "array", items: { type: "integer" } },
      doubles: { type: "array", items: { type: "number" } },
      durations: { type: "array", items: { type: "string", format: "duration" } },
      strings: { type: "array", items: { type: "string" } },
      dates: { type: "array", items: { type: "string", format: "date" } },
      objs: {
        type: "array",
        items: { type: "object", properties: { f1: { type: "string" }, f2: { type: "string" } } },
      },
    },
  },
);

function expectTrue(rule: string): void {
  expect(outcome(rule, lists), rule).toEqual({ ok: true });
}

function expectError(rule: string, contains: string): void {
  const o = outcome(rule, lists);
  expect("evalError" in o ? o.evalError : JSON.stringify(o), rule).toContain(contains);
}

describe("Kubernetes list library", () => {
  it("sum", () => {
    expectTrue("[1,2,3].sum() == 6");
    expectTrue("self.ints.sum() == 8");
    expectTrue("self.emptyInts.sum() == 0");
    expectTrue("[].sum() == 0");
    expectTrue("self.doubles.sum() == 8.0");
    expectTrue("self.durations.sum() == duration('1h2m1s')");
    expectTrue("[uint(1), uint(2)].sum() == uint(3)");
    expectError("[9223372036854775807, 1].sum() == 0", "integer overflow");
    expectError("['a', 'b'].sum() == 'ab'", "no such overload");
  });

  it("min and max", () => {
    expectTrue("self.ints.min() == 1 && self.ints.max() == 3");
    expectTrue("self.strings.min() == 'a' && self.strings.max() == 'c'");
    expectTrue("self.durations.max() == duration('1h')");
    expectTrue("self.dates.min() == timestamp('2000-01-01T00:00:00.000Z')");
    expectTrue("([0] + self.emptyInts).min() == 0");
    expectError("self.emptyInts.min() == 1", "min called on empty list");
    expectError("self.emptyInts.max() == 1", "max called on empty list");
    expectError("[[1], [2]].min() == [1]", "no such overload");
  });

  it("isSorted", () => {
    expectTrue("self.ints.isSorted()");
    expectTrue("self.emptyInts.isSorted()");
    expectTrue("self.unsortedInts.isSorted() == false");
    expectTrue("self.dates.isSorted() && ['b', 'a'].isSorted() == false");
  });

  it("indexOf and lastIndexOf use CEL equality", () => {
    expectTrue("self.ints.indexOf(2) == 1 && self.ints.lastIndexOf(2) == 2");
    expectTrue("self.ints.indexOf(10) == -1 && self.ints.lastIndexOf(10) == -1");
    expectTrue("self.doubles.indexOf(2) == 1");
    expectTrue("[[1], [2]].indexOf([1]) == 0");
    expectTrue("[{'a': 1}, {'b': 2}].lastIndexOf({'b': 2}) == 1");
    expectTrue("self.objs.indexOf(self.objs[1]) == 1 && self.objs.lastIndexOf(self.objs[1]) == 2");
    expectTrue("self.durations.indexOf(duration('1m')) == 1");
  });
});

describe("sets extension", () => {
  it("contains, equivalent and intersects", () => {
    expectTrue("sets.contains(['a', 'b'], []) && sets.contains(['a', 'b'], ['b'])");
    expectTrue("!sets.contains(['a', 'b'], ['c'])");
    expectTrue("sets.equivalent(['c', 'b', 'a'], ['b', 'c', 'a']) && !sets.equivalent(['a', 'b'], ['b', 'c'])");
    expectTrue("sets.intersects(['a', 'b'], ['b', 'c']) && !sets.intersects([], []) && !sets.intersects(['a'], ['c'])");
    expectTrue("sets.contains([1, 2], [2.0]) && sets.contains([[1, 2], [3, 4]], [[3, 4]])");
  });
});
