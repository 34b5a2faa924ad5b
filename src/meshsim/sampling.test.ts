import { describe, expect, it } from "vitest";
import { CarrySplitter, createRng, Histogram, ISTIO_BUCKETS_MS, latencySampler, LINKERD_BUCKETS_MS, normalQuantile } from "./sampling.js";

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
function samples(p: Parameters<typeof latencySampler>[0], n = 40_000, seed = 3): number[] {
  const rng = createRng(seed);
  const s = latencySampler(p);
  return Array.from({ length: n }, () => s(rng())).sort((a, b) => a - b);
}

describe("meshsim sampling", () => {
  it("the generator is seedable, uniform and reproducible", () => {
    const a = createRng(42), b = createRng(42), c = createRng(43);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
    expect(xs.filter((x) => x < 0.1).length / xs.length).toBeCloseTo(0.1, 1);
  });
  it("normal quantiles", () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536, 6);
    expect(normalQuantile(0.99)).toBeCloseTo(2.3263479, 6);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263479, 6);
  });
  it("reproduces configured p50/p95/p99", () => {
    const xs = samples({ distribution: "quantiles", p50Ms: 20, p95Ms: 80, p99Ms: 300 });
    expect(quantile(xs, 0.5) / 20).toBeCloseTo(1, 1);
    expect(quantile(xs, 0.95) / 80).toBeCloseTo(1, 1);
    expect(quantile(xs, 0.99) / 300).toBeGreaterThan(0.85);
    expect(quantile(xs, 0.99) / 300).toBeLessThan(1.15);
    expect(xs[0]).toBeGreaterThan(0);
  });
  it("lognormal from p50 and p99", () => {
    const xs = samples({ distribution: "lognormal", p50Ms: 10, p99Ms: 100 });
    expect(quantile(xs, 0.5) / 10).toBeCloseTo(1, 1);
    expect(quantile(xs, 0.99) / 100).toBeGreaterThan(0.85);
    expect(quantile(xs, 0.99) / 100).toBeLessThan(1.15);
    // log-normal: p95 sits at z=1.645 on the same line
    const sigma = Math.log(10) / 2.3263479;
    expect(quantile(xs, 0.95) / (10 * Math.exp(1.6448536 * sigma))).toBeCloseTo(1, 1);
  });
  it("histogram buckets: cumulative counts, +Inf, sum and count", () => {
    const h = new Histogram(ISTIO_BUCKETS_MS);
    h.observe(0.3);
    h.observe(7, 2);
    h.observe(5);
    h.observe(4_000_000);
    const cum = h.cumulative();
    expect(cum).toHaveLength(ISTIO_BUCKETS_MS.length + 1);
    expect(cum[0]).toBe(1); // le=0.5
    expect(cum[2]).toBe(2); // le=5 (inclusive upper bound)
    expect(cum[3]).toBe(4); // le=10
    expect(cum[ISTIO_BUCKETS_MS.length - 1]).toBe(4); // le=3600000
    expect(cum[ISTIO_BUCKETS_MS.length]).toBe(5); // +Inf
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(0.3 + 14 + 5 + 4_000_000, 6);
    expect(LINKERD_BUCKETS_MS[0]).toBe(1);
    expect(LINKERD_BUCKETS_MS.at(-1)).toBe(50000);
  });
  it("sampled latencies land in the buckets the quantiles predict", () => {
    const h = new Histogram(LINKERD_BUCKETS_MS);
    for (const x of samples({ distribution: "quantiles", p50Ms: 15, p95Ms: 45, p99Ms: 90 }, 20_000)) h.observe(x);
    const cum = h.cumulative();
    const le = (b: number): number => cum[LINKERD_BUCKETS_MS.indexOf(b)]! / h.count;
    expect(le(10)).toBeLessThan(0.5);
    expect(le(20)).toBeGreaterThan(0.5);
    expect(le(40)).toBeLessThan(0.95);
    expect(le(50)).toBeGreaterThan(0.95);
    expect(le(100)).toBeGreaterThan(0.99);
  });
  it("splits integer request counts by weight without drift", () => {
    const s = new CarrySplitter();
    let v1 = 0, v2 = 0;
    for (let i = 0; i < 1000; i++) {
      const out = s.split(2.5, { v1: 0.9, v2: 0.1 });
      v1 += out.v1!;
      v2 += out.v2!;
    }
    expect(Math.abs(v1 - 2250)).toBeLessThanOrEqual(1);
    expect(Math.abs(v2 - 250)).toBeLessThanOrEqual(1);
  });
});
