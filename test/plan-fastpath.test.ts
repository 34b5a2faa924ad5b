/**
 * The plan's no-dry-run path against the real API server: after an apply, every object of a realistic mix
 * (Services and Deployments with server defaults, Istio, Gateway API and Linkerd objects, an empty spec) is
 * recognised as unchanged from its live copy alone, and after out-of-band edits and Git changes the plan is
 * exactly what the server's dry run of every object says.
 */
import { execFileSync } from "node:child_process";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { unchangedByApply } from "../src/cluster/plan.js";
import type { KubeObject } from "../src/cluster/client.js";
import { commit, gitRepo, meshops, unique, yieldToEventLoop } from "./helpers.js";

let kubeconfig = "";
beforeAll(() => {
  kubeconfig = inject("kubeconfig");
});
afterEach(yieldToEventLoop);

const objects = (ns: string, weight: number): string => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reviews, namespace: ${ns}}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${ns}, labels: {app: reviews}}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}, {name: grpc, port: 9090, appProtocol: grpc}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: ${ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}, annotations: {sidecar.istio.io/inject: "true"}}
    spec:
      serviceAccountName: reviews
      containers:
      - name: reviews
        image: reviews:v1
        ports: [{containerPort: 9080}]
        resources: {requests: {cpu: 100m, memory: 64Mi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${ns}}
data: {mode: canary, "weights.json": '{"v1": ${weight}}'}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${ns}}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - destination: {host: reviews, subset: v1}
      weight: ${weight}
    - destination: {host: reviews, subset: v2}
      weight: ${100 - weight}
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 500ms}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${ns}}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: ${ns}}
spec: {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${ns}}
spec: {mtls: {mode: STRICT}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: ${ns}}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /reviews}}]
    backendRefs: [{name: reviews, port: 9080, weight: ${weight}}]
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: reviews-http, namespace: ${ns}}
spec:
  podSelector: {matchLabels: {app: reviews}}
  port: 9080
  proxyProtocol: HTTP/1
`;

interface PlanJson {
  summary: Record<string, number>;
  entries: { subject: string; action: string; changes?: unknown[]; reason?: string }[];
}

describe("plan without a dry run for objects the last apply left as Git has them", () => {
  it("recognises a realistic mix as unchanged from live copies alone, and agrees with a dry run of every object after changes", () => {
    const ns = unique("fast");
    const env = `${ns}-stg`;
    const dir = gitRepo({ "meshops.yaml": `version: 1\nenvironments:\n  ${env}: {path: m, cluster: {context: staging}}\n`, "m/all.yaml": objects(ns, 90) });
    const run = (args: string[]): ReturnType<typeof meshops> => meshops([...args, "--kubeconfig", kubeconfig], { cwd: dir });
    expect(run(["apply", "--env", env]).code).toBe(0);

    // every live object, as the server keeps it, is provably unchanged by re-applying Git's version
    const desired = parseAllDocuments(objects(ns, 90)).map((d) => d.toJS() as KubeObject);
    for (const d of desired) {
      const meta = d.metadata as { name: string; namespace?: string; labels?: Record<string, string> };
      const live = JSON.parse(
        execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", ...(meta.namespace ? ["-n", meta.namespace] : []), "get", `${String(d.kind).toLowerCase()}.${String(d.apiVersion).includes("/") ? String(d.apiVersion).split("/")[0] : ""}`.replace(/\.$/, ""), meta.name, "-o", "json", "--show-managed-fields"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        }),
      ) as KubeObject;
      const withLabel = { ...d, metadata: { ...meta, labels: { ...meta.labels, "meshops.dev/environment": env } } };
      expect(unchangedByApply(live, withLabel), `${String(d.kind)}/${meta.name}`).toBe(true);
      // and not for a different desired value
      const changed = JSON.parse(JSON.stringify(withLabel)) as KubeObject & { metadata: { labels: Record<string, string> } };
      changed.metadata.labels.extra = "x";
      expect(unchangedByApply(live, changed)).toBe(false);
    }

    const plans = (): [PlanJson, PlanJson] => {
      const fast = run(["plan", "--env", env, "-f", "json", "-v"]);
      const slow = run(["plan", "--env", env, "-f", "json", "-v", "--server-dry-run-all"]);
      return [JSON.parse(fast.stdout) as PlanJson, JSON.parse(slow.stdout) as PlanJson];
    };
    let [fast, slow] = plans();
    expect(fast.summary).toMatchObject({ unchanged: 11, configured: 0, created: 0 });
    expect(fast).toEqual(slow);

    // out-of-band edits (a field taken over, a field added, a status write) and a Git change
    const kubectl = (...args: string[]): void => void execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", "-n", ns, ...args], { stdio: "ignore" });
    kubectl("patch", "virtualservice", "reviews", "--type", "json", "-p", '[{"op":"replace","path":"/spec/http/1/route/0/weight","value":50},{"op":"replace","path":"/spec/http/1/route/1/weight","value":50}]');
    kubectl("label", "service", "reviews", "team=payments");
    kubectl("scale", "deployment", "reviews-v1", "--replicas=3");
    commit(dir, { "m/all.yaml": objects(ns, 80) }, "80/20");
    [fast, slow] = plans();
    expect(fast).toEqual(slow);
    const by = Object.fromEntries(fast.entries.map((e) => [e.subject, e.action]));
    expect(by[`VirtualService/${ns}/reviews`]).toBe("skipped"); // kubectl-patch owns the weights now: a conflict without --force-conflicts
    expect(by[`ConfigMap/${ns}/settings`]).toBe("configured");
    expect(by[`HTTPRoute/${ns}/reviews`]).toBe("configured");
    expect(by[`Deployment/${ns}/reviews-v1`]).toBe("skipped"); // replicas taken over by kubectl-scale
    expect(by[`Service/${ns}/reviews`]).toBe("unchanged"); // a label only kubectl set: not meshops' to change
  }, 180_000);
});
