import { describe, expect, it } from "vitest";
import { histogramQuantile, parseLe } from "./quantile.js";

describe("histogramQuantile (Prometheus' bucketQuantile)", () => {
  const b: [number, number][] = [
    [10, 20],
    [50, 60],
    [100, 90],
    [Infinity, 100],
  ];

  it("interpolates linearly inside the bucket holding the rank, the first bucket starting at 0", () => {
    expect(histogramQuantile(0.1, b)).toBe(5);
    expect(histogramQuantile(0.5, b)).toBe(10 + 40 * (30 / 40));
    expect(histogramQuantile(0.9, b)).toBe(100);
  });

  it("answers the highest finite bound for a rank in the +Inf bucket", () => {
    expect(histogramQuantile(0.95, b)).toBe(100);
  });

  it("is NaN without observations or without a +Inf bucket, ±Inf outside 0..1", () => {
    expect(histogramQuantile(0.5, [[10, 0], [Infinity, 0]])).toBeNaN();
    expect(histogramQuantile(0.5, [[10, 5], [20, 10]])).toBeNaN();
    expect(histogramQuantile(0.5, [[Infinity, 10]])).toBeNaN();
    expect(histogramQuantile(-1, b)).toBe(-Infinity);
    expect(histogramQuantile(2, b)).toBe(Infinity);
  });

  it("accepts buckets in any order and repairs non-monotonic counts", () => {
    const shuffled: [number, number][] = [b[2]!, b[0]!, b[3]!, b[1]!];
    expect(histogramQuantile(0.5, shuffled)).toBe(histogramQuantile(0.5, b));
    // 50 → 19 is read as 20: the rank 20 falls at the top of the first bucket
    expect(histogramQuantile(0.5, [[10, 20], [50, 19], [Infinity, 40]])).toBe(10);
    expect(histogramQuantile(0.75, [[10, 20], [50, 19], [Infinity, 40]])).toBe(50);
  });

  it("parses le labels", () => {
    expect(parseLe("+Inf")).toBe(Infinity);
    expect(parseLe("0.005")).toBe(0.005);
    expect(parseLe("1e+03")).toBe(1000);
    expect(parseLe(undefined)).toBeNaN();
  });
});
