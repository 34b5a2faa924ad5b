import { describe, expect, it } from "vitest";
import { detectAnomalies, detectInSeries, mad, mannWhitneyGreater, median, normalUpperTail, type MetricSeries } from "./anomaly.js";

/** Deterministic noise in [-1, 1] (a linear congruential generator), so tests never flake. */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  };
}

const T0 = 1_800_000_000;
const subject = { level: "service" as const, id: "reviews.bookinfo", service: "reviews.bookinfo" };

/** A series every 15 s: `f(i)` per point, with a constant request rate. */
function series(metric: MetricSeries["metric"], n: number, f: (i: number) => number, rps: number | ((i: number) => number) = 10): MetricSeries {
  const r = typeof rps === "number" ? () => rps : rps;
  return {
    subject,
    metric,
    points: Array.from({ length: n }, (_, i) => [T0 + 15 * i, f(i)] as [number, number]),
    volume: Array.from({ length: n }, (_, i) => [T0 + 15 * i, r(i)] as [number, number]),
  };
}

describe("robust statistics", () => {
  it("median and MAD ignore NaN and outliers", () => {
    expect(median([3, 1, NaN, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  it("the normal tail matches known values", () => {
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 6);
    expect(normalUpperTail(1.6449)).toBeCloseTo(0.05, 3);
    expect(normalUpperTail(2.3263)).toBeCloseTo(0.01, 3);
    expect(normalUpperTail(-1.6449)).toBeCloseTo(0.95, 3);
  });

  it("Mann–Whitney: a clearly larger sample has a small p, an identical one does not", () => {
    const base = Array.from({ length: 20 }, (_, i) => 30 + (i % 5));
    expect(mannWhitneyGreater([400, 410, 420], base).p).toBeLessThan(0.01);
    expect(mannWhitneyGreater([31, 32, 33], base).p).toBeGreaterThan(0.3);
    // all ties: no evidence either way
    expect(mannWhitneyGreater([5, 5, 5], [5, 5, 5, 5]).p).toBe(1);
    // U counts how often current beats baseline
    expect(mannWhitneyGreater([10], [1, 2, 3]).u).toBe(3);
  });
});

describe("detectInSeries", () => {
  it("finds a p95 latency jump with its start, baseline, current value, ratio and confidence", () => {
    const rnd = noise(1);
    const s = series("p95_latency_ms", 60, (i) => (i < 40 ? 38 + 2 * rnd() : 412 + 20 * rnd()));
    const [a, ...rest] = detectInSeries(s);
    expect(rest).toEqual([]);
    expect(a!.start).toBe(T0 + 15 * 40);
    expect(a!.end).toBeUndefined();
    expect(a!.baseline).toBeGreaterThan(36);
    expect(a!.baseline).toBeLessThan(40);
    expect(a!.current).toBeGreaterThan(395);
    expect(a!.current).toBeLessThan(430);
    expect(a!.magnitude).toBeCloseTo(a!.current / a!.baseline, 6);
    expect(a!.magnitude).toBeGreaterThan(10);
    expect(a!.confidence).toBeGreaterThan(0.99);
    expect(a!.confidence).toBeLessThanOrEqual(1);
  });

  it("does not alarm on noise, however long", () => {
    const rnd = noise(7);
    expect(detectInSeries(series("p95_latency_ms", 500, () => 100 + 15 * rnd()))).toEqual([]);
    const rnd2 = noise(9);
    expect(detectInSeries(series("error_ratio", 500, () => 0.01 + 0.005 * rnd2()))).toEqual([]);
  });

  it("ignores a single spike (the current window needs several points)", () => {
    expect(detectInSeries(series("p95_latency_ms", 40, (i) => (i === 25 ? 900 : 40)))).toEqual([]);
  });

  it("does not alarm on a statistically significant but small change (latency ×1.2)", () => {
    expect(detectInSeries(series("p95_latency_ms", 60, (i) => (i < 40 ? 100 : 120)))).toEqual([]);
  });

  it("finds an error-ratio rise from zero with a finite magnitude", () => {
    const [a] = detectInSeries(series("error_ratio", 50, (i) => (i < 30 ? 0 : 0.2)));
    expect(a!.start).toBe(T0 + 15 * 30);
    expect(a!.baseline).toBe(0);
    expect(a!.current).toBeCloseTo(0.2, 6);
    expect(Number.isFinite(a!.magnitude)).toBe(true);
    expect(a!.magnitude).toBeCloseTo(200, 6);
  });

  it("suppresses quiet services: the same rise with 0.05 rps is no anomaly", () => {
    expect(detectInSeries(series("error_ratio", 50, (i) => (i < 30 ? 0 : 0.5), 0.05))).toEqual([]);
    expect(detectInSeries(series("p95_latency_ms", 50, (i) => (i < 30 ? 40 : 400), 0.05))).toEqual([]);
    // the threshold is an option
    expect(detectInSeries(series("p95_latency_ms", 50, (i) => (i < 30 ? 40 : 400), 0.05), { minRps: 0.01 })).toHaveLength(1);
  });

  it("needs enough baseline: a jump right at the start of the data is not judged", () => {
    expect(detectInSeries(series("p95_latency_ms", 20, (i) => (i < 3 ? 40 : 400)))).toEqual([]);
  });

  it("records recovery as the anomaly's end and finds a later, separate anomaly against the clean baseline", () => {
    const s = series("p95_latency_ms", 100, (i) => (i >= 30 && i < 50 ? 400 : i >= 80 ? 300 : 40));
    const found = detectInSeries(s);
    expect(found.map((a) => [(a.start - T0) / 15, a.end === undefined ? undefined : (a.end - T0) / 15])).toEqual([
      [30, 50],
      [80, undefined],
    ]);
    // the second baseline excludes the first anomaly's points
    expect(found[1]!.baseline).toBe(40);
  });

  it("dates the start at the first anomalous point when the rate window smears the onset", () => {
    // a 1-minute rate window at a 15 s step: the first point after the change is only partly affected
    const s = series("p95_latency_ms", 50, (i) => (i < 30 ? 40 : i === 30 ? 45 : 400));
    expect((detectInSeries(s)[0]!.start - T0) / 15).toBe(31);
  });

  it("skips missing data (NaN) instead of treating it as zero", () => {
    const s = series("p95_latency_ms", 60, (i) => (i % 7 === 0 ? NaN : 40));
    expect(detectInSeries(s)).toEqual([]);
  });
});

describe("detectAnomalies", () => {
  it("orders anomalies of many series by start, then subject", () => {
    const a = { ...series("p95_latency_ms", 50, (i) => (i < 35 ? 40 : 400)), subject: { level: "version" as const, id: "reviews.bookinfo@v3", service: "reviews.bookinfo", version: "v3" } };
    const b = { ...series("error_ratio", 50, (i) => (i < 20 ? 0 : 0.3)), subject: { level: "service" as const, id: "ratings.bookinfo", service: "ratings.bookinfo" } };
    expect(detectAnomalies([a, b]).map((x) => x.subject.id)).toEqual(["ratings.bookinfo", "reviews.bookinfo@v3"]);
  });
});
