import { describe, expect, it } from "vitest";
import { collectGraph, RecordingRulesUnavailableError } from "./graph.js";
import { istioAdapter, linkerdAdapter } from "./mesh.js";
import type { PromClient, RuleGroupInfo, VectorSample } from "./prometheus.js";
import { checkRecordingRules, recordedNames, recordedQueries, recordingRuleGroups, recordingRules, RULES_LABEL, windowTag } from "./rules.js";

const now = new Date("2026-11-26T12:00:00Z");

/** The rules API's view of `recordingRuleGroups`, as Prometheus lists them once evaluated. */
function loaded(groups = recordingRuleGroups(istioAdapter(), [300], 30), over: { health?: string; lastEvaluation?: string; drop?: string } = {}): RuleGroupInfo[] {
  return groups.map((g) => ({
    name: g.name,
    interval: 30,
    lastEvaluation: over.lastEvaluation ?? "2026-11-26T11:59:45Z",
    evaluationTime: 0.2,
    rules: g.rules.filter((r) => r.record !== over.drop).map((r) => ({ type: "recording" as const, name: r.record, query: r.expr, labels: r.labels, health: over.health ?? "ok" })),
  }));
}

describe("recording rules", () => {
  it("one group per window: requests, bucket rates by edge/version/service, then 9 quantiles, all labelled with one id", () => {
    const groups = recordingRuleGroups(istioAdapter(), [60, 300], 30);
    expect(groups.map((g) => [g.name, g.interval, g.rules.length])).toEqual([
      ["meshops.istio.graph.rate1m", "30s", 13],
      ["meshops.istio.graph.rate5m", "30s", 13],
    ]);
    const rules = recordingRules(istioAdapter(), 300);
    const id = recordedNames(istioAdapter(), 300).id;
    expect(rules.every((r) => r.labels[RULES_LABEL] === id)).toBe(true);
    expect(rules.map((r) => r.record)).toEqual([
      "meshops_edge:istio_requests:rate5m",
      "meshops_edge:istio_request_duration_milliseconds_bucket:rate5m",
      "meshops_version:istio_request_duration_milliseconds_bucket:rate5m",
      "meshops_service:istio_request_duration_milliseconds_bucket:rate5m",
      ...["edge", "version", "service"].flatMap((l) => ["p50", "p95", "p99"].map((q) => `meshops_${l}:istio_request_duration_milliseconds:${q}_rate5m`)),
    ]);
    // the raw queries are the graph's own; derived rules read the recorded series of the same id only
    expect(rules[0]!.expr).toBe(istioAdapter().requestsQuery(300));
    expect(rules[1]!.expr).toBe(istioAdapter().bucketsQuery(300, "edge"));
    expect(rules[2]!.expr).toBe(`sum by (le, destination_service, destination_workload, destination_workload_namespace, destination_version) (meshops_edge:istio_request_duration_milliseconds_bucket:rate5m{meshops_rules="${id}"})`);
    expect(rules[3]!.expr).toBe(`sum by (le, destination_service) (meshops_version:istio_request_duration_milliseconds_bucket:rate5m{meshops_rules="${id}"})`);
    expect(rules[12]!.expr).toBe(`histogram_quantile(0.99, meshops_service:istio_request_duration_milliseconds_bucket:rate5m{meshops_rules="${id}"})`);
  });

  it("the id changes with the mesh, the matchers, the reporter and the window, and only with them", () => {
    const id = (a: ReturnType<typeof istioAdapter>, w = 300): string => recordedNames(a, w).id;
    expect(id(istioAdapter())).toBe(id(istioAdapter()));
    expect(id(istioAdapter())).toMatch(/^[0-9a-f]{12}$/);
    const others = [id(istioAdapter(), 60), id(istioAdapter({ matchers: 'cluster="prod"' })), id(istioAdapter({ reporter: "source" })), id(linkerdAdapter())];
    expect(new Set([id(istioAdapter()), ...others]).size).toBe(5);
  });

  it("windows name rules the way durations read", () => {
    expect([30, 40, 60, 90, 300, 3600, 5400].map(windowTag)).toEqual(["30s", "40s", "1m", "90s", "5m", "1h", "90m"]);
  });

  it("reads a graph with 2 queries: the recorded requests, and every quantile asked for in one selector", () => {
    const q = recordedQueries(istioAdapter(), 300, ["version", "service"]);
    const id = recordedNames(istioAdapter(), 300).id;
    expect(q.requests).toBe(`meshops_edge:istio_requests:rate5m{meshops_rules="${id}"}`);
    expect(q.latency).toBe(
      `{__name__=~"meshops_version:istio_request_duration_milliseconds:p50_rate5m|meshops_version:istio_request_duration_milliseconds:p95_rate5m|meshops_version:istio_request_duration_milliseconds:p99_rate5m|meshops_service:istio_request_duration_milliseconds:p50_rate5m|meshops_service:istio_request_duration_milliseconds:p95_rate5m|meshops_service:istio_request_duration_milliseconds:p99_rate5m", meshops_rules="${id}"}`,
    );
    expect(recordedQueries(istioAdapter(), 300, []).latency).toBeUndefined();
  });

  it("are usable only when every rule is loaded with the id, healthy and evaluated within 3 intervals", () => {
    const a = istioAdapter();
    expect(checkRecordingRules(loaded(), a, 300, now)).toMatchObject({ usable: true, intervalS: 30 });
    expect(checkRecordingRules([], a, 300, now)).toMatchObject({ usable: false, reason: expect.stringContaining("no recording rules for this graph") });
    expect(checkRecordingRules(loaded(), a, 60, now)).toMatchObject({ usable: false, reason: expect.stringContaining("window 1m") });
    expect(checkRecordingRules(loaded(), istioAdapter({ matchers: 'cluster="x"' }), 300, now).usable).toBe(false);
    expect(checkRecordingRules(loaded(undefined, { drop: "meshops_version:istio_request_duration_milliseconds_bucket:rate5m" }), a, 300, now)).toMatchObject({
      usable: false,
      reason: expect.stringContaining("lack meshops_version:istio_request_duration_milliseconds_bucket:rate5m"),
    });
    expect(checkRecordingRules(loaded(undefined, { health: "err" }), a, 300, now)).toMatchObject({ usable: false, reason: expect.stringContaining("is err") });
    expect(checkRecordingRules(loaded(undefined, { lastEvaluation: "2026-11-26T11:57:00Z" }), a, 300, now)).toMatchObject({ usable: false, reason: expect.stringContaining("last evaluated 180 s ago") });
    expect(checkRecordingRules(loaded(undefined, { lastEvaluation: "0001-01-01T00:00:00Z" }), a, 300, now)).toMatchObject({ usable: false, reason: expect.stringContaining("not been evaluated yet") });
  });
});

const edge = { source_workload: "web-v1", source_workload_namespace: "shop", destination_service: "cart.shop.svc.cluster.local", destination_workload: "cart-v1", destination_workload_namespace: "shop", destination_version: "v1" };

/** A fake Prometheus with a rules API; answers recorded selectors from `recorded`, raw queries with one edge. */
function fakeProm(groups: RuleGroupInfo[] | Error | undefined, recorded: { requests: readonly VectorSample[]; latency: readonly VectorSample[] }): PromClient & { queries: string[]; rulesCalls: number } {
  const queries: string[] = [];
  const p = {
    url: "http://fake",
    queries,
    rulesCalls: 0,
    warnings: [],
    get queryCount() {
      return queries.length;
    },
    instant: async (q: string): Promise<VectorSample[]> => {
      queries.push(q);
      if (q.startsWith("meshops_edge:")) return [...recorded.requests];
      if (q.startsWith("{__name__=~")) return [...recorded.latency];
      if (q.startsWith("sum by (le")) return ["10", "100", "+Inf"].map((le, i) => ({ metric: { ...edge, le }, time: 1, value: [5, 9, 10][i]! }));
      return [{ metric: { ...edge, code_class: "2xx", connection_security_policy: "mutual_tls" }, time: 1, value: 10 }];
    },
    range: async () => [],
    ...(groups !== undefined
      ? {
          rules: async () => {
            p.rulesCalls++;
            if (groups instanceof Error) throw groups;
            return groups;
          },
        }
      : {}),
  };
  return p;
}

describe("collectGraph with recording rules", () => {
  const names = recordedNames(istioAdapter(), 300);
  const recorded = {
    requests: [{ metric: { __name__: names.requests, meshops_rules: names.id, ...edge, code_class: "2xx", connection_security_policy: "mutual_tls" }, time: 1, value: 7 }],
    latency: [
      { metric: { __name__: names.quantile("edge", 0.95), meshops_rules: names.id, ...edge }, time: 1, value: 95 },
      { metric: { __name__: names.quantile("service", 0.5), meshops_rules: names.id, destination_service: edge.destination_service }, time: 1, value: 42 },
    ],
  };
  const opts = { windowS: 300, levels: ["edge", "version", "service"] as ("edge" | "version" | "service")[], now: () => now };

  it("reads the recorded series when the rules are usable", async () => {
    const prom = fakeProm(loaded(), recorded);
    const g = await collectGraph(prom, istioAdapter(), opts);
    expect(g).toMatchObject({ source: "recording-rules", queries: 2 });
    expect(g.rulesNote).toBeUndefined();
    expect(prom.queries.every((q) => q.includes(`meshops_rules="${names.id}"`))).toBe(true);
    expect(g.edges[0]!.signals).toMatchObject({ rps: 7, p95Ms: 95, mtlsShare: 1 });
    expect(g.services[0]!.signals.p50Ms).toBe(42);
  });

  it("falls back to the raw series, saying why: no rules, stale rules, empty recorded series, a failing rules API", async () => {
    for (const [groups, rec, why] of [
      [[], recorded, "no recording rules for this graph"],
      [loaded(undefined, { lastEvaluation: "2026-11-26T11:00:00Z" }), recorded, "last evaluated 3600 s ago"],
      [loaded(), { requests: [], latency: [] }, "hold no series at the time asked"],
      [new Error("HTTP 403"), recorded, "the rules API failed: HTTP 403"],
      [undefined, recorded, "cannot list rules"],
    ] as const) {
      const prom = fakeProm(groups as RuleGroupInfo[] | Error | undefined, rec);
      const g = await collectGraph(prom, istioAdapter(), opts);
      expect(g.source).toBe("raw");
      expect(g.rulesNote).toContain(why);
      expect(g.edges[0]!.signals.rps).toBe(10);
      // 2 raw queries, after the 2 recorded ones when those came back empty
      expect(g.queries).toBe(why === "hold no series at the time asked" ? 4 : 2);
      expect(g.queries).toBe(prom.queries.length);
    }
  });

  it("`off` never asks for rules; `require` fails (a Prometheus failure, exit 3) when they are not usable", async () => {
    const off = fakeProm(loaded(), recorded);
    expect((await collectGraph(off, istioAdapter(), { ...opts, recordingRules: "off" })).source).toBe("raw");
    expect(off.rulesCalls).toBe(0);
    const err = await collectGraph(fakeProm([], recorded), istioAdapter(), { ...opts, recordingRules: "require" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordingRulesUnavailableError);
    expect((err as RecordingRulesUnavailableError).code).toBe("prometheus_error");
    expect((err as Error).message).toMatch(/^--recording-rules require: no recording rules for this graph/);
  });
});
