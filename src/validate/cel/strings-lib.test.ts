import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule } from "./index.js";
import { goReplace, goSplitN, quoteString } from "./strings-lib.js";

function outcome(rule: string, self: unknown = null) {
  const c = compileCelRule({ rule });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, self);
}

function expectTrue(rule: string): void {
  expect(outcome(rule), rule).toEqual({ ok: true });
}

function expectError(rule: string, contains: string): void {
  const o = outcome(rule);
  expect(o.ok, rule).toBe(false);
  expect("evalError" in o ? o.evalError : "", rule).toContain(contains);
}

describe("strings extension", () => {
  it("charAt counts code points and allows the end index", () => {
    expectTrue("'abc'.charAt(1) == 'b'");
    expectTrue("'abc'.charAt(3) == ''");
    expectTrue("'Rook takes 👑 x'.charAt(11) == '👑'");
    expectTrue("'Rook takes 👑 x'.charAt(12) == ' '");
    expectError("'abc'.charAt(5) == ''", "index out of range: 5");
    expectError("'abc'.charAt(-1) == ''", "index out of range: -1");
  });

  it("indexOf and lastIndexOf", () => {
    expectTrue("'Rook takes 👑'.indexOf('o') == 1");
    expectTrue("'Rook takes 👑'.indexOf('o', 2) == 2");
    expectTrue("'👑a👑a'.indexOf('a') == 1 && '👑a👑a'.lastIndexOf('a') == 3");
    expectTrue("'hello'.indexOf('') == 0 && 'hello'.lastIndexOf('') == 5");
    expectTrue("'hello'.indexOf('z') == -1 && 'hello'.lastIndexOf('z') == -1");
    expectTrue("'hello hello'.lastIndexOf('hello', 5) == 0 && 'hello hello'.lastIndexOf('hello', 6) == 6");
    expectError("'hello'.indexOf('l', 10) == 0", "index out of range: 10");
    expectError("'hello'.lastIndexOf('l', -1) == 0", "index out of range: -1");
  });

  it("lowerAscii and upperAscii only change ASCII letters", () => {
    expectTrue("'Rook TAKES Ä'.lowerAscii() == 'rook takes Ä'");
    expectTrue("'rook takes ä'.upperAscii() == 'ROOK TAKES ä'");
  });

  it("replace with and without a limit", () => {
    expectTrue("'Rook takes 👑'.replace(' ', 'x') == 'Rookxtakesx👑'");
    expectTrue("'Rook takes 👑'.replace(' ', 'x', 1) == 'Rookxtakes 👑'");
    expectTrue("'aaa'.replace('a', 'b', 0) == 'aaa'");
    expectTrue("'ab'.replace('', '-') == '-a-b-'");
    expect(goReplace("ab", "", "-", 2)).toBe("-a-b");
    expect(goReplace("aaaa", "a", "b", -1)).toBe("bbbb");
  });

  it("split keeps the remainder in the last element like Go's SplitN", () => {
    expectTrue("'Rook takes 👑'.split(' ') == ['Rook', 'takes', '👑']");
    expectTrue("'Rook takes 👑'.split(' ', 2) == ['Rook', 'takes 👑']");
    expectTrue("'a,b,c'.split(',', 0) == []");
    expectTrue("'a,b,c'.split(',', -1) == ['a', 'b', 'c']");
    expectTrue("'abc'.split('') == ['a', 'b', 'c']");
    expect(goSplitN("a👑c", "", 2)).toEqual(["a", "👑c"]);
    expect(goSplitN("", ",", -1)).toEqual([""]);
  });

  it("substring validates its range", () => {
    expectTrue("'Rook takes 👑'.substring(5) == 'takes 👑'");
    expectTrue("'Rook takes 👑'.substring(0, 4) == 'Rook'");
    expectTrue("'Rook takes 👑'.substring(11, 12) == '👑'");
    expectError("'abc'.substring(4) == ''", "index out of range: 4");
    expectError("'abc'.substring(2, 1) == ''", "invalid substring range. start: 2, end: 1");
    expectError("'abc'.substring(0, 9) == ''", "index out of range: 9");
  });

  it("trim removes Unicode white space at both ends", () => {
    expectTrue("'  \\t takes \\n'.trim() == 'takes'");
    expectTrue("'\\u00a0x\\u3000'.trim() == 'x'");
    expectTrue("'x y'.trim() == 'x y'");
  });

  it("join concatenates string lists and rejects other elements", () => {
    expectTrue("['a', 'b', 'c'].join('-') == 'a-b-c'");
    expectTrue("['a', 'b', 'c'].join() == 'abc'");
    expectTrue("[].join(',') == ''");
    expectError("[1, 2].join(',') == ''", "non-string");
  });

  it("strings.quote escapes like cel-go", () => {
    expectTrue(`strings.quote('a"b') == '"a\\\\"b"'`);
    expect(quoteString('a\n"\\\x07')).toBe('"a\\n\\"\\\\\\a"');
    expect(quoteString("\uD800x")).toBe('"\uFFFDx"');
  });

  it("format is available", () => {
    expectTrue("'%s-%d'.format(['a', 2]) == 'a-2'");
  });
});
