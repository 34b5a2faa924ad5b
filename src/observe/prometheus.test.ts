import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createPromClient, parseSampleValue, PromError, PromQueryError, shortQuery } from "./prometheus.js";

/** A stand-in answering with Prometheus' documented envelope; records what it was sent. */
async function fakeServer(handler: (req: { path: string; body: URLSearchParams; n: number }, res: ServerResponse) => void): Promise<{ url: string; calls: { path: string; body: URLSearchParams; method: string; type: string }[]; server: Server }> {
  const calls: { path: string; body: URLSearchParams; method: string; type: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      const body = new URLSearchParams(data);
      calls.push({ path: req.url ?? "", body, method: req.method ?? "", type: req.headers["content-type"] ?? "" });
      handler({ path: req.url ?? "", body, n: calls.length }, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
};
const fast = { retryDelayMs: 1, timeoutMs: 2000 };

describe("createPromClient", () => {
  it("sends instant queries as POST form bodies and parses vectors, NaN and infinities", async () => {
    const s = await fakeServer((_req, res) =>
      json(res, 200, {
        status: "success",
        data: {
          resultType: "vector",
          result: [
            { metric: { destination_service: "a" }, value: [1700000000.5, "1.5"] },
            { metric: {}, value: [1700000000.5, "NaN"] },
            { metric: { le: "x" }, value: [1700000000.5, "+Inf"] },
          ],
        },
      }),
    );
    const c = createPromClient(`${s.url}/`, fast);
    const v = await c.instant("sum(rate(x[5m]))", { time: 1700000000 });
    expect(s.calls[0]!.method).toBe("POST");
    expect(s.calls[0]!.path).toBe("/api/v1/query");
    expect(s.calls[0]!.type).toBe("application/x-www-form-urlencoded");
    expect(s.calls[0]!.body.get("query")).toBe("sum(rate(x[5m]))");
    expect(s.calls[0]!.body.get("time")).toBe("1700000000");
    expect(s.calls[0]!.body.get("timeout")).toBe("2s");
    expect(v[0]).toEqual({ metric: { destination_service: "a" }, time: 1700000000.5, value: 1.5 });
    expect(Number.isNaN(v[1]!.value)).toBe(true);
    expect(v[2]!.value).toBe(Infinity);
    expect(c.queryCount).toBe(1);
  });

  it("sends range queries with start, end and step and parses matrices", async () => {
    const s = await fakeServer((_req, res) => json(res, 200, { status: "success", data: { resultType: "matrix", result: [{ metric: { a: "b" }, values: [[10, "1"], [25, "2"]] }] } }));
    const c = createPromClient(s.url, fast);
    const m = await c.range("up", { start: 10, end: 40, stepS: 15 });
    expect(s.calls[0]!.path).toBe("/api/v1/query_range");
    expect([s.calls[0]!.body.get("start"), s.calls[0]!.body.get("end"), s.calls[0]!.body.get("step")]).toEqual(["10", "40", "15s"]);
    expect(m).toEqual([{ metric: { a: "b" }, values: [[10, 1], [25, 2]] }]);
  });

  it("retries 503 and 429 with backoff, and counts the query once", async () => {
    const s = await fakeServer((req, res) => {
      if (req.n === 1) return json(res, 503, { status: "error", errorType: "unavailable", error: "starting" });
      if (req.n === 2) return void res.writeHead(429).end("slow down");
      json(res, 200, { status: "success", data: { resultType: "vector", result: [] } });
    });
    const sleeps: number[] = [];
    const c = createPromClient(s.url, { ...fast, retryDelayMs: 100, sleep: async (ms) => void sleeps.push(ms) });
    expect(await c.instant("up")).toEqual([]);
    expect(s.calls).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]);
    expect(c.queryCount).toBe(1);
  });

  it("a bad query (400 bad_data) is not retried and names the query and the URL", async () => {
    const s = await fakeServer((_req, res) => json(res, 400, { status: "error", errorType: "bad_data", error: 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis' }));
    const c = createPromClient(s.url, fast);
    const e = (await c.instant("sum(up").catch((x: unknown) => x)) as PromQueryError;
    expect(e).toBeInstanceOf(PromQueryError);
    expect(e.code).toBe("promql_invalid");
    expect(e.query).toBe("sum(up");
    expect(e.message).toBe(`prometheus at ${s.url} rejected the query sum(up: bad_data: invalid parameter "query": 1:5: parse error: unclosed left parenthesis`);
    expect(s.calls).toHaveLength(1);
  });

  it("an execution error (422) is a prometheus_error naming the query", async () => {
    const s = await fakeServer((_req, res) => json(res, 422, { status: "error", errorType: "execution", error: "query processing would load too many samples into memory" }));
    const e = (await createPromClient(s.url, fast)
      .instant("sum(x)")
      .catch((x: unknown) => x)) as PromError;
    expect(e).toBeInstanceOf(PromError);
    expect(e.code).toBe("prometheus_error");
    expect(e.status).toBe(422);
    expect(e.message).toContain("sum(x)");
    expect(e.message).toContain("too many samples");
  });

  it("a closed port is unreachable after the retries, naming the URL", async () => {
    const s = await fakeServer(() => undefined);
    const url = s.url;
    await new Promise((r) => s.server.close(r));
    servers.length = 0;
    const e = (await createPromClient(url, { ...fast, retries: 1 })
      .instant("up")
      .catch((x: unknown) => x)) as Error & { code: string };
    expect(e.code).toBe("unreachable");
    expect(e.message).toMatch(new RegExp(`^Prometheus at ${url.replace(/\./g, "\\.")} is unreachable: ECONNREFUSED \\(after 2 attempts; query up\\)$`));
  });

  it("a server that does not answer in time is unreachable after the retries", async () => {
    await fakeServer(() => undefined).then(async (s) => {
      const e = (await createPromClient(s.url, { retries: 1, retryDelayMs: 1, timeoutMs: 150 })
        .instant("up")
        .catch((x: unknown) => x)) as Error & { code: string };
      expect(e.code).toBe("unreachable");
      expect(e.message).toContain("no answer within 150 ms");
      expect(s.calls).toHaveLength(2);
      s.server.closeAllConnections();
    });
  });

  it("a URL that is not Prometheus (404 without the API envelope) says so", async () => {
    const s = await fakeServer((_req, res) => void res.writeHead(404).end("not found"));
    const e = (await createPromClient(`${s.url}/grafana`, fast)
      .instant("up")
      .catch((x: unknown) => x)) as Error & { code: string };
    expect(e.code).toBe("unreachable");
    expect(e.message).toContain("is this the Prometheus base URL?");
  });

  it("keeps Prometheus' warnings with the query they belong to", async () => {
    const s = await fakeServer((_req, res) => json(res, 200, { status: "success", data: { resultType: "vector", result: [] }, warnings: ["bucket label \"le\" is missing or has a malformed value"] }));
    const c = createPromClient(s.url, fast);
    await c.instant("histogram_quantile(0.5, x)");
    expect(c.warnings).toEqual(['bucket label "le" is missing or has a malformed value (query histogram_quantile(0.5, x))']);
  });
});

describe("helpers", () => {
  it("shortens queries to one line", () => {
    expect(shortQuery("sum by (a)\n  (rate(x[5m]))")).toBe("sum by (a) (rate(x[5m]))");
    expect(shortQuery("x".repeat(300))).toHaveLength(160);
  });
  it("parses Prometheus' float strings", () => {
    expect(parseSampleValue("-Inf")).toBe(-Infinity);
    expect(parseSampleValue("1e3")).toBe(1000);
  });
});
