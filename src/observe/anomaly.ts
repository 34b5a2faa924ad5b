/**
 * Anomaly detection on golden-signal series (pure). For every point, the trailing baseline (the points before
 * it, anomalous ones excluded) is compared with a short current window:
 * - a robust z-score: (median(current) − median(baseline)) / (1.4826 · MAD(baseline)), the MAD floored so a flat
 *   synthetic or very stable baseline does not make every wiggle infinite;
 * - a one-sided Mann–Whitney U test of current > baseline (the rank test Kayenta's judge uses), whose 1 − p is
 *   the confidence;
 * - a minimum effect (latency ×1.5, error ratio +2 points) and a minimum request volume, so quiet services and
 *   small but "significant" moves do not alarm.
 * An anomaly lasts until the values come back near the baseline (its `end`), which is how recovery shows.
 */

/** The metrics anomalies are detected on. */
export type AnomalyMetric = "error_ratio" | "p95_latency_ms";

/** What a series describes. */
export interface AnomalySubject {
  level: "service" | "version" | "edge";
  /** "reviews.bookinfo", "reviews.bookinfo@v3", "bookinfo/productpage-v1|reviews.bookinfo@v3". */
  id: string;
  service: string;
  version?: string;
  /** Client workload of an edge. */
  source?: string;
}

/** One metric's series for one subject. */
export interface MetricSeries {
  subject: AnomalySubject;
  metric: AnomalyMetric;
  /** [unix seconds, value]; NaN where there was no data. */
  points: [number, number][];
  /** [unix seconds, requests per second] of the same subject. */
  volume: [number, number][];
}

/** A detected change. */
export interface Anomaly {
  subject: AnomalySubject;
  metric: AnomalyMetric;
  /** Unix seconds of the first anomalous point. */
  start: number;
  /** Unix seconds of the first point back near the baseline; undefined while ongoing. */
  end?: number;
  baseline: number;
  current: number;
  /** current / baseline (the baseline floored at 1 ms or 0.1 % so a zero baseline gives a finite ratio). */
  magnitude: number;
  /** 0..1: 1 − the one-sided Mann–Whitney p-value of "the anomalous points are greater than the baseline". */
  confidence: number;
  /** Robust z-score of the current median against the baseline. */
  z: number;
}

/** Detection options; counts are in points of the series' step. */
export interface AnomalyOptions {
  /** Trailing points compared against (at most). */
  baselinePoints: number;
  /** Fewer usable baseline points than this: no judgement. */
  minBaselinePoints: number;
  /** Points in the current window. */
  currentPoints: number;
  zThreshold: number;
  minConfidence: number;
  /** The current window's mean request rate must reach this (requests per second). */
  minRps: number;
  /** Latency must grow at least this factor. */
  latencyMinRatio: number;
  /** Error ratio must grow at least this much (absolute, 0..1). */
  errorMinIncrease: number;
}

/** Defaults tuned on the synthetic series of anomaly.test.ts and the integration test (1 s scrapes). */
export function defaultAnomalyOptions(): AnomalyOptions {
  return { baselinePoints: 30, minBaselinePoints: 6, currentPoints: 3, zThreshold: 3.5, minConfidence: 0.95, minRps: 0.2, latencyMinRatio: 1.5, errorMinIncrease: 0.02 };
}

/** Median of finite values (NaN for none). */
export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median absolute deviation from the median. */
export function mad(xs: number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

/** Standard normal upper tail P(Z > z) (Abramowitz–Stegun 7.1.26 through erfc). */
export function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * One-sided Mann–Whitney U test that `current` is stochastically greater than `baseline`: normal approximation
 * with tie correction and continuity correction. Returns U (of current) and p.
 */
export function mannWhitneyGreater(current: number[], baseline: number[]): { u: number; p: number } {
  const n1 = current.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) return { u: 0, p: 1 };
  const all = [...current.map((v) => ({ v, g: 0 })), ...baseline.map((v) => ({ v, g: 1 }))].sort((a, b) => a.v - b.v);
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((x, i) => {
    if (x.g === 0) r1 += ranks[i]!;
  });
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, p: u > mean ? 0 : 1 };
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, p: normalUpperTail(z) };
}

/** Floor of the MAD-based scale: relative to the baseline, plus an absolute minimum per metric. */
function scaleFloor(metric: AnomalyMetric, base: number): number {
  return metric === "p95_latency_ms" ? 0.05 * Math.abs(base) + 1 : 0.05 * Math.abs(base) + 0.005;
}

function magnitudeOf(metric: AnomalyMetric, base: number, cur: number): number {
  return cur / Math.max(base, metric === "p95_latency_ms" ? 1 : 0.001);
}

/** Detects increases of error ratio or latency in one series. */
export function detectInSeries(s: MetricSeries, options: Partial<AnomalyOptions> = {}): Anomaly[] {
  const o = { ...defaultAnomalyOptions(), ...options };
  const vol = new Map(s.volume);
  const pts = s.points;
  const excluded = new Set<number>();
  const out: Anomaly[] = [];
  const significant = (base: number, cur: number, z: number): boolean => {
    if (!(z >= o.zThreshold)) return false;
    return s.metric === "p95_latency_ms" ? cur >= base * o.latencyMinRatio : cur - base >= o.errorMinIncrease;
  };
  for (let i = 0; i + o.currentPoints <= pts.length; i++) {
    const baseIdx: number[] = [];
    for (let k = i - 1; k >= 0 && baseIdx.length < o.baselinePoints; k--) if (!excluded.has(k) && Number.isFinite(pts[k]![1])) baseIdx.push(k);
    if (baseIdx.length < o.minBaselinePoints) continue;
    const window = pts.slice(i, i + o.currentPoints);
    const cur = window.map(([, v]) => v).filter(Number.isFinite);
    if (cur.length < o.currentPoints) continue;
    const rps = window.map(([t]) => vol.get(t) ?? 0);
    if (rps.reduce((a, b) => a + b, 0) / rps.length < o.minRps) continue;
    const baseVals = baseIdx.map((k) => pts[k]![1]);
    const mb = median(baseVals);
    const scale = Math.max(1.4826 * mad(baseVals), scaleFloor(s.metric, mb));
    const mc = median(cur);
    const z = (mc - mb) / scale;
    if (!significant(mb, mc, z)) continue;
    const { p } = mannWhitneyGreater(cur, baseVals);
    if (1 - p < o.minConfidence) continue;
    // the start is the first point of the window that is itself anomalous (the rate window smears the onset)
    let startIdx = i;
    while (startIdx < i + o.currentPoints - 1 && !significant(mb, pts[startIdx]![1], (pts[startIdx]![1] - mb) / scale)) startIdx++;
    // follow the anomaly until `currentPoints` consecutive points are back within half the threshold
    let j = startIdx;
    let calm = 0;
    let endIdx: number | undefined;
    const during: number[] = [];
    for (; j < pts.length; j++) {
      const v = pts[j]![1];
      const back = Number.isFinite(v) && (v - mb) / scale < o.zThreshold / 2;
      if (back) {
        calm++;
        if (calm >= o.currentPoints) {
          endIdx = j - o.currentPoints + 1;
          break;
        }
      } else {
        calm = 0;
        if (Number.isFinite(v)) during.push(v);
      }
    }
    const stop = endIdx ?? pts.length;
    for (let k = startIdx; k < stop; k++) excluded.add(k);
    const current = median(during.length ? during : cur);
    // the confidence compares the anomalous points themselves (not the window that found them, which may
    // begin before the onset) with the baseline, as Kayenta compares whole windows
    const sample = during.length >= o.currentPoints ? during.slice(0, o.baselinePoints) : cur;
    const confidence = Math.max(1 - p, 1 - mannWhitneyGreater(sample, baseVals).p);
    out.push({
      subject: s.subject,
      metric: s.metric,
      start: pts[startIdx]![0],
      ...(endIdx !== undefined ? { end: pts[endIdx]![0] } : {}),
      baseline: mb,
      current,
      magnitude: magnitudeOf(s.metric, mb, current),
      confidence,
      z: (current - mb) / scale,
    });
    i = endIdx !== undefined ? endIdx : pts.length;
  }
  return out;
}

/** Detects anomalies in every series; sorted by start time, then subject. */
export function detectAnomalies(series: MetricSeries[], options: Partial<AnomalyOptions> = {}): Anomaly[] {
  return series
    .flatMap((s) => detectInSeries(s, options))
    .sort((a, b) => a.start - b.start || (a.subject.id < b.subject.id ? -1 : a.subject.id > b.subject.id ? 1 : 0) || (a.metric < b.metric ? -1 : 1));
}
