/**
 * Grafana: the dashboard's queries run on the real test Prometheus without errors (Istio and Linkerd), the CLI
 * writes it for an environment, and `apply` annotates every applied revision.
 *
 * Grafana itself is not run: it is AGPL-licensed, which this project may not use (the tool library marks
 * github.com/grafana/grafana "not to use"). The annotation test talks to a small local server that answers
 * `POST /api/annotations` as Grafana's HTTP API documentation shows (bearer token, `{ "id", "message" }`).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildDashboard } from "../src/observe/grafana.js";
import { istioAdapter, linkerdAdapter } from "../src/observe/mesh.js";
import { gitRepo, unique } from "./helpers.js";
import { meshopsAsync } from "./gitlab-server.js";

let kubeconfig = "";
let prometheusUrl = "";
let grafana: Server;
let grafanaUrl = "";
const received: { auth: string | undefined; body: { time: number; tags: string[]; text: string; dashboardUID?: string } }[] = [];
let answer = 200;

beforeAll(async () => {
  kubeconfig = inject("kubeconfig");
  prometheusUrl = inject("prometheusUrl");
  grafana = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/api/annotations") {
        res.writeHead(404, { "content-type": "application/json" }).end('{"message":"Not found"}');
        return;
      }
      if (answer !== 200) {
        res.writeHead(answer, { "content-type": "application/json" }).end('{"message":"Unauthorized"}');
        return;
      }
      received.push({ auth: req.headers.authorization, body: JSON.parse(raw) as (typeof received)[number]["body"] });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: received.length, message: "Annotation added" }));
    });
  });
  await new Promise<void>((r) => grafana.listen(0, "127.0.0.1", r));
  grafanaUrl = `http://127.0.0.1:${(grafana.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => grafana.close(() => r()));
});

async function promQuery(expr: string): Promise<{ status: string; error?: string }> {
  const res = await fetch(`${prometheusUrl}/api/v1/query`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ query: expr }) });
  return (await res.json()) as { status: string; error?: string };
}

describe("the Grafana dashboard", () => {
  it("has requests, errors, latency and mTLS panels whose queries Prometheus accepts, for Istio and Linkerd", async () => {
    for (const adapter of [istioAdapter(), linkerdAdapter()]) {
      const d = buildDashboard(adapter, { title: "t", uid: "u", annotationTags: ["meshops", "env:prod"] }) as {
        panels: { title: string; targets: { expr: string }[] }[];
        annotations: { list: { target?: { tags: string[] } }[] };
        templating: { list: { type: string }[] };
      };
      expect(d.panels.map((p) => p.title)).toEqual(["Requests per second", "Error ratio", "Latency p50 / p95 / p99", "Share of mTLS traffic"]);
      expect(d.annotations.list[1]!.target!.tags).toEqual(["meshops", "env:prod"]);
      expect(d.templating.list[0]!.type).toBe("datasource");
      for (const p of d.panels) {
        for (const t of p.targets) {
          expect(t.expr).toContain("[$__rate_interval]");
          const r = await promQuery(t.expr.replaceAll("$__rate_interval", "1m"));
          expect(r, `${adapter.mesh} ${p.title}: ${t.expr}`).toMatchObject({ status: "success" });
        }
      }
    }
  });

  it("is written for an environment by the CLI, with its uid and mesh", async () => {
    const env = unique("graf");
    const dir = gitRepo({
      "meshops.yaml": `version: 1\nenvironments:\n  ${env}: {path: m, cluster: {context: staging}, grafana: {url: "${grafanaUrl}", dashboardUid: mesh-${env}}}\n`,
      "m/vs.yaml": `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: ${env}}\nspec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n`,
    });
    const r = await meshopsAsync(["grafana", "dashboard", "--env", env], { cwd: dir, env: {} });
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { uid: string; tags: string[]; title: string };
    expect(d).toMatchObject({ uid: `mesh-${env}`, tags: ["meshops", "istio"], title: `meshops: ${env}` });
    // on the recorded series of `meshops prometheus rules --window 5m --match ...`
    const rec = await meshopsAsync(["grafana", "dashboard", "--env", env, "--recorded-window", "5m", "--match", 'cluster="prod"'], { cwd: dir, env: {} });
    expect(rec.code, rec.stderr).toBe(0);
    const exprs = (JSON.parse(rec.stdout) as { panels: { targets: { expr: string }[] }[] }).panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs[0]).toMatch(/^sum by \(destination_service\) \(meshops_edge:istio_requests:rate5m\{meshops_rules="[0-9a-f]{12}"\}\)$/);
    expect(exprs.filter((e) => /^meshops_service:istio_request_duration_milliseconds:p(50|95|99)_rate5m\{/.test(e))).toHaveLength(3);
  });
});

describe("Grafana annotations on apply", () => {
  it("annotates every applied revision, and Grafana refusing or no token never fails the apply", async () => {
    const ns = unique("grafann");
    const env = `${ns}-stg`;
    const dir = gitRepo(
      {
        "meshops.yaml": `version: 1\nenvironments:\n  ${env}: {path: m, cluster: {context: staging}, grafana: {url: "${grafanaUrl}", dashboardUid: mesh}}\n`,
        "m/ns.yaml": `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`,
      },
      "initial mesh\n\nSee merge request mesh/config!42",
    );
    const run = (extra: Record<string, string | undefined>): ReturnType<typeof meshopsAsync> => meshopsAsync(["apply", "--env", env, "--kubeconfig", kubeconfig], { cwd: dir, env: extra });
    const first = await run({ GRAFANA_TOKEN: "glsa_test" });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`Grafana annotation 1 posted to ${grafanaUrl}`);
    expect(received).toHaveLength(1);
    expect(received[0]!.auth).toBe("Bearer glsa_test");
    expect(received[0]!.body).toMatchObject({ tags: ["meshops", `env:${env}`, "revision:1"], dashboardUID: "mesh" });
    expect(received[0]!.body.text).toMatch(new RegExp(`^meshops applied revision 1 to ${env}: commit [0-9a-f]{12} "initial mesh" by Test \\(MR !42\\)$`));
    expect(Math.abs(received[0]!.body.time - Date.now())).toBeLessThan(120_000);

    const noToken = await run({ GRAFANA_TOKEN: undefined });
    expect(noToken.code).toBe(0);
    expect(noToken.stderr).toContain("warning: no Grafana annotation: GRAFANA_TOKEN is not set");
    answer = 401;
    const refused = await run({ GRAFANA_TOKEN: "glsa_wrong" });
    answer = 200;
    expect(refused.code).toBe(0);
    expect(refused.stderr).toContain(`warning: Grafana at ${grafanaUrl} refused the annotation (401: Unauthorized)`);
    expect(refused.stderr).not.toContain("glsa_wrong");
    expect(received).toHaveLength(1);
  }, 120_000);
});
