/**
 * Trace links for anomalies against the real Jaeger of the test environment: spans sent over OTLP/HTTP (as a
 * mesh's proxies would), read back through Jaeger's query API by `tracesFor`.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { tracesFor } from "../src/observe/traces.js";
import { unique } from "./helpers.js";

let jaegerUrl = "";
let otlpUrl = "";
beforeAll(() => {
  jaegerUrl = inject("jaegerUrl");
  otlpUrl = inject("jaegerOtlpUrl");
});

const hex = (n: number): string => randomBytes(n).toString("hex");
const attr = (key: string, v: string | number): { key: string; value: { stringValue: string } | { intValue: string } } => ({ key, value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v } });

async function sendSpans(service: string, spans: { durationMs: number; version: string; status?: number; ageS: number }[]): Promise<string[]> {
  const now = Date.now();
  const ids: string[] = [];
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [attr("service.name", service)] },
        scopeSpans: [
          {
            scope: { name: "meshops-test" },
            spans: spans.map((s) => {
              const traceId = hex(16);
              ids.push(traceId);
              const start = BigInt(now - s.ageS * 1000) * 1_000_000n;
              return {
                traceId,
                spanId: hex(8),
                name: `${service}.svc.cluster.local:9080/*`,
                kind: 2,
                startTimeUnixNano: String(start),
                endTimeUnixNano: String(start + BigInt(Math.round(s.durationMs * 1e6))),
                attributes: [attr("version", s.version), attr("http.status_code", s.status ?? 200)],
                status: { code: (s.status ?? 200) >= 500 ? 2 : 0 },
              };
            }),
          },
        ],
      },
    ],
  };
  const url = otlpUrl.endsWith("/v1/traces") ? otlpUrl : `${otlpUrl.replace(/\/+$/, "")}/v1/traces`;
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(200);
  return ids;
}

describe("traces for an anomaly from Jaeger", () => {
  it("lists the slowest and the failing traces through the service in the window, as links to the tracing UI", async () => {
    const service = `${unique("reviews")}.bookinfo`;
    await sendSpans(service, [
      { durationMs: 12, version: "v1", ageS: 30 },
      { durationMs: 15, version: "v1", ageS: 25 },
      { durationMs: 180, version: "v2", ageS: 20 },
      { durationMs: 240, version: "v2", ageS: 15 },
      { durationMs: 90, version: "v2", status: 503, ageS: 10 },
      // outside the window asked for below
      { durationMs: 9000, version: "v2", ageS: 600 },
    ]);
    const now = Date.now() / 1000;
    let r = await tracesFor(jaegerUrl, service, now - 120, now + 5, { limit: 3 });
    for (let i = 0; i < 50 && r.slowest.length < 3; i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await tracesFor(jaegerUrl, service, now - 120, now + 5, { limit: 3 });
    }
    expect(r.error).toBeUndefined();
    expect(r.slowest.map((t) => [Math.round(t.durationMs), t.version, t.error])).toEqual([
      [240, "v2", false],
      [180, "v2", false],
      [90, "v2", true],
    ]);
    expect(r.slowest[0]!.url).toBe(`${jaegerUrl.replace(/\/+$/, "")}/trace/${r.slowest[0]!.traceId}`);
    expect(r.failing.map((t) => Math.round(t.durationMs))).toEqual([90]);
    // a version's anomaly looks at that version's spans
    const v1 = await tracesFor(jaegerUrl, service, now - 120, now + 5, { version: "v1" });
    expect(v1.slowest.map((t) => t.version)).toEqual(["v1", "v1"]);
  });

  it("says when the tracing API cannot be read, without failing", async () => {
    const r = await tracesFor("http://127.0.0.1:9", "x.y", 0, 1);
    expect(r).toMatchObject({ slowest: [], failing: [] });
    expect(r.error).toContain("the tracing API at http://127.0.0.1:9 could not be read");
  });
});
