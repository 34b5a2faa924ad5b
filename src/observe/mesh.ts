/**
 * Mesh adapters: the PromQL for Istio's and Linkerd's standard metrics, and the mapping of their labels onto one
 * vocabulary (source workload → destination service, version, workload). Every query groups by labels, so a
 * graph costs the same number of queries for 3 services or 3,000 (Kiali builds its graph the same way).
 *
 * Istio: https://istio.io/latest/docs/reference/config/metrics/ — `istio_requests_total` and
 * `istio_request_duration_milliseconds_bucket`, reported by the destination proxy (reporter="destination"), which
 * also sees clients outside the mesh and is the one that knows the connection's mTLS state
 * (`connection_security_policy="mutual_tls"`).
 * Linkerd: https://linkerd.io/2/reference/proxy-metrics/ — `response_total` and `response_latency_ms_bucket`
 * from the client's proxy (direction="outbound"), which names both ends (`deployment` → `dst_deployment`);
 * `classification="failure"` is an error, `tls="true"` a meshed (mTLS) request.
 */
import { serviceOfHost } from "../model/hosts.js";

/** The meshes observe can read. */
export type MeshKind = "istio" | "linkerd";

/** Where a latency quantile is grouped. */
export type Level = "edge" | "version" | "service";

/** A request-rate row in the common vocabulary. */
export interface TrafficKey {
  /** "namespace/workload", or "unknown" for a client without identity. */
  source: string;
  /** "name.namespace" for a Kubernetes Service, else the host as reported. */
  service: string;
  /** The destination workload's version ("unknown" when the mesh does not say). */
  version: string;
  /** "namespace/workload" of the destination, or "unknown". */
  destinationWorkload: string;
}

/** Workload facts from the MeshModel that a mesh's labels do not carry (Linkerd has no version label). */
export interface WorkloadHints {
  /** "namespace/workload" → its Service ("name.namespace") and version label. */
  byWorkload: Map<string, { service?: string; version?: string }>;
}

/** One mesh's metric names, labels and queries. */
export interface MeshAdapter {
  mesh: MeshKind;
  /** Request rate per second over the window, by edge, error class and mTLS. */
  requestsQuery(windowS: number): string;
  /** histogram_quantile(q) of request latency in milliseconds over the window, grouped at `level`. */
  latencyQuery(quantile: number, windowS: number, level: Level): string;
  /** Per-bucket request rate (`le` kept) grouped at `level`: every quantile at every coarser level is computed from it. */
  bucketsQuery(windowS: number, level: Level): string;
  /** The labels a latency quantile of `level` is grouped by (without `le`). */
  levelLabels(level: Level): string[];
  /** Base names for recorded series: the requests counter without `_total`, the latency histogram without `_bucket`. */
  metricNames: { requests: string; latency: string };
  /** Reads a requests row's labels. */
  requestKey(labels: Record<string, string>): TrafficKey & { error: boolean; mtls: boolean };
  /** Reads a latency row's labels (fields not grouped at that level are "" ). */
  latencyKey(labels: Record<string, string>, level: Level): TrafficKey;
}

/** PromQL range selector duration. */
export function promDuration(seconds: number): string {
  return `${Math.max(1, Math.round(seconds))}s`;
}

function by(labels: string[]): string {
  return `by (${labels.join(", ")})`;
}

/** "reviews.bookinfo.svc.cluster.local" → "reviews.bookinfo"; other hosts unchanged. */
export function serviceId(host: string): string {
  if (!host) return "unknown";
  const svc = serviceOfHost(host);
  return svc ? `${svc.name}.${svc.namespace}` : host;
}

function workloadId(ns: string | undefined, name: string | undefined): string {
  if (!name || name === "unknown") return "unknown";
  return ns && ns !== "unknown" ? `${ns}/${name}` : name;
}

const ISTIO_EDGE = ["source_workload", "source_workload_namespace", "destination_service", "destination_workload", "destination_workload_namespace", "destination_version"];
const ISTIO_LEVEL: Record<Level, string[]> = {
  edge: ISTIO_EDGE,
  version: ["destination_service", "destination_workload", "destination_workload_namespace", "destination_version"],
  service: ["destination_service"],
};

/** Options of the adapters. */
export interface AdapterOptions {
  /** Extra label matchers for every selector, e.g. `cluster="prod"` (one Prometheus for several clusters). */
  matchers?: string;
}

function selector(own: string, extra: string | undefined): string {
  return `{${[own, extra?.trim()].filter(Boolean).join(", ")}}`;
}

/** Istio adapter; `reporter` defaults to "destination" (see the file comment). */
export function istioAdapter(opts: AdapterOptions & { reporter?: "destination" | "source" } = {}): MeshAdapter {
  const sel = selector(`reporter="${opts.reporter ?? "destination"}"`, opts.matchers);
  return {
    mesh: "istio",
    requestsQuery: (w) =>
      // the code class is one label instead of every response code: fewer series, same answer
      `sum ${by([...ISTIO_EDGE, "code_class", "connection_security_policy"])} (label_replace(rate(istio_requests_total${sel}[${promDuration(w)}]), "code_class", "\${1}xx", "response_code", "([0-9])[0-9][0-9]"))`,
    latencyQuery: (q, w, level) => `histogram_quantile(${q}, sum ${by(["le", ...ISTIO_LEVEL[level]])} (rate(istio_request_duration_milliseconds_bucket${sel}[${promDuration(w)}])))`,
    bucketsQuery: (w, level) => `sum ${by(["le", ...ISTIO_LEVEL[level]])} (rate(istio_request_duration_milliseconds_bucket${sel}[${promDuration(w)}]))`,
    levelLabels: (level) => [...ISTIO_LEVEL[level]],
    metricNames: { requests: "istio_requests", latency: "istio_request_duration_milliseconds" },
    requestKey: (l) => ({
      ...istioKey(l),
      // 5xx and no response at all (response_code 0, Envoy's reset/timeout) are errors, as Flagger and Kiali count them
      error: l.code_class === undefined || l.code_class === "" || l.code_class === "5xx",
      mtls: l.connection_security_policy === "mutual_tls",
    }),
    latencyKey: (l, level) => {
      const k = istioKey(l);
      if (level === "service") return { source: "", service: k.service, version: "", destinationWorkload: "" };
      if (level === "version") return { ...k, source: "" };
      return k;
    },
  };
}

function istioKey(l: Record<string, string>): TrafficKey {
  return {
    source: workloadId(l.source_workload_namespace, l.source_workload),
    service: serviceId(l.destination_service ?? ""),
    version: l.destination_version && l.destination_version !== "unknown" ? l.destination_version : "unknown",
    destinationWorkload: workloadId(l.destination_workload_namespace, l.destination_workload),
  };
}

const LINKERD_EDGE = ["deployment", "namespace", "dst_service", "dst_deployment", "dst_namespace"];
const LINKERD_LEVEL: Record<Level, string[]> = {
  edge: LINKERD_EDGE,
  version: ["dst_service", "dst_deployment", "dst_namespace"],
  service: ["dst_service", "dst_namespace"],
};

/** Linkerd adapter; `hints` map a destination deployment to its Service and version where the labels do not. */
export function linkerdAdapter(hints: WorkloadHints = { byWorkload: new Map() }, opts: AdapterOptions = {}): MeshAdapter {
  const sel = selector(`direction="outbound"`, opts.matchers);
  const key = (l: Record<string, string>): TrafficKey => {
    const dst = workloadId(l.dst_namespace, l.dst_deployment);
    const hint = hints.byWorkload.get(dst);
    const ns = l.dst_namespace ?? "";
    const service = l.dst_service ? `${l.dst_service}.${ns}` : (hint?.service ?? (l.dst_deployment ? `${stripVersion(l.dst_deployment)}.${ns}` : "unknown"));
    const version = hint?.version ?? versionOfName(l.dst_deployment ?? "") ?? (l.dst_deployment || "unknown");
    return { source: workloadId(l.namespace, l.deployment), service, version, destinationWorkload: dst };
  };
  return {
    mesh: "linkerd",
    requestsQuery: (w) => `sum ${by([...LINKERD_EDGE, "classification", "tls"])} (rate(response_total${sel}[${promDuration(w)}]))`,
    latencyQuery: (q, w, level) => `histogram_quantile(${q}, sum ${by(["le", ...LINKERD_LEVEL[level]])} (rate(response_latency_ms_bucket${sel}[${promDuration(w)}])))`,
    bucketsQuery: (w, level) => `sum ${by(["le", ...LINKERD_LEVEL[level]])} (rate(response_latency_ms_bucket${sel}[${promDuration(w)}]))`,
    levelLabels: (level) => [...LINKERD_LEVEL[level]],
    metricNames: { requests: "response", latency: "response_latency_ms" },
    requestKey: (l) => ({ ...key(l), error: l.classification === "failure", mtls: l.tls === "true" }),
    latencyKey: (l, level) => {
      const k = key(l);
      if (level === "service") return { source: "", service: k.service, version: "", destinationWorkload: "" };
      if (level === "version") return { ...k, source: "" };
      return k;
    },
  };
}

/** "reviews-v3" → "v3" (the Bookinfo and Flagger naming habit); undefined otherwise. */
export function versionOfName(name: string): string | undefined {
  return /-(v\d+[a-z0-9]*)$/.exec(name)?.[1];
}

function stripVersion(name: string): string {
  return name.replace(/-v\d+[a-z0-9]*$/, "");
}
