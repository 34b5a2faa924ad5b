import { describe, expect, it } from "vitest";
import { parseManifests } from "../source/yaml.js";
import { resolveHost } from "./hosts.js";
import { buildMeshModel, mtlsModeOf } from "./mesh-model.js";

const model = (text: string) => buildMeshModel(parseManifests(text, "m.yaml").manifests);

const app = `apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
  labels: {istio-injection: enabled}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers: [{name: reviews, image: r, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec:
      containers: [{name: reviews, image: r, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: ratings}}
  template:
    metadata: {labels: {app: ratings}}
    spec:
      containers: [{name: ratings, image: r}]
`;

describe("resolveHost", () => {
  it("completes short names with the object's namespace and keeps external names", () => {
    expect(resolveHost("reviews", "bookinfo")).toBe("reviews.bookinfo.svc.cluster.local");
    expect(resolveHost("reviews.bookinfo", "x")).toBe("reviews.bookinfo.svc.cluster.local");
    expect(resolveHost("reviews.bookinfo.svc", "x")).toBe("reviews.bookinfo.svc.cluster.local");
    expect(resolveHost("reviews.bookinfo.svc.cluster.local", "x")).toBe("reviews.bookinfo.svc.cluster.local");
    expect(resolveHost("api.example.com", "x")).toBe("api.example.com");
    expect(resolveHost("httpbin.org", "x")).toBe("httpbin.org");
    expect(resolveHost("*", "x")).toBe("*");
  });
});

describe("buildMeshModel", () => {
  it("holds namespaces with their injection labels, services with the workloads their selector picks", () => {
    const m = model(app);
    expect(m.namespaces.get("bookinfo")?.istioInjection).toBe("enabled");
    const svc = m.services.get("reviews.bookinfo.svc.cluster.local");
    expect(svc?.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([["http", 9080, 9080]]);
    expect(svc?.workloads.map((w) => w.name)).toEqual(["reviews-v1", "reviews-v2"]);
    expect(m.workloads.find((w) => w.name === "reviews-v1")?.serviceAccount).toBe("bookinfo-reviews");
    expect(m.workloads.find((w) => w.name === "reviews-v2")?.serviceAccount).toBe("default");
  });

  it("keeps the way back to file:line for every element", () => {
    const m = model(app);
    const port = m.workloads.find((w) => w.name === "reviews-v1")?.ports[0];
    expect(port?.source.manifest.locate(port.source.path)).toEqual({ line: 23, column: 54 });
  });

  it("builds the routing table per host in evaluation order with effective weights", () => {
    const m = model(`${app}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    timeout: 2s
    retries: {attempts: 3}
    route: [{destination: {host: reviews, subset: v2}}]
  - fault: {delay: {fixedDelay: 1s, percentage: {value: 10}}}
    mirror: {host: reviews, subset: v2}
    route:
    - {destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 90}
    - {destination: {host: reviews.bookinfo.svc.cluster.local, subset: v2}, weight: 10}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ratings, namespace: bookinfo}
spec:
  parentRefs: [{kind: Service, group: "", name: ratings}]
  rules:
  - backendRefs: [{name: ratings, port: 9080, weight: 3}, {name: ratings-v2, port: 9080, weight: 1}]
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web, namespace: emojivoto}
spec:
  service: web-svc
  backends: [{service: web-v1, weight: 500m}, {service: web-v2, weight: 500m}]
`);
    const reviews = m.routes.get("reviews.bookinfo.svc.cluster.local") ?? [];
    expect(reviews.map((r) => r.id)).toEqual(["VirtualService/bookinfo/reviews#http[0]", "VirtualService/bookinfo/reviews#http[1]"]);
    expect(reviews[0]).toMatchObject({ matches: [{ headers: { "end-user": { exact: "jason" } } }], timeout: "2s", retries: { attempts: 3 }, destinations: [{ subset: "v2", weight: 100 }] });
    expect(reviews[1]?.destinations.map((d) => [d.host, d.subset, d.port, d.weight])).toEqual([
      ["reviews.bookinfo.svc.cluster.local", "v1", 9080, 90],
      ["reviews.bookinfo.svc.cluster.local", "v2", undefined, 10],
    ]);
    expect(reviews[1]?.mirror).toEqual({ host: "reviews.bookinfo.svc.cluster.local", subset: "v2" });
    expect(reviews[1]?.fault).toBeDefined();
    expect(m.routes.get("ratings.bookinfo.svc.cluster.local")?.[0]?.destinations.map((d) => [d.host, d.weight])).toEqual([
      ["ratings.bookinfo.svc.cluster.local", 75],
      ["ratings-v2.bookinfo.svc.cluster.local", 25],
    ]);
    expect(m.routes.get("web-svc.emojivoto.svc.cluster.local")?.[0]?.destinations.map((d) => d.weight)).toEqual([50, 50]);
  });
});

describe("mTLS mode per workload and port", () => {
  const pa = (ns: string, name: string, spec: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
`;
  const w = (m: ReturnType<typeof model>, name: string) => {
    const found = m.workloads.find((x) => x.name === name);
    if (!found) throw new Error(name);
    return found;
  };

  it("is PERMISSIVE without any PeerAuthentication", () => {
    const m = model(app);
    expect(mtlsModeOf(m, w(m, "ratings"), 9080).mode).toBe("PERMISSIVE");
  });

  it("follows mesh-wide, then namespace, then workload policy, with port-level overrides and UNSET inheriting", () => {
    const m = model(
      app +
        pa("istio-system", "default", "  mtls: {mode: STRICT}") +
        pa("bookinfo", "ns", "  mtls: {mode: UNSET}") +
        pa("bookinfo", "reviews", "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: PERMISSIVE}\n  portLevelMtls:\n    9080: {mode: DISABLE}"),
    );
    expect(mtlsModeOf(m, w(m, "ratings"), 9080)).toMatchObject({ mode: "STRICT", source: { manifest: { ref: { name: "default" } } } });
    expect(mtlsModeOf(m, w(m, "reviews-v1"), 9080).mode).toBe("DISABLE");
    expect(mtlsModeOf(m, w(m, "reviews-v1"), 8080).mode).toBe("PERMISSIVE");
  });

  it("is a namespace policy over the mesh-wide one", () => {
    const m = model(app + pa("istio-system", "default", "  mtls: {mode: STRICT}") + pa("bookinfo", "ns", "  mtls: {mode: PERMISSIVE}"));
    expect(mtlsModeOf(m, w(m, "ratings")).mode).toBe("PERMISSIVE");
  });

  it("is Linkerd's always-on mTLS for injected workloads", () => {
    const m = model(`apiVersion: v1
kind: Namespace
metadata: {name: emojivoto, annotations: {linkerd.io/inject: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: emojivoto}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: w}]}
`);
    expect(mtlsModeOf(m, w(m, "web")).mode).toBe("LINKERD");
  });
});

describe("the security kinds", () => {
  it("holds RequestAuthentications and Linkerd authorizations and authentications", () => {
    const m = model(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: productpage}}
  jwtRules: [{issuer: "https://issuer.example.com"}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web, namespace: emojivoto}
spec: {identities: ["web.emojivoto.serviceaccount.identity.linkerd.cluster.local"]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: cluster, namespace: emojivoto}
spec: {networks: [{cidr: 10.0.0.0/8, except: [10.0.1.0/24]}]}
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: web, namespace: emojivoto}
spec:
  server: {name: web-http}
  client: {unauthenticated: true}
`);
    expect(m.istio.requestAuthentications.map((r) => [r.selector, r.issuers])).toEqual([[{ app: "productpage" }, ["https://issuer.example.com"]]]);
    expect(m.linkerd.meshTlsAuthentications[0]?.identities).toEqual(["web.emojivoto.serviceaccount.identity.linkerd.cluster.local"]);
    expect(m.linkerd.networkAuthentications[0]?.networks).toEqual([{ cidr: "10.0.0.0/8", except: ["10.0.1.0/24"] }]);
    expect(m.linkerd.serverAuthorizations[0]).toMatchObject({ server: { name: "web-http" }, client: { unauthenticated: true } });
  });
});
