import { describe, expect, it } from "vitest";
import { buildMeshModel } from "../model/mesh-model.js";
import { parseManifests } from "../source/yaml.js";
import { resolveZeroTrust, runZeroTrust } from "./zero-trust.js";
import type { ZeroTrustConfig } from "../config/schema.js";

const env = { name: "prod", file: "meshops.yaml", line: 7, column: 3 };

/** Runs the pack on inline YAML: [code, file:line, message] per finding. */
function run(text: string, cfg: Partial<ZeroTrustConfig> = {}, code?: string): [string, string, string][] {
  const s = resolveZeroTrust({ enabled: true, ...cfg });
  if (!s) throw new Error("not enabled");
  return runZeroTrust(buildMeshModel(parseManifests(text, "m.yaml").manifests), s, env)
    .filter((f) => !code || f.code === code)
    .map((f) => [f.code, `${f.file}:${f.line}`, f.message]);
}

const meshStrict = `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
`;
const denyAll = (ns = "istio-system") => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: ${ns}}
spec: {}
`;
const ns = (name: string, labels = "{istio-injection: enabled}", annotations = "{}") => `---
apiVersion: v1
kind: Namespace
metadata: {name: ${name}, labels: ${labels}, annotations: ${annotations}}
`;
const deploy = (name: string, namespace: string, podAnnotations = "{}") => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  template:
    metadata: {labels: {app: ${name}}, annotations: ${podAnnotations}}
    spec: {containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}
`;

describe("resolveZeroTrust", () => {
  it("is off unless enabled, and fills in Istio's and Linkerd's defaults", () => {
    expect(resolveZeroTrust(undefined)).toBeUndefined();
    expect(resolveZeroTrust({ sensitiveNamespaces: ["x"] })).toBeUndefined();
    expect(resolveZeroTrust({ enabled: true })).toEqual({ istioRootNamespace: "istio-system", linkerdDefaultInboundPolicy: "all-unauthenticated", sensitiveNamespaces: [], sensitiveNamespaceLabels: { "meshops.dev/sensitive": "true" } });
  });
});

describe("MSH6001 mesh-wide STRICT mTLS", () => {
  it("passes with a STRICT PeerAuthentication without selector in the root namespace", () => {
    expect(run(meshStrict + ns("shop"), {}, "MSH6001")).toEqual([]);
  });
  it("points at the environment in meshops.yaml when there is none", () => {
    expect(run(ns("shop"), {}, "MSH6001")).toEqual([["MSH6001", "meshops.yaml:7", "environment prod: no mesh-wide STRICT PeerAuthentication (without selector) in the root namespace istio-system; workloads accept plaintext"]]);
  });
  it("points at a mesh-wide PERMISSIVE policy, and honours a custom root namespace", () => {
    const text = meshStrict.replace("STRICT", "PERMISSIVE");
    expect(run(text, {}, "MSH6001")).toEqual([["MSH6001", "m.yaml:6", "mesh-wide PeerAuthentication istio-system/default has mTLS mode PERMISSIVE (PERMISSIVE unless set); zero trust requires STRICT"]]);
    expect(run(meshStrict, { istioRootNamespace: "mesh-root" }, "MSH6001")[0]?.[2]).toContain("root namespace mesh-root");
  });
  it("does not count a STRICT policy with a selector as mesh-wide", () => {
    const text = meshStrict.replace("spec:\n", "spec:\n  selector: {matchLabels: {app: x}}\n");
    expect(run(text, {}, "MSH6001")).toHaveLength(1);
  });
});

describe("MSH6002 exceptions need a justification", () => {
  const pa = (mode: string, annotations = "{}", extra = "") => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: shop, annotations: ${annotations}}
spec:
  selector: {matchLabels: {app: legacy}}
  mtls: {mode: ${mode}}
${extra}`;
  it("flags PERMISSIVE and DISABLE without the annotation, at the mode", () => {
    expect(run(meshStrict + pa("PERMISSIVE"), {}, "MSH6002")).toEqual([["MSH6002", "m.yaml:13", "workload PeerAuthentication shop/legacy sets mTLS mode PERMISSIVE without a justification: add meshops.dev/justification with the reason, or use STRICT"]]);
    expect(run(meshStrict + pa("DISABLE"), {}, "MSH6002")).toHaveLength(1);
  });
  it("accepts a non-blank justification and ignores STRICT", () => {
    expect(run(meshStrict + pa("PERMISSIVE", `{meshops.dev/justification: "legacy client without sidecar, JIRA-12"}`), {}, "MSH6002")).toEqual([]);
    expect(run(meshStrict + pa("STRICT"), {}, "MSH6002")).toEqual([]);
  });
  it("does not count an empty or blank justification", () => {
    expect(run(meshStrict + pa("PERMISSIVE", `{meshops.dev/justification: "  "}`), {}, "MSH6002")).toHaveLength(1);
    expect(run(meshStrict + pa("PERMISSIVE", `{meshops.dev/justification: ""}`), {}, "MSH6002")).toHaveLength(1);
  });
  it("flags port-level exceptions", () => {
    const text = meshStrict + pa("STRICT", "{}", "  portLevelMtls:\n    \"9090\": {mode: DISABLE}\n");
    expect(run(text, {}, "MSH6002")).toEqual([["MSH6002", "m.yaml:15", "workload PeerAuthentication shop/legacy sets mTLS mode DISABLE on port 9090 without a justification: add meshops.dev/justification with the reason, or use STRICT"]]);
  });
  it("flags a DestinationRule that disables TLS (top level, per port, per subset)", () => {
    const drText = (annotations = "{}") => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy, namespace: shop, annotations: ${annotations}}
spec:
  host: legacy
  trafficPolicy:
    tls: {mode: DISABLE}
    portLevelSettings:
      - port: {number: 9090}
        tls: {mode: DISABLE}
  subsets:
    - name: v1
      labels: {version: v1}
      trafficPolicy: {tls: {mode: DISABLE}}
    - name: v2
      labels: {version: v2}
      trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`;
    const got = run(meshStrict + drText(), {}, "MSH6002");
    expect(got.map((g) => g[1])).toEqual(["m.yaml:14", "m.yaml:17", "m.yaml:21"]);
    expect(got[1]?.[2]).toContain("port 9090");
    expect(got[2]?.[2]).toContain("(subset v1)");
    expect(run(meshStrict + drText(`{meshops.dev/justification: "plaintext legacy backend"}`), {}, "MSH6002")).toEqual([]);
  });
  it("flags Linkerd namespace and pod annotations weaker than deny, skip-inbound-ports and Server accessPolicy", () => {
    const text =
      ns("shop", "{}", "{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: all-unauthenticated}") +
      deploy("web", "shop", "{config.linkerd.io/default-inbound-policy: cluster-authenticated, config.linkerd.io/skip-inbound-ports: '4190'}") +
      deploy("api", "shop", `{config.linkerd.io/default-inbound-policy: all-authenticated, meshops.dev/justification: "health checks from the cloud LB"}`) +
      `---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  port: 8080
  accessPolicy: all-unauthenticated
`;
    const got = run(text, { linkerdDefaultInboundPolicy: "deny" }, "MSH6002");
    expect(got.map((g) => g[2].split(" without")[0])).toEqual([
      "namespace shop sets config.linkerd.io/default-inbound-policy: all-unauthenticated",
      "Deployment shop/web sets config.linkerd.io/default-inbound-policy: cluster-authenticated",
      "Deployment shop/web sets config.linkerd.io/skip-inbound-ports: 4190 (inbound traffic that bypasses the proxy: no mTLS, no policy)",
      "Server shop/web-http sets accessPolicy all-unauthenticated",
    ]);
    expect(got.map((g) => g[1])).toEqual(["m.yaml:4", "m.yaml:11", "m.yaml:11", "m.yaml:28"]);
  });
});

describe("MSH6003 Linkerd default inbound policy", () => {
  const meshed = (annotations = "{linkerd.io/inject: enabled}") => ns("shop", "{}", annotations) + deploy("web", "shop");
  it("passes when the cluster default is deny", () => {
    expect(run(meshed(), { linkerdDefaultInboundPolicy: "deny" }, "MSH6003")).toEqual([]);
  });
  it("flags a meshed namespace inheriting all-unauthenticated (Linkerd's default), at the Namespace", () => {
    expect(run(meshed(), {}, "MSH6003")).toEqual([
      ["MSH6003", "m.yaml:4", "namespace shop inherits the cluster default inbound policy all-unauthenticated; zero trust requires deny: annotate it config.linkerd.io/default-inbound-policy: deny, or install Linkerd with proxy.defaultInboundPolicy=deny and say so in policy.zeroTrust.linkerdDefaultInboundPolicy"],
    ]);
  });
  it("passes a namespace annotated deny", () => {
    expect(run(meshed("{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: deny}"), {}, "MSH6003")).toEqual([]);
  });
  it("points at meshops.yaml for meshed workloads whose Namespace is not in the repository", () => {
    const text = deploy("web", "shop", "{linkerd.io/inject: enabled}");
    expect(run(text, {}, "MSH6003")).toEqual([["MSH6003", "meshops.yaml:7", "environment prod: namespace shop inherits the cluster default inbound policy all-unauthenticated (policy.zeroTrust.linkerdDefaultInboundPolicy); zero trust requires deny"]]);
  });
  it("passes a namespace whose every meshed workload sets deny itself", () => {
    const text = deploy("web", "shop", "{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: deny}");
    expect(run(text, {}, "MSH6003")).toEqual([]);
  });
});

describe("MSH6010 default-deny AuthorizationPolicy", () => {
  it("passes with an empty-spec policy in the root namespace", () => {
    expect(run(meshStrict + denyAll() + ns("shop") + deploy("web", "shop"), {}, "MSH6010")).toEqual([]);
  });
  it("passes with one per namespace, and flags the namespace that has none", () => {
    const text = meshStrict + ns("shop") + ns("pay") + denyAll("shop") + deploy("web", "shop") + deploy("card", "pay");
    expect(run(text, {}, "MSH6010")).toEqual([["MSH6010", "m.yaml:14", "namespace pay has no default-deny AuthorizationPolicy (spec: {}) and the root namespace istio-system has none either: every request is allowed where no ALLOW policy selects the workload"]]);
  });
  it("does not count a policy with a selector or with rules", () => {
    const text = meshStrict + ns("shop") + denyAll("shop").replace("spec: {}", "spec: {selector: {matchLabels: {app: web}}}");
    expect(run(text, {}, "MSH6010")).toHaveLength(1);
    const withRules = meshStrict + ns("shop") + denyAll("shop").replace("spec: {}", "spec: {rules: [{from: [{source: {namespaces: [shop]}}]}]}");
    expect(run(withRules, {}, "MSH6010")).toHaveLength(1);
  });
  it("counts a DENY policy with an empty rule", () => {
    const text = meshStrict + ns("shop") + denyAll("shop").replace("spec: {}", "spec: {action: DENY, rules: [{}]}");
    expect(run(text, {}, "MSH6010")).toEqual([]);
  });
  it("names namespaces that hold Istio policy but no Namespace object, at meshops.yaml", () => {
    const text = meshStrict + denyAll("shop").replace("spec: {}", "spec: {rules: [{from: [{source: {namespaces: [web]}}]}]}");
    expect(run(text, {}, "MSH6010")).toEqual([["MSH6010", "meshops.yaml:7", "environment prod: no default-deny AuthorizationPolicy (spec: {}) in the root namespace istio-system nor in namespace shop"]]);
  });
  it("points at meshops.yaml when nothing names a namespace", () => {
    expect(run(meshStrict, {}, "MSH6010")).toEqual([["MSH6010", "meshops.yaml:7", "environment prod: no default-deny AuthorizationPolicy (spec: {}) in the root namespace istio-system"]]);
  });
});

describe("MSH6020 ALLOW into sensitive namespaces", () => {
  const allow = (spec: string, namespace = "pay") => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: ${namespace}}
spec:
${spec}`;
  const base = meshStrict + denyAll() + ns("pay", "{istio-injection: enabled, meshops.dev/sensitive: 'true'}");
  it("flags a rule without from, wildcard principals and namespaces, and negative-only sources", () => {
    const text =
      base +
      allow(`  rules:
    - to: [{operation: {methods: [GET]}}]
    - from: [{source: {principals: ["*"]}}]
    - from: [{source: {namespaces: ["*"]}}]
    - from: [{source: {notPrincipals: [cluster.local/ns/evil/sa/x]}}]
    - from: [{source: {principals: [cluster.local/ns/*/sa/checkout]}}]
`);
    const got = run(text, {}, "MSH6020").map((g) => g[2].replace("AuthorizationPolicy pay/allow in sensitive namespace pay: ", ""));
    expect(got).toEqual([
      "ALLOW rule 0 has no from, so it admits any principal from any namespace",
      'ALLOW rule 1: principal "*" admits any principal',
      'ALLOW rule 2: namespace "*" admits any namespace',
      "ALLOW rule 3: the source names no principals or namespaces (only notPrincipals), so it admits any principal",
      'ALLOW rule 4: principal "cluster.local/ns/*/sa/checkout" admits any principal',
    ]);
  });
  it("passes named principals and namespaces, and a when condition on the caller", () => {
    const text =
      base +
      allow(`  rules:
    - from: [{source: {principals: [cluster.local/ns/shop/sa/checkout]}}]
    - from: [{source: {namespaces: [shop]}}]
    - when: [{key: source.namespace, values: [shop]}]
`);
    expect(run(text, {}, "MSH6020")).toEqual([]);
  });
  it("ignores namespaces that are not sensitive, and uses the configured names", () => {
    const text = meshStrict + denyAll() + ns("shop") + allow("  rules: [{}]\n", "shop");
    expect(run(text, {}, "MSH6020")).toEqual([]);
    expect(run(text, { sensitiveNamespaces: ["shop"] }, "MSH6020")).toHaveLength(1);
    expect(run(text, { sensitiveNamespaceSelector: { matchLabels: { "istio-injection": "enabled" } } }, "MSH6020")).toHaveLength(1);
  });
  it("flags a mesh-wide ALLOW in the root namespace that opens the sensitive namespaces", () => {
    const text = base + allow("  rules: [{from: [{source: {principals: ['*']}}]}]\n", "istio-system");
    expect(run(text, {}, "MSH6020")[0]?.[2]).toBe('mesh-wide AuthorizationPolicy istio-system/allow (applies to the sensitive namespace pay): ALLOW rule 0: principal "*" admits any principal');
  });
  it("flags Linkerd policies that admit any client into a sensitive namespace", () => {
    const text =
      ns("vault", "{meshops.dev/sensitive: 'true'}", "{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: deny}") +
      `---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: anyone, namespace: vault}
spec: {identities: ["*"]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web, namespace: vault}
spec: {identities: [web.shop.serviceaccount.identity.linkerd.cluster.local]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: any, namespace: vault}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: vault}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: anyone}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web, namespace: vault}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: vault}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: net, namespace: vault}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: vault}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: NetworkAuthentication, name: cluster}]
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: open, namespace: vault}
spec:
  server: {name: vault}
  client: {unauthenticated: true}
`;
    const got = run(text, { linkerdDefaultInboundPolicy: "deny" }, "MSH6020").map((g) => g[2]);
    expect(got).toEqual([
      'AuthorizationPolicy vault/any in sensitive namespace vault requires MeshTLSAuthentication vault/anyone, whose identity "*" admits any principal',
      "AuthorizationPolicy vault/net in sensitive namespace vault requires only a NetworkAuthentication, so it admits any principal from those networks",
      "ServerAuthorization vault/open in sensitive namespace vault: client.unauthenticated admits any client",
    ]);
  });
});

describe("mesh detection", () => {
  it("runs only the rules of the meshes the environment uses, unless configured", () => {
    const linkerdOnly = ns("shop", "{}", "{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: deny}") + deploy("web", "shop");
    expect(run(linkerdOnly)).toEqual([]);
    expect(run(linkerdOnly, { meshes: ["istio", "linkerd"] }).map((g) => g[0])).toEqual(["MSH6001", "MSH6010"]);
  });
});
