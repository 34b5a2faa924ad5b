import { describe, it, expect } from "vitest";
import { isCelList, isCelMap, type CelMap } from "@bufbuild/cel";
import { compileCelRule, escapePropertyName, evalCelRule, toCelValue, type CelSchema } from "./index.js";
import { parseFormatDuration } from "./convert.js";

function check(rule: string, data: unknown, schema: CelSchema) {
  const c = compileCelRule({ rule });
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, toCelValue(data, schema));
}

const obj = (properties: Record<string, CelSchema>): CelSchema => ({ type: "object", properties });

describe("toCelValue", () => {
  it("maps scalar schema types to CEL types", () => {
    expect(toCelValue(3, { type: "integer" })).toBe(3n);
    expect(toCelValue(3, { type: "number" })).toBe(3);
    expect(toCelValue(2.5, { type: "number" })).toBe(2.5);
    expect(toCelValue("x", { type: "string" })).toBe("x");
    expect(toCelValue(true, { type: "boolean" })).toBe(true);
    expect(toCelValue(5, { "x-kubernetes-int-or-string": true })).toBe(5n);
    expect(toCelValue("25%", { "x-kubernetes-int-or-string": true })).toBe("25%");
    expect(toCelValue(null, { type: "string" })).toBe(null);
  });

  it("builds lists and maps", () => {
    const list = toCelValue([1, 2], { type: "array", items: { type: "integer" } });
    expect(isCelList(list)).toBe(true);
    const map = toCelValue({ a: 1 }, { type: "object", additionalProperties: { type: "integer" } }) as CelMap;
    expect(isCelMap(map)).toBe(true);
    expect(map.get("a")).toBe(1n);
  });

  it("types match Kubernetes (int, double, string, bytes, duration, timestamp)", () => {
    const schema = obj({
      i: { type: "integer" },
      n: { type: "number" },
      s: { type: "string" },
      b: { type: "string", format: "byte" },
      d: { type: "string", format: "duration" },
      date: { type: "string", format: "date" },
      dt: { type: "string", format: "date-time" },
      ios: { "x-kubernetes-int-or-string": true },
    });
    const data = { i: 1, n: 1, s: "x", b: "QUI=", d: "1h2m3s4ms", date: "1997-07-16", dt: "2011-08-18T19:03:37.010000000+01:00", ios: "50%" };
    for (const rule of [
      "type(self.i) == int",
      "type(self.n) == double && self.n == 1.0",
      "type(self.s) == string",
      "type(self.b) == bytes && self.b == b'AB'",
      "type(self.d) == google.protobuf.Duration && self.d == duration('1h2m3s4ms') && self.d.getMilliseconds() == 3723004",
      "type(self.date) == google.protobuf.Timestamp && self.date == timestamp('1997-07-16T00:00:00.000Z')",
      "self.dt == timestamp('2011-08-18T19:03:37.010+01:00') && self.dt.getHours('UTC') == 18",
      "type(self.ios) == string && self.ios != 50",
      "duration(self.d) == self.d",
    ]) {
      expect(check(rule, data, schema), rule).toEqual({ ok: true });
    }
  });

  it("keeps unparsable formatted strings as strings", () => {
    expect(toCelValue("soon", { type: "string", format: "duration" })).toBe("soon");
    expect(toCelValue("2020-13-01", { type: "string", format: "date" })).toBe("2020-13-01");
  });

  it("parses OpenAPI duration strings like strfmt", () => {
    expect(parseFormatDuration("1h30m")).toBe(5400n * 1_000_000_000n);
    expect(parseFormatDuration("1.5s")).toBe(1_500_000_000n);
    expect(parseFormatDuration("2d")).toBe(2n * 86400n * 1_000_000_000n);
    expect(parseFormatDuration("3 weeks")).toBe(3n * 7n * 86400n * 1_000_000_000n);
    expect(parseFormatDuration("soon")).toBeUndefined();
  });

  it("treats null object fields as absent but keeps null map values", () => {
    const schema = obj({ a: { type: "string" }, m: { type: "object", additionalProperties: { type: "string" } } });
    const data = { a: null, m: { k: null, j: "v" } };
    expect(check("!has(self.a)", data, schema)).toEqual({ ok: true });
    expect(check("self.m.size() == 2 && type(self.m['k']) == null_type", data, schema)).toEqual({ ok: true });
  });

  it("escapes property names like Kubernetes", () => {
    expect(escapePropertyName("namespace")).toBe("__namespace__");
    expect(escapePropertyName("if")).toBe("__if__");
    expect(escapePropertyName("dot.dot")).toBe("dot__dot__dot");
    expect(escapePropertyName("dash-dash")).toBe("dash__dash__dash");
    expect(escapePropertyName("slash/slash")).toBe("slash__slash__slash");
    expect(escapePropertyName("a__b")).toBe("a__underscores__b");
    expect(escapePropertyName("_true")).toBe("_true");
    expect(escapePropertyName("int")).toBe("int");
    expect(escapePropertyName("a@b")).toBeUndefined();
    expect(escapePropertyName("9lives")).toBeUndefined();
    const schema = obj({ namespace: { type: "string" }, "x-y": { type: "integer" }, self: { type: "integer" } });
    expect(check("self.__namespace__ == 'ns' && self.x__dash__y == 1 && self.self == 2", { namespace: "ns", "x-y": 1, self: 2 }, schema)).toEqual({
      ok: true,
    });
  });

  it("applies schema defaults to absent or null properties, recursively", () => {
    const schema = obj({
      group: { type: "string", default: "gateway.networking.k8s.io" },
      port: { type: "integer" },
      opts: { type: "object", default: {}, properties: { mode: { type: "string", default: "Terminate" } } },
    });
    expect(check("self.group == 'gateway.networking.k8s.io' && self.opts.mode == 'Terminate' && !has(self.port)", {}, schema)).toEqual({ ok: true });
    expect(check("self.group == 'example.com'", { group: "example.com" }, schema)).toEqual({ ok: true });
    expect(check("self.group == 'gateway.networking.k8s.io'", { group: null }, schema)).toEqual({ ok: true });
  });

  it("does not escape map keys", () => {
    const schema = obj({ m: { type: "object", additionalProperties: { type: "integer" } } });
    expect(check("self.m['@'] == 1 && self.m['./-'] == 2 && self.m['int'] == 3", { m: { "@": 1, "./-": 2, int: 3 } }, schema)).toEqual({
      ok: true,
    });
  });

  it("exposes apiVersion, kind and metadata.name of embedded resources", () => {
    const schema = obj({ embedded: { type: "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true } });
    const data = { embedded: { apiVersion: "v1", kind: "Pod", metadata: { name: "foo", namespace: "xyz" } } };
    expect(check("self.embedded.kind == 'Pod' && self.embedded.metadata.name == 'foo'", data, schema)).toEqual({ ok: true });
  });

  it("converts schemaless data generically", () => {
    expect(check("self.a == 1 && type(self.a) == int && self.b == 1.5 && self.c[0] == 'x'", { a: 1, b: 1.5, c: ["x"] }, {})).toEqual({
      ok: true,
    });
  });
});
