/**
 * A tiny static exporter for observe's integration tests: serves Istio's and Linkerd's standard request metrics
 * for a fixed set of edges whose rate, error ratio and latency a test can change at run time. Counters grow by
 * rate × elapsed time at every scrape, and each request's latency is uniform in [0.5, 1.5] × the edge's latency,
 * so Prometheus' rate() and histogram_quantile() see what a mesh proxy would report. Not meshsim: no routing,
 * no API server; just enough series for a real Prometheus to scrape.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One edge's behaviour. */
export interface EdgeProfile {
  sourceWorkload: string;
  sourceNamespace: string;
  service: string;
  namespace: string;
  version: string;
  /** Destination workload (deployment) name. */
  workload: string;
  rps: number;
  errorRatio: number;
  latencyMs: number;
  mtls: boolean;
}

const ISTIO_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];
const LINKERD_BUCKETS = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000];

interface State {
  profile: EdgeProfile;
  ok: number;
  errors: number;
  /** Cumulative count per bucket (same order as the bucket lists), plus +Inf. */
  istioBuckets: number[];
  linkerdBuckets: number[];
  sumMs: number;
}

/** Fraction of requests at or below `le` for latency uniform in [0.5 L, 1.5 L]. */
function below(le: number, latencyMs: number): number {
  return Math.min(1, Math.max(0, (le - 0.5 * latencyMs) / latencyMs));
}

function labels(l: Record<string, string>): string {
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;
}

/** A running exporter. */
export interface Exporter {
  url: string;
  /** host:port, for a Prometheus target. */
  target: string;
  /** Changes an edge's behaviour from now on (matched by service, version and source workload). */
  set(match: Partial<EdgeProfile>, change: Partial<EdgeProfile>): void;
  close(): Promise<void>;
}

/** Starts the exporter on a free loopback port; `now` is injectable so unit tests can drive time. */
export async function startExporter(edges: EdgeProfile[], now: () => number = () => Date.now() / 1000): Promise<Exporter> {
  const states: State[] = edges.map((profile) => ({ profile: { ...profile }, ok: 0, errors: 0, istioBuckets: new Array<number>(ISTIO_BUCKETS.length + 1).fill(0), linkerdBuckets: new Array<number>(LINKERD_BUCKETS.length + 1).fill(0), sumMs: 0 }));
  let last = now();
  const advance = (): void => {
    const t = now();
    const dt = Math.max(0, t - last);
    last = t;
    for (const s of states) {
      const n = s.profile.rps * dt;
      s.errors += n * s.profile.errorRatio;
      s.ok += n * (1 - s.profile.errorRatio);
      ISTIO_BUCKETS.forEach((b, i) => (s.istioBuckets[i]! += n * below(b, s.profile.latencyMs)));
      s.istioBuckets[ISTIO_BUCKETS.length]! += n;
      LINKERD_BUCKETS.forEach((b, i) => (s.linkerdBuckets[i]! += n * below(b, s.profile.latencyMs)));
      s.linkerdBuckets[LINKERD_BUCKETS.length]! += n;
      s.sumMs += n * s.profile.latencyMs;
    }
  };
  const render = (): string => {
    advance();
    const out = ["# TYPE istio_requests_total counter", "# TYPE istio_request_duration_milliseconds histogram", "# TYPE response_total counter", "# TYPE response_latency_ms histogram"];
    for (const s of states) {
      const p = s.profile;
      const istio = {
        reporter: "destination",
        source_workload: p.sourceWorkload,
        source_workload_namespace: p.sourceNamespace,
        destination_service: `${p.service}.${p.namespace}.svc.cluster.local`,
        destination_workload: p.workload,
        destination_workload_namespace: p.namespace,
        destination_version: p.version,
        connection_security_policy: p.mtls ? "mutual_tls" : "none",
      };
      out.push(`istio_requests_total${labels({ ...istio, response_code: "200" })} ${s.ok}`);
      out.push(`istio_requests_total${labels({ ...istio, response_code: "503" })} ${s.errors}`);
      // the source proxy's report of the same requests: observe must not count them twice
      out.push(`istio_requests_total${labels({ ...istio, reporter: "source", connection_security_policy: "unknown", response_code: "200" })} ${s.ok}`);
      ISTIO_BUCKETS.forEach((b, i) => out.push(`istio_request_duration_milliseconds_bucket${labels({ ...istio, response_code: "200", le: String(b) })} ${s.istioBuckets[i]}`));
      out.push(`istio_request_duration_milliseconds_bucket${labels({ ...istio, response_code: "200", le: "+Inf" })} ${s.istioBuckets[ISTIO_BUCKETS.length]}`);
      out.push(`istio_request_duration_milliseconds_sum${labels({ ...istio, response_code: "200" })} ${s.sumMs}`);
      out.push(`istio_request_duration_milliseconds_count${labels({ ...istio, response_code: "200" })} ${s.istioBuckets[ISTIO_BUCKETS.length]}`);
      const lk = { direction: "outbound", deployment: p.sourceWorkload, namespace: p.sourceNamespace, dst_deployment: p.workload, dst_namespace: p.namespace, dst_service: p.service, tls: p.mtls ? "true" : "no_identity" };
      out.push(`response_total${labels({ ...lk, classification: "success", status_code: "200" })} ${s.ok}`);
      out.push(`response_total${labels({ ...lk, classification: "failure", status_code: "503" })} ${s.errors}`);
      LINKERD_BUCKETS.forEach((b, i) => out.push(`response_latency_ms_bucket${labels({ ...lk, status_code: "200", le: String(b) })} ${s.linkerdBuckets[i]}`));
      out.push(`response_latency_ms_bucket${labels({ ...lk, status_code: "200", le: "+Inf" })} ${s.linkerdBuckets[LINKERD_BUCKETS.length]}`);
    }
    return `${out.join("\n")}\n`;
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(render());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    target: `127.0.0.1:${port}`,
    set(match, change) {
      advance();
      for (const s of states) {
        if (Object.entries(match).every(([k, v]) => s.profile[k as keyof EdgeProfile] === v)) Object.assign(s.profile, change);
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Bookinfo-shaped edges: productpage → reviews v1/v2, reviews → ratings, an ingress client. */
export function bookinfoEdges(): EdgeProfile[] {
  const e = (sourceWorkload: string, service: string, version: string, rps: number, latencyMs: number, errorRatio = 0, mtls = true): EdgeProfile => ({
    sourceWorkload,
    sourceNamespace: "bookinfo",
    service,
    namespace: "bookinfo",
    version,
    workload: `${service}-${version}`,
    rps,
    errorRatio,
    latencyMs,
    mtls,
  });
  return [
    { ...e("istio-ingressgateway", "productpage", "v1", 10, 20), sourceNamespace: "istio-system", mtls: false },
    e("productpage-v1", "reviews", "v1", 6, 30),
    e("productpage-v1", "reviews", "v2", 4, 40, 0.1),
    e("reviews-v2", "ratings", "v1", 4, 8),
  ];
}
