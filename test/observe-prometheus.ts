/**
 * A real Prometheus for observe's integration tests: the test environment's shared one when the global setup
 * provides it (PROMETHEUS_URL_TESTENV / PROMETHEUS_TARGETS_DIR_TESTENV; the target is registered with a file_sd
 * file and a unique `observe_run` label to select it by), else one started for the test file (Debian's
 * `prometheus`, 1s scrape and evaluation interval, its own TSDB folder).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A Prometheus scraping one target. */
export interface TestPrometheus {
  url: string;
  /** Matchers selecting this run's series (`observe_run="..."`). */
  matchers: string;
  shared: boolean;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`prometheus at ${url} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts (or joins) a Prometheus that scrapes `target` (host:port serving /metrics) every second. */
export async function prometheusFor(target: string): Promise<TestPrometheus> {
  const run = `observe-${process.pid}-${randomBytes(4).toString("hex")}`;
  const matchers = `observe_run="${run}"`;
  const sharedUrl = process.env.PROMETHEUS_URL_TESTENV;
  const sharedDir = process.env.PROMETHEUS_TARGETS_DIR_TESTENV;
  if (sharedUrl && sharedDir) {
    const file = join(sharedDir, `${run}.json`);
    writeFileSync(file, JSON.stringify([{ targets: [target], labels: { observe_run: run } }]));
    await waitReady(sharedUrl, 10_000);
    return { url: sharedUrl, matchers, shared: true, close: async () => rmSync(file, { force: true }) };
  }
  const dir = mkdtempSync(join(tmpdir(), "meshops-observe-prom-"));
  const port = await freePort();
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      "scrape_configs:",
      "  - job_name: observe",
      `    static_configs: [{ targets: ["${target}"], labels: { observe_run: "${run}" } }]`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("prometheus", [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, 20_000);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  return {
    url,
    matchers,
    shared: false,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `query` returns at least `n` series (data scraped and a rate window filled). */
export async function waitForSeries(url: string, query: string, n: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${url}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query }) });
    const j = (await r.json()) as { data?: { result?: unknown[] } };
    if ((j.data?.result?.length ?? 0) >= n) return;
    if (Date.now() > until) throw new Error(`no ${n} series for ${query} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
