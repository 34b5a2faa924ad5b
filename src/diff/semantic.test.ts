import { describe, expect, it } from "vitest";
import { buildMeshModel, type MeshModel } from "../model/mesh-model.js";
import { parseManifests } from "../source/yaml.js";
import { renderDiffMarkdown, renderDiffText } from "./render.js";
import { canonical, semanticDiff } from "./semantic.js";

const model = (...texts: string[]): MeshModel => buildMeshModel(parseManifests(texts.join("\n---\n"), "m.yaml").manifests);

const deploy = (name: string, ns: string, ports = "[{containerPort: 9080}, {containerPort: 9090}]", annotations = "{}") => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}, annotations: ${annotations}}
    spec:
      serviceAccountName: ${name}
      containers: [{name: c, image: i, ports: ${ports}}]`;

const apps = [deploy("reviews", "bookinfo"), deploy("ratings", "bookinfo"), deploy("frontend", "web")].join("\n---\n");

const vs = (http: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
${http}`;

const pa = (ns: string, spec: string, name = "default") => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}`;

describe("canonical", () => {
  it("writes equal values the same way whatever their key order", () => {
    expect(canonical({ b: 1, a: [{ y: 2, x: "s" }] })).toBe(canonical({ a: [{ x: "s", y: 2 }], b: 1 }));
  });
});

describe("semanticDiff: routes", () => {
  it("reports timeouts, retries, faults and mirrors changed on a route", () => {
    const base = model(apps, vs("  - route: [{destination: {host: reviews}}]\n    timeout: 10s"));
    const head = model(apps, vs("  - route: [{destination: {host: reviews}}]\n    timeout: 2s\n    retries: {attempts: 3}\n    fault: {abort: {httpStatus: 500, percentage: {value: 10}}}\n    mirror: {host: reviews-shadow}"));
    expect(semanticDiff(base, head).map((l) => `${l.subject} | ${l.kind} | ${l.change} | ${l.risk}`)).toEqual([
      'reviews.bookinfo.svc | route | fault none → {"abort":{"httpStatus":500,"percentage":{"value":10}}} | high',
      'reviews.bookinfo.svc | route | mirror none → {"host":"reviews-shadow.bookinfo.svc.cluster.local"} | low',
      'reviews.bookinfo.svc | route | retries none → {"attempts":3} | low',
      "reviews.bookinfo.svc | route | timeout 10s → 2s | low",
    ]);
  });

  it("reports routes added and removed, and traffic per destination", () => {
    const base = model(apps, vs("  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 100}"));
    const head = model(apps, vs("  - match: [{headers: {end-user: {exact: jason}}}]\n    route: [{destination: {host: reviews, subset: v2}}]\n  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 80}\n    - {destination: {host: ratings}, weight: 20}"));
    const lines = semanticDiff(base, head);
    expect(lines.map((l) => `${l.kind} | ${l.change} | ${l.risk}`)).toEqual([
      'traffic | route 1 (match [{"headers":{"end-user":{"exact":"jason"}}}]): v1 100% → 0%, v2 0% → 100% | high',
      'route | route 1 (match [{"headers":{"end-user":{"exact":"jason"}}}]): matches none → [{"headers":{"end-user":{"exact":"jason"}}}] | medium',
      "route | route 2 added → v1 80%, ratings.bookinfo.svc 20% | low",
    ]);
  });

  it("gives no line when only the weights' scale or the YAML layout changed", () => {
    const base = model(apps, vs("  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 90}\n    - {destination: {host: reviews, subset: v3}, weight: 10}"));
    const head = model(apps, vs("  - route:\n    - weight: 9\n      destination:\n        subset: v1\n        host: reviews.bookinfo.svc.cluster.local\n    - weight: 1\n      destination: {subset: v3, host: reviews.bookinfo}"));
    expect(semanticDiff(base, head)).toEqual([]);
  });
});

describe("semanticDiff: mTLS", () => {
  it("reports a port-level override per workload port", () => {
    const base = model(apps, pa("istio-system", "{mtls: {mode: STRICT}}"));
    const head = model(apps, pa("istio-system", "{mtls: {mode: STRICT}}"), pa("bookinfo", "{selector: {matchLabels: {app: ratings}}, portLevelMtls: {9090: {mode: DISABLE}}}", "ratings"));
    expect(semanticDiff(base, head)).toEqual([{ subject: "bookinfo/ratings:9090", kind: "mtls", change: "STRICT → DISABLE", risk: "high" }]);
  });

  it("collapses a mesh-wide change into one line, and strengthening is medium risk", () => {
    const lines = semanticDiff(model(apps), model(apps, pa("istio-system", "{mtls: {mode: STRICT}}")));
    expect(lines).toEqual([{ subject: "mesh", kind: "mtls", change: "PERMISSIVE → STRICT", risk: "medium" }]);
  });
});

describe("semanticDiff: access", () => {
  const allow = (principals: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: ratings}}
  rules: [{from: [{source: {principals: [${principals}]}}], to: [{operation: {ports: ["9080"]}}]}]`;

  it("reports access closed per workload port when no Service covers it", () => {
    const lines = semanticDiff(model(apps), model(apps, allow('"cluster.local/ns/bookinfo/sa/reviews"')));
    expect(lines.map((l) => `${l.subject} | ${l.change} | ${l.risk}`)).toEqual([
      "bookinfo/ratings:9080 | sa bookinfo/ratings, sa web/frontend, unauthenticated newly DENIED (no rule of the ALLOW policies bookinfo/ratings matches) | medium",
      "bookinfo/ratings:9090 | sa bookinfo/ratings, sa bookinfo/reviews, sa web/frontend, any authenticated, unauthenticated newly DENIED (no rule of the ALLOW policies bookinfo/ratings matches) | medium",
    ]);
  });

  it("reports a Linkerd default inbound policy opened to plaintext as high risk", () => {
    const ns = (policy: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: web, annotations: {linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: ${policy}}}`;
    const lines = semanticDiff(model(ns("all-authenticated"), deploy("frontend", "web", "[{containerPort: 8080}]")), model(ns("all-unauthenticated"), deploy("frontend", "web", "[{containerPort: 8080}]")));
    expect(lines).toEqual([{ subject: "web/frontend:8080", kind: "access", change: "unauthenticated newly ALLOWED (default inbound policy all-unauthenticated)", risk: "high" }]);
  });
});

describe("semanticDiff: access down to paths and methods", () => {
  const payments = `${deploy("payments", "bookinfo", "[{containerPort: 8080}]")}
---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: bookinfo}
spec: {selector: {app: payments}, ports: [{port: 8080}]}`;
  const callers = [deploy("frontend", "bookinfo", "[{containerPort: 9080}]"), deploy("admin", "bookinfo", "[{containerPort: 9080}]")].join("\n---\n");
  const allow = (rules: string, name = "payments", action = "ALLOW") => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: payments}}
  action: ${action}
  rules:
${rules}`;
  const from = (sa: string, to: string) => `  - from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/${sa}"]}}]\n    to: [{operation: ${to}}]`;
  const show = (lines: ReturnType<typeof semanticDiff>) => lines.map((l) => `${l.subject} | ${l.change} | ${l.risk}`);

  // "any authenticated" is some identity that may: frontend's
  it("names the path and methods a source is newly allowed", () => {
    const base = model(payments, callers, allow(from("admin", "{paths: [/admin/*]}")));
    const head = model(payments, callers, allow(`${from("admin", "{paths: [/admin/*]}")}\n${from("frontend", '{methods: [GET], paths: ["/api/*"]}')}`));
    expect(show(semanticDiff(base, head))).toEqual(["payments.bookinfo:8080/api/* | sa bookinfo/frontend, any authenticated newly ALLOWED (GET; ALLOW policy bookinfo/payments) | high"]);
  });

  it("shows narrowed paths as closed, with what stays allowed", () => {
    const base = model(payments, callers, allow(from("frontend", '{methods: [GET, POST], paths: ["/api/*"]}')));
    const head = model(payments, callers, allow(from("frontend", '{methods: [GET], paths: ["/api/v1/*"]}')));
    expect(show(semanticDiff(base, head))).toEqual(["payments.bookinfo:8080/api/* | sa bookinfo/frontend, any authenticated newly DENIED (GET, POST; still ALLOWED: GET /api/v1/*; ALLOW policy bookinfo/payments) | medium"]);
  });

  it("a port opened to everything that was open only on some paths says what it was", () => {
    const base = model(payments, callers, allow(from("frontend", '{paths: ["/api/*"]}')));
    const head = model(payments, callers, allow(`  - from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/frontend"]}}]`));
    expect(show(semanticDiff(base, head))).toEqual(["payments.bookinfo:8080 | sa bookinfo/frontend, any authenticated newly ALLOWED (before only: /api/*; ALLOW policy bookinfo/payments) | high"]);
  });

  it("a DENY rule on a path closes that path only", () => {
    const deny = allow(`  - from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/frontend"]}}]\n    to: [{operation: {paths: ["/admin/*"]}}]`, "no-admin", "DENY");
    const lines = semanticDiff(model(payments, callers), model(payments, callers, deny));
    expect(show(lines)).toEqual(["payments.bookinfo:8080/admin/* | sa bookinfo/frontend newly DENIED (DENY policy bookinfo/no-admin) | medium"]);
  });

  it("writes a namespace whose every ServiceAccount shares the line as sa ns/*", () => {
    const many = ["a", "b", "c", "d"].map((n) => deploy(`caller-${n}`, "shop", "[{containerPort: 9080}]")).join("\n---\n");
    const deny = allow(`  - from: [{source: {namespaces: [shop]}}]\n    to: [{operation: {paths: ["/admin/*"]}}]`, "no-admin", "DENY");
    expect(show(semanticDiff(model(payments, callers, many), model(payments, callers, many, deny)))).toEqual(["payments.bookinfo:8080/admin/* | sa shop/* newly DENIED (DENY policy bookinfo/no-admin) | medium"]);
  });

  it("gives no line when the same paths are written in another order", () => {
    const a = model(payments, callers, allow(from("frontend", '{methods: [GET, POST], paths: ["/b", "/a"]}')));
    const b = model(payments, callers, allow(from("frontend", '{paths: ["/a", "/b"], methods: [POST, GET]}')));
    expect(semanticDiff(a, b)).toEqual([]);
  });

  it("a Linkerd AuthorizationPolicy on an HTTPRoute opens the route's paths only", () => {
    const ns = `apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo, annotations: {linkerd.io/inject: enabled}}`;
    const server = `apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: payments, namespace: bookinfo}\nspec: {podSelector: {matchLabels: {app: payments}}, port: 8080}`;
    const route = `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: api, namespace: bookinfo}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: payments}]
  rules: [{matches: [{path: {type: PathPrefix, value: /api}, method: GET}]}]`;
    const policy = `apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: api, namespace: bookinfo}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: api}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: frontend}]`;
    const lines = semanticDiff(model(ns, payments, callers, server, route), model(ns, payments, callers, server, route, policy));
    expect(show(lines)).toEqual(["payments.bookinfo:8080/api/* | sa bookinfo/frontend, any authenticated newly ALLOWED (GET; AuthorizationPolicy bookinfo/api) | high"]);
  });
});

describe("semanticDiff: Linkerd access", () => {
  const ns = `apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo, annotations: {linkerd.io/inject: enabled}}`;
  const svc = `apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: bookinfo}\nspec: {selector: {app: ratings}, ports: [{port: 80, targetPort: 9080}]}`;
  const server = `apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: ratings, namespace: bookinfo}\nspec: {podSelector: {matchLabels: {app: ratings}}, port: 9080}`;
  const policy = `apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ratings, namespace: bookinfo}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: ratings}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: reviews}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: reviews, namespace: bookinfo}
spec: {identityRefs: [{kind: ServiceAccount, name: reviews}]}`;

  it("a Server with an AuthorizationPolicy closes the port to everyone but the authenticated ServiceAccount, named by its Service", () => {
    const lines = semanticDiff(model(ns, apps, svc), model(ns, apps, svc, server, policy));
    expect(lines).toEqual([{ subject: "ratings.bookinfo:80", kind: "access", change: "sa bookinfo/ratings, sa web/frontend, unauthenticated newly DENIED (Server bookinfo/ratings accessPolicy deny)", risk: "medium" }]);
  });

  it("gives no line when the same policy objects are written in another order", () => {
    expect(semanticDiff(model(ns, apps, svc, server, policy), model(policy, server, svc, apps, ns))).toEqual([]);
  });
});

describe("renderers", () => {
  const lines = [{ subject: "reviews.bookinfo.svc", kind: "traffic" as const, change: "v1 90% → 50% | x", risk: "medium" as const }];
  it("aligns text columns and escapes Markdown table cells", () => {
    expect(renderDiffText(lines)).toBe("reviews.bookinfo.svc   traffic   v1 90% → 50% | x  [risk: medium]\n");
    expect(renderDiffMarkdown(lines)).toContain("| `reviews.bookinfo.svc` | traffic | v1 90% → 50% \\| x | medium |");
    expect(renderDiffText([])).toBe("no semantic changes\n");
  });
});
