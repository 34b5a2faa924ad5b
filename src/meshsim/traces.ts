/**
 * meshsim (telemetry EMULATOR): spans for a sample of the emulated requests, shaped like Istio's Envoy spans and
 * sent as OTLP/HTTP JSON (POST <url>/v1/traces) to a tracing backend such as Jaeger. For tests and demos only.
 *
 * Per edge (caller → service) and per second at most `perSecond` requests become traces, picked uniformly from that
 * second's requests (a weighted reservoir, so a version's share of traces follows its share of traffic). A trace is
 * one server span in the destination's service ("<app>.<namespace>", Istio's service.name) and, when the caller is
 * a meshed workload, a client span in the caller's service as its parent.
 */
import { randomBytes } from "node:crypto";

/** One emulated request, as the simulator saw it. */
export interface TracedRequest {
  /** The calling workload; undefined for traffic from outside the mesh (no client span). */
  source?: { workload: string; app: string; namespace: string; version: string };
  service: string;
  namespace: string;
  fqdn: string;
  port: number;
  /** The destination version's key and its version label. */
  version: string;
  workload: string;
  code: number;
  failed: boolean;
  latencyMs: number;
  /** When the response completed, unix ms (fractional). */
  endMs: number;
}

/** OTLP JSON (opentelemetry-proto's JSON mapping; ids in hex, 64-bit integers as strings). */
type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  status: { code: number; message?: string };
}
export interface OtlpResourceSpans {
  resource: { attributes: KeyValue[] };
  scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(Math.round(v)) } });

/** Unix ms (fractional) → unix nanoseconds as a decimal string (exact for any date meshsim emits). */
export function msToNanos(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(frac)).toString();
}

/** The spans of one request: [service.name, span] pairs, the client span (if any) first. */
export function requestSpans(r: TracedRequest, ids: (n: number) => Buffer = (n) => randomBytes(n)): [string, OtlpSpan][] {
  const traceId = ids(16).toString("hex");
  const serverId = ids(8).toString("hex");
  const name = `${r.fqdn}:${r.port}/*`; // Istio's operation name: the destination host and port
  const url = `http://${r.fqdn}:${r.port}/`;
  const status = r.failed ? { code: STATUS_ERROR, message: `HTTP ${r.code}` } : { code: STATUS_UNSET };
  const start = r.endMs - r.latencyMs;
  const common = [str("http.method", "GET"), str("http.url", url), int("http.status_code", r.code), str("component", "proxy"), str("response_flags", "-")];
  // Envoy tags a failed request's spans error=true as well; Jaeger's tag search ({"error":"true"}) matches the attribute
  if (r.failed) common.push({ key: "error", value: { boolValue: true } });
  const out: [string, OtlpSpan][] = [];
  let parent: string | undefined;
  if (r.source) {
    // the client-side proxy sees the request a little earlier and the response a little later (the network hop)
    parent = ids(8).toString("hex");
    out.push([
      `${r.source.app}.${r.source.namespace}`,
      {
        traceId,
        spanId: parent,
        name,
        kind: SPAN_KIND_CLIENT,
        startTimeUnixNano: msToNanos(start - 0.25),
        endTimeUnixNano: msToNanos(r.endMs + 0.25),
        attributes: [
          ...common,
          str("upstream_cluster", `outbound|${r.port}|${r.version}|${r.fqdn}`),
          str("node_id", `sidecar~127.0.0.1~${r.source.workload}.${r.source.namespace}~${r.source.namespace}.svc.cluster.local`),
          str("istio.canonical_service", r.source.app),
          str("istio.canonical_revision", r.source.version),
          str("istio.namespace", r.source.namespace),
          str("version", r.source.version),
          str("peer.service", `${r.service}.${r.namespace}`),
          str("peer.version", r.version),
        ],
        status,
      },
    ]);
  }
  out.push([
    `${r.service}.${r.namespace}`,
    {
      traceId,
      spanId: serverId,
      ...(parent ? { parentSpanId: parent } : {}),
      name,
      kind: SPAN_KIND_SERVER,
      startTimeUnixNano: msToNanos(start),
      endTimeUnixNano: msToNanos(r.endMs),
      attributes: [
        ...common,
        str("upstream_cluster", `inbound|${r.port}||`),
        str("node_id", `sidecar~127.0.0.1~${r.workload}.${r.namespace}~${r.namespace}.svc.cluster.local`),
        str("istio.canonical_service", r.service),
        str("istio.canonical_revision", r.version),
        str("istio.namespace", r.namespace),
        str("version", r.version),
      ],
      status,
    },
  ]);
  return out;
}

/** Groups spans by service into OTLP resourceSpans. */
export function toOtlp(spans: [string, OtlpSpan][]): { resourceSpans: OtlpResourceSpans[] } {
  const by = new Map<string, OtlpSpan[]>();
  for (const [svc, span] of spans) {
    let list = by.get(svc);
    if (!list) by.set(svc, (list = []));
    list.push(span);
  }
  return {
    resourceSpans: [...by].map(([svc, list]) => {
      const dot = svc.lastIndexOf(".");
      return {
        resource: { attributes: [str("service.name", svc), str("k8s.namespace.name", svc.slice(dot + 1)), str("telemetry.sdk.name", "meshsim")] },
        scopeSpans: [{ scope: { name: "meshsim" }, spans: list }],
      };
    }),
  };
}

interface Reservoir {
  /** The kept requests and their keys (larger keys win). */
  items: { key: number; req: () => TracedRequest }[];
}

/**
 * Picks up to `perSecond` requests per edge and window (weighted reservoir sampling, A-ES: key u^(1/weight)), so
 * that the traces of an edge are a uniform sample of its requests whatever order the simulator emits them in.
 */
export class TraceSampler {
  private windows = new Map<string, Reservoir>();

  constructor(
    readonly perSecond: number,
    private readonly rng: () => number = Math.random,
  ) {}

  /** Offers one emulated sample standing for `weight` requests; `req` is only called if it is kept. */
  offer(edge: string, weight: number, req: () => TracedRequest): void {
    if (this.perSecond <= 0 || weight <= 0) return;
    let r = this.windows.get(edge);
    if (!r) this.windows.set(edge, (r = { items: [] }));
    const key = Math.pow(this.rng(), 1 / weight);
    if (r.items.length < this.perSecond) {
      r.items.push({ key, req });
      return;
    }
    let min = 0;
    for (let i = 1; i < r.items.length; i++) if (r.items[i]!.key < r.items[min]!.key) min = i;
    if (key > r.items[min]!.key) r.items[min] = { key, req };
  }

  /** The window's kept requests, then a new window (call once a second). */
  take(): TracedRequest[] {
    const out: TracedRequest[] = [];
    for (const r of this.windows.values()) for (const it of r.items) out.push(it.req());
    this.windows.clear();
    return out;
  }
}

/**
 * Sends spans to an OTLP/HTTP endpoint as JSON every `intervalMs`. A failed send is logged once (until a send
 * succeeds again) and its spans are retried with the next batch; at most `maxPending` spans wait (oldest dropped).
 */
export class OtlpExporter {
  private pending: [string, OtlpSpan][] = [];
  private inFlight = false;
  private failing = false;
  private timer: NodeJS.Timeout | undefined;
  readonly endpoint: string;
  sent = 0;

  constructor(
    url: string,
    private readonly collect: () => [string, OtlpSpan][],
    private readonly log: (msg: string) => void,
    private readonly intervalMs = 1000,
    private readonly maxPending = 20_000,
  ) {
    const base = url.replace(/\/+$/, "");
    this.endpoint = base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Collects the new spans and sends everything pending (no overlapping sends). */
  async flush(): Promise<void> {
    this.pending.push(...this.collect());
    if (this.pending.length > this.maxPending) this.pending.splice(0, this.pending.length - this.maxPending);
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.inFlight = true;
    try {
      const res = await fetch(this.endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(toOtlp(batch)),
        signal: AbortSignal.timeout(5000),
      });
      await res.text().catch(() => "");
      if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}`);
      if (!res.ok) {
        // the backend refused this batch for good: retrying it would not help
        if (!this.failing) this.log(`OTLP export to ${this.endpoint} rejected ${batch.length} span(s): HTTP ${res.status}`);
        this.failing = true;
        return;
      }
      this.sent += batch.length;
      if (this.failing) this.log(`OTLP export to ${this.endpoint} works again`);
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.log(`OTLP export to ${this.endpoint} failed (${(e as Error).message}); retrying with the next batch`);
      this.failing = true;
      this.pending = batch.concat(this.pending);
      if (this.pending.length > this.maxPending) this.pending.splice(0, this.pending.length - this.maxPending);
    } finally {
      this.inFlight = false;
    }
  }

  /** Stops the timer and makes one last attempt to send what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
