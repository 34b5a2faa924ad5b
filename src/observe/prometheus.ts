/**
 * A Prometheus HTTP API client (https://prometheus.io/docs/prometheus/latest/querying/api/): instant and range
 * queries as POST form bodies (long grouped queries never hit URL length limits), a timeout per attempt, bounded
 * retries on 5xx, 429 and network errors, and errors that name the query and the URL. It counts the queries it
 * issued, so callers can show that a graph costs a constant number of them.
 */
import { UnreachableError, UsageError } from "../errors.js";

/** One series of an instant vector. */
export interface VectorSample {
  metric: Record<string, string>;
  /** Unix seconds. */
  time: number;
  value: number;
}

/** One series of a range matrix. */
export interface MatrixSeries {
  metric: Record<string, string>;
  /** [unix seconds, value] pairs, in time order. */
  values: [number, number][];
}

/** A rule group as the rules API (`GET /api/v1/rules`) lists it; only what meshops reads. */
export interface RuleGroupInfo {
  name: string;
  file?: string;
  /** Evaluation interval in seconds. */
  interval: number;
  /** RFC 3339 time of the group's last evaluation ("0001-01-01T00:00:00Z" before the first). */
  lastEvaluation?: string;
  /** Seconds the last evaluation took. */
  evaluationTime?: number;
  rules: { type: "recording" | "alerting"; name: string; query: string; labels?: Record<string, string>; health: string; lastError?: string; evaluationTime?: number }[];
}

/** What every observe function needs from Prometheus (injected; tests pass fakes). */
export interface PromClient {
  readonly url: string;
  /** Instant query at `time` (unix seconds; default now on the server). */
  instant(query: string, opts?: { time?: number }): Promise<VectorSample[]>;
  /** Range query from `start` to `end` (unix seconds) every `stepS` seconds. */
  range(query: string, opts: { start: number; end: number; stepS: number }): Promise<MatrixSeries[]>;
  /** The recording rules Prometheus evaluates (`GET /api/v1/rules?type=record`); absent in fakes without rules. */
  rules?(): Promise<RuleGroupInfo[]>;
  /** Queries issued so far (each counted once, however many retries it took). */
  readonly queryCount: number;
  /** Warnings Prometheus returned with results (e.g. a histogram_quantile over non-monotonic buckets). */
  readonly warnings: string[];
}

/** Options of createPromClient; units in the names. */
export interface PromClientOptions {
  /** Per attempt; also sent as the query's `timeout` so Prometheus stops evaluating too. */
  timeoutMs: number;
  /** Extra attempts after a retryable failure (5xx, 429, network). */
  retries: number;
  /** First backoff; doubled per attempt. */
  retryDelayMs: number;
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  /** Extra request headers (e.g. Authorization for a proxy). */
  headers: Record<string, string>;
}

/** 30 s per attempt (as Argo Rollouts' Prometheus provider), 2 retries from 250 ms, the global fetch. */
export function defaultPromClientOptions(): PromClientOptions {
  return { timeoutMs: 30_000, retries: 2, retryDelayMs: 250, fetch: globalThis.fetch, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), headers: {} };
}

/** Prometheus rejected a query (400 bad_data: malformed PromQL, bad parameters). Exit 2. */
export class PromQueryError extends UsageError {
  override readonly code: string = "promql_invalid";
  constructor(
    message: string,
    readonly query: string,
  ) {
    super(message);
  }
}

/** Prometheus answered with an error that is not the query's fault (422 execution, 503 timeout, ...). */
export class PromError extends Error {
  readonly code: string = "prometheus_error";
  constructor(
    message: string,
    readonly query: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface ApiBody {
  status?: string;
  data?: { resultType?: string; result?: unknown };
  errorType?: string;
  error?: string;
  warnings?: string[];
}

/** Shortens a query for messages: one line, at most 160 characters. */
export function shortQuery(q: string): string {
  const one = q.replace(/\s+/g, " ").trim();
  return one.length > 160 ? `${one.slice(0, 157)}...` : one;
}

/** Prometheus' float encoding: strings, with "NaN", "+Inf", "-Inf". */
export function parseSampleValue(s: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  return Number(s);
}

/** Creates a client for the Prometheus at `url` (its base, e.g. http://prometheus:9090 or a path-prefixed proxy). */
export function createPromClient(url: string, opts: Partial<PromClientOptions> = {}): PromClient {
  const o = { ...defaultPromClientOptions(), ...opts };
  const base = url.replace(/\/+$/, "");
  let count = 0;
  const warnings: string[] = [];

  async function call(path: string, params: Record<string, string>, method: "POST" | "GET" = "POST"): Promise<ApiBody["data"]> {
    if (method === "POST") count++;
    const query = params.query ?? `${method} ${path}`;
    const form = new URLSearchParams(method === "POST" ? { ...params, timeout: `${Math.max(1, Math.floor(o.timeoutMs / 1000))}s` } : params).toString();
    const endpoint = method === "POST" ? `${base}${path}` : `${base}${path}${form ? `?${form}` : ""}`;
    const body = method === "POST" ? form : undefined;
    let lastProblem = "";
    for (let attempt = 0; attempt <= o.retries; attempt++) {
      if (attempt > 0) await o.sleep(o.retryDelayMs * 2 ** (attempt - 1));
      let res: Response;
      let text: string;
      try {
        res = await o.fetch(endpoint, {
          method,
          headers: { ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}), accept: "application/json", ...o.headers },
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(o.timeoutMs),
        });
        text = await res.text();
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        lastProblem = err.name === "TimeoutError" || err.name === "AbortError" ? `no answer within ${o.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
        continue;
      }
      let parsed: ApiBody | undefined;
      try {
        parsed = JSON.parse(text) as ApiBody;
      } catch {
        parsed = undefined;
      }
      if (res.ok && parsed?.status === "success") {
        if (parsed.warnings?.length) warnings.push(...parsed.warnings.map((w) => `${w} (query ${shortQuery(query)})`));
        return parsed.data;
      }
      const detail = parsed?.error ? `${parsed.errorType ?? "error"}: ${parsed.error}` : `HTTP ${res.status}${text ? ` ${text.slice(0, 200).trim()}` : ""}`;
      if (res.status === 400 || parsed?.errorType === "bad_data") {
        throw new PromQueryError(`prometheus at ${base} rejected the query ${shortQuery(query)}: ${detail}`, query);
      }
      if (res.status === 429 || res.status >= 500) {
        lastProblem = detail;
        continue;
      }
      if (res.status === 404 && !parsed) {
        throw new UnreachableError(`Prometheus at ${base} is unreachable: ${endpoint} answered 404 (is this the Prometheus base URL?)`);
      }
      throw new PromError(`prometheus at ${base} failed the query ${shortQuery(query)}: ${detail}`, query, res.status);
    }
    throw new UnreachableError(`Prometheus at ${base} is unreachable: ${lastProblem} (after ${o.retries + 1} attempts; query ${shortQuery(query)})`);
  }

  return {
    url: base,
    get queryCount() {
      return count;
    },
    warnings,
    async instant(query, q = {}) {
      const data = await call("/api/v1/query", { query, ...(q.time !== undefined ? { time: String(q.time) } : {}) });
      return toVector(data);
    },
    async range(query, q) {
      const data = await call("/api/v1/query_range", { query, start: String(q.start), end: String(q.end), step: `${q.stepS}s` });
      return toMatrix(data);
    },
    async rules() {
      const data = (await call("/api/v1/rules", { type: "record" }, "GET")) as { groups?: unknown } | undefined;
      return toRuleGroups(data?.groups);
    },
  };
}

function toRuleGroups(groups: unknown): RuleGroupInfo[] {
  if (!Array.isArray(groups)) return [];
  return groups.map((g: Record<string, unknown>) => ({
    name: String(g.name ?? ""),
    ...(typeof g.file === "string" ? { file: g.file } : {}),
    interval: typeof g.interval === "number" ? g.interval : Number(g.interval ?? 0),
    ...(typeof g.lastEvaluation === "string" ? { lastEvaluation: g.lastEvaluation } : {}),
    ...(typeof g.evaluationTime === "number" ? { evaluationTime: g.evaluationTime } : {}),
    rules: (Array.isArray(g.rules) ? g.rules : []).map((r: Record<string, unknown>) => ({
      type: r.type === "alerting" ? ("alerting" as const) : ("recording" as const),
      name: String(r.name ?? ""),
      query: String(r.query ?? ""),
      ...(r.labels && typeof r.labels === "object" ? { labels: r.labels as Record<string, string> } : {}),
      health: String(r.health ?? ""),
      ...(typeof r.lastError === "string" && r.lastError ? { lastError: r.lastError } : {}),
      ...(typeof r.evaluationTime === "number" ? { evaluationTime: r.evaluationTime } : {}),
    })),
  }));
}

function toVector(data: ApiBody["data"]): VectorSample[] {
  if (data?.resultType === "scalar") {
    const [t, v] = data.result as [number, string];
    return [{ metric: {}, time: t, value: parseSampleValue(v) }];
  }
  const rows = (data?.result ?? []) as { metric?: Record<string, string>; value?: [number, string] }[];
  return rows.filter((r) => r.value).map((r) => ({ metric: r.metric ?? {}, time: r.value![0], value: parseSampleValue(r.value![1]) }));
}

function toMatrix(data: ApiBody["data"]): MatrixSeries[] {
  const rows = (data?.result ?? []) as { metric?: Record<string, string>; values?: [number, string][] }[];
  return rows.map((r) => ({ metric: r.metric ?? {}, values: (r.values ?? []).map(([t, v]) => [t, parseSampleValue(v)] as [number, number]) }));
}
