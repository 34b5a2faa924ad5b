import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createRng } from "./sampling.js";
import { msToNanos, OtlpExporter, requestSpans, toOtlp, type TracedRequest, TraceSampler } from "./traces.js";

const req = (over: Partial<TracedRequest> = {}): TracedRequest => ({
  source: { workload: "productpage-v1", app: "productpage", namespace: "bookinfo", version: "v1" },
  service: "reviews",
  namespace: "bookinfo",
  fqdn: "reviews.bookinfo.svc.cluster.local",
  port: 9080,
  version: "v2",
  workload: "reviews-v2",
  code: 200,
  failed: false,
  latencyMs: 12.5,
  endMs: 1_700_000_000_123.25,
  ...over,
});

const attr = (span: { attributes: { key: string; value: unknown }[] }, key: string): unknown => span.attributes.find((a) => a.key === key)?.value;

describe("meshsim spans", () => {
  it("converts unix ms to exact nanosecond strings", () => {
    expect(msToNanos(1_700_000_000_123.25)).toBe("1700000000123250000");
    expect(msToNanos(0)).toBe("0");
  });

  it("a meshed caller's request: client span in the caller's service, server span (its child) in Istio's naming", () => {
    const spans = requestSpans(req());
    expect(spans.map(([svc, s]) => [svc, s.kind])).toEqual([
      ["productpage.bookinfo", 3],
      ["reviews.bookinfo", 2],
    ]);
    const [[, client], [, server]] = spans as [[string, (typeof spans)[0][1]], [string, (typeof spans)[0][1]]];
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(client.traceId).toBe(server.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.parentSpanId).toBeUndefined();
    expect(server.name).toBe("reviews.bookinfo.svc.cluster.local:9080/*");
    expect(client.name).toBe(server.name);
    expect(server.endTimeUnixNano).toBe("1700000000123250000");
    expect(BigInt(server.endTimeUnixNano) - BigInt(server.startTimeUnixNano)).toBe(12_500_000n);
    expect(BigInt(client.endTimeUnixNano) - BigInt(client.startTimeUnixNano)).toBe(13_000_000n);
    expect(attr(server, "version")).toEqual({ stringValue: "v2" });
    expect(attr(server, "istio.canonical_revision")).toEqual({ stringValue: "v2" });
    expect(attr(server, "http.status_code")).toEqual({ intValue: "200" });
    expect(attr(server, "upstream_cluster")).toEqual({ stringValue: "inbound|9080||" });
    expect(attr(server, "node_id")).toEqual({ stringValue: "sidecar~127.0.0.1~reviews-v2.bookinfo~bookinfo.svc.cluster.local" });
    expect(attr(server, "error")).toBeUndefined();
    expect(server.status).toEqual({ code: 0 });
    expect(attr(client, "version")).toEqual({ stringValue: "v1" });
    expect(attr(client, "upstream_cluster")).toEqual({ stringValue: "outbound|9080|v2|reviews.bookinfo.svc.cluster.local" });
  });

  it("an errored request from outside the mesh: one server span with status ERROR", () => {
    const spans = requestSpans(req({ source: undefined, failed: true, code: 503 }));
    expect(spans).toHaveLength(1);
    const [svc, span] = spans[0]!;
    expect(svc).toBe("reviews.bookinfo");
    expect(span.parentSpanId).toBeUndefined();
    expect(span.status).toEqual({ code: 2, message: "HTTP 503" });
    expect(attr(span, "http.status_code")).toEqual({ intValue: "503" });
    expect(attr(span, "error")).toEqual({ boolValue: true });
  });

  it("groups spans by service into OTLP resourceSpans with service.name", () => {
    const otlp = toOtlp([...requestSpans(req()), ...requestSpans(req())]);
    expect(otlp.resourceSpans).toHaveLength(2);
    const reviews = otlp.resourceSpans.find((r) => r.resource.attributes.some((a) => a.key === "service.name" && JSON.stringify(a.value) === '{"stringValue":"reviews.bookinfo"}'))!;
    expect(reviews.scopeSpans[0]!.spans).toHaveLength(2);
    expect(reviews.resource.attributes).toContainEqual({ key: "k8s.namespace.name", value: { stringValue: "bookinfo" } });
  });
});

describe("TraceSampler", () => {
  it("keeps at most N per edge and window, proportional to traffic whatever the order", () => {
    const sampler = new TraceSampler(5, createRng(3));
    const picked: Record<string, number> = { v1: 0, v2: 0 };
    for (let w = 0; w < 400; w++) {
      // v1 is always offered first and carries 3× v2's requests
      for (let i = 0; i < 30; i++) sampler.offer("a>b", 3, () => req({ version: "v1" }));
      for (let i = 0; i < 30; i++) sampler.offer("a>b", 1, () => req({ version: "v2" }));
      for (let i = 0; i < 2; i++) sampler.offer("c>b", 1, () => req({ version: "v2", service: "other" }));
      const got = sampler.take();
      expect(got.filter((r) => r.service === "reviews")).toHaveLength(5);
      expect(got.filter((r) => r.service === "other")).toHaveLength(2);
      for (const r of got) if (r.service === "reviews") picked[r.version]!++;
    }
    expect(picked.v1! / (picked.v1! + picked.v2!)).toBeCloseTo(0.75, 1);
    expect(sampler.take()).toEqual([]);
  });

  it("keeps nothing when N is 0", () => {
    const sampler = new TraceSampler(0);
    sampler.offer("a>b", 1, () => req());
    expect(sampler.take()).toEqual([]);
  });
});

describe("OtlpExporter", () => {
  it("POSTs JSON to <url>/v1/traces, logs a failure once and retries the spans with the next batch", async () => {
    const bodies: unknown[] = [];
    let fail = true;
    const server = createServer((rq, rs) => {
      let body = "";
      rq.on("data", (c: Buffer) => (body += c.toString()));
      rq.on("end", () => {
        expect(rq.url).toBe("/v1/traces");
        expect(rq.headers["content-type"]).toBe("application/json");
        if (fail) {
          rs.writeHead(503).end();
          return;
        }
        bodies.push(JSON.parse(body));
        rs.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const logs: string[] = [];
    let next = 1;
    const exporter = new OtlpExporter(`${url}/`, () => Array.from({ length: next }, () => requestSpans(req())).flat(), (m) => logs.push(m));
    expect(exporter.endpoint).toBe(`${url}/v1/traces`);
    try {
      await exporter.flush();
      await exporter.flush();
      expect(logs).toHaveLength(1);
      expect(logs[0]).toContain("HTTP 503");
      fail = false;
      next = 0;
      await exporter.flush();
      expect(bodies).toHaveLength(1);
      const spans = (bodies[0] as ReturnType<typeof toOtlp>).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
      expect(spans).toHaveLength(4); // two requests' client and server spans, sent once
      expect(exporter.sent).toBe(4);
      expect(logs).toHaveLength(2);
      expect(logs[1]).toContain("works again");
      await exporter.flush();
      expect(bodies).toHaveLength(1); // nothing pending, nothing sent
    } finally {
      server.close();
    }
  });

  it("never throws when nothing listens", async () => {
    const logs: string[] = [];
    const exporter = new OtlpExporter("http://127.0.0.1:1", () => requestSpans(req()), (m) => logs.push(m));
    await exporter.flush();
    await exporter.stop();
    expect(logs).toHaveLength(1);
  });
});
