#!/usr/bin/env node
/**
 * meshsim — a telemetry EMULATOR for meshops' tests and demos (never used by meshops itself).
 *
 *   node dist/meshsim/main.js --config sim.yaml --kubeconfig K --context staging --listen 127.0.0.1:0 \
 *     [--seed N] [--targets-dir DIR] [--job NAME] [--no-kube] [--otlp-url URL [--traces-per-second N]]
 *
 * Prints one JSON line on stdout once it serves: {"emulator":"meshsim","url":...,"pid":...,"targetFile":...}.
 * HTTP: GET /metrics, GET /state, POST /control/versions/<ns>/<service>/<version>,
 * POST /control/services/<ns>/<service>, POST /control/reset, GET /healthz.
 * With --otlp-url, spans for a sample of the requests go to URL/v1/traces (OTLP/HTTP JSON; see traces.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { loadSimConfig, SimConfigError, type RoutingKind } from "./config.js";
import { defaultRouting } from "./routing.js";
import { type Behaviour, Simulator } from "./sim.js";
import { OtlpExporter, requestSpans, TraceSampler } from "./traces.js";
import { watchRouting, type RoutingWatch } from "./watch.js";

interface Options {
  config: string;
  kubeconfig?: string;
  context?: string;
  listen: string;
  seed: number;
  targetsDir?: string;
  job: string;
  kube: boolean;
  otlpUrl?: string;
  tracesPerSecond: number;
}

const log = (msg: string): void => void process.stderr.write(`meshsim: ${msg}\n`);

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError("not an integer");
  return n;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
      if (body.length > 65_536) req.destroy(new Error("body too large"));
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

const num = (v: unknown, min: number, max: number): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= min && v <= max ? v : undefined);

/** Validates a control body: only known fields with sane values. */
export function parseBehaviour(body: unknown): Partial<Behaviour> & { rpsMultiplier?: number } {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("the body must be a JSON object");
  const out: Partial<Behaviour> & { rpsMultiplier?: number } = {};
  const limits: Record<string, [number, number]> = { latencyMultiplier: [0, 10_000], extraLatencyMs: [0, 3_600_000], errorRatio: [0, 1], rpsMultiplier: [0, 10_000] };
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    const lim = limits[k];
    if (!lim) throw new Error(`unknown field "${k}" (known: ${Object.keys(limits).join(", ")})`);
    const n = num(v, lim[0], lim[1]);
    if (n === undefined) throw new Error(`${k} must be a number in [${lim[0]}, ${lim[1]}]`);
    (out as Record<string, number>)[k] = n;
  }
  return out;
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command("meshsim")
    .description(
      "meshsim: a telemetry EMULATOR for tests and demos. It emulates a service mesh's data plane: follows the routing in the\n" +
        "cluster (VirtualService/DestinationRule, HTTPRoute, TrafficSplit) and exposes Istio or Linkerd standard metrics for\n" +
        "Prometheus. It serves no real traffic.",
    )
    .requiredOption("--config <file>", "meshsim YAML (mesh, services, versions, callers)")
    .option("--kubeconfig <file>", "kubeconfig to read routing from (default $KUBECONFIG)")
    .option("--context <name>", "kubeconfig context")
    .option("--listen <host:port>", "HTTP address for /metrics, /state and /control", "127.0.0.1:0")
    .option("--seed <n>", "random seed (latencies, errors, mTLS)", intArg, 1)
    .option("--targets-dir <dir>", "register with Prometheus: write a file_sd JSON there (removed on exit)")
    .option("--job <name>", "job label in the file_sd target", "meshsim")
    .option("--no-kube", "do not read routing from a cluster (traffic follows replicas)")
    .option("--otlp-url <url>", "send spans for a sample of the requests to this OTLP/HTTP endpoint (JSON, POST <url>/v1/traces), e.g. Jaeger's")
    .option("--traces-per-second <n>", "with --otlp-url: at most this many traced requests per second per edge (caller → service)", intArg, 5)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const opts = program.opts<Options>();
  let config;
  try {
    config = loadSimConfig(opts.config);
  } catch (e) {
    if (e instanceof SimConfigError) {
      for (const p of e.problems) process.stderr.write(`${p}\n`);
      return 2;
    }
    throw e;
  }
  const m = /^(.*):(\d+)$/.exec(opts.listen);
  if (!m) {
    log(`--listen must be HOST:PORT, got ${opts.listen}`);
    return 2;
  }
  const sim = new Simulator(config, opts.seed);
  let exporter: OtlpExporter | undefined;
  if (opts.otlpUrl) {
    try {
      const u = new URL(opts.otlpUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
    } catch {
      log(`--otlp-url must be an http(s) URL, got ${opts.otlpUrl}`);
      return 2;
    }
    if (opts.tracesPerSecond < 0) {
      log(`--traces-per-second must not be negative, got ${opts.tracesPerSecond}`);
      return 2;
    }
    const tracer = new TraceSampler(opts.tracesPerSecond);
    sim.tracer = tracer;
    exporter = new OtlpExporter(opts.otlpUrl, () => tracer.take().flatMap((r) => requestSpans(r)), log);
  }

  let watch: RoutingWatch | undefined;
  if (opts.kube) {
    const { loadKubeConfig } = await import("../cluster/kubeconfig.js");
    const { createKubeClient } = await import("../cluster/client.js");
    let kube;
    try {
      kube = createKubeClient(loadKubeConfig({ context: opts.context, kubeconfig: opts.kubeconfig }), { fieldManager: "meshsim" });
    } catch (e) {
      log((e as Error).message);
      return 2;
    }
    const kinds = new Set<RoutingKind>(config.services.flatMap((s) => s.routing ?? defaultRouting(config.mesh)));
    const namespaces = [...new Set(config.services.map((s) => s.namespace))];
    watch = watchRouting(kube, kinds, namespaces, (objs) => sim.applyRouting(objs), log);
    // serve with the cluster's routing from the first step, but never wait long for a slow or absent server
    await Promise.race([watch.ready, new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://meshsim");
      const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      try {
        if (req.method === "GET" && url.pathname === "/metrics") return send(res, 200, sim.render(), "text/plain; version=0.0.4; charset=utf-8");
        if (req.method === "GET" && url.pathname === "/state") return send(res, 200, sim.state());
        if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, "ok\n", "text/plain");
        if (req.method === "POST" && parts[0] === "control") {
          const raw = await readBody(req);
          let body: unknown = {};
          try {
            body = raw.trim() === "" ? {} : JSON.parse(raw);
          } catch {
            return send(res, 400, { error: "the body is not JSON" });
          }
          let change;
          try {
            change = parseBehaviour(body);
          } catch (e) {
            return send(res, 400, { error: (e as Error).message });
          }
          if (parts[1] === "reset" && parts.length === 2) {
            sim.reset();
            return send(res, 200, sim.state());
          }
          if (parts[1] === "versions" && parts.length === 5) {
            const { rpsMultiplier, ...behaviour } = change;
            if (rpsMultiplier !== undefined) return send(res, 400, { error: "rpsMultiplier is set per service: POST /control/services/<ns>/<service>" });
            if (!sim.setBehaviour(parts[2]!, parts[3]!, parts[4]!, behaviour)) return send(res, 404, { error: `no version ${parts[4]} of service ${parts[2]}/${parts[3]}` });
            log(`${parts[2]}/${parts[3]} ${parts[4]}: ${JSON.stringify(behaviour)}`);
            return send(res, 200, sim.state());
          }
          if (parts[1] === "services" && parts.length === 4) {
            const { rpsMultiplier, ...rest } = change;
            if (Object.keys(rest).length > 0 || rpsMultiplier === undefined) return send(res, 400, { error: "a service takes {\"rpsMultiplier\": N}; behaviour is per version" });
            if (!sim.setRpsMultiplier(parts[2]!, parts[3]!, rpsMultiplier)) return send(res, 404, { error: `no service ${parts[2]}/${parts[3]}` });
            log(`${parts[2]}/${parts[3]}: rpsMultiplier ${rpsMultiplier}`);
            return send(res, 200, sim.state());
          }
        }
        send(res, 404, { error: `no ${req.method} ${url.pathname}` });
      } catch (e) {
        send(res, 500, { error: (e as Error).message });
      }
    })();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(m[2]), m[1], () => resolve());
    });
  } catch (e) {
    log(`cannot listen on ${opts.listen}: ${(e as Error).message}`);
    watch?.stop();
    return 2;
  }
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : Number(m[2]);
  const host = m[1] === "" || m[1] === "0.0.0.0" ? "127.0.0.1" : m[1]!;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  // real-time steps: the rate follows the wall clock even when a step runs late
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    sim.step(Math.min(10, (now - last) / 1000));
    last = now;
  }, config.stepMs);

  let targetFile: string | undefined;
  if (opts.targetsDir) {
    mkdirSync(opts.targetsDir, { recursive: true });
    targetFile = join(opts.targetsDir, `meshsim-${process.pid}-${port}.json`);
    const group = [{ targets: [`${host}:${port}`], labels: { job: opts.job, emulator: "meshsim" } }];
    writeFileSync(`${targetFile}.tmp`, JSON.stringify(group) + "\n");
    renameSync(`${targetFile}.tmp`, targetFile); // Prometheus never reads half a file
  }
  exporter?.start();
  process.stdout.write(
    JSON.stringify({ emulator: "meshsim", url, metrics: `${url}/metrics`, pid: process.pid, mesh: config.mesh, targetFile: targetFile ?? null, otlpEndpoint: exporter?.endpoint ?? null }) + "\n",
  );
  log(`emulating ${config.mesh} telemetry for ${config.services.length} service(s) on ${url}${targetFile ? `, registered in ${targetFile}` : ""}${exporter ? `, spans to ${exporter.endpoint}` : ""}`);

  const cleanup = (): void => {
    if (targetFile) rmSync(targetFile, { force: true });
    targetFile = undefined;
  };
  process.on("exit", cleanup);
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log(`${sig}: stopping`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  cleanup();
  clearInterval(timer);
  await exporter?.stop();
  watch?.stop();
  server.closeAllConnections();
  server.close();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      log(`error: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
