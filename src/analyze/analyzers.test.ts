import { describe, expect, it } from "vitest";
import { buildMeshModel } from "../model/mesh-model.js";
import { parseManifests } from "../source/yaml.js";
import type { ReferencePolicy } from "./analyzer.js";
import { analyzerFor, analyzers, runAnalyzers } from "./registry.js";

/** Runs one analyzer on inline YAML: [severity, line, message] per finding. */
function run(code: string, text: string, references: ReferencePolicy = "warn"): [string, number, string][] {
  const a = analyzerFor(code);
  if (!a) throw new Error(code);
  const model = buildMeshModel(parseManifests(text, "m.yaml").manifests);
  return runAnalyzers(model, { references }, [a]).map((f) => [f.severity, f.line, f.message]);
}

const svc = (name: string, ns = "bookinfo", labels = `{app: ${name}}`) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {selector: ${labels}, ports: [{name: http, port: 9080}]}
`;
const deploy = (name: string, labels: string, ns = "bookinfo", ports = "[{containerPort: 9080, name: http}]") => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  template:
    metadata: {labels: ${labels}}
    spec: {containers: [{name: c, image: i, ports: ${ports}}]}
`;
const vs = (http: string, extra = "") => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
${extra}  http:
${http}`;
const dr = (host: string, subsets: string, extra = "") => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: bookinfo}
spec:
  host: ${host}
${extra}  subsets: ${subsets}
`;

describe("the registry", () => {
  it("has unique, well-formed codes in order, each with a title and a one-paragraph explanation", () => {
    const codes = analyzers.map((a) => a.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect([...codes].sort()).toEqual(codes);
    for (const a of analyzers) {
      expect(a.code).toMatch(/^MSH[2-5][0-9]{3}$/);
      expect(a.title.length).toBeGreaterThan(10);
      expect(a.explanation).not.toContain("\n");
      expect(a.explanation.length).toBeGreaterThan(150);
      if (a.istio) expect(a.istio).toMatch(/^IST[0-9]{4}$/);
    }
  });
});

describe("MSH2001 destination host not found", () => {
  const route = "  - route: [{destination: {host: reviews}}]\n";
  it("is an error when the repository holds Services but not this one", () => {
    expect(run("MSH2001", svc("ratings") + vs(route))).toEqual([["error", 13, 'destination host "reviews" (reviews.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host']]);
  });
  it("is silent when the Service or a ServiceEntry host exists", () => {
    expect(run("MSH2001", svc("reviews") + vs(route))).toEqual([]);
    expect(run("MSH2001", `${svc("ratings")}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: bookinfo}
spec: {hosts: ["*.bookinfo.svc.cluster.local"], resolution: DNS}
${vs(route)}`)).toEqual([]);
  });
  it("is a warning saying so when the repository holds no Services; strict makes it an error, off silences it", () => {
    const [w] = run("MSH2001", vs(route));
    expect(w?.[0]).toBe("warning");
    expect(w?.[2]).toMatch(/the repository holds no Services or ServiceEntries in namespace bookinfo, so this could not be confirmed$/);
    // Services in other namespaces do not make this one knowable
    expect(run("MSH2001", svc("ratings", "other") + vs(route)).map((f) => f[0])).toEqual(["warning"]);
    expect(run("MSH2001", vs(route), "strict").map((f) => f[0])).toEqual(["error"]);
    expect(run("MSH2001", vs(route), "off")).toEqual([]);
  });
});

describe("MSH2002 subset not defined", () => {
  const route = "  - route: [{destination: {host: reviews, subset: v3}}]\n";
  it("reports a subset no DestinationRule for the host defines", () => {
    expect(run("MSH2002", dr("reviews", "[{name: v1, labels: {version: v1}}]") + vs(route))).toEqual([["error", 15, "subset \"v3\" of host reviews.bookinfo.svc.cluster.local is not defined by any DestinationRule"]]);
  });
  it("accepts a subset defined under the host's FQDN", () => {
    expect(run("MSH2002", dr("reviews.bookinfo.svc.cluster.local", "[{name: v3, labels: {version: v3}}]") + vs(route))).toEqual([]);
  });
  it("is a warning when the repository holds no DestinationRules", () => {
    expect(run("MSH2002", vs(route)).map((f) => f[0])).toEqual(["warning"]);
  });
});

describe("MSH2003 gateway not found", () => {
  const gw = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-ingress}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
`;
  const route = "  - route: [{destination: {host: reviews}}]\n";
  it("reports a gateway missing from a namespace whose Gateways the repository holds", () => {
    expect(run("MSH2003", gw + vs(route, "  gateways: [istio-ingress/publik, mesh]\n"))).toEqual([["error", 12, 'gateway "istio-ingress/publik" is not an Istio Gateway (looked for istio-ingress/publik)']]);
  });
  it("warns when the repository holds no Gateways in the namespace looked in (a name without namespace is the VirtualService's)", () => {
    expect(run("MSH2003", gw + vs(route, "  gateways: [public]\n"))).toEqual([
      ["warning", 7, 'gateway "public" is not an Istio Gateway (looked for bookinfo/public); the repository holds no Istio Gateways in namespace bookinfo, so this could not be confirmed'],
    ]);
  });
  it("accepts ns/name, mesh and the older FQDN form", () => {
    expect(run("MSH2003", gw + vs(route, "  gateways: [istio-ingress/public, mesh, public.istio-ingress.svc.cluster.local]\n"))).toEqual([]);
  });
});

describe("MSH2004 weights", () => {
  it("reports weights that do not add up to 100", () => {
    expect(run("MSH2004", vs("  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 90}\n    - {destination: {host: reviews, subset: v2}, weight: 20}\n"))).toEqual([
      ["warning", 8, "the weights of http[0]'s 2 destinations add up to 110, not 100"],
    ]);
  });
  it("accepts 100 and a single destination without weight", () => {
    expect(run("MSH2004", vs("  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 90}\n    - {destination: {host: reviews, subset: v2}, weight: 10}\n  - route: [{destination: {host: reviews}}]\n"))).toEqual([]);
  });
});

describe("MSH2005 unreachable rule", () => {
  it("reports rules after a catch-all as errors, or warnings when they route the same way", () => {
    const text = vs(`  - route: [{destination: {host: reviews, subset: v1}}]
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
    expect(run("MSH2005", text).map((f) => [f[0], f[1]])).toEqual([
      ["error", 9],
      ["warning", 11],
    ]);
  });
  it("accepts a catch-all at the end", () => {
    expect(run("MSH2005", vs("  - match: [{uri: {prefix: /api}}]\n    route: [{destination: {host: reviews}}]\n  - route: [{destination: {host: reviews}}]\n"))).toEqual([]);
  });
});

describe("MSH2006 subset matching no workload", () => {
  const objs = svc("reviews") + deploy("reviews-v1", "{app: reviews, version: v1}");
  it("reports a subset whose labels none of the Service's workloads carries", () => {
    expect(run("MSH2006", objs + dr("reviews", "[{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]"))).toEqual([
      ["warning", 20, "subset \"v2\" (version=v2) matches none of the workloads of Service bookinfo/reviews (Deployment/reviews-v1)"],
    ]);
  });
  it("is silent when the subset matches, or when the repository holds no workloads", () => {
    expect(run("MSH2006", objs + dr("reviews", "[{name: v1, labels: {version: v1}}]"))).toEqual([]);
    expect(run("MSH2006", svc("reviews") + dr("reviews", "[{name: v2, labels: {version: v2}}]"))).toEqual([]);
  });
});

describe("MSH2007 AuthorizationPolicy selecting nothing", () => {
  const ap = (sel: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: bookinfo}
spec:
  selector: {matchLabels: ${sel}}
  action: ALLOW
`;
  it("reports a selector that matches no workload in the namespace", () => {
    expect(run("MSH2007", deploy("reviews-v1", "{app: reviews}") + deploy("x", "{app: ratings}", "other") + ap("{app: ratings}"))).toEqual([["warning", 22, "selector app=ratings matches no workload in namespace bookinfo"]]);
  });
  it("is silent when a workload matches", () => {
    expect(run("MSH2007", deploy("reviews-v1", "{app: reviews}") + ap("{app: reviews}"))).toEqual([]);
  });
});

describe("MSH2008 mTLS conflict", () => {
  const pa = (mode: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: ${mode}}}
`;
  const objs = svc("reviews") + deploy("reviews-v1", "{app: reviews}");
  it("reports DISABLE towards a STRICT workload, and ISTIO_MUTUAL towards a DISABLE one", () => {
    const f = run("MSH2008", objs + pa("STRICT") + dr("reviews", "[]", "  trafficPolicy: {tls: {mode: DISABLE}}\n"));
    expect(f.map((x) => x[0])).toEqual(["error"]);
    expect(f[0]?.[2]).toMatch(/^tls mode DISABLE for reviews.bookinfo.svc.cluster.local conflicts with mTLS STRICT set by PeerAuthentication istio-system\/default \(m.yaml:/);
    expect(run("MSH2008", objs + pa("DISABLE") + dr("reviews", "[]", "  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n")).length).toBe(1);
  });
  it("uses namespace and mesh policy for a Service outside the repository, unless a workload policy there could apply", () => {
    const wpa = `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, namespace: bookinfo}
spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: PERMISSIVE}}
`;
    const d = dr("reviews", "[]", "  trafficPolicy: {tls: {mode: DISABLE}}\n");
    expect(run("MSH2008", pa("STRICT") + d).length).toBe(1);
    expect(run("MSH2008", pa("STRICT") + wpa + d)).toEqual([]);
  });
  it("accepts DISABLE towards PERMISSIVE and ISTIO_MUTUAL towards STRICT", () => {
    expect(run("MSH2008", objs + pa("PERMISSIVE") + dr("reviews", "[]", "  trafficPolicy: {tls: {mode: DISABLE}}\n"))).toEqual([]);
    expect(run("MSH2008", objs + pa("STRICT") + dr("reviews", "[]", "  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n"))).toEqual([]);
  });
});

const route = (backend: string, parent = "{name: public}") => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [${parent}]
  rules: [{backendRefs: [${backend}]}]
`;
const gwapi = (ns = "shop") => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: ${ns}}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
`;

describe("MSH3001 parentRef not found", () => {
  it("reports a missing Gateway in a namespace whose Gateways the repository holds", () => {
    expect(run("MSH3001", gwapi("infra") + route("{name: web, port: 80}", "{name: publik, namespace: infra}"))).toEqual([["error", 11, "parent Gateway infra/publik does not exist"]]);
  });
  it("looks in the route's namespace when the parentRef names none", () => {
    expect(run("MSH3001", gwapi("infra") + route("{name: web, port: 80}")).map((f) => f[2])).toEqual([
      "parent Gateway shop/public does not exist; the repository holds no Gateway API Gateways in namespace shop, so this could not be confirmed",
    ]);
  });
  it("accepts an existing Gateway and warns when the repository holds none", () => {
    expect(run("MSH3001", gwapi() + route("{name: web, port: 80}"))).toEqual([]);
    expect(run("MSH3001", route("{name: web, port: 80}")).map((f) => f[0])).toEqual(["warning"]);
  });
});

describe("MSH3002 backendRef not found", () => {
  it("reports a missing Service", () => {
    expect(run("MSH3002", svc("web", "shop") + route("{name: api, port: 80}"))).toEqual([["error", 12, "backend Service shop/api does not exist"]]);
  });
  it("accepts an existing Service", () => {
    expect(run("MSH3002", svc("web", "shop") + route("{name: web, port: 80}"))).toEqual([]);
  });
});

describe("MSH3003 cross-namespace backendRef", () => {
  const grant = (fromNs: string) => `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: backend}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${fromNs}}]
  to: [{group: "", kind: Service}]
`;
  it("reports a backend in another namespace without a ReferenceGrant there", () => {
    expect(run("MSH3003", grant("other") + route("{name: api, namespace: backend, port: 80}"))).toEqual([
      ["error", 14, "backend Service backend/api is in another namespace and no ReferenceGrant in backend allows HTTPRoutes from shop"],
    ]);
  });
  it("accepts it with a matching ReferenceGrant", () => {
    expect(run("MSH3003", grant("shop") + route("{name: api, namespace: backend, port: 80}"))).toEqual([]);
  });
});

const server = (port: string) => `---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web-http, namespace: emojivoto}
spec:
  podSelector: {matchLabels: {app: web}}
  port: ${port}
`;

describe("MSH4001 Server port not on pods", () => {
  const pods = deploy("web", "{app: web}", "emojivoto", "[{containerPort: 8080, name: http}]");
  it("reports a port none of the selected pods declares", () => {
    expect(run("MSH4001", pods + server("9090"))).toEqual([["error", 15, "port 9090 is not a container port of the selected workloads (Deployment/web)"]]);
  });
  it("accepts a declared port by number or by name", () => {
    expect(run("MSH4001", pods + server("8080"))).toEqual([]);
    expect(run("MSH4001", pods + server("http"))).toEqual([]);
  });
});

describe("MSH4002 Linkerd AuthorizationPolicy target", () => {
  const ap = (name: string) => `---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: a, namespace: emojivoto}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: ${name}}
  requiredAuthenticationRefs: [{name: web, kind: ServiceAccount}]
`;
  it("reports a target Server that does not exist", () => {
    expect(run("MSH4002", server("8080") + ap("web-grpc"))).toEqual([["error", 13, "target Server emojivoto/web-grpc does not exist"]]);
  });
  it("accepts an existing target and warns when the repository holds no Servers", () => {
    expect(run("MSH4002", server("8080") + ap("web-http"))).toEqual([]);
    expect(run("MSH4002", ap("web-http")).map((f) => f[0])).toEqual(["warning"]);
  });
});

describe("MSH4003 ServiceProfile name", () => {
  const sp = (name: string) => `---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: ${name}, namespace: emojivoto}
spec: {routes: []}
`;
  it("reports a short name", () => {
    expect(run("MSH4003", sp("web-svc") + sp("web-svc.emojivoto"))).toEqual([
      ["error", 4, 'ServiceProfile name "web-svc" is not a fully qualified name; expected web-svc.emojivoto.svc.cluster.local'],
      ["error", 9, 'ServiceProfile name "web-svc.emojivoto" is not a fully qualified name; expected web-svc.emojivoto.svc.cluster.local'],
    ]);
  });
  it("accepts the Service FQDN and external FQDNs", () => {
    expect(run("MSH4003", sp("web-svc.emojivoto.svc.cluster.local") + sp("api.example.com"))).toEqual([]);
  });
});

const ns = (name: string, meta = "") => `---
apiVersion: v1
kind: Namespace
metadata: {name: ${name}${meta}}
`;

describe("MSH2009 two VirtualServices for one mesh host", () => {
  const other = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-canary, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  http: [{route: [{destination: {host: reviews}}]}]
`;
  it("reports each VirtualService naming the same host on the mesh gateway", () => {
    expect(run("MSH2009", vs("  - route: [{destination: {host: reviews}}]\n") + other).map((f) => [f[1], f[2]])).toEqual([
      [6, "host reviews.bookinfo.svc.cluster.local is also routed on the mesh gateway by VirtualService bookinfo/reviews-canary; sidecars use only one of them"],
      [14, "host reviews.bookinfo.svc.cluster.local is also routed on the mesh gateway by VirtualService bookinfo/reviews; sidecars use only one of them"],
    ]);
  });
  it("accepts the same host on an ingress gateway (Istio merges those)", () => {
    expect(run("MSH2009", vs("  - route: [{destination: {host: reviews}}]\n", "  gateways: [istio-system/public]\n") + other)).toEqual([]);
  });
});

describe("MSH2010 plaintext port override", () => {
  const pa = (mesh: string, port: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: ${mesh}}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  portLevelMtls:
    9090: {mode: ${port}}
`;
  it("reports a port left PERMISSIVE or DISABLE under an inherited STRICT", () => {
    expect(run("MSH2010", pa("STRICT", "DISABLE"))).toEqual([["warning", 13, "port 9090 accepts only plaintext (DISABLE) while the selected workloads are STRICT"]]);
  });
  it("is silent when the workloads are not STRICT or the port is STRICT", () => {
    expect(run("MSH2010", pa("PERMISSIVE", "DISABLE"))).toEqual([]);
    expect(run("MSH2010", pa("STRICT", "STRICT"))).toEqual([]);
  });
});

describe("MSH2011 allow-all rule", () => {
  const ap = (rules: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: bookinfo}
spec:
  action: ALLOW
  rules: ${rules}
`;
  it("reports an empty ALLOW rule", () => {
    expect(run("MSH2011", ap("[{}]"))).toEqual([["warning", 7, "rules[0] is empty and allows every request to the whole namespace bookinfo"]]);
  });
  it("accepts a rule with a source", () => {
    expect(run("MSH2011", ap('[{from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/productpage"]}}]}]'))).toEqual([]);
  });
});

describe("MSH2012 port naming", () => {
  const service = (ports: string) => `---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: ${ports}}
`;
  it("reports a port with neither a protocol name nor appProtocol in an injected namespace", () => {
    expect(run("MSH2012", ns("shop", ", labels: {istio-injection: enabled}") + service("[{name: web, port: 80}, {port: 81}]")).map((f) => [f[0], f[2]])).toEqual([
      ["info", "port 80 (web) has no appProtocol and its name does not start with a protocol (http, grpc, tcp, ...)"],
      ["info", "port 81 has no appProtocol and its name does not start with a protocol (http, grpc, tcp, ...)"],
    ]);
  });
  it("accepts protocol names, appProtocol, and namespaces without injection", () => {
    expect(run("MSH2012", ns("shop", ", labels: {istio.io/rev: stable}") + service("[{name: http-web, port: 80}, {name: grpc, port: 81}, {name: x, port: 82, appProtocol: http}]"))).toEqual([]);
    expect(run("MSH2012", ns("shop") + service("[{name: web, port: 80}]"))).toEqual([]);
  });
});

describe("MSH2013 destination port", () => {
  it("reports a port the Service does not expose", () => {
    expect(run("MSH2013", svc("reviews") + vs("  - route: [{destination: {host: reviews, port: {number: 9090}}}]\n"))).toEqual([["error", 13, "port 9090 is not a port of Service bookinfo/reviews (9080)"]]);
  });
  it("accepts a Service port", () => {
    expect(run("MSH2013", svc("reviews") + vs("  - route: [{destination: {host: reviews, port: {number: 9080}}}]\n"))).toEqual([]);
  });
});

describe("MSH3004 backendRef port", () => {
  it("reports a port the Service does not expose", () => {
    expect(run("MSH3004", svc("web", "shop") + route("{name: web, port: 80}"))).toEqual([["error", 12, "port 80 is not a port of Service shop/web (9080)"]]);
  });
  it("accepts a Service port", () => {
    expect(run("MSH3004", svc("web", "shop") + route("{name: web, port: 9080}"))).toEqual([]);
  });
});

describe("MSH3005 listener admitting the route's namespace", () => {
  const gw = (allowed: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: infra}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP${allowed}}]
`;
  const r = route("{name: web, port: 80}", "{name: public, namespace: infra}");
  it("reports a route in another namespace on a listener admitting only Same", () => {
    expect(run("MSH3005", gw("") + r)).toEqual([["error", 13, "no listener of Gateway infra/public admits HTTPRoutes from namespace shop"]]);
  });
  it("accepts All, a matching Selector, and routes in the Gateway's namespace", () => {
    expect(run("MSH3005", gw(", allowedRoutes: {namespaces: {from: All}}") + r)).toEqual([]);
    expect(run("MSH3005", ns("shop", ", labels: {gateway: public}") + gw(", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {gateway: public}}}}") + r)).toEqual([]);
    expect(run("MSH3005", ns("shop") + gw(", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {gateway: public}}}}") + r).length).toBe(1);
  });
});

describe("MSH4004 Server selecting nothing", () => {
  it("reports a podSelector that matches no workload", () => {
    expect(run("MSH4004", deploy("voting", "{app: voting}", "emojivoto") + server("8080"))).toEqual([["warning", 14, "podSelector app=web matches no workload in namespace emojivoto"]]);
  });
  it("is silent when a workload matches or the repository holds none", () => {
    expect(run("MSH4004", deploy("web", "{app: web}", "emojivoto") + server("8080"))).toEqual([]);
    expect(run("MSH4004", server("8080"))).toEqual([]);
  });
});

describe("MSH4005 TrafficSplit services", () => {
  const ts = `---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web, namespace: emojivoto}
spec:
  service: web-apex
  backends: [{service: web-v1, weight: 900m}, {service: web-v2, weight: 100m}]
`;
  it("reports a missing apex and backend Service", () => {
    expect(run("MSH4005", svc("web-v1", "emojivoto") + ts).map((f) => [f[0], f[2]])).toEqual([
      ["error", "apex Service emojivoto/web-apex does not exist"],
      ["error", "backend Service emojivoto/web-v2 does not exist"],
    ]);
  });
  it("accepts existing Services", () => {
    expect(run("MSH4005", svc("web-apex", "emojivoto") + svc("web-v1", "emojivoto") + svc("web-v2", "emojivoto") + ts)).toEqual([]);
  });
});

describe("MSH4006 Server on pods without the Linkerd proxy", () => {
  const pods = deploy("web", "{app: web}", "emojivoto");
  it("reports selected workloads that get no proxy", () => {
    expect(run("MSH4006", ns("emojivoto") + pods + server("9080")).map((f) => f[2])).toEqual(["selects Deployment/web, which get no Linkerd proxy (linkerd.io/inject on the pod template or namespace emojivoto)"]);
  });
  it("accepts an injected namespace", () => {
    expect(run("MSH4006", ns("emojivoto", ", annotations: {linkerd.io/inject: enabled}") + pods + server("9080"))).toEqual([]);
  });
});

describe("MSH5001 Service selecting nothing", () => {
  it("reports a selector that matches none of the namespace's workloads", () => {
    expect(run("MSH5001", svc("reviews") + deploy("ratings", "{app: ratings}"))).toEqual([["warning", 5, "selector app=reviews matches none of the workloads in namespace bookinfo"]]);
  });
  it("is silent when a workload matches or the namespace has no workloads in the repository", () => {
    expect(run("MSH5001", svc("reviews") + deploy("reviews", "{app: reviews}"))).toEqual([]);
    expect(run("MSH5001", svc("reviews") + deploy("ratings", "{app: ratings}", "other"))).toEqual([]);
  });
});

describe("MSH5002 ServiceAccount not found", () => {
  const sa = (name: string) => `---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}, namespace: bookinfo}
`;
  const d = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: bookinfo}
spec:
  template:
    metadata: {labels: {app: reviews}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers: [{name: c, image: i}]
`;
  it("reports a missing account, as a warning when the repository holds none", () => {
    expect(run("MSH5002", sa("bookinfo-ratings") + d)).toEqual([["error", 13, "ServiceAccount bookinfo/bookinfo-reviews does not exist"]]);
    expect(run("MSH5002", d).map((f) => f[0])).toEqual(["warning"]);
  });
  it("accepts an existing account", () => {
    expect(run("MSH5002", sa("bookinfo-reviews") + d)).toEqual([]);
  });
});

describe("MSH5003 Istio policy without sidecar injection", () => {
  const objs = deploy("reviews", "{app: reviews}") + dr("reviews", "[]");
  it("reports a namespace with Istio policy and no injection", () => {
    expect(run("MSH5003", ns("bookinfo") + objs)).toEqual([["warning", 4, "namespace bookinfo has Istio policy but no sidecar injection (istio-injection=enabled or istio.io/rev) for Deployment/reviews"]]);
  });
  it("accepts an injected namespace, and is silent without the Namespace object", () => {
    expect(run("MSH5003", ns("bookinfo", ", labels: {istio-injection: enabled}") + objs)).toEqual([]);
    expect(run("MSH5003", objs)).toEqual([]);
  });
});

describe("MSH2014 PeerAuthentication selecting nothing", () => {
  const pa = (sel: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p, namespace: bookinfo}
spec: {selector: {matchLabels: ${sel}}, mtls: {mode: STRICT}}
`;
  it("reports a selector that matches no workload", () => {
    expect(run("MSH2014", deploy("reviews", "{app: reviews}") + pa("{app: ratings}"))).toEqual([["warning", 13, "selector app=ratings matches no workload in namespace bookinfo"]]);
  });
  it("is silent when a workload matches", () => {
    expect(run("MSH2014", deploy("reviews", "{app: reviews}") + pa("{app: reviews}"))).toEqual([]);
  });
});

describe("MSH2015 several Sidecars without selector", () => {
  const sc = (name: string, sel = "") => `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: bookinfo}
spec:
${sel}  egress: [{hosts: ["./*"]}]
`;
  it("reports each Sidecar without workloadSelector when a namespace has two", () => {
    expect(run("MSH2015", sc("a") + sc("b")).map((f) => [f[0], f[1]])).toEqual([
      ["error", 2],
      ["error", 8],
    ]);
  });
  it("accepts one default Sidecar and others with selectors", () => {
    expect(run("MSH2015", sc("a") + sc("b", "  workloadSelector: {labels: {app: reviews}}\n"))).toEqual([]);
  });
});

const authz = (from: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: bookinfo}
spec:
  action: ALLOW
  rules: [{from: [{source: ${from}}]}]
`;

describe("MSH2016 principal ServiceAccount", () => {
  const sa = `---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bookinfo-productpage, namespace: bookinfo}
`;
  it("reports a principal whose ServiceAccount does not exist", () => {
    expect(run("MSH2016", sa + authz('{principals: ["cluster.local/ns/bookinfo/sa/productpage"]}'))).toEqual([
      ["error", 11, "principal cluster.local/ns/bookinfo/sa/productpage names ServiceAccount bookinfo/productpage, which does not exist"],
    ]);
  });
  it("accepts existing accounts, default and wildcards", () => {
    expect(run("MSH2016", sa + authz('{principals: ["cluster.local/ns/bookinfo/sa/bookinfo-productpage", "cluster.local/ns/x/sa/default", "*"]}'))).toEqual([]);
  });
});

describe("MSH2017 source namespace", () => {
  it("reports a namespace the repository does not define", () => {
    expect(run("MSH2017", ns("bookinfo") + ns("frontend") + authz("{namespaces: [frontend, fronted]}"))).toEqual([["warning", 15, "source namespace fronted does not exist"]]);
  });
  it("warns when the repository holds no Namespaces", () => {
    expect(run("MSH2017", authz("{namespaces: [frontend]}")).map((f) => f[0])).toEqual(["warning"]);
  });
});

describe("MSH2018 VirtualService host not in its gateway", () => {
  const gw = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: bookinfo}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["./*.example.com"]}]}
`;
  const v = (host: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: bookinfo}
spec:
  hosts: ["${host}"]
  gateways: [public]
  http: [{route: [{destination: {host: web}}]}]
`;
  it("reports a host the gateway does not serve", () => {
    expect(run("MSH2018", gw + v("shop.example.org"))).toEqual([["warning", 12, "host shop.example.org not served by Gateway bookinfo/public (hosts *.example.com)"]]);
  });
  it("accepts a host matched by a wildcard", () => {
    expect(run("MSH2018", gw + v("shop.example.com"))).toEqual([]);
  });
});

describe("MSH3006 route hostnames and listener hostnames", () => {
  const gw = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}]}
`;
  const r = (host: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: public}]
  hostnames: ["${host}"]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`;
  it("reports hostnames no listener accepts", () => {
    expect(run("MSH3006", gw + r("shop.example.org"))).toEqual([["error", 11, "hostnames shop.example.org match no listener hostname of Gateway shop/public (*.example.com)"]]);
  });
  it("accepts a hostname under the listener's wildcard", () => {
    expect(run("MSH3006", gw + r("shop.example.com"))).toEqual([]);
  });
});

describe("MSH4007 ServerAuthorization server", () => {
  const sa = (name: string) => `---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: web, namespace: emojivoto}
spec:
  server: {name: ${name}}
  client: {meshTLS: {serviceAccounts: [{name: web}]}}
`;
  it("reports a Server that does not exist", () => {
    expect(run("MSH4007", server("8080") + sa("web-grpc"))).toEqual([["error", 13, "Server emojivoto/web-grpc does not exist"]]);
  });
  it("accepts an existing Server", () => {
    expect(run("MSH4007", server("8080") + sa("web-http"))).toEqual([]);
  });
});

describe("MSH4008 Linkerd authentication refs", () => {
  const ap = (ref: string) => `---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: a, namespace: emojivoto}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: web-http}
  requiredAuthenticationRefs: [${ref}]
`;
  const mtls = `---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web-clients, namespace: emojivoto}
spec: {identities: ["*"]}
`;
  it("reports an authentication that does not exist", () => {
    expect(run("MSH4008", mtls + ap("{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web-client}"))).toEqual([["error", 12, "MeshTLSAuthentication emojivoto/web-client does not exist"]]);
  });
  it("accepts an existing one", () => {
    expect(run("MSH4008", mtls + ap("{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web-clients}"))).toEqual([]);
  });
});

describe("MSH2009 with exportTo", () => {
  it("does not report VirtualServices kept to different namespaces", () => {
    const v = (n: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: p, namespace: ${n}}
spec:
  exportTo: ["."]
  hosts: [productpage.default.svc.cluster.local]
  http: [{route: [{destination: {host: productpage.default.svc.cluster.local}}]}]
`;
    expect(run("MSH2009", v("team-1") + v("team-2"))).toEqual([]);
  });
});

describe("MSH4009 ServiceProfile Service", () => {
  const sp = `---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: web-svc.emojivoto.svc.cluster.local, namespace: emojivoto}
spec: {routes: []}
`;
  it("reports a profile for a Service missing from a namespace the repository holds Services of", () => {
    expect(run("MSH4009", svc("emoji-svc", "emojivoto") + sp)).toEqual([["error", 9, "Service emojivoto/web-svc does not exist"]]);
  });
  it("accepts an existing Service, and warns when the namespace's Services are elsewhere", () => {
    expect(run("MSH4009", svc("web-svc", "emojivoto") + sp)).toEqual([]);
    expect(run("MSH4009", sp).map((f) => f[0])).toEqual(["warning"]);
  });
});
