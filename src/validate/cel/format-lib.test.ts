import { describe, it, expect } from "vitest";
import { compileCelRule, evalCelRule } from "./index.js";
import { isDNS1123Label, isQualifiedName, isValidLabelValue } from "./format-lib.js";

function outcome(rule: string, self: unknown = null, messageExpression?: string) {
  const c = compileCelRule(messageExpression === undefined ? { rule } : { rule, messageExpression });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, self);
}

describe("format library", () => {
  it("validate returns none for valid values and error lists otherwise", () => {
    for (const rule of [
      "!format.dns1123Label().validate('my-label-name').hasValue()",
      "format.dns1123Label().validate('My_Label').hasValue()",
      "!format.dns1123Subdomain().validate('apiextensions.k8s.io').hasValue()",
      "!format.dns1035Label().validate('my-label-name').hasValue() && format.dns1035Label().validate('1abc').hasValue()",
      "!format.qualifiedName().validate('apiextensions.k8s.io/v1beta1').hasValue()",
      "!format.dns1123LabelPrefix().validate('my-label-prefix-').hasValue()",
      "!format.labelValue().validate('').hasValue() && format.labelValue().validate('-x').hasValue()",
      "!format.uri().validate('http://example.com').hasValue() && format.uri().validate('x').hasValue()",
      "!format.uuid().validate('123e4567-e89b-12d3-a456-426614174000').hasValue() && format.uuid().validate('nope').hasValue()",
      "!format.byte().validate('aGVsbG8=').hasValue() && format.byte().validate('a').hasValue()",
      "!format.date().validate('2021-01-01').hasValue() && format.date().validate('2021-02-30').hasValue()",
      "!format.datetime().validate('2021-01-01T00:00:00Z').hasValue() && format.datetime().validate('2021-01-01').hasValue()",
      "format.named('dns1123Label').hasValue() && !format.named('nope').hasValue()",
      "format.named('dns1123Label').value().validate('a.b').value() == ['must not contain dots']",
    ]) {
      expect(outcome(rule), rule).toEqual({ ok: true });
    }
  });

  it("is usable from messageExpression", () => {
    expect(outcome("!format.dns1123Label().validate(self).hasValue()", "Bad_Name", "format.dns1123Label().validate(self).value().join(', ')")).toEqual({
      ok: false,
      message:
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    });
  });

  it("words errors like apimachinery", () => {
    expect(isDNS1123Label("a".repeat(64))).toEqual(["must be no more than 63 characters"]);
    expect(isQualifiedName("/name")).toEqual(["prefix part must be non-empty"]);
    expect(isQualifiedName("a/b/c")[0]).toMatch(/^a qualified name must consist of alphanumeric characters/);
    expect(isValidLabelValue("ok_value")).toEqual([]);
  });
});
