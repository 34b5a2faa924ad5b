import { describe, it, expect } from "vitest";
import { isQuantity, parseQuantity, quantityAsInt64, quantityToFloat } from "./quantity.js";

const N = 1_000_000_000n;

describe("parseQuantity (resource.ParseQuantity)", () => {
  it("understands decimal, binary and exponent suffixes", () => {
    expect(parseQuantity("1")).toBe(N);
    expect(parseQuantity("1k")).toBe(1000n * N);
    expect(parseQuantity("1Ki")).toBe(1024n * N);
    expect(parseQuantity("1.5Gi")).toBe(1610612736n * N);
    expect(parseQuantity("100m")).toBe(100_000_000n);
    expect(parseQuantity("1e3")).toBe(1000n * N);
    expect(parseQuantity("1E-3")).toBe(1_000_000n);
    expect(parseQuantity("-2.5")).toBe(-2_500_000_000n);
    expect(parseQuantity("+007")).toBe(7n * N);
    expect(parseQuantity("0.2G")).toBe(parseQuantity("200M"));
  });

  it("rounds sub-nano precision up, away from zero", () => {
    expect(parseQuantity("1n")).toBe(1n);
    expect(parseQuantity("0.1n")).toBe(1n);
    expect(parseQuantity("-0.1n")).toBe(-1n);
    expect(parseQuantity("1.0000000001")).toBe(N + 1n);
  });

  it("rejects malformed quantities with Kubernetes' errors", () => {
    expect(() => parseQuantity("")).toThrow("quantities must match the regular expression");
    expect(() => parseQuantity("1.2.3")).toThrow("quantities must match the regular expression");
    expect(() => parseQuantity("1Mk")).toThrow("unable to parse quantity's suffix");
    expect(() => parseQuantity("1e")).toThrow("unable to parse quantity's suffix");
    expect(isQuantity("abc")).toBe(false);
    expect(isQuantity("12Mi")).toBe(true);
  });

  it("converts to integers and floats", () => {
    expect(quantityAsInt64(parseQuantity("2k"))).toBe(2000n);
    expect(quantityAsInt64(parseQuantity("1500m"))).toBeUndefined();
    expect(quantityAsInt64(parseQuantity("10E"))).toBeUndefined();
    expect(quantityToFloat(parseQuantity("250m"))).toBe(0.25);
  });
});
