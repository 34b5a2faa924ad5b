import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeTree } from "../../test/helpers.js";
import { loadKubeConfig } from "./kubeconfig.js";

const saved = process.env.KUBECONFIG;
afterEach(() => {
  if (saved === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = saved;
});

const b64 = (s: string): string => Buffer.from(s).toString("base64");

async function headersOf(kc: ReturnType<typeof loadKubeConfig>): Promise<RequestOptions & { headers: Record<string, string> }> {
  const o: RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(o);
  return o as RequestOptions & { headers: Record<string, string> };
}

describe("kubeconfig loading", () => {
  it("merges $KUBECONFIG's files as kubectl does (first definition wins, missing files skipped) and resolves files relative to their kubeconfig", async () => {
    const dir = writeTree({
      "a/config": `apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: staging
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: pki/ca.pem, tls-server-name: api.staging}
users:
- name: ci
  user: {client-certificate: pki/ci.crt, client-key-data: ${b64("KEY")}}
contexts:
- name: staging
  context: {cluster: staging, user: ci, namespace: mesh}
`,
      "a/pki/ca.pem": "CA PEM",
      "a/pki/ci.crt": "CERT PEM",
      "b/config": `clusters:
- name: staging
  cluster: {server: "https://shadowed.example"}
- name: prod
  cluster: {server: "https://10.0.0.2:6443", insecure-skip-tls-verify: true}
users:
- name: basic
  user: {username: alice, password: s3cret}
contexts:
- name: production
  context: {cluster: prod, user: basic}
current-context: production
`,
    });
    process.env.KUBECONFIG = [join(dir, "a/config"), join(dir, "missing"), join(dir, "b/config")].join(":");
    const kc = loadKubeConfig({});
    expect(kc.getCurrentContext()).toBe("staging");
    expect(kc.getCurrentCluster()).toEqual({ name: "staging", server: "https://10.0.0.1:6443", caData: "CA PEM", tlsServerName: "api.staging" });
    expect(kc.getContextObject("staging")?.namespace).toBe("mesh");
    const o = await headersOf(kc);
    expect(o).toMatchObject({ ca: "CA PEM", cert: "CERT PEM", key: "KEY", servername: "api.staging" });
    expect(o.headers.Authorization).toBeUndefined();
    const prod = loadKubeConfig({ context: "production" });
    const p = await headersOf(prod);
    expect(p.rejectUnauthorized).toBe(false);
    expect(p.headers.Authorization).toBe(`Basic ${b64("alice:s3cret")}`);
    expect(() => loadKubeConfig({ context: "nope" })).toThrow('kubeconfig has no context "nope" (it has: staging, production)');
    expect(() => loadKubeConfig({ kubeconfig: join(dir, "none") })).toThrow(/cannot read kubeconfig .*none/);
  });

  it("runs an exec credential plugin with KUBERNETES_EXEC_INFO, once until the credential expires", async () => {
    const dir = writeTree({});
    const log = join(dir, "calls");
    writeFileSync(log, "");
    const plugin = join(dir, "plugin.sh");
    const expires = new Date(Date.now() + 3600_000).toISOString();
    writeFileSync(plugin, `#!/bin/sh\necho "$KUBERNETES_EXEC_INFO $1 $TEAM" >> ${log}\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-123","expirationTimestamp":"${expires}"}}'\n`);
    chmodSync(plugin, 0o755);
    writeFileSync(
      join(dir, "config"),
      `clusters: [{name: c, cluster: {server: "https://x:6443"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, args: [--cluster-a], env: [{name: TEAM, value: mesh}], provideClusterInfo: true}}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`,
    );
    const kc = loadKubeConfig({ kubeconfig: join(dir, "config") });
    expect((await headersOf(kc)).headers.Authorization).toBe("Bearer tok-123");
    expect((await headersOf(kc)).headers.Authorization).toBe("Bearer tok-123");
    const calls = readFileSync(log, "utf8").trim().split("\n");
    expect(calls).toHaveLength(1);
    expect(calls[0]).toContain('"kind":"ExecCredential"');
    expect(calls[0]).toContain('"server":"https://x:6443"');
    expect(calls[0]).toMatch(/ --cluster-a mesh$/);
  });

  it("reads token files per request and refuses legacy auth-provider plugins with a pointer to exec plugins", async () => {
    const dir = writeTree({ token: "t1\n" });
    writeFileSync(
      join(dir, "config"),
      `clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: f, user: {tokenFile: token}}, {name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: file, context: {cluster: c, user: f}}, {name: gke, context: {cluster: c, user: g}}]
`,
    );
    const kc = loadKubeConfig({ kubeconfig: join(dir, "config"), context: "file" });
    expect((await headersOf(kc)).headers.Authorization).toBe("Bearer t1");
    writeFileSync(join(dir, "token"), "t2\n");
    expect((await headersOf(kc)).headers.Authorization).toBe("Bearer t2");
    expect(() => loadKubeConfig({ kubeconfig: join(dir, "config"), context: "gke" })).toThrow(/auth-provider plugin "gcp", which kubectl removed in 1\.26: use its exec credential plugin/);
    expect(() => loadKubeConfig({ kubeconfig: join(dir, "config") })).toThrow("kubeconfig has no current context: pass --context");
  });
});
