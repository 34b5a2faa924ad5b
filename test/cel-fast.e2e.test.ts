/**
 * End-to-end: `meshops check` gives the same report with the CEL fast path (the default) and without it
 * (MESHOPS_CEL_FAST=0: every CRD rule and ValidatingAdmissionPolicy expression evaluated by @bufbuild/cel), on the
 * shared corpus and on a repository whose objects break CRD rules and organisation policies in many ways.
 */
import { describe, expect, it } from "vitest";
import { corpusDir, crdsDir, meshops, writeTree } from "./helpers.js";

function sameWithAndWithout(args: string[]): string {
  const runs = ["0", "1"].map((m) => meshops(args, { env: { MESHOPS_CEL_FAST: m } }));
  const [slow, fast] = runs;
  if (!slow || !fast) throw new Error("no run");
  expect(fast.stderr).toBe(slow.stderr);
  expect(fast.stdout).toBe(slow.stdout);
  expect(fast.code).toBe(slow.code);
  return slow.stdout;
}

const policy = (name: string, resources: string, group: string, body: string): string => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${name}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["${group}"]
        apiVersions: ["*"]
        operations: [CREATE, UPDATE]
        resources: [${resources}]
${body}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ${name}
spec:
  policyName: ${name}
  validationActions: [Deny]
`;

const deployment = (name: string, image: string, limits: string): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: app
          image: ${image}
          ports: [{containerPort: 8080}]
${limits}`;

const route = (name: string, rules: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
spec:
  parentRefs:
    - {name: ${name}, kind: Service, group: ""}
  rules:
${rules}`;

function ruleBreakingRepo(): string {
  const files: Record<string, string> = {
    "meshops.yaml": "version: 1\npolicy:\n  policies: [policies]\nenvironments:\n  e: { path: m, namespace: shop }\n",
    "policies/org.yaml": [
      policy("images", "deployments", "apps", `  validations:\n    - expression: "object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example.com/'))"\n      message: images must come from registry.example.com`),
      policy("memory", "deployments", "apps", `  matchConditions:\n    - name: labelled\n      expression: "has(object.metadata.labels) && 'app' in object.metadata.labels"\n  validations:\n    - expression: "object.spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits)"\n      messageExpression: "'container of ' + object.metadata.name + ' has no memory limit'"`),
      policy("replicas", "deployments", "apps", `  variables:\n    - name: count\n      expression: "has(object.spec.replicas) ? object.spec.replicas : 1"\n  validations:\n    - expression: "variables.count <= 3"\n      message: at most 3 replicas\n    - expression: "object.spec.selector.matchLabels.app == object.metadata.name"`),
      policy("retries", "virtualservices", "networking.istio.io", `  validations:\n    - expression: "!has(object.spec.http) || object.spec.http.all(h, !has(h.retries) || h.retries.attempts <= 5)"`),
      policy("timeouts", "httproutes", "gateway.networking.k8s.io", `  validations:\n    - expression: "object.spec.rules.all(r, has(r.timeouts))"\n      message: every rule needs timeouts\n    - expression: "object.spec.rules.exists_one(r, size(r.backendRefs) > 1) || object.spec.rules.size() > 2"`),
    ].join("---\n"),
    "m/deployments.yaml": [
      deployment("good", "registry.example.com/app:1", "          resources: {limits: {memory: 128Mi}}\n"),
      deployment("foreign", "docker.io/app:1", "          resources: {limits: {cpu: '1'}}\n"),
      deployment("nolimits", "registry.example.com/app:2", ""),
      deployment("many", "registry.example.com/app:3", "          resources: {limits: {memory: 1Gi}}\n").replace("spec:\n  selector", "spec:\n  replicas: 7\n  selector"),
      deployment("nolabels", "registry.example.com/app:4", "").replace("  labels: {app: nolabels}\n", ""),
    ].join("---\n"),
    "m/vs.yaml": [1, 5, 9]
      .map((n) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs-${n}\nspec:\n  hosts: [vs-${n}]\n  http:\n    - retries: {attempts: ${n}, perTryTimeout: 2s}\n      timeout: 10s\n      route:\n        - destination: {host: vs-${n}}\n`)
      .join("---\n"),
    "m/routes.yaml": [
      route("ok", "    - timeouts: {request: 5s}\n      backendRefs: [{name: ok, port: 80}]\n"),
      // CRD rules broken: a RequestRedirect together with backendRefs, a path rewrite without a PathPrefix match,
      // a header modifier filter without its config, a non-absolute path
      route(
        "broken",
        "    - matches: [{path: {type: Exact, value: 'no-slash'}}]\n      filters:\n        - type: RequestHeaderModifier\n        - type: URLRewrite\n          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /x}}\n      backendRefs: [{name: broken, port: 80}, {name: broken-v2, port: 80}]\n",
      ),
      route("dup-parents", "    - backendRefs: [{name: d, port: 80}]\n").replace("  parentRefs:\n    - {name: dup-parents, kind: Service, group: \"\"}\n", "  parentRefs:\n    - {name: p, kind: Service, group: \"\"}\n    - {name: p, kind: Service, group: \"\"}\n"),
      route("unicode", "    - matches: [{path: {type: PathPrefix, value: '/é//x'}}]\n      backendRefs: [{name: u, port: 80}]\n"),
    ].join("---\n"),
  };
  return writeTree(files);
}

describe("check with and without the CEL fast path", () => {
  it("reports the same CRD-rule and policy findings on a repository that breaks them", () => {
    const dir = ruleBreakingRepo();
    const report = JSON.parse(sameWithAndWithout(["check", dir, "--crds", crdsDir, "--format", "json"])) as { findings: { code: string; message: string }[] };
    const codes = report.findings.map((f) => f.code);
    // CRD rules (MSH1008) and policies (MSH6100) both fail, so both paths have something to agree on
    expect(codes.filter((c) => c === "MSH1008").length).toBeGreaterThanOrEqual(3);
    expect(codes.filter((c) => c === "MSH6100").length).toBeGreaterThanOrEqual(5);
    expect(report.findings.map((f) => f.message).join("\n")).toContain("container of nolimits has no memory limit");
    sameWithAndWithout(["check", dir, "--crds", crdsDir]);
  });

  it("reports the same on the shared corpus", () => {
    sameWithAndWithout(["check", corpusDir, "--crds", crdsDir, "--format", "json"]);
  });
});
