import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule } from "./index.js";
import { findAll, re2ToJs } from "./regex-lib.js";

function outcome(rule: string, self: unknown = null) {
  const c = compileCelRule({ rule });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, self);
}

const str = "this is a 123 string 456";

describe("regex library", () => {
  it("find returns the first match or the empty string", () => {
    expect(outcome("self.find('[0-9]+') == '123'", str)).toEqual({ ok: true });
    expect(outcome("self.find('xyz') == ''", str)).toEqual({ ok: true });
    expect(outcome("self.find('[0-9]+') == '456'", str)).toEqual({ ok: false, message: "failed rule: self.find('[0-9]+') == '456'" });
  });

  it("findAll honours the limit", () => {
    for (const rule of [
      "self.findAll('[0-9]+') == ['123', '456']",
      "self.findAll('[0-9]+', 0) == []",
      "self.findAll('[0-9]+', 1) == ['123']",
      "self.findAll('[0-9]+', 3) == ['123', '456']",
      "self.findAll('[0-9]+', -1) == ['123', '456']",
      "self.findAll('xyz') == []",
    ]) {
      expect(outcome(rule, str), rule).toEqual({ ok: true });
    }
  });

  it("skips empty matches adjacent to the previous match like Go", () => {
    expect(findAll("baaac", "a*", -1)).toEqual(["", "aaa", ""]);
    expect(findAll("abc", "", -1)).toEqual(["", "", "", ""]);
  });

  it("supports RE2 syntax that JavaScript spells differently", () => {
    expect(findAll("Foo.BAR", "(?i)bar", -1)).toEqual(["BAR"]);
    expect(findAll("Foo.BAR", "^(?i)foo", -1)).toEqual(["Foo"]);
    expect(findAll("a1 b2", "[[:alpha:]][[:digit:]]", -1)).toEqual(["a1", "b2"]);
    expect(findAll("x{y}", "x{y}", -1)).toEqual(["x{y}"]);
    expect(findAll("a.b", "\\Q.\\E", -1)).toEqual(["."]);
    expect(findAll("ab12", "\\pL+", -1)).toEqual(["ab"]);
    expect(findAll("a\u2028b", "a.b", -1)).toEqual(["a\u2028b"]);
    expect(re2ToJs("(?P<n>x)").source).toBe("(?<n>x)");
  });

  it("rejects invalid constant patterns at compile time", () => {
    expect(compileCelRule({ rule: "'x'.find(')') == ''" })).toEqual({
      error: expect.stringContaining("error parsing regexp"),
    });
    expect(compileCelRule({ rule: "'x'.matches(')')" })).toEqual({
      error: "compilation failed: ERROR: <input>:1:13: invalid matches argument",
    });
  });

  it("reports invalid dynamic patterns at evaluation time", () => {
    const o = outcome("'abc'.findAll(self) == []", "(");
    expect(o.ok).toBe(false);
    expect("evalError" in o && o.evalError).toContain("error parsing regexp");
    const m = outcome("'abc'.matches(self)", "x**");
    expect("evalError" in m && m.evalError).toContain("evaluating rule: 'abc'.matches(self)");
  });

  it("matches is an unanchored RE2 search", () => {
    expect(outcome("'abc'.matches('b') && !'abc'.matches('^b')")).toEqual({ ok: true });
    expect(outcome("'Service.method'.matches('^(?i)\\\\.?[a-z_][a-z_0-9]*(\\\\.[a-z_][a-z_0-9]*)*$')")).toEqual({ ok: true });
  });
});
