/**
 * End-to-end: the zero-trust pack and a repository ValidatingAdmissionPolicy through `meshops check`, and the
 * same policy file applied to the real kube-apiserver (staging), whose admission rejects the object meshops flags.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { createKubeClient, type KubeClient, type KubeObject } from "../src/cluster/client.js";
import { loadKubeConfig } from "../src/cluster/kubeconfig.js";
import { commit, crdsDir, gitRepo, meshops, unique, yieldToEventLoop, type JsonReport } from "./helpers.js";

// spawnSync blocks the worker: give vitest's RPC a turn between tests.
afterEach(yieldToEventLoop);

function checkJson(cwd: string, args: string[] = []): { code: number; report: JsonReport; stderr: string } {
  const r = meshops(["check", "--format", "json", "--crds", crdsDir, ...args], { cwd });
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as JsonReport, stderr: r.stderr };
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\n${r.stderr}`);
  }
}

const ns = unique("zt");
const policyName = `${ns}-no-wildcard`;

const meshopsYaml = `version: 1
environments:
  staging:
    path: mesh
  production:
    path: mesh
    policy:
      zeroTrust: { enabled: true }
policy:
  policies: [policies]
  zeroTrust:
    sensitiveNamespaces: [${ns}]
`;

/** The user policy: no AuthorizationPolicy in the bound namespace may admit principal "*". */
const policyYaml = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${policyName}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [security.istio.io]
        apiVersions: ["*"]
        operations: [CREATE, UPDATE]
        resources: [authorizationpolicies]
  validations:
    - expression: "!has(object.spec.rules) || object.spec.rules.all(r, !has(r.from) || r.from.all(f, !has(f.source.principals) || !f.source.principals.exists(p, p == '*')))"
      message: "principals must not be '*'"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ${policyName}-binding
spec:
  policyName: ${policyName}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: ${ns}
`;

const namespaceYaml = `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
  labels:
    istio-injection: enabled
`;
const openPolicy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: open
  namespace: ${ns}
spec:
  rules:
    - from:
        - source:
            principals: ["*"]
`;
const permissive = (annotations = "") => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: legacy
  namespace: ${ns}${annotations}
spec:
  selector:
    matchLabels:
      app: legacy
  mtls:
    mode: PERMISSIVE
`;

describe("meshops check with the zero-trust pack and a repository ValidatingAdmissionPolicy", () => {
  let repo: string;
  beforeAll(() => {
    repo = gitRepo({ "meshops.yaml": meshopsYaml, "policies/no-wildcard.yaml": policyYaml, "mesh/namespace.yaml": namespaceYaml, "mesh/authz.yaml": openPolicy, "mesh/peer.yaml": permissive() });
  });

  it("reports every zero-trust rule only where the pack is enabled, and the user policy in both environments", () => {
    const { code, report } = checkJson(repo);
    const got = report.findings.filter((f) => f.code.startsWith("MSH6")).map((f) => [f.code, f.severity, `${f.file}:${f.line}`, f.env]);
    expect(got).toEqual([
      ["MSH6100", "error", "mesh/authz.yaml:1", "staging, production"],
      ["MSH6020", "error", "mesh/authz.yaml:9", "production"],
      ["MSH6010", "error", "mesh/namespace.yaml:4", "production"],
      ["MSH6002", "error", "mesh/peer.yaml:11", "production"],
      ["MSH6001", "error", "meshops.yaml:5", "production"],
    ]);
    const msg = (c: string): string => report.findings.find((f) => f.code === c)?.message ?? "";
    expect(msg("MSH6100")).toBe(`ValidatingAdmissionPolicy ${policyName} (binding ${policyName}-binding) denies AuthorizationPolicy/${ns}/open: principals must not be '*' (reason Forbidden)`);
    expect(msg("MSH6001")).toBe("environment production: no mesh-wide STRICT PeerAuthentication (without selector) in the root namespace istio-system; workloads accept plaintext");
    expect(report.findings.find((f) => f.code === "MSH6100")?.category).toBe("policy");
    expect(code).toBe(1);
  });

  it("passes once the mesh is zero-trust, the exception is justified and the policy names its principals", () => {
    const dir = gitRepo({ "meshops.yaml": meshopsYaml, "policies/no-wildcard.yaml": policyYaml, "mesh/namespace.yaml": namespaceYaml, "mesh/authz.yaml": openPolicy, "mesh/peer.yaml": permissive() });
    commit(
      dir,
      {
        "mesh/authz.yaml": openPolicy.replace('principals: ["*"]', `principals: ["cluster.local/ns/${ns}/sa/web"]`),
        "mesh/peer.yaml": permissive(`\n  annotations:\n    meshops.dev/justification: "legacy client without a sidecar until Q3"`),
        "mesh/root.yaml": `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: istio-system}
spec: {}
`,
      },
      "zero trust",
    );
    const { code, report } = checkJson(dir);
    expect(report.findings.filter((f) => f.code.startsWith("MSH6"))).toEqual([]);
    expect(report.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(code).toBe(0);
  });

  it("turns a rule off per environment with policy.rules, and reports a policy that does not compile at its line", () => {
    const dir = gitRepo({
      "meshops.yaml": meshopsYaml.replace("      zeroTrust: { enabled: true }", "      zeroTrust: { enabled: true }\n      rules: { MSH6001: off }"),
      "policies/no-wildcard.yaml": policyYaml.replace("- expression: \"!has(object.spec.rules)", "- expression: \"!has(object.spec.rules) &&& "),
      "mesh/namespace.yaml": namespaceYaml,
    });
    const { report } = checkJson(dir);
    expect(report.findings.filter((f) => f.code === "MSH6001")).toEqual([]);
    const bad = report.findings.filter((f) => f.code === "MSH6101");
    expect(bad.map((f) => [f.file, f.line, f.severity])).toEqual([["policies/no-wildcard.yaml", 14, "error"]]);
    expect(bad[0]?.message).toContain(`ValidatingAdmissionPolicy ${policyName}: validation 0 does not compile`);
  });

  it("rejects invalid zero-trust settings with the line in meshops.yaml (exit 2)", () => {
    const dir = gitRepo({ "meshops.yaml": meshopsYaml.replace("    sensitiveNamespaces:", "    sensitiveNamespace:"), "policies/x.yaml": policyYaml, "mesh/namespace.yaml": namespaceYaml });
    const r = meshops(["check"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('meshops.yaml:12:5: unknown key "sensitiveNamespace" in policy.zeroTrust');
  });

  it("validates the policy files against the Kubernetes schema", () => {
    const dir = gitRepo({ "meshops.yaml": meshopsYaml, "policies/no-wildcard.yaml": policyYaml.replace("  failurePolicy: Fail", "  failurePolicy: Fail\n  failurPolicy: Ignore"), "mesh/namespace.yaml": namespaceYaml });
    const { report } = checkJson(dir);
    expect(report.findings.filter((f) => f.code === "MSH1001").map((f) => `${f.file}:${f.line}`)).toEqual(["policies/no-wildcard.yaml:7"]);
  });

  it("explains the codes", () => {
    const r = meshops(["explain", "MSH6020"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("MSH6020: ALLOW rule admits any principal or any namespace into a sensitive namespace");
    expect(meshops(["explain"]).stdout).toContain("MSH6100  error");
  });
});

describe("the same ValidatingAdmissionPolicy at admission in kube-apiserver", () => {
  let kube: KubeClient;
  const docs = (text: string): KubeObject[] => parseAllDocuments(text).map((d) => d.toJS() as KubeObject);
  beforeAll(async () => {
    kube = createKubeClient(loadKubeConfig({ kubeconfig: inject("kubeconfig"), context: "staging" }));
    await kube.create(parseYaml(namespaceYaml) as KubeObject);
  });
  afterAll(async () => {
    for (const o of docs(policyYaml).reverse()) await kube.delete({ apiVersion: String(o.apiVersion), kind: String(o.kind), name: String(o.metadata?.name) }).catch(() => undefined);
    await kube.delete({ apiVersion: "v1", kind: "Namespace", name: ns }).catch(() => undefined);
    kube.close();
  });

  it("accepts the policy and binding from the repository, and then rejects the object meshops flags with the same message", async () => {
    for (const o of docs(policyYaml)) await kube.create(o);
    const policy = await kube.get({ apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", name: policyName });
    expect(policy?.metadata?.name).toBe(policyName);

    // Admission policies take effect when the API server's informers have seen them: retry a dry run until it is rejected.
    const open = parseYaml(openPolicy) as KubeObject;
    let rejection = "";
    for (let i = 0; i < 60 && !rejection; i++) {
      try {
        await kube.apply(open, { dryRun: true });
        await new Promise((r) => setTimeout(r, 500));
      } catch (e) {
        rejection = (e as Error).message;
      }
    }
    expect(rejection).toContain(`ValidatingAdmissionPolicy '${policyName}' with binding '${policyName}-binding' denied request: principals must not be '*'`);
    // The real request is rejected too, and nothing is created.
    await expect(kube.apply(open)).rejects.toThrow("principals must not be '*'");
    expect(await kube.get({ apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", namespace: ns, name: "open" })).toBeUndefined();
    // The object meshops passes is admitted.
    const named = parseYaml(openPolicy.replace('principals: ["*"]', `principals: ["cluster.local/ns/${ns}/sa/web"]`)) as KubeObject;
    const created = await kube.apply(named);
    expect(created.metadata?.name).toBe("open");
  });

  it("gives the same verdict as meshops check on the same files", () => {
    const dir = gitRepo({ "meshops.yaml": meshopsYaml, "policies/no-wildcard.yaml": policyYaml, "mesh/namespace.yaml": namespaceYaml, "mesh/authz.yaml": openPolicy });
    const { report } = checkJson(dir, ["--env", "staging"]);
    expect(report.findings.filter((f) => f.code === "MSH6100").map((f) => f.message)).toEqual([`ValidatingAdmissionPolicy ${policyName} (binding ${policyName}-binding) denies AuthorizationPolicy/${ns}/open: principals must not be '*' (reason Forbidden)`]);
    expect(readFileSync(join(dir, "policies/no-wildcard.yaml"), "utf8")).toBe(policyYaml);
  });
});
