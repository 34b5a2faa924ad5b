/** meshsim (telemetry emulator): a seedable random generator, latency sampling and histogram buckets. */
import type { LatencyConfig } from "./config.js";

/** Istio's default buckets of istio_request_duration_milliseconds (ms). */
export const ISTIO_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
/** Linkerd's buckets of response_latency_ms (ms). */
export const LINKERD_BUCKETS_MS = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000];

/** A seedable uniform generator in [0, 1) (sfc32 seeded through splitmix32). */
export function createRng(seed: number): () => number {
  let s = seed >>> 0;
  const next32 = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next32(), b = next32(), c = next32(), d = next32();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

const Z95 = 1.6448536269514722;
const Z99 = 2.3263478740408408;

/**
 * A latency sampler: log-latency is piecewise linear in the normal score through the given quantiles
 * (p50 at z=0, p95 at z=1.645, p99 at z=2.326), extended with the end slopes — exactly log-normal when only
 * p50 and p99 (or p50 and p95) are given, and it reproduces every given quantile.
 */
export function latencySampler(l: LatencyConfig): (u: number) => number {
  const pts: [number, number][] = [[0, Math.log(l.p50Ms)]];
  if (l.distribution !== "lognormal" && l.p95Ms !== undefined) pts.push([Z95, Math.log(l.p95Ms)]);
  if (l.p99Ms !== undefined) pts.push([Z99, Math.log(l.p99Ms)]);
  if (pts.length === 1) pts.push([Z99, Math.log(l.p50Ms * 3)]); // only p50: a moderate tail (p99 = 3 × p50)
  const slope = (i: number): number => (pts[i + 1]![1] - pts[i]![1]) / (pts[i + 1]![0] - pts[i]![0]);
  const first = slope(0);
  const last = slope(pts.length - 2);
  return (u: number): number => {
    const z = normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, u)));
    let y: number;
    if (z <= 0) y = pts[0]![1] + first * z;
    else if (z >= pts[pts.length - 1]![0]) y = pts[pts.length - 1]![1] + last * (z - pts[pts.length - 1]![0]);
    else {
      let i = 0;
      while (z > pts[i + 1]![0]) i++;
      y = pts[i]![1] + slope(i) * (z - pts[i]![0]);
    }
    return Math.exp(y);
  };
}

/** A cumulative Prometheus histogram: per-bucket counts (not yet cumulated), sum and count. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  /** Records `n` observations of value `v`. */
  observe(v: number, n = 1): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.counts[i]! += n;
    this.sum += v * n;
    this.count += n;
  }
  /** Cumulative counts per upper bound, the last one +Inf. */
  cumulative(): number[] {
    let acc = 0;
    return this.counts.map((c) => (acc += c));
  }
}

/** Splits `total` into integers proportional to `weights` with fractional carries kept between calls (no drift). */
export class CarrySplitter {
  private carry = new Map<string, number>();
  split(total: number, weights: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, w] of Object.entries(weights)) {
      const exact = total * w + (this.carry.get(k) ?? 0);
      const n = Math.floor(exact);
      this.carry.set(k, exact - n);
      out[k] = n;
    }
    return out;
  }
}
