import { describe, expect, it } from "vitest";
import { parseManifests } from "../source/yaml.js";
import { accessDecision, accessEntriesOf, accessMatrix, istioMatch, matrixSources, sourceLabel, type SourceIdentity } from "./access.js";
import { buildMeshModel, type MeshModel } from "./mesh-model.js";

const model = (...texts: string[]): MeshModel => buildMeshModel(parseManifests(texts.join("\n---\n"), "m.yaml").manifests);

const deploy = (name: string, ns: string, sa: string, port = 9080, annotations = "{}") => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}, annotations: ${annotations}}
    spec:
      serviceAccountName: ${sa}
      containers: [{name: c, image: i, ports: [{name: http, containerPort: ${port}}]}]`;

const apps = [deploy("reviews", "bookinfo", "bookinfo-reviews"), deploy("productpage", "bookinfo", "bookinfo-productpage"), deploy("frontend", "web", "frontend")].join("\n---\n");
const sa = (namespace: string, serviceAccount: string): SourceIdentity => ({ kind: "serviceAccount", namespace, serviceAccount });
const productpage = sa("bookinfo", "bookinfo-productpage");
const frontend = sa("web", "frontend");

function decide(m: MeshModel, source: SourceIdentity, workload = "reviews", port = 9080, extra: { path?: string; method?: string } = {}) {
  const w = m.workloads.find((x) => x.name === workload);
  if (!w) throw new Error(`no workload ${workload}`);
  return accessDecision(m, { source, workload: w, port, ...extra });
}

const ap = (name: string, ns: string, spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}`;

describe("istioMatch", () => {
  it("matches exact, prefix, suffix and presence patterns", () => {
    expect(istioMatch("/api", "/api")).toBe(true);
    expect(istioMatch("/api*", "/api/v1")).toBe(true);
    expect(istioMatch("*.json", "/a/b.json")).toBe(true);
    expect(istioMatch("*", "x")).toBe(true);
    expect(istioMatch("/api", "/api/v1")).toBe(false);
  });
});

describe("Istio access decisions", () => {
  it("allows everyone when no ALLOW policy selects the workload", () => {
    const d = decide(model(apps), frontend);
    expect(d).toMatchObject({ allowed: true, mesh: "istio", reason: "no ALLOW policy selects the workload" });
    expect(decide(model(apps), { kind: "unauthenticated" }).allowed).toBe(true);
  });

  it("denies what no rule of a present ALLOW policy matches, and allows listed principals", () => {
    const m = model(apps, ap("reviews", "bookinfo", `  selector: {matchLabels: {app: reviews}}\n  action: ALLOW\n  rules:\n  - from:\n    - source: {principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]}`));
    expect(decide(m, productpage)).toMatchObject({ allowed: true, reason: "ALLOW policy bookinfo/reviews" });
    expect(decide(m, frontend).allowed).toBe(false);
    expect(decide(m, { kind: "unauthenticated" }).allowed).toBe(false);
    expect(decide(m, { kind: "authenticated" }).allowed).toBe(true); // some authenticated identity (productpage's) is allowed
    // the policy selects reviews only
    expect(decide(m, frontend, "productpage").allowed).toBe(true);
  });

  it("an ALLOW policy without rules allows nothing; an empty rule allows everything", () => {
    expect(decide(model(apps, ap("none", "bookinfo", "  {}")), productpage).allowed).toBe(false);
    expect(decide(model(apps, ap("all", "bookinfo", "  rules: [{}]")), frontend).allowed).toBe(true);
  });

  it("evaluates DENY before ALLOW", () => {
    const m = model(apps, ap("allow-all", "bookinfo", "  rules: [{}]"), ap("deny-web", "bookinfo", "  action: DENY\n  rules: [{from: [{source: {namespaces: [web]}}]}]"));
    expect(decide(m, frontend)).toMatchObject({ allowed: false, reason: "DENY policy bookinfo/deny-web" });
    expect(decide(m, productpage).allowed).toBe(true);
  });

  it("applies mesh-wide policies from the root namespace and ignores selectors of other namespaces", () => {
    const m = model(apps, ap("deny-plain", "istio-system", "  action: DENY\n  rules: [{from: [{source: {notPrincipals: ['*']}}]}]"), ap("other", "web", "  selector: {matchLabels: {app: reviews}}\n  rules: []"));
    expect(decide(m, { kind: "unauthenticated" })).toMatchObject({ allowed: false, reason: "DENY policy istio-system/deny-plain" });
    expect(decide(m, productpage).allowed).toBe(true);
  });

  it("notNamespaces and notPrincipals exclude identities", () => {
    const m = model(apps, ap("not-web", "bookinfo", "  rules: [{from: [{source: {notNamespaces: [web]}}]}]"));
    expect(decide(m, frontend).allowed).toBe(false);
    expect(decide(m, productpage).allowed).toBe(true);
    const n = model(apps, ap("not-pp", "bookinfo", "  rules: [{from: [{source: {principals: ['*'], notPrincipals: ['*/sa/bookinfo-productpage']}}]}]"));
    expect(decide(n, productpage).allowed).toBe(false);
    expect(decide(n, frontend).allowed).toBe(true);
    expect(decide(n, { kind: "unauthenticated" }).allowed).toBe(false);
  });

  it("matches operation ports, paths with prefix/suffix and methods", () => {
    const m = model(apps, ap("ops", "bookinfo", "  rules: [{to: [{operation: {ports: ['9080'], paths: ['/api/*', '*.json'], methods: [GET]}}]}]"));
    expect(decide(m, frontend, "reviews", 9080, { path: "/api/v1", method: "GET" }).allowed).toBe(true);
    expect(decide(m, frontend, "reviews", 9080, { path: "/x.json", method: "GET" }).allowed).toBe(true);
    expect(decide(m, frontend, "reviews", 9080, { path: "/admin", method: "GET" }).allowed).toBe(false);
    expect(decide(m, frontend, "reviews", 9080, { path: "/api/v1", method: "POST" }).allowed).toBe(false);
    // no path named: some path is allowed
    expect(decide(m, frontend).allowed).toBe(true);
  });

  it("a DENY on some paths does not deny the port as a whole, but denies that path", () => {
    const m = model(apps, ap("deny-admin", "bookinfo", "  action: DENY\n  rules: [{to: [{operation: {paths: ['/admin*']}}]}]"));
    expect(decide(m, frontend).allowed).toBe(true);
    expect(decide(m, frontend, "reviews", 9080, { path: "/admin/x" }).allowed).toBe(false);
  });

  it("a matching CUSTOM policy names its external authorizer; DENY still applies after it", () => {
    const m = model(apps, ap("ext", "bookinfo", "  action: CUSTOM\n  provider: {name: opa}\n  rules: [{}]"), ap("deny", "bookinfo", "  action: DENY\n  rules: [{from: [{source: {namespaces: [web]}}]}]"));
    expect(decide(m, productpage)).toMatchObject({ allowed: true, customProvider: "opa" });
    expect(decide(m, frontend)).toMatchObject({ allowed: false, customProvider: "opa" });
  });

  it("plaintext clients are rejected on STRICT ports", () => {
    const m = model(apps, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: bookinfo}\nspec: {mtls: {mode: STRICT}}");
    expect(decide(m, { kind: "unauthenticated" })).toMatchObject({ allowed: false, reason: "mTLS STRICT rejects plaintext" });
    expect(accessDecision(m, { source: { kind: "unauthenticated" }, workload: m.workloads[0] as never, port: 9080 }, { considerMtls: false }).allowed).toBe(true);
  });
});

const linkerdNs = (annotations = "{linkerd.io/inject: enabled}") => `apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo, annotations: ${annotations}}`;
const server = `apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata: {name: reviews-http, namespace: bookinfo}
spec: {podSelector: {matchLabels: {app: reviews}}, port: http, proxyProtocol: HTTP/1}`;

describe("Linkerd access decisions", () => {
  it("uses the cluster default inbound policy (all-unauthenticated) when no Server selects the port", () => {
    const m = model(linkerdNs(), apps);
    expect(decide(m, { kind: "unauthenticated" })).toMatchObject({ allowed: true, mesh: "linkerd", reason: "default inbound policy all-unauthenticated" });
    const w = m.workloads.find((x) => x.name === "reviews");
    expect(accessDecision(m, { source: { kind: "unauthenticated" }, workload: w as never, port: 9080 }, { linkerdDefaultInboundPolicy: "deny" }).allowed).toBe(false);
  });

  it("honours the namespace and pod default-inbound-policy annotations, the pod's first", () => {
    const m = model(linkerdNs("{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: all-authenticated}"), apps);
    expect(decide(m, { kind: "unauthenticated" }).allowed).toBe(false);
    expect(decide(m, frontend).allowed).toBe(true);
    const p = model(linkerdNs("{linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: all-authenticated}"), deploy("reviews", "bookinfo", "r", 9080, "{config.linkerd.io/default-inbound-policy: deny}"));
    expect(decide(p, frontend)).toMatchObject({ allowed: false, reason: "default inbound policy deny" });
  });

  it("a Server denies unless an AuthorizationPolicy with a MeshTLSAuthentication admits the client", () => {
    const m = model(
      linkerdNs(),
      apps,
      server,
      `apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: reviews-authz, namespace: bookinfo}\nspec:\n  targetRef: {group: policy.linkerd.io, kind: Server, name: reviews-http}\n  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: pp}]`,
      `apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: pp, namespace: bookinfo}\nspec:\n  identityRefs: [{kind: ServiceAccount, name: bookinfo-productpage}]`,
    );
    expect(decide(m, productpage)).toMatchObject({ allowed: true, reason: "AuthorizationPolicy bookinfo/reviews-authz" });
    expect(decide(m, frontend)).toMatchObject({ allowed: false, reason: "Server bookinfo/reviews-http accessPolicy deny" });
    expect(decide(m, { kind: "unauthenticated" }).allowed).toBe(false);
    // another port of the same pod is not selected by the Server
    expect(decide(m, frontend, "productpage").allowed).toBe(true);
  });

  it("MeshTLSAuthentication identities match Linkerd identity strings with wildcards", () => {
    const m = model(
      linkerdNs(),
      apps,
      server,
      `apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: bookinfo}\nspec:\n  targetRef: {kind: Namespace, name: bookinfo}\n  requiredAuthenticationRefs: [{kind: MeshTLSAuthentication, name: web}]`,
      `apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: web, namespace: bookinfo}\nspec: {identities: ["*.web.serviceaccount.identity.linkerd.cluster.local"]}`,
    );
    expect(decide(m, frontend).allowed).toBe(true);
    expect(decide(m, productpage).allowed).toBe(false);
  });

  it("ServerAuthorization clients: unauthenticated and meshTLS serviceAccounts", () => {
    const m = model(linkerdNs(), apps, server, `apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: sa, namespace: bookinfo}\nspec:\n  server: {name: reviews-http}\n  client: {meshTLS: {serviceAccounts: [{name: frontend, namespace: web}]}}`);
    expect(decide(m, frontend)).toMatchObject({ allowed: true, reason: "ServerAuthorization bookinfo/sa" });
    expect(decide(m, productpage).allowed).toBe(false);
  });
});

describe("accessMatrix", () => {
  it("lists every workload port against every ServiceAccount, any authenticated and unauthenticated", () => {
    const m = model(apps, ap("reviews", "bookinfo", `  selector: {matchLabels: {app: reviews}}\n  rules: [{from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage"]}}]}]`));
    const rows = accessMatrix(m)
      .filter((e) => e.workload === "bookinfo/reviews")
      .map((e) => `${e.workload}:${e.port} ${sourceLabel(e.source)} ${e.decision.allowed ? "allow" : "deny"}`);
    expect(rows).toEqual([
      "bookinfo/reviews:9080 sa bookinfo/bookinfo-productpage allow",
      "bookinfo/reviews:9080 sa bookinfo/bookinfo-reviews deny",
      "bookinfo/reviews:9080 sa web/frontend deny",
      "bookinfo/reviews:9080 any authenticated allow",
      "bookinfo/reviews:9080 unauthenticated deny",
    ]);
    expect(accessMatrix(m)).toHaveLength(15);
  });
});

describe("access scope: paths and methods", () => {
  it("an allowed source's scope lists the paths and methods of the ALLOW rules that match it, minus certain DENY rules on paths", () => {
    const m = model(
      apps,
      ap("reviews", "bookinfo", `  selector: {matchLabels: {app: reviews}}\n  rules:\n  - from: [{source: {principals: ["cluster.local/ns/web/sa/frontend"]}}]\n    to: [{operation: {methods: [GET, HEAD], paths: ["/api/*"]}}, {operation: {ports: ["1"], paths: [/other]}}]`),
      ap("no-admin", "bookinfo", `  selector: {matchLabels: {app: reviews}}\n  action: DENY\n  rules:\n  - to: [{operation: {paths: ["/api/admin/*"]}}]`),
    );
    expect(decide(m, frontend).scope).toEqual({
      allowed: [
        { path: "/api/*", method: "GET" },
        { path: "/api/*", method: "HEAD" },
      ],
      denied: [{ path: "/api/admin/*", method: "*", by: "DENY policy bookinfo/no-admin" }],
    });
    // a request that names its path is decided as before, without a scope
    expect(decide(m, frontend, "reviews", 9080, { path: "/api/x", method: "GET" })).toMatchObject({ allowed: true });
    expect(decide(m, frontend, "reviews", 9080, { path: "/api/x", method: "GET" }).scope).toBeUndefined();
  });

  it("no scope (everything) when no policy names paths or methods", () => {
    expect(decide(model(apps), frontend).scope).toBeUndefined();
    const m = model(apps, ap("reviews", "bookinfo", `  selector: {matchLabels: {app: reviews}}\n  rules: [{from: [{source: {principals: ["cluster.local/ns/web/sa/frontend"]}}]}]`));
    expect(decide(m, frontend).scope).toBeUndefined();
  });
});

describe("accessEntriesOf groups sources that policies cannot tell apart", () => {
  it("gives every source the decision deciding it alone gives (Istio patterns and Linkerd identities, references and globs)", () => {
    const sas = ["a/x", "a/y", "b/x", "b/admin", "c/z", "linkerd-ns/client", "linkerd-ns/other", "tools/ci"].map((k) => `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${k.split("/")[1]}, namespace: ${k.split("/")[0]}}`);
    const m = model(
      apps,
      ...sas,
      ap("mixed", "bookinfo", `  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/a/sa/*"], notNamespaces: ["b"]}}]
  - from: [{source: {namespaces: ["c", "tools"]}}]
    to: [{operation: {paths: ["/api/*"], methods: ["GET"]}}]
  - from: [{source: {principals: ["*/sa/admin"]}}]`),
      ap("deny-ci", "bookinfo", `  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/tools/sa/ci"]}}]}]`),
      deploy("web", "linkerd-ns", "web", 8080, '{linkerd.io/inject: enabled}'),
      `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web, namespace: linkerd-ns}
spec: {podSelector: {matchLabels: {app: web}}, port: 8080}`,
      `apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: clients, namespace: linkerd-ns}
spec:
  identities: ["client.linkerd-ns.serviceaccount.identity.linkerd.cluster.local", "*.c.serviceaccount.identity.linkerd.cluster.local"]
  identityRefs: [{kind: ServiceAccount, name: admin, namespace: b}, {kind: Namespace, name: a}]`,
      `apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web, namespace: linkerd-ns}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: web}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: clients}]`,
    );
    const sources = matrixSources(m);
    for (const w of m.workloads) {
      const grouped = accessEntriesOf(m, w, sources);
      for (const e of grouped) expect(e.decision, `${e.workload}:${e.port} ${sourceLabel(e.source)}`).toEqual(accessDecision(m, { source: e.source, workload: w, port: e.port }));
    }
    // the cases are really different decisions (the grouping had something to group and to keep apart)
    const reviews = m.workloads.find((w) => w.name === "reviews")!;
    const verdicts = new Set(accessEntriesOf(m, reviews, sources).map((e) => `${e.decision.allowed}|${e.decision.reason}|${JSON.stringify(e.decision.scope ?? null)}`));
    expect(verdicts.size).toBeGreaterThanOrEqual(3);
    const web = m.workloads.find((w) => w.name === "web")!;
    expect(new Set(accessEntriesOf(m, web, sources).map((e) => e.decision.allowed)).size).toBe(2);
  });
});
