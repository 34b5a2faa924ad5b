import { describe, expect, it } from "vitest";
import { buildGraph, collectGraph, graphQueries, type GraphInputs } from "./graph.js";
import { istioAdapter, linkerdAdapter, serviceId, versionOfName } from "./mesh.js";
import type { MatrixSeries, PromClient, VectorSample } from "./prometheus.js";
import { renderGraphDot, renderGraphMermaid, renderMetricsReport, renderTopText } from "./render.js";

describe("PromQL construction", () => {
  it("Istio: one grouped rate query with the code class and security policy, one bucket-rate query at the finest level", () => {
    const q = graphQueries(istioAdapter(), { windowS: 300, levels: ["edge", "service"] });
    expect(q.requests).toBe(
      'sum by (source_workload, source_workload_namespace, destination_service, destination_workload, destination_workload_namespace, destination_version, code_class, connection_security_policy) (label_replace(rate(istio_requests_total{reporter="destination"}[300s]), "code_class", "${1}xx", "response_code", "([0-9])[0-9][0-9]"))',
    );
    expect(q.buckets).toEqual({
      level: "edge",
      query: 'sum by (le, source_workload, source_workload_namespace, destination_service, destination_workload, destination_workload_namespace, destination_version) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[300s]))',
    });
    expect(graphQueries(istioAdapter(), { windowS: 60, levels: ["service", "version"] }).buckets?.level).toBe("version");
    expect(graphQueries(istioAdapter(), { windowS: 60, levels: [] }).buckets).toBeUndefined();
    // the history's per-level p95 stays a server-side histogram_quantile
    expect(istioAdapter().latencyQuery(0.95, 60, "service")).toBe('histogram_quantile(0.95, sum by (le, destination_service) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[60s])))');
  });

  it("Linkerd: outbound response_total by both ends, classification and tls; extra matchers go into every selector", () => {
    const a = linkerdAdapter(undefined, { matchers: 'cluster="prod"' });
    expect(a.requestsQuery(60)).toBe('sum by (deployment, namespace, dst_service, dst_deployment, dst_namespace, classification, tls) (rate(response_total{direction="outbound", cluster="prod"}[60s]))');
    expect(a.latencyQuery(0.95, 60, "version")).toBe('histogram_quantile(0.95, sum by (le, dst_service, dst_deployment, dst_namespace) (rate(response_latency_ms_bucket{direction="outbound", cluster="prod"}[60s])))');
    expect(istioAdapter({ matchers: 'cluster="prod"', reporter: "source" }).requestsQuery(60)).toContain('istio_requests_total{reporter="source", cluster="prod"}[60s]');
  });

  it("maps labels into one vocabulary", () => {
    expect(serviceId("reviews.bookinfo.svc.cluster.local")).toBe("reviews.bookinfo");
    expect(serviceId("api.example.com")).toBe("api.example.com");
    expect(versionOfName("reviews-v3")).toBe("v3");
    expect(versionOfName("reviews")).toBeUndefined();
    expect(istioAdapter().requestKey({ source_workload: "unknown", destination_service: "a.b.svc.cluster.local", destination_version: "unknown", code_class: "2xx", connection_security_policy: "none" })).toEqual({
      source: "unknown",
      service: "a.b",
      version: "unknown",
      destinationWorkload: "unknown",
      error: false,
      mtls: false,
    });
    // no response code class (response_code 0: reset, timeout) counts as an error
    expect(istioAdapter().requestKey({ destination_service: "a.b.svc.cluster.local" }).error).toBe(true);
    expect(istioAdapter().requestKey({ destination_service: "a.b.svc.cluster.local", code_class: "4xx" }).error).toBe(false);
    const hints = { byWorkload: new Map([["shop/cart-canary", { service: "cart.shop", version: "2.1" }]]) };
    expect(linkerdAdapter(hints).requestKey({ deployment: "web", namespace: "shop", dst_deployment: "cart-canary", dst_namespace: "shop", classification: "failure", tls: "true" })).toEqual({
      source: "shop/web",
      service: "cart.shop",
      version: "2.1",
      destinationWorkload: "shop/cart-canary",
      error: true,
      mtls: true,
    });
    // without hints or dst_service: the name's version suffix
    expect(linkerdAdapter().requestKey({ deployment: "web", namespace: "shop", dst_deployment: "cart-v2", dst_namespace: "shop" })).toMatchObject({ service: "cart.shop", version: "v2" });
  });
});

const v = (metric: Record<string, string>, value: number): VectorSample => ({ metric, time: 1, value });
const istioEdge = (src: string, svc: string, ver: string, extra: Record<string, string>): Record<string, string> => ({
  source_workload: src,
  source_workload_namespace: "bookinfo",
  destination_service: `${svc}.bookinfo.svc.cluster.local`,
  destination_workload: `${svc}-${ver}`,
  destination_workload_namespace: "bookinfo",
  destination_version: ver,
  ...extra,
});

function bookinfoInputs(): GraphInputs {
  const q = (level: "edge" | "version" | "service", rows: [Record<string, string>, number][]): Record<number, VectorSample[]> => ({
    0.5: rows.map(([m, x]) => v(m, x)),
    0.95: rows.map(([m, x]) => v(m, x * 2)),
    0.99: rows.map(([m, x]) => v(m, level === "service" ? NaN : x * 3)),
  });
  return {
    requests: [
      v({ ...istioEdge("istio-ingressgateway", "productpage", "v1", { code_class: "2xx", connection_security_policy: "none" }), source_workload_namespace: "istio-system" }, 10),
      v(istioEdge("productpage-v1", "reviews", "v1", { code_class: "2xx", connection_security_policy: "mutual_tls" }), 6),
      v(istioEdge("productpage-v1", "reviews", "v3", { code_class: "2xx", connection_security_policy: "mutual_tls" }), 3),
      v(istioEdge("productpage-v1", "reviews", "v3", { code_class: "5xx", connection_security_policy: "mutual_tls" }), 1),
      v(istioEdge("reviews-v3", "ratings", "v1", { code_class: "2xx", connection_security_policy: "mutual_tls" }), 4),
    ],
    latency: {
      edge: q("edge", [
        [istioEdge("productpage-v1", "reviews", "v1", {}), 30],
        [istioEdge("productpage-v1", "reviews", "v3", {}), 400],
      ]),
      version: q("version", [[{ destination_service: "reviews.bookinfo.svc.cluster.local", destination_workload: "reviews-v3", destination_workload_namespace: "bookinfo", destination_version: "v3" }, 380]]),
      service: q("service", [[{ destination_service: "reviews.bookinfo.svc.cluster.local" }, 35]]),
    },
  };
}

describe("buildGraph", () => {
  const g = buildGraph(istioAdapter(), bookinfoInputs(), { windowS: 300, queries: 10 });

  it("aggregates request rates into services, versions and edges with error ratio and mTLS share", () => {
    expect(g.services.map((s) => [s.id, s.signals.rps, s.signals.errorRatio, s.signals.mtlsShare])).toEqual([
      ["productpage.bookinfo", 10, 0, 0],
      ["ratings.bookinfo", 4, 0, 1],
      ["reviews.bookinfo", 10, 0.1, 1],
    ]);
    const reviews = g.services[2]!;
    expect(reviews.versions.map((x) => [x.id, x.workload, x.signals.rps, x.signals.errorRatio])).toEqual([
      ["reviews.bookinfo@v1", "bookinfo/reviews-v1", 6, 0],
      ["reviews.bookinfo@v3", "bookinfo/reviews-v3", 4, 0.25],
    ]);
  });

  it("attaches latency quantiles at each level and leaves NaN out", () => {
    const reviews = g.services[2]!;
    expect(reviews.signals).toMatchObject({ p50Ms: 35, p95Ms: 70 });
    expect(reviews.signals.p99Ms).toBeUndefined();
    expect(reviews.versions[1]!.signals).toMatchObject({ p50Ms: 380, p95Ms: 760, p99Ms: 1140 });
    expect(g.edges.find((e) => e.to === "reviews.bookinfo@v3")!.signals).toMatchObject({ p50Ms: 400, p95Ms: 800, p99Ms: 1200, rps: 4, errorRatio: 0.25 });
  });

  it("draws edges from version nodes when the client serves a service, else from the client workload", () => {
    expect(g.edges.map((e) => `${e.from} -> ${e.to}`)).toEqual([
      "productpage.bookinfo@v1 -> reviews.bookinfo@v1",
      "productpage.bookinfo@v1 -> reviews.bookinfo@v3",
      "reviews.bookinfo@v3 -> ratings.bookinfo@v1",
      "workload:istio-system/istio-ingressgateway -> productpage.bookinfo@v1",
    ]);
    expect(g.clients).toEqual(["istio-system/istio-ingressgateway"]);
  });

  it("renders DOT, Mermaid, the top table and GitLab's metrics report", () => {
    expect(renderGraphDot(g)).toBe(`digraph mesh {
  rankdir=LR;
  node [shape=box, fontname="Helvetica"];
  edge [fontname="Helvetica", fontsize=10];
  subgraph cluster_0 {
    label="productpage.bookinfo (10.00 rps)";
    "productpage.bookinfo@v1" [label="v1\\nbookinfo/productpage-v1"];
  }
  subgraph cluster_1 {
    label="ratings.bookinfo (4.00 rps, mTLS 100%)";
    "ratings.bookinfo@v1" [label="v1\\nbookinfo/ratings-v1"];
  }
  subgraph cluster_2 {
    label="reviews.bookinfo (10.00 rps, 10.0% err, p95 70 ms, mTLS 100%)";
    "reviews.bookinfo@v1" [label="v1\\nbookinfo/reviews-v1"];
    "reviews.bookinfo@v3" [label="v3\\nbookinfo/reviews-v3"];
  }
  "workload:istio-system/istio-ingressgateway" [label="istio-system/istio-ingressgateway", shape=ellipse];
  "productpage.bookinfo@v1" -> "reviews.bookinfo@v1" [label="6.00 rps, p95 60 ms, mTLS 100%"];
  "productpage.bookinfo@v1" -> "reviews.bookinfo@v3" [label="4.00 rps, 25.0% err, p95 800 ms, mTLS 100%", color=red];
  "reviews.bookinfo@v3" -> "ratings.bookinfo@v1" [label="4.00 rps, mTLS 100%"];
  "workload:istio-system/istio-ingressgateway" -> "productpage.bookinfo@v1" [label="10.00 rps"];
}
`);
    expect(renderGraphMermaid(g)).toBe(`flowchart LR
  subgraph s0["productpage.bookinfo"]
    n0["v1 bookinfo/productpage-v1"]
  end
  subgraph s1["ratings.bookinfo"]
    n1["v1 bookinfo/ratings-v1"]
  end
  subgraph s2["reviews.bookinfo"]
    n2["v1 bookinfo/reviews-v1"]
    n3["v3 bookinfo/reviews-v3"]
  end
  n4(["istio-system/istio-ingressgateway"])
  n0 -->|"6.00 rps, p95 60 ms, mTLS 100%"| n2
  n0 -->|"4.00 rps, 25.0% err, p95 800 ms, mTLS 100%"| n3
  n3 -->|"4.00 rps, mTLS 100%"| n1
  n4 -->|"10.00 rps"| n0
`);
    expect(renderTopText(g)).toBe(`SERVICE               VERSION    RPS  SUCCESS  P50 MS  P95 MS  P99 MS    MTLS
productpage.bookinfo  *        10.00   100.0%       -       -       -    0.0%
                      v1       10.00   100.0%       -       -       -    0.0%
ratings.bookinfo      *         4.00   100.0%       -       -       -  100.0%
                      v1        4.00   100.0%       -       -       -  100.0%
reviews.bookinfo      *        10.00    90.0%    35.0    70.0       -  100.0%
                      v1        6.00   100.0%       -       -       -  100.0%
                      v3        4.00    75.0%   380.0   760.0  1140.0  100.0%

3 services, 4 edges, istio metrics over 300s, 10 Prometheus queries
`);
    expect(renderMetricsReport(g)).toBe(`mesh_productpage_bookinfo_error_ratio 0
mesh_productpage_bookinfo_rps 10
mesh_ratings_bookinfo_error_ratio 0
mesh_ratings_bookinfo_rps 4
mesh_reviews_bookinfo_p95_latency_ms 70
mesh_reviews_bookinfo_error_ratio 0.1000
mesh_reviews_bookinfo_rps 10
# EOF
`);
  });

  it("computes every level's quantiles from edge-level bucket rates (buckets add up)", () => {
    const b = (src: string, ver: string, le: string, value: number) => v({ ...istioEdge(src, "reviews", ver, {}), le }, value);
    const rows = [
      // productpage → reviews v1: 10 rps, all under 50 ms; reviews-v1 itself → reviews v1: 10 rps, half under 50
      b("productpage-v1", "v1", "50", 10),
      b("productpage-v1", "v1", "100", 10),
      b("productpage-v1", "v1", "+Inf", 10),
      b("reviews-v1", "v1", "50", 5),
      b("reviews-v1", "v1", "100", 10),
      b("reviews-v1", "v1", "+Inf", 10),
    ];
    const g2 = buildGraph(istioAdapter(), { requests: [v(istioEdge("productpage-v1", "reviews", "v1", { code_class: "2xx" }), 10), v(istioEdge("reviews-v1", "reviews", "v1", { code_class: "2xx" }), 10)], buckets: { level: "edge", rows } }, { windowS: 60, queries: 2 });
    const edge = (src: string) => g2.edges.find((e) => e.source === `bookinfo/${src}`)!.signals;
    expect(edge("productpage-v1").p50Ms).toBe(25);
    expect(edge("reviews-v1").p50Ms).toBe(50);
    // together: 20 requests, 15 under 50 ms: the median is at 2/3 of the first bucket
    expect(g2.services[0]!.signals.p50Ms).toBeCloseTo(50 * (10 / 15), 9);
    expect(g2.services[0]!.versions[0]!.signals.p50Ms).toBeCloseTo(50 * (10 / 15), 9);
    expect(g2.services[0]!.signals.p99Ms).toBeCloseTo(50 + 50 * ((19.8 - 15) / 5), 9);
  });

  it("says when there is no traffic", () => {
    expect(renderTopText(buildGraph(istioAdapter(), { requests: [], latency: {} }, { windowS: 60, queries: 4 }))).toBe("no istio request metrics in the last 60s (4 queries)\n");
  });
});

/** A fake Prometheus answering every query with `n` grouped rows, counting queries. */
function countingProm(edges: number): PromClient & { queries: string[] } {
  const queries: string[] = [];
  const rows = (q: string): VectorSample[] =>
    Array.from({ length: edges }, (_, i) =>
      v(
        {
          source_workload: `svc${i % 1000}-v1`,
          source_workload_namespace: "mesh",
          destination_service: `svc${(i * 7 + 1) % 1000}.mesh.svc.cluster.local`,
          destination_workload: `svc${(i * 7 + 1) % 1000}-v1`,
          destination_workload_namespace: "mesh",
          destination_version: "v1",
          ...(q.startsWith("sum") ? { code_class: "2xx", connection_security_policy: "mutual_tls" } : {}),
        },
        1,
      ),
    );
  return {
    url: "http://fake",
    queries,
    warnings: [],
    get queryCount() {
      return queries.length;
    },
    instant: async (q) => {
      queries.push(q);
      return rows(q);
    },
    range: async (q): Promise<MatrixSeries[]> => {
      queries.push(q);
      return [];
    },
  };
}

describe("collectGraph", () => {
  it("issues the same 2 queries for 1,000 services and 5,000 edges as for one edge", async () => {
    for (const edges of [1, 5000]) {
      const prom = countingProm(edges);
      const g = await collectGraph(prom, istioAdapter(), { windowS: 300, levels: ["edge", "version", "service"] });
      expect(prom.queries).toHaveLength(2);
      expect(g.queries).toBe(2);
      expect(g.edges.length).toBeLessThanOrEqual(edges);
    }
  });
});
