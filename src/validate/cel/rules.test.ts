import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule, isTransitionRule, toCelValue, type CelRule, type CompiledCelRule } from "./index.js";

function compiled(rule: CelRule): CompiledCelRule {
  const c = compileCelRule(rule);
  if ("error" in c) throw new Error(c.error);
  return c;
}

const schema = {
  type: "object",
  properties: {
    a: { type: "object", properties: { b: { type: "integer" }, c: { type: "integer" } } },
    list: { type: "array", items: { type: "object", properties: { k: { type: "string" }, v: { type: "string" } } } },
    n: { type: "integer" },
    m: { type: "object", additionalProperties: { type: "integer" } },
  },
};
const self = toCelValue(
  {
    a: { b: 1 },
    list: [{ k: "a1", v: "b1" }, { k: "a2" }, { k: "a3", v: "z" }],
    n: 9223372036854775807n,
    m: { x: 1 },
  },
  schema,
);

describe("compileCelRule", () => {
  it("reports parse errors", () => {
    const r = compileCelRule({ rule: "self.a +" });
    expect(r).toEqual({ error: expect.stringContaining("compilation failed") });
  });

  it("reports undeclared identifiers and functions", () => {
    expect(compileCelRule({ rule: "foo == 1" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')",
    });
    expect(compileCelRule({ rule: "self.bogus()" })).toEqual({
      error: expect.stringContaining("undeclared reference to 'bogus' (in container '')"),
    });
    expect(compileCelRule({ rule: "authorizer.path('/healthz').check('get').allowed()" })).toEqual({
      error: expect.stringContaining("undeclared reference to 'authorizer'"),
    });
    expect(compileCelRule({ rule: "self.all(x, x > 0) && x > 0" })).toEqual({
      error: expect.stringContaining("undeclared reference to 'x'"),
    });
  });

  it("reports wrong argument counts", () => {
    expect(compileCelRule({ rule: "'abc'.charAt()" })).toEqual({
      error: expect.stringContaining("found no matching overload for 'charAt'"),
    });
    expect(compileCelRule({ rule: "isIP('a', 'b')" })).toEqual({
      error: expect.stringContaining("found no matching overload for 'isIP'"),
    });
  });

  it("validates constant duration and timestamp literals", () => {
    expect(compileCelRule({ rule: "duration('1d') > duration('1h')" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:10: invalid duration argument",
    });
    expect(compileCelRule({ rule: "duration('1')" })).toEqual({ error: expect.stringContaining("invalid duration argument") });
    expect(compileCelRule({ rule: "timestamp('1000-00-00T00:00:00Z') == timestamp(0)" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:11: invalid timestamp",
    });
    expect(compileCelRule({ rule: "timestamp(-62135596801) == timestamp(0)" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:11: invalid timestamp",
    });
  });

  it("explains unsupported syntax", () => {
    expect(compileCelRule({ rule: "self.?a.orValue(1) == 1" })).toEqual({
      error: expect.stringContaining("optional field selection `.?` / `[?` is not supported"),
    });
    expect(compileCelRule({ rule: "{'a': 1}.all(k, v, v > 0)" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:9: two-variable comprehension 'all' (Kubernetes 1.32+) is not supported by this evaluator",
    });
  });

  it("rejects a messageExpression that does not compile", () => {
    expect(compileCelRule({ rule: "true", messageExpression: "nope +" })).toEqual({
      error: expect.stringContaining("messageExpression compilation failed"),
    });
  });

  it("memoizes by rule text", () => {
    const a = compileCelRule({ rule: "self.n > 0", message: "m" });
    const b = compileCelRule({ rule: "self.n > 0", message: "m" });
    expect(a).toBe(b);
    const c = compileCelRule({ rule: "self.n > 0", message: "other" });
    expect(c).not.toBe(a);
    expect("rule" in c && c.rule.message).toBe("other");
  });

  it("accepts comprehension variables, type names and qualified library functions", () => {
    for (const rule of [
      "self.list.all(e, e.k.startsWith('a'))",
      "self.list.map(e, e.k).exists(k, k == 'a1')",
      "type(self.n) == int && type(self) != string",
      "strings.quote('x') == '\"x\"'",
      "sets.contains([1], [1])",
      "[1, 2].exists_one(x, x == 2)",
    ]) {
      expect("error" in compileCelRule({ rule }), rule).toBe(false);
    }
  });
});

describe("evalCelRule", () => {
  it("passes and fails with the API server's default message", () => {
    expect(evalCelRule(compiled({ rule: "has(self.a.b)" }), self)).toEqual({ ok: true });
    expect(evalCelRule(compiled({ rule: " has(self.a.c) " }), self)).toEqual({ ok: false, message: "failed rule: has(self.a.c)" });
  });

  it("uses the trimmed message, fieldPath and reason", () => {
    const r = compiled({ rule: "self.a.b == 2", message: " b must be 2 ", fieldPath: ".a.b", reason: "FieldValueForbidden" });
    expect(evalCelRule(r, self)).toEqual({ ok: false, message: "b must be 2", fieldPath: ".a.b", reason: "FieldValueForbidden" });
  });

  it("prefers a usable messageExpression result", () => {
    const r = compiled({ rule: "self.a.b == 2", message: "static", messageExpression: "'b is ' + string(self.a.b)" });
    expect(evalCelRule(r, self)).toEqual({ ok: false, message: "b is 1" });
    for (const messageExpression of ["''", "'  '", "'two\\nlines'", "self.missing", "1 == 1"]) {
      const f = compiled({ rule: "false", message: "static", messageExpression });
      expect(evalCelRule(f, self), messageExpression).toEqual({ ok: false, message: "static" });
    }
  });

  it("reports an unset field as 'no such key' unless guarded by has()", () => {
    expect(evalCelRule(compiled({ rule: "self.a.c == 1" }), self)).toEqual({
      ok: false,
      evalError: "no such key: c evaluating rule: self.a.c == 1",
    });
    expect(evalCelRule(compiled({ rule: "has(self.x.y)", message: "msg" }), self)).toEqual({
      ok: false,
      evalError: "no such key: x evaluating rule: msg",
    });
    expect(evalCelRule(compiled({ rule: "self.m['nope'] == 1" }), self)).toEqual({
      ok: false,
      evalError: "no such key: nope evaluating rule: self.m['nope'] == 1",
    });
  });

  it("follows CEL error absorption in all/exists and strictness in exists_one/filter", () => {
    expect(evalCelRule(compiled({ rule: "self.list.exists(e, e.v == 'z')" }), self)).toEqual({ ok: true });
    expect(evalCelRule(compiled({ rule: "!self.list.all(e, e.v != 'z')" }), self)).toEqual({ ok: true });
    expect(evalCelRule(compiled({ rule: "self.list.all(e, e.v == 'b1')" }), self)).toEqual({
      ok: false,
      message: "failed rule: self.list.all(e, e.v == 'b1')",
    });
    for (const rule of ["self.list.all(e, e.v != 'q')", "self.list.exists_one(e, e.v == 'z')", "self.list.filter(e, e.v == 'z').size() == 1"]) {
      expect(evalCelRule(compiled({ rule }), self), rule).toEqual({ ok: false, evalError: `no such key: v evaluating rule: ${rule}` });
    }
  });

  it("maps runtime errors to cel-go wording", () => {
    expect(evalCelRule(compiled({ rule: "self.n + 1 == 0" }), self)).toEqual({
      ok: false,
      evalError: "integer overflow evaluating rule: self.n + 1 == 0",
    });
    expect(evalCelRule(compiled({ rule: "1 / 0 == 1" }), self)).toEqual({
      ok: false,
      evalError: "division by zero evaluating rule: 1 / 0 == 1",
    });
    expect(evalCelRule(compiled({ rule: "self.list[10].k == ''" }), self)).toEqual({
      ok: false,
      evalError: "index out of bounds: 10 evaluating rule: self.list[10].k == ''",
    });
    const overload = evalCelRule(compiled({ rule: "self.n > 'a'" }), self);
    expect("evalError" in overload && overload.evalError).toContain(
      "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: self.n > 'a'",
    );
  });

  it("fixes standard functions where @bufbuild/cel differs from cel-go", () => {
    expect(evalCelRule(compiled({ rule: "timestamp(86400) == timestamp('1970-01-02T00:00:00Z')" }), self)).toEqual({ ok: true });
    expect(evalCelRule(compiled({ rule: "duration('1h2m3s4ms').getMilliseconds() == 3723004" }), self)).toEqual({ ok: true });
  });

  it("reports a non-boolean result as an error", () => {
    expect(evalCelRule(compiled({ rule: "self.n" }), self)).toEqual({
      ok: false,
      evalError: "rule did not evaluate to a bool (got bigint) evaluating rule: self.n",
    });
  });

  it("treats int-or-string comparisons across types as unequal", () => {
    const v = toCelValue({ s: "25%" }, { type: "object", properties: { s: { "x-kubernetes-int-or-string": true } } });
    expect(evalCelRule(compiled({ rule: "self.s == '25%' && self.s != 1" }), v)).toEqual({ ok: true });
  });
});

describe("transition rules", () => {
  it("detects oldSelf references", () => {
    expect(isTransitionRule(compiled({ rule: "self == oldSelf" }))).toBe(true);
    expect(isTransitionRule(compiled({ rule: "self.list.all(oldSelf, true)" }))).toBe(false);
    expect(isTransitionRule(compiled({ rule: "self.n > 0" }))).toBe(false);
  });

  it("skips transition rules without an old object", () => {
    const r = compiled({ rule: "self == oldSelf", message: "Value is immutable" });
    expect(evalCelRule(r, "a")).toEqual({ ok: true });
    expect(evalCelRule(r, "a", "a")).toEqual({ ok: true });
    expect(evalCelRule(r, "a", "b")).toEqual({ ok: false, message: "Value is immutable" });
  });

  it("binds oldSelf as an optional with optionalOldSelf", () => {
    const r = compiled({ rule: "!oldSelf.hasValue() || oldSelf.value() == self", optionalOldSelf: true, message: "immutable" });
    expect(evalCelRule(r, "a")).toEqual({ ok: true });
    expect(evalCelRule(r, "a", "a")).toEqual({ ok: true });
    expect(evalCelRule(r, "a", "b")).toEqual({ ok: false, message: "immutable" });
  });
});
