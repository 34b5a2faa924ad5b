/**
 * Traces for an anomaly from a Jaeger-compatible query API (Jaeger's HTTP API `GET /api/traces`, which Jaeger v1
 * and v2's jaeger_query serve): the slowest traces and the failing ones through the anomalous service in the
 * anomaly's window, as links to the tracing UI (`<url>/trace/<traceID>`). Service names follow Istio's
 * convention (`<app>.<namespace>`), which is also how meshops names services ("reviews.bookinfo").
 */

export interface TraceLink {
  traceId: string;
  /** Duration of the longest span of the service in the trace, in milliseconds. */
  durationMs: number;
  /** Unix seconds the trace started. */
  start: number;
  error: boolean;
  operation: string;
  /** The version the service's span names (its `version` tag), when it does. */
  version?: string;
  url: string;
}

export interface AnomalyTraces {
  service: string;
  slowest: TraceLink[];
  failing: TraceLink[];
  /** Why no traces could be read (the tracing API unreachable or refusing). */
  error?: string;
}

interface JaegerTag {
  key: string;
  value: unknown;
}

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  startTime: number;
  duration: number;
  processID: string;
  tags?: JaegerTag[];
}

interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

const tag = (s: JaegerSpan, key: string): unknown => s.tags?.find((t) => t.key === key)?.value;

/** A span failed: OTLP status ERROR (Jaeger's `error` tag), or an HTTP 5xx. */
function spanFailed(s: JaegerSpan): boolean {
  const err = tag(s, "error");
  const code = Number(tag(s, "http.status_code") ?? tag(s, "http.response.status_code"));
  return err === true || err === "true" || (Number.isFinite(code) && code >= 500);
}

/** Reads one page of traces from Jaeger's HTTP API. */
async function fetchTraces(baseUrl: string, query: Record<string, string>, timeoutMs: number): Promise<JaegerTrace[]> {
  const url = new URL("api/traces", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { data?: JaegerTrace[] | null; errors?: { msg?: string }[] | null };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.msg ?? "error").join("; "));
  return body.data ?? [];
}

/**
 * The slowest and the failing traces through `service` between `start` and `end` (unix seconds). Never throws:
 * an unreachable or refusing tracing API is said in `error`.
 */
export async function tracesFor(baseUrl: string, service: string, start: number, end: number, opts: { limit?: number; fetchLimit?: number; timeoutMs?: number; version?: string } = {}): Promise<AnomalyTraces> {
  const limit = opts.limit ?? 5;
  const range = { service, start: String(Math.floor(start * 1e6)), end: String(Math.ceil(end * 1e6)) };
  const ui = baseUrl.replace(/\/+$/, "");
  try {
    // one query for the window (newest traces first); failures are read from the spans, because a tag search on
    // `error` does not match OTLP error spans in every Jaeger storage (v1.76's memory storage compares a bool)
    const all = await fetchTraces(baseUrl, { ...range, limit: String(opts.fetchLimit ?? 1000) }, opts.timeoutMs ?? 10_000);
    const links = new Map<string, TraceLink>();
    for (const t of all) {
      if (links.has(t.traceID)) continue;
      const mine = t.spans.filter((s) => t.processes[s.processID]?.serviceName === service);
      const own = opts.version ? mine.filter((s) => tag(s, "version") === undefined || String(tag(s, "version")) === opts.version) : mine;
      if (own.length === 0) continue;
      const longest = own.reduce((a, b) => (b.duration > a.duration ? b : a));
      const version = tag(longest, "version");
      links.set(t.traceID, {
        traceId: t.traceID,
        durationMs: longest.duration / 1000,
        start: Math.min(...t.spans.map((s) => s.startTime)) / 1e6,
        error: t.spans.some(spanFailed),
        operation: longest.operationName,
        ...(version !== undefined ? { version: String(version) } : {}),
        url: `${ui}/trace/${t.traceID}`,
      });
    }
    const list = [...links.values()];
    const slowest = [...list].sort((a, b) => b.durationMs - a.durationMs || (a.traceId < b.traceId ? -1 : 1)).slice(0, limit);
    const failing = list.filter((l) => l.error).sort((a, b) => b.start - a.start || (a.traceId < b.traceId ? -1 : 1)).slice(0, limit);
    return { service, slowest, failing };
  } catch (e) {
    const err = e as Error;
    return { service, slowest: [], failing: [], error: `the tracing API at ${baseUrl} could not be read (${err.name === "TimeoutError" ? "no answer in time" : err.message})` };
  }
}
