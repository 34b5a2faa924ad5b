/**
 * End-to-end: `meshops check` resolving references against the live staging cluster of the test environment
 * (issue 3 item 6). The application team's Namespace, ServiceAccount, Deployment and Service are created in the
 * cluster only; the repository holds nothing but a VirtualService, a DestinationRule and an AuthorizationPolicy.
 */
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { createKubeClient, type KubeClient } from "../src/cluster/client.js";
import { loadKubeConfig } from "../src/cluster/kubeconfig.js";
import { type JsonReport, meshops, unique, unreachableKubeconfig, writeTree, yieldToEventLoop } from "./helpers.js";

const ns = unique("live-refs");
const grant = unique("meshops-test-list-services");
let kube: KubeClient;
let kubeconfig: string;

function repo(policy = ""): string {
  return writeTree({
    "meshops.yaml": `version: 1\nenvironments:\n  staging:\n    path: m\n    cluster: { context: staging }\n${policy}`,
    "m/mesh.yaml": `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: payments, namespace: ${ns} }
spec:
  hosts: [payments]
  http:
    - route:
        - destination: { host: payments, subset: v1 }
          weight: 90
        - destination: { host: paymnts }
          weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: payments, namespace: ${ns} }
spec:
  host: payments
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: payments, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: payments } }
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/${ns}/sa/frontend", "cluster.local/ns/${ns}/sa/ghost"]
            namespaces: [${ns}, no-such-namespace]
`,
  });
}

function check(dir: string, args: string[], env: Record<string, string | undefined> = {}): { code: number; report: JsonReport & { notes?: string[] }; stderr: string } {
  const r = meshops(["check", "--format", "json", ...args], { cwd: dir, env: { KUBECONFIG: kubeconfig, ...env } });
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as JsonReport & { notes?: string[] }, stderr: r.stderr };
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\n${r.stderr}`);
  }
}

/** "severity code message" of the analysis findings, sorted. */
const lines = (report: JsonReport): string[] =>
  report.findings
    .filter((f) => f.category === "analysis")
    .map((f) => `${f.severity} ${f.code} ${f.message}`)
    .sort();

beforeAll(async () => {
  kubeconfig = inject("kubeconfig");
  kube = createKubeClient(loadKubeConfig({ kubeconfig, context: "staging" }));
  await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await kube.create({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "frontend", namespace: ns } });
  const labels = { app: "payments", version: "v1" };
  await kube.create({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "payments", namespace: ns },
    // runs as a ServiceAccount that does not exist: a problem of the cluster's object, which the repository must not be blamed for
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { serviceAccountName: "payments-missing", containers: [{ name: "app", image: "payments:1", ports: [{ containerPort: 8080 }] }] } } },
  });
  await kube.create({ apiVersion: "v1", kind: "Service", metadata: { name: "payments", namespace: ns }, spec: { selector: { app: "payments" }, ports: [{ name: "http", port: 8080 }] } });
  // the limited user may list Services and nothing else
  await kube.create({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: grant }, rules: [{ apiGroups: [""], resources: ["services"], verbs: ["list"] }] });
  await kube.create({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: grant },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: grant },
    subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "limited" }],
  });
});

afterAll(async () => {
  for (const ref of [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", name: grant },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", name: grant },
    { apiVersion: "v1", kind: "Namespace", name: ns },
  ])
    await kube.delete(ref).catch(() => undefined);
  kube.close();
});

afterEach(yieldToEventLoop);

describe("meshops check with live references", () => {
  it("stays offline without --context, --kubeconfig or --live-refs, even with a cluster in meshops.yaml", () => {
    const { code, report, stderr } = check(repo(), []);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(report.notes).toBeUndefined();
    expect(lines(report)).toEqual([
      `warning MSH2001 destination host "payments" (payments.${ns}.svc.cluster.local) is not a Service or ServiceEntry host; the repository holds no Services or ServiceEntries in namespace ${ns}, so this could not be confirmed`,
      `warning MSH2001 destination host "paymnts" (paymnts.${ns}.svc.cluster.local) is not a Service or ServiceEntry host; the repository holds no Services or ServiceEntries in namespace ${ns}, so this could not be confirmed`,
      `warning MSH2016 principal cluster.local/ns/${ns}/sa/frontend names ServiceAccount ${ns}/frontend, which does not exist; the repository holds no ServiceAccounts in namespace ${ns}, so this could not be confirmed`,
      `warning MSH2016 principal cluster.local/ns/${ns}/sa/ghost names ServiceAccount ${ns}/ghost, which does not exist; the repository holds no ServiceAccounts in namespace ${ns}, so this could not be confirmed`,
      "warning MSH2017 source namespace no-such-namespace does not exist; the repository holds no Namespaces, so this could not be confirmed",
    ]);
  });

  it("resolves against the cluster with --context: what exists there disappears, what is missing there too is an error naming the cluster", () => {
    const dir = repo();
    const { code, report, stderr } = check(dir, ["--context", "staging"]);
    expect(stderr).toBe("");
    expect(lines(report)).toEqual([
      `error MSH2001 destination host "paymnts" (paymnts.${ns}.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster staging`,
      `error MSH2016 principal cluster.local/ns/${ns}/sa/ghost names ServiceAccount ${ns}/ghost, which does not exist: not in the repository nor in cluster staging`,
      // label selection against the live Deployment's pod template
      `warning MSH2006 subset "v2" (version=v2) matches none of the workloads of Service ${ns}/payments (Deployment/payments)`,
      "warning MSH2017 source namespace no-such-namespace does not exist: not in the repository nor in cluster staging",
    ]);
    expect(code).toBe(1);
    // at the field, in the repository's file; the cluster's objects are never blamed nor counted
    const host = report.findings.find((f) => f.code === "MSH2001");
    expect(host).toMatchObject({ file: "m/mesh.yaml", line: 10 });
    expect(report.findings.every((f) => f.file === "m/mesh.yaml")).toBe(true);
    expect(report.findings.some((f) => f.code === "MSH5002")).toBe(false);
    expect(report.summary.objects).toBe(3);
    expect(report.objects.map((o) => o.file)).toEqual(["m/mesh.yaml", "m/mesh.yaml", "m/mesh.yaml"]);
    // --live-refs uses meshops.yaml's cluster (context staging) and gives the same answer; --no-live-refs stays offline
    expect(lines(check(dir, ["--live-refs"]).report)).toEqual(lines(report));
    expect(check(dir, ["--context", "staging", "--no-live-refs"]).code).toBe(0);
  });

  it("keeps warning semantics where the cluster holds none of the kind either, and makes them errors under references: strict", () => {
    // production has no namespace ${ns} at all: neither holds its Services or ServiceAccounts
    const warn = check(repo(), ["--context", "production"]);
    expect(warn.code).toBe(0);
    expect(lines(warn.report)).toContain(
      `warning MSH2001 destination host "payments" (payments.${ns}.svc.cluster.local) is not a Service or ServiceEntry host; neither the repository nor cluster production holds any Services or ServiceEntries in namespace ${ns}, so this could not be confirmed`,
    );
    const strict = check(repo("    policy: { references: strict }\n"), ["--context", "production"]);
    expect(strict.code).toBe(1);
    expect(lines(strict.report).filter((l) => l.includes("MSH2001") || l.includes("MSH2016"))).toEqual([
      `error MSH2001 destination host "payments" (payments.${ns}.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster production`,
      `error MSH2001 destination host "paymnts" (paymnts.${ns}.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster production`,
      `error MSH2016 principal cluster.local/ns/${ns}/sa/frontend names ServiceAccount ${ns}/frontend, which does not exist: not in the repository nor in cluster production`,
      `error MSH2016 principal cluster.local/ns/${ns}/sa/ghost names ServiceAccount ${ns}/ghost, which does not exist: not in the repository nor in cluster production`,
    ]);
  });

  it("says once that an unreachable cluster was not consulted and checks against the repository only; exit 3 only with --require-live-refs", () => {
    const kubeconfigFile = unreachableKubeconfig();
    const dir = repo();
    const offline = check(dir, []);
    const r = check(dir, ["--kubeconfig", kubeconfigFile, "--context", "gone"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("meshops check: live references were not consulted for staging: cluster gone at https://127.0.0.1:1 is unreachable: connect ECONNREFUSED 127.0.0.1:1; references were checked against the repository only\n");
    expect(r.report.notes).toHaveLength(1);
    expect(lines(r.report)).toEqual(lines(offline.report));
    const required = meshops(["check", "--kubeconfig", kubeconfigFile, "--context", "gone", "--require-live-refs"], { cwd: dir });
    expect(required.code).toBe(3);
    expect(required.stderr).toMatch(/^meshops: cluster gone at https:\/\/127\.0\.0\.1:1 is unreachable/);
  });

  it("does not hang on a server that accepts connections and never answers (--live-timeout)", async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const kc = writeTree({
        kubeconfig: `apiVersion: v1\nkind: Config\nclusters: [{ name: mute, cluster: { server: 'https://127.0.0.1:${port}' } }]\nusers: [{ name: u, user: { token: t } }]\ncontexts: [{ name: mute, context: { cluster: mute, user: u } }]\ncurrent-context: mute\n`,
      });
      const started = Date.now();
      const r = check(repo(), ["--kubeconfig", join(kc, "kubeconfig"), "--live-timeout", "1"]);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^meshops check: live references were not consulted for staging: .*mute.*; references were checked against the repository only\n$/);
    } finally {
      silent.close();
    }
  });

  it("treats kinds the user may not list as unknown (said once) and still resolves the kinds it may list", () => {
    const { code, report, stderr } = check(repo(), ["--context", "staging-limited"]);
    expect(stderr).toBe(
      "meshops check: cluster staging-limited: listing Namespaces, ServiceAccounts, Deployments, StatefulSets, DaemonSets, Pods is forbidden; references to those kinds were checked against the repository only (staging)\n",
    );
    expect(lines(report)).toEqual([
      `error MSH2001 destination host "paymnts" (paymnts.${ns}.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster staging-limited`,
      `warning MSH2016 principal cluster.local/ns/${ns}/sa/frontend names ServiceAccount ${ns}/frontend, which does not exist; the repository holds no ServiceAccounts in namespace ${ns}, so this could not be confirmed`,
      `warning MSH2016 principal cluster.local/ns/${ns}/sa/ghost names ServiceAccount ${ns}/ghost, which does not exist; the repository holds no ServiceAccounts in namespace ${ns}, so this could not be confirmed`,
      "warning MSH2017 source namespace no-such-namespace does not exist; the repository holds no Namespaces, so this could not be confirmed",
    ]);
    expect(code).toBe(1);
  });
});
