/**
 * meshsim, the telemetry EMULATOR: turns configured request rates, the live traffic split and per-version
 * behaviour into Istio or Linkerd standard metrics, step by step. For tests and demos only.
 */
import { callerTarget, type LatencyConfig, type ServiceConfig, type SimConfig, versionLabels, versionWorkload } from "./config.js";
import { defaultRouting, resolveSplit, type RouteObjects, type Split } from "./routing.js";
import { CarrySplitter, createRng, Histogram, ISTIO_BUCKETS_MS, latencySampler, LINKERD_BUCKETS_MS } from "./sampling.js";
import type { TraceSampler } from "./traces.js";

/** Run-time changes of a version's behaviour (the control API). */
export interface Behaviour {
  /** Multiplies every sampled latency (1 = as configured). */
  latencyMultiplier: number;
  /** Added to every sampled latency, ms. */
  extraLatencyMs: number;
  /** Replaces the configured error ratio. */
  errorRatio: number;
}

/** Samples at most this many requests per flow, version and step; the rest repeat them (keeps big meshes cheap). */
const MAX_SAMPLES = 200;

interface Flow {
  /** Calling workload; undefined for traffic from outside the mesh. */
  source?: { workload: string; namespace: string; version: string };
  rps: number;
  mtls: number;
  splitter: CarrySplitter;
}

interface ServiceState {
  cfg: ServiceConfig;
  key: string;
  fqdn: string;
  split: Split;
  rpsMultiplier: number;
  behaviour: Record<string, Behaviour>;
  samplers: Record<string, (u: number) => number>;
  flows: Flow[];
  /** Requests emitted per version so far (for /state). */
  requests: Record<string, number>;
  errors: Record<string, number>;
}

interface Series {
  labels: string;
}
interface CounterSeries extends Series {
  value: number;
}
interface HistogramSeries extends Series {
  hist: Histogram;
}

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
function labelString(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(",");
}

export class Simulator {
  readonly services = new Map<string, ServiceState>();
  private readonly rng: () => number;
  private readonly counters = new Map<string, CounterSeries>();
  private readonly histograms = new Map<string, HistogramSeries>();
  private readonly counterName: string;
  private readonly histName: string;
  private readonly buckets: readonly number[];
  private readonly serverSide: boolean;
  private readonly clientSide: boolean;
  steps = 0;
  /** When set, a sample of the requests is offered for tracing (meshsim --otlp-url). */
  tracer: TraceSampler | undefined;

  constructor(
    readonly config: SimConfig,
    seed = 1,
  ) {
    this.rng = createRng(seed);
    const istio = config.mesh === "istio";
    this.counterName = istio ? "istio_requests_total" : "response_total";
    this.histName = istio ? "istio_request_duration_milliseconds" : "response_latency_ms";
    this.buckets = istio ? ISTIO_BUCKETS_MS : LINKERD_BUCKETS_MS;
    const reporters = config.reporters ?? ["destination", "source", "inbound", "outbound"];
    this.serverSide = reporters.includes(istio ? "destination" : "inbound");
    this.clientSide = reporters.includes(istio ? "source" : "outbound");
    for (const svc of config.services) {
      const key = `${svc.namespace}/${svc.name}`;
      const behaviour: Record<string, Behaviour> = {};
      const samplers: Record<string, (u: number) => number> = {};
      for (const [v, vc] of Object.entries(svc.versions)) {
        behaviour[v] = { latencyMultiplier: 1, extraLatencyMs: 0, errorRatio: vc.errorRatio };
        samplers[v] = latencySampler(vc.latency);
      }
      const flows: Flow[] = [];
      if (svc.rps > 0) flows.push({ rps: svc.rps, mtls: 0, splitter: new CarrySplitter() });
      this.services.set(key, {
        cfg: svc,
        key,
        fqdn: `${svc.name}.${svc.namespace}.svc.cluster.local`,
        split: resolveSplit(svc, [], emptyObjects()),
        rpsMultiplier: 1,
        behaviour,
        samplers,
        flows,
        requests: {},
        errors: {},
      });
    }
    for (const c of config.callers) {
      const t = callerTarget(c);
      this.services.get(`${t.namespace}/${t.name}`)?.flows.push({
        source: { workload: c.source, namespace: c.namespace, version: c.version ?? "unknown" },
        rps: c.rps,
        mtls: c.mtls ?? config.mtls,
        splitter: new CarrySplitter(),
      });
    }
  }

  /** Recomputes every service's split from the routing objects (called on each watch event). */
  applyRouting(objs: RouteObjects): void {
    for (const s of this.services.values()) s.split = resolveSplit(s.cfg, s.cfg.routing ?? defaultRouting(this.config.mesh), objs);
  }

  /** Changes a version's behaviour; returns false for an unknown service or version. */
  setBehaviour(namespace: string, service: string, version: string, change: Partial<Behaviour>): boolean {
    const b = this.services.get(`${namespace}/${service}`)?.behaviour[version];
    if (!b) return false;
    Object.assign(b, change);
    return true;
  }

  setRpsMultiplier(namespace: string, service: string, m: number): boolean {
    const s = this.services.get(`${namespace}/${service}`);
    if (!s) return false;
    s.rpsMultiplier = m;
    return true;
  }

  /** Back to the configuration's behaviour and rates. */
  reset(): void {
    for (const s of this.services.values()) {
      s.rpsMultiplier = 1;
      for (const [v, vc] of Object.entries(s.cfg.versions)) s.behaviour[v] = { latencyMultiplier: 1, extraLatencyMs: 0, errorRatio: vc.errorRatio };
    }
  }

  /** Emits `dtSeconds` worth of requests. */
  step(dtSeconds: number): void {
    this.steps++;
    for (const s of this.services.values()) {
      for (const flow of s.flows) {
        const perVersion = flow.splitter.split(flow.rps * s.rpsMultiplier * dtSeconds, s.split.weights);
        for (const [version, n] of Object.entries(perVersion)) if (n > 0) this.emit(s, flow, version, n);
      }
    }
  }

  private emit(s: ServiceState, flow: Flow, version: string, n: number): void {
    const b = s.behaviour[version]!;
    const sampler = s.samplers[version]!;
    const vc = s.cfg.versions[version]!;
    const k = Math.min(n, MAX_SAMPLES);
    const each = Math.floor(n / k);
    let extra = n - each * k;
    for (let i = 0; i < k; i++) {
      const weight = each + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
      const failed = this.rng() < b.errorRatio;
      const mtls = this.rng() < flow.mtls;
      const latency = sampler(this.rng()) * b.latencyMultiplier + b.extraLatencyMs;
      const code = failed ? vc.errorCode : 200;
      s.requests[version] = (s.requests[version] ?? 0) + weight;
      if (failed) s.errors[version] = (s.errors[version] ?? 0) + weight;
      if (this.config.mesh === "istio") this.recordIstio(s, flow, version, code, mtls, latency, weight);
      else this.recordLinkerd(s, flow, version, code, failed, mtls, latency, weight);
      if (this.tracer) this.trace(s, flow, version, code, failed, latency, weight);
    }
  }

  /** Offers the request to the trace sampler; the span's duration is the latency the histograms recorded. */
  private trace(s: ServiceState, flow: Flow, version: string, code: number, failed: boolean, latency: number, weight: number): void {
    const src = flow.source;
    const edge = `${src ? `${src.namespace}/${src.workload}` : "-"}>${s.key}`;
    const endMs = Date.now();
    this.tracer!.offer(edge, weight, () => ({
      source: src ? { workload: src.workload, app: appOf(src.workload), namespace: src.namespace, version: src.version } : undefined,
      service: s.cfg.name,
      namespace: s.cfg.namespace,
      fqdn: s.fqdn,
      port: s.cfg.port,
      version: versionLabels(s.cfg, version).version ?? version,
      workload: versionWorkload(s.cfg, version),
      code,
      failed,
      latencyMs: latency,
      endMs,
    }));
  }

  private record(labels: Record<string, string>, histLabels: Record<string, string>, latency: number, weight: number): void {
    const ls = labelString(labels);
    let c = this.counters.get(ls);
    if (!c) this.counters.set(ls, (c = { labels: ls, value: 0 }));
    c.value += weight;
    const hs = histLabels === labels ? ls : labelString(histLabels);
    let h = this.histograms.get(hs);
    if (!h) this.histograms.set(hs, (h = { labels: hs, hist: new Histogram(this.buckets) }));
    h.hist.observe(latency, weight);
  }

  private recordIstio(s: ServiceState, flow: Flow, version: string, code: number, mtls: boolean, latency: number, weight: number): void {
    const app = s.cfg.name;
    const dest = {
      destination_service: s.fqdn,
      destination_service_name: s.cfg.name,
      destination_service_namespace: s.cfg.namespace,
      destination_workload: versionWorkload(s.cfg, version),
      destination_workload_namespace: s.cfg.namespace,
      destination_app: app,
      destination_version: versionLabels(s.cfg, version).version ?? version,
      request_protocol: "http",
      response_code: String(code),
      response_flags: "-",
    };
    const src = flow.source
      ? { source_workload: flow.source.workload, source_workload_namespace: flow.source.namespace, source_app: appOf(flow.source.workload), source_version: flow.source.version }
      : { source_workload: "unknown", source_workload_namespace: "unknown", source_app: "unknown", source_version: "unknown" };
    // the server-side proxy knows whether the connection was mTLS; the client side reports "unknown", as Istio does
    if (this.serverSide) {
      const dl = { reporter: "destination", ...src, ...dest, connection_security_policy: mtls ? "mutual_tls" : "none" };
      this.record(dl, dl, latency, weight);
    }
    if (flow.source && this.clientSide) {
      const sl = { reporter: "source", ...src, ...dest, connection_security_policy: "unknown" };
      this.record(sl, sl, latency + 0.5, weight); // the client side also sees the network hop
    }
  }

  private recordLinkerd(s: ServiceState, flow: Flow, version: string, code: number, failed: boolean, mtls: boolean, latency: number, weight: number): void {
    const authority = `${s.fqdn}:${s.cfg.port}`;
    const tls = mtls ? "true" : "false";
    const workload = versionWorkload(s.cfg, version);
    const inbound = { direction: "inbound", namespace: s.cfg.namespace, deployment: workload, authority, tls, status_code: String(code) };
    if (this.serverSide) this.record({ ...inbound, classification: failed ? "failure" : "success" }, inbound, latency, weight);
    if (flow.source && this.clientSide) {
      const outbound = {
        direction: "outbound",
        namespace: flow.source.namespace,
        deployment: flow.source.workload,
        authority,
        dst_namespace: s.cfg.namespace,
        dst_deployment: workload,
        dst_service: s.cfg.name,
        tls,
        status_code: String(code),
      };
      this.record({ ...outbound, classification: failed ? "failure" : "success" }, outbound, latency + 0.5, weight);
    }
  }

  /** Number of series (counter + histogram families, each histogram counted with its buckets, sum and count). */
  seriesCount(): number {
    return this.counters.size + this.histograms.size * (this.buckets.length + 3);
  }

  /** The metrics in Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    const istio = this.config.mesh === "istio";
    out.push(`# HELP ${this.counterName} ${istio ? "Total requests (emulated by meshsim)." : "Total count of HTTP responses (emulated by meshsim)."}`);
    out.push(`# TYPE ${this.counterName} counter`);
    for (const c of this.counters.values()) out.push(`${this.counterName}{${c.labels}} ${c.value}`);
    out.push(`# HELP ${this.histName} ${istio ? "Request duration in milliseconds (emulated by meshsim)." : "Elapsed times between a request's headers being received and its response stream completing (emulated by meshsim)."}`);
    out.push(`# TYPE ${this.histName} histogram`);
    const les = [...this.buckets.map(String), "+Inf"];
    for (const h of this.histograms.values()) {
      const cum = h.hist.cumulative();
      for (let i = 0; i < les.length; i++) out.push(`${this.histName}_bucket{${h.labels},le="${les[i]}"} ${cum[i]}`);
      out.push(`${this.histName}_sum{${h.labels}} ${round(h.hist.sum)}`);
      out.push(`${this.histName}_count{${h.labels}} ${h.hist.count}`);
    }
    out.push("# HELP meshsim_steps_total Emulation steps taken.", "# TYPE meshsim_steps_total counter", `meshsim_steps_total ${this.steps}`);
    return out.join("\n") + "\n";
  }

  /** What /state shows. */
  state(): unknown {
    return {
      emulator: "meshsim",
      mesh: this.config.mesh,
      steps: this.steps,
      series: this.seriesCount(),
      services: [...this.services.values()].map((s) => ({
        namespace: s.cfg.namespace,
        name: s.cfg.name,
        destinationService: s.fqdn,
        routing: s.split.source,
        weights: s.split.weights,
        rpsMultiplier: s.rpsMultiplier,
        rps: s.flows.reduce((a, f) => a + f.rps, 0) * s.rpsMultiplier,
        versions: Object.fromEntries(
          Object.entries(s.cfg.versions).map(([v, vc]) => [
            v,
            { workload: versionWorkload(s.cfg, v), weight: s.split.weights[v] ?? 0, latency: vc.latency satisfies LatencyConfig, ...s.behaviour[v], requests: s.requests[v] ?? 0, errors: s.errors[v] ?? 0 },
          ]),
        ),
      })),
    };
  }
}

/** Istio's source_app: the workload name without a trailing -v<N>. */
function appOf(workload: string): string {
  return workload.replace(/-v\d+$/, "");
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function emptyObjects(): RouteObjects {
  return { virtualServices: [], destinationRules: [], httpRoutes: [], trafficSplits: [] };
}
