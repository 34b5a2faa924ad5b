/**
 * The Kubernetes client layer and the Lease against the real test environment. Faults (429, 503) come from
 * a forwarding proxy in front of the real API server, so every answer that is not a fault is the server's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { createKubeClient, type KubeClient } from "../src/cluster/client.js";
import { KubeError } from "../src/cluster/errors.js";
import { ensureSystemNamespace, markPending } from "../src/cluster/inventory.js";
import { clusterStatus } from "../src/cluster/status.js";
import { acquireLock, LockHeldError, type Clock } from "../src/cluster/lease.js";
import { loadKubeConfig, parseKubeconfigs, type KubeTarget } from "../src/cluster/kubeconfig.js";
import { UnreachableError } from "../src/errors.js";
import { unique } from "./helpers.js";

let kc: KubeTarget;
let kube: KubeClient;
beforeAll(() => {
  kc = loadKubeConfig({ kubeconfig: inject("kubeconfig"), context: "staging" });
  kube = createKubeClient(kc);
});
afterAll(() => kube.close());

/** A proxy to the real staging API server that answers the first `faults` requests with `status`. */
async function faultyProxy(faults: number, status: number, delayMs = 0): Promise<{ server: Server; url: string; seen: () => number; maxInFlight: () => number }> {
  const cluster = kc.getCurrentCluster()!;
  const upstream = new URL(cluster.server);
  const ca = Buffer.from(cluster.caData!);
  let seen = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen++;
    if (seen <= faults) {
      res.writeHead(status, { "Content-Type": "application/json", "Retry-After": "0" });
      res.end(JSON.stringify({ kind: "Status", code: status, message: "injected fault" }));
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => forward(req, res), delayMs);
  });
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = httpsRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host }, ca }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
      r.on("end", () => inFlight--);
    });
    req.pipe(up);
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen: () => seen, maxInFlight: () => maxInFlight };
}

function kubeconfigFor(server: string): KubeTarget {
  const token = kc.getCurrentUser()!.token!;
  const text = JSON.stringify({
    clusters: [{ name: "proxy", cluster: { server, "insecure-skip-tls-verify": server.startsWith("http:") } }],
    users: [{ name: "admin", user: { token } }],
    contexts: [{ name: "proxy", context: { cluster: "proxy", user: "admin" } }],
    "current-context": "proxy",
  });
  return parseKubeconfigs([{ path: "proxy.kubeconfig", text }]);
}

describe("the Kubernetes client against a real API server", () => {
  it("discovers resources: plural names and scope, and says which kind is unknown", async () => {
    expect(await kube.resource("networking.istio.io/v1", "VirtualService")).toMatchObject({ plural: "virtualservices", namespaced: true });
    expect(await kube.resource("v1", "Namespace")).toMatchObject({ plural: "namespaces", namespaced: false });
    expect(await kube.resource("gateway.networking.k8s.io/v1", "GatewayClass")).toMatchObject({ plural: "gatewayclasses", namespaced: false });
    await expect(kube.resource("networking.istio.io/v1", "VirtualServis")).rejects.toMatchObject({ code: "unknown_kind", message: expect.stringContaining("no kind VirtualServis in networking.istio.io/v1") });
    await expect(kube.resource("example.com/v1", "Thing")).rejects.toMatchObject({ code: "unknown_kind" });
  });

  it("applies server side, gets, lists by label and deletes", async () => {
    const ns = unique("client");
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    const dry = await kube.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: ns, labels: { t: ns } }, data: { x: "1" } }, { dryRun: true });
    expect(dry.metadata?.uid).toBeTruthy();
    expect(await kube.get({ apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "a" })).toBeUndefined();
    for (const name of ["a", "b", "c"]) await kube.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels: { t: ns } }, data: { x: name } });
    const live = await kube.get({ apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "b" });
    expect(live?.data).toEqual({ x: "b" });
    expect(live?.metadata?.managedFields?.map((m) => m.manager)).toEqual(["meshops"]);
    const listed = await kube.list("v1", "ConfigMap", { labelSelector: `t=${ns}` });
    expect(listed.map((o) => o.metadata?.name)).toEqual(["a", "b", "c"]);
    expect(listed[0]).toMatchObject({ apiVersion: "v1", kind: "ConfigMap" });
    expect(await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "a" })).toBe(true);
    expect(await kube.delete({ apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "a" })).toBe(false);
    // the keep-alive socket stays usable after a DELETE with a body
    expect((await kube.list("v1", "ConfigMap", { namespace: ns, labelSelector: `t=${ns}` })).length).toBe(2);
  });

  it("reports an apply conflict per field, naming the other manager", async () => {
    const ns = unique("conflict");
    await kube.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    const other = createKubeClient(kc, { fieldManager: "other" });
    try {
      await other.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: ns }, data: { owned: "theirs" } });
    } finally {
      other.close();
    }
    const err = await kube.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: ns }, data: { owned: "ours" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ code: "conflict", terminal: true, details: { conflicts: [{ field: ".data.owned", manager: "other" }] } });
    expect((err as Error).message).toBe(`ConfigMap/${ns}/c: conflict: .data.owned is owned by "other" (use --force-conflicts to take ownership)`);
    const forced = await kube.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: ns }, data: { owned: "ours" } }, { force: true });
    expect(forced.data).toEqual({ owned: "ours" });
  });

  it("names the verb and resource of a 403", async () => {
    const limited = createKubeClient(loadKubeConfig({ kubeconfig: inject("kubeconfig"), context: "staging-limited" }));
    try {
      const err = await limited.get({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "x", name: "r" }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "forbidden", details: { verb: "get", resource: "virtualservices.networking.istio.io", subject: "VirtualService/x/r" } });
      expect((err as Error).message).toMatch(/^VirtualService\/x\/r: forbidden: cannot get virtualservices\.networking\.istio\.io \(/);
    } finally {
      limited.close();
    }
  });

  it("retries 429 and 503 with backoff, within a bound", async () => {
    const sleeps: number[] = [];
    const proxy = await faultyProxy(3, 429);
    const c = createKubeClient(kubeconfigFor(proxy.url), { sleep: async (ms) => void sleeps.push(ms), backoffMs: 100, maxRetries: 5 });
    try {
      expect(await c.resource("v1", "ConfigMap")).toMatchObject({ plural: "configmaps" });
      // Retry-After: 0 is not a usable hint: exponential backoff instead
      expect(sleeps).toEqual([100, 200, 400]);
    } finally {
      c.close();
      proxy.server.close();
    }
    const always = await faultyProxy(1_000, 503);
    const d = createKubeClient(kubeconfigFor(always.url), { sleep: async () => undefined, maxRetries: 3 });
    try {
      await expect(d.get({ apiVersion: "v1", kind: "Namespace", name: "default" })).rejects.toMatchObject({ code: "api_error", terminal: false });
      expect(always.seen()).toBe(4);
    } finally {
      d.close();
      always.server.close();
    }
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    // each answer is held 30 ms, so requests overlap whenever the client lets them
    const proxy = await faultyProxy(0, 200, 30);
    const c = createKubeClient(kubeconfigFor(proxy.url), { concurrency: 3 });
    try {
      await Promise.all(Array.from({ length: 30 }, () => c.get({ apiVersion: "v1", kind: "Namespace", name: "default" })));
      expect(proxy.seen()).toBeGreaterThanOrEqual(31);
      expect(proxy.maxInFlight()).toBe(3);
    } finally {
      c.close();
      proxy.server.close();
    }
  });

  it("turns a refused connection into UnreachableError", async () => {
    const c = createKubeClient(kubeconfigFor("https://127.0.0.1:1"));
    try {
      const err = await c.get({ apiVersion: "v1", kind: "Namespace", name: "default" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnreachableError);
      expect((err as Error).message).toMatch(/^cluster proxy at https:\/\/127\.0\.0\.1:1 is unreachable: connect ECONNREFUSED/);
    } finally {
      c.close();
    }
  });
});

describe("the apply Lease", () => {
  function clockAt(start: number): Clock & { advance(ms: number): void } {
    let t = start;
    return { now: () => new Date(t), sleep: async (ms) => void (t += ms), advance: (ms) => void (t += ms) };
  }

  it("lets one holder in, fails the second clearly, and hands over after release", async () => {
    await ensureSystemNamespace(kube);
    const env = unique("lock");
    const clock = clockAt(Date.now());
    const a = await acquireLock(kube, env, "alice@ci/1", clock, { ttlSeconds: 30 });
    const err = await acquireLock(kube, env, "bob@ci/2", clock, { ttlSeconds: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as Error).message).toContain(`environment ${env} is locked by alice@ci/1`);
    expect((err as Error).message).toContain("expires in 30s");
    await a.release();
    const b = await acquireLock(kube, env, "bob@ci/2", clock, { ttlSeconds: 30 });
    await b.release();
  });

  it("takes over a stale lease after its TTL, and --wait-lock waits for it", async () => {
    const env = unique("stale");
    const clock = clockAt(Date.now());
    await acquireLock(kube, env, "crashed@ci/1", clock, { ttlSeconds: 30 }); // never released: the holder died
    clock.advance(10_000);
    await expect(acquireLock(kube, env, "next@ci/2", clock, { ttlSeconds: 30 })).rejects.toBeInstanceOf(LockHeldError);
    // waiting: the fake clock's sleep moves time on until the TTL has passed
    const waited = await acquireLock(kube, env, "next@ci/2", clock, { ttlSeconds: 30, wait: true, pollMs: 5_000, waitTimeoutMs: 120_000 });
    const lease = await kube.get({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: "meshops-system", name: `meshops-apply-${env}` });
    expect(lease?.spec).toMatchObject({ holderIdentity: "next@ci/2", leaseTransitions: 1 });
    await waited.release();
    const released = await kube.get({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: "meshops-system", name: `meshops-apply-${env}` });
    expect((released?.spec as { holderIdentity?: string }).holderIdentity).toBeUndefined();
  });

  it("status shows an apply recorded as pending as running while its holder holds the Lease, interrupted after", async () => {
    const env = unique("inflight");
    const me = `tester@host/${process.pid}`;
    expect((await clusterStatus(kube, env, [], me)).inFlight).toBeUndefined();
    const clock = clockAt(Date.now());
    const lock = await acquireLock(kube, env, "ci@runner/7", clock, { ttlSeconds: 30 });
    await markPending(kube, env, { startedAt: "2026-11-26T20:00:00.000Z", by: "ci@runner/7", commit: "3f2a9c1", objects: [{ apiVersion: "v1", kind: "ConfigMap", namespace: "default", name: "a" }] });
    expect((await clusterStatus(kube, env, [], me)).inFlight).toEqual({ state: "running", startedAt: "2026-11-26T20:00:00.000Z", by: "ci@runner/7", commit: "3f2a9c1", objects: 1 });
    // the holder released without recording an outcome (or its Lease expired): interrupted
    await lock.release();
    expect((await clusterStatus(kube, env, [], me)).inFlight?.state).toBe("interrupted");
  });
});
