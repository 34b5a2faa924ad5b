#!/usr/bin/env node
/**
 * Generates a synthetic, deterministic mesh-config repository for `npm run bench:check`:
 * 10,000 objects in 500 multi-document YAML files (20 per file) under `<out>/manifests/<namespace>/`,
 * plus a `<out>/meshops.yaml` with one plain environment `bench`.
 *
 * Each file belongs to one namespace and is filled with "app bundles" (core objects first, then the mesh
 * objects that refer to them), using a seeded PRNG so the same seed always yields byte-identical files:
 *   istio    Service, ServiceAccount, Deployment v1 (+ v2), DestinationRule, VirtualService, AuthorizationPolicy (+ PeerAuthentication)
 *   linkerd  Service, ServiceAccount, Deployment, Server, MeshTLSAuthentication, AuthorizationPolicy (+ GAMMA HTTPRoute on the Service)
 *   gateway  Service, ServiceAccount, Deployment v1 (+ canary Service/Deployment v2), HTTPRoute on a shared Gateway
 * The last bundle of a file is cut to make exactly 20 objects (its trailing mesh objects are dropped).
 * Every object is meant to be valid against the CRDs in ../shared/crds (Istio 1.30, Linkerd edge-26.8,
 * Gateway API v1.6 standard) and the Kubernetes core schemas: optional fields the API server would default
 * are written out, so a validator that does not apply defaults sees the same objects.
 *
 * Usage: node bench/check/generate.mjs [--out DIR] [--seed N] [--objects N] [--per-file N]
 *
 * generate() also takes `nsPrefix` (prepended to every generated namespace, e.g. to give two tools disjoint
 * copies of the same objects in one cluster: bench/cluster) and `labels` (added to every object's labels);
 * without them the output is unchanged.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

/** mulberry32: small, fast, good enough for test data, and stable across Node versions. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
  };
}

const DOMAINS = ["payments", "catalog", "checkout", "search", "identity", "shipping", "billing", "inventory", "orders", "reviews", "ads", "media", "notify", "pricing", "profile", "cart", "ledger", "risk", "support", "analytics"];
const NOUNS = ["api", "web", "worker", "gateway", "store", "index", "feed", "auth", "quote", "rates", "events", "ledger", "export", "import", "cache", "render", "sync", "audit", "router", "broker"];
const PATHS = ["/api/v1", "/api/v2", "/orders", "/items", "/users", "/search", "/cart", "/checkout", "/static", "/graphql", "/admin", "/internal/metrics"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"];

const NAMESPACE_SETS = 3;
const GATEWAY = { name: "public", namespace: "gateway-system", sectionName: "https" };

/** Options of the current generate() call (see its doc comment). */
let nsPrefix = "";
let extraLabels = {};

function meta(name, ns, labels, extra = {}) {
  return { name, namespace: ns, labels: { "app.kubernetes.io/name": labels.app, "app.kubernetes.io/part-of": ns, ...labels, ...extraLabels }, ...extra };
}

/** The ServiceAccount the app's Deployments run as (meshops checks that it exists). */
function serviceAccount(ns, app) {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(app, ns, { app }) };
}

function service(r, ns, app, svcName = app, version = undefined) {
  const selector = version ? { app, version } : { app };
  const ports = [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }];
  if (r.chance(0.3)) ports.push({ name: "grpc", port: 9090, targetPort: 9090, protocol: "TCP", appProtocol: "kubernetes.io/h2c" });
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(svcName, ns, { app }),
    spec: { type: "ClusterIP", selector, ports },
  };
}

function deployment(r, ns, app, version, mesh) {
  const labels = { app, version };
  const annotations = mesh === "linkerd" ? { "linkerd.io/inject": "enabled" } : mesh === "istio" ? { "sidecar.istio.io/inject": "true", "prometheus.io/scrape": "true" } : { "prometheus.io/scrape": "true" };
  const cpu = r.pick(["50m", "100m", "250m", "500m"]);
  const mem = r.pick(["64Mi", "128Mi", "256Mi", "512Mi"]);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(`${app}-${version}`, ns, labels),
    spec: {
      replicas: r.int(1, 6),
      revisionHistoryLimit: 5,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
      template: {
        metadata: { labels, annotations },
        spec: {
          serviceAccountName: app,
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
          containers: [
            {
              name: app.split("-")[1] ?? app,
              image: `registry.example.com/${ns}/${app}:${r.int(1, 3)}.${r.int(0, 20)}.${r.int(0, 9)}`,
              imagePullPolicy: "IfNotPresent",
              args: ["--port=8080", `--log-level=${r.pick(["info", "debug", "warn"])}`],
              ports: [
                { name: "http", containerPort: 8080, protocol: "TCP" },
                { name: "grpc", containerPort: 9090, protocol: "TCP" },
              ],
              env: [
                { name: "SERVICE_NAME", value: app },
                { name: "VERSION", value: version },
                { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              ],
              resources: { requests: { cpu, memory: mem }, limits: { memory: mem } },
              readinessProbe: { httpGet: { path: "/readyz", port: "http" }, initialDelaySeconds: 2, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: "/healthz", port: "http" }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    },
  };
}

/** Apps generated so far per namespace (reset by generate()). */
const appsByNamespace = new Map();

function istioBundle(r, ns, app) {
  const canary = r.chance(0.35);
  const host = `${app}.${ns}.svc.cluster.local`;
  const out = [service(r, ns, app), serviceAccount(ns, app), deployment(r, ns, app, "v1", "istio")];
  if (canary) out.push(deployment(r, ns, app, "v2", "istio"));
  const dest = (subset, weight) => ({ destination: { host, subset, port: { number: 80 } }, ...(weight !== undefined ? { weight } : {}) });
  const http = [];
  if (canary) {
    http.push({ name: "canary-header", match: [{ headers: { "x-canary": { exact: "true" } } }], route: [dest("v2")] });
  }
  const nRoutes = r.int(1, 3);
  for (let i = 0; i < nRoutes; i++) {
    const p = r.pick(PATHS);
    const match = [r.chance(0.7) ? { uri: { prefix: `${p}/` } } : { uri: { regex: `^${p}/[0-9]+$` } }];
    if (r.chance(0.4)) match[0].method = { exact: r.pick(METHODS) };
    if (r.chance(0.3)) match.push({ uri: { exact: p }, ignoreUriCase: true });
    const w2 = canary ? r.pick([5, 10, 20, 50]) : 0;
    http.push({
      name: `route-${i}`,
      match,
      route: canary ? [dest("v1", 100 - w2), dest("v2", w2)] : [dest("v1", 100)],
      retries: { attempts: r.int(1, 5), perTryTimeout: r.pick(["500ms", "1s", "2s"]), retryOn: r.pick(["5xx,connect-failure", "gateway-error,reset", "retriable-4xx,5xx"]) },
      timeout: r.pick(["3s", "5s", "10s", "30s"]),
      ...(r.chance(0.3) ? { headers: { request: { set: { "x-route": `route-${i}` } }, response: { remove: ["x-envoy-upstream-service-time"] } } } : {}),
    });
  }
  http.push({ name: "default", route: [dest("v1")], timeout: "15s" });
  const subsets = [{ name: "v1", labels: { version: "v1" } }];
  if (canary) subsets.push({ name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } } });
  out.push({
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: meta(app, ns, { app }),
    spec: {
      host,
      trafficPolicy: {
        tls: { mode: "ISTIO_MUTUAL" },
        loadBalancer: { simple: r.pick(["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"]) },
        connectionPool: { tcp: { maxConnections: r.pick([100, 200, 1000]), connectTimeout: "500ms" }, http: { http1MaxPendingRequests: 1024, maxRequestsPerConnection: 100, idleTimeout: "60s" } },
        outlierDetection: { consecutive5xxErrors: r.int(3, 10), interval: "10s", baseEjectionTime: "30s", maxEjectionPercent: 50 },
      },
      subsets,
    },
  });
  // after its DestinationRule: a bundle cut at the end of a file never leaves a route to an undefined subset
  out.push({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: meta(app, ns, { app }),
    spec: { hosts: [host], ...(r.chance(0.3) ? { gateways: ["mesh", "istio-ingress/public"] } : {}), http },
  });
  // callers are apps of the same namespace (their ServiceAccounts exist), or the app itself for the first one
  const peers = appsByNamespace.get(ns) ?? [];
  const caller = peers.length > 0 ? r.pick(peers) : app;
  out.push({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: meta(`${app}-allow`, ns, { app }),
    spec: {
      selector: { matchLabels: { app } },
      action: "ALLOW",
      rules: [
        {
          from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/${caller}`, `cluster.local/ns/istio-ingress/sa/ingress-gateway`] } }],
          to: [{ operation: { methods: [r.pick(METHODS), "GET"], paths: [`${r.pick(PATHS)}/*`] } }],
        },
        { from: [{ source: { namespaces: ["monitoring"] } }], to: [{ operation: { ports: ["9090"], paths: ["/metrics"] } }] },
        ...(r.chance(0.3) ? [{ when: [{ key: "request.headers[x-tenant]", values: [ns] }] }] : []),
      ],
    },
  });
  if (r.chance(0.6)) {
    const portLevel = r.chance(0.5);
    out.push({
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: meta(app, ns, { app }),
      spec: { selector: { matchLabels: { app } }, mtls: { mode: "STRICT" }, ...(portLevel ? { portLevelMtls: { 9090: { mode: "PERMISSIVE" } } } : {}) },
    });
  }
  return out;
}

function linkerdBundle(r, ns, app) {
  const out = [service(r, ns, app), serviceAccount(ns, app), deployment(r, ns, app, "v1", "linkerd")];
  const server = `${app}-http`;
  out.push({
    apiVersion: "policy.linkerd.io/v1beta3",
    kind: "Server",
    metadata: meta(server, ns, { app }),
    spec: { podSelector: { matchLabels: { app } }, port: r.chance(0.5) ? "http" : 8080, proxyProtocol: r.pick(["HTTP/1", "HTTP/2", "unknown"]), ...(r.chance(0.3) ? { accessPolicy: "deny" } : {}) },
  });
  const callers = [`${r.pick(NOUNS)}-${r.pick(DOMAINS)}`, `${r.pick(NOUNS)}-${r.pick(DOMAINS)}`];
  out.push({
    apiVersion: "policy.linkerd.io/v1alpha1",
    kind: "MeshTLSAuthentication",
    metadata: meta(`${app}-clients`, ns, { app }),
    spec: r.chance(0.5)
      ? { identities: callers.map((c) => `${c}.${ns}.serviceaccount.identity.linkerd.cluster.local`) }
      : { identityRefs: callers.map((c) => ({ kind: "ServiceAccount", name: c })) },
  });
  out.push({
    apiVersion: "policy.linkerd.io/v1alpha1",
    kind: "AuthorizationPolicy",
    metadata: meta(`${app}-authz`, ns, { app }),
    spec: {
      targetRef: { group: "policy.linkerd.io", kind: "Server", name: server },
      requiredAuthenticationRefs: [{ group: "policy.linkerd.io", kind: "MeshTLSAuthentication", name: `${app}-clients` }],
    },
  });
  if (r.chance(0.6)) {
    // GAMMA: a route attached to the Service itself
    out.push(httpRoute(r, ns, app, [{ group: "", kind: "Service", name: app, port: 80 }], [app], undefined));
  }
  return out;
}

function gatewayBundle(r, ns, app) {
  const canary = r.chance(0.35);
  const out = [service(r, ns, app), serviceAccount(ns, app), deployment(r, ns, app, "v1", "gateway")];
  const backends = [app];
  if (canary) {
    out.push(service(r, ns, app, `${app}-canary`, "v2"), deployment(r, ns, app, "v2", "gateway"));
    backends.push(`${app}-canary`);
  }
  const parent = { group: "gateway.networking.k8s.io", kind: "Gateway", name: GATEWAY.name, namespace: GATEWAY.namespace, sectionName: GATEWAY.sectionName };
  out.push(httpRoute(r, ns, app, [parent], backends, [`${app}.${ns}.example.com`]));
  return out;
}

function httpRoute(r, ns, app, parentRefs, backends, hostnames) {
  const backendRef = (name, weight) => ({ group: "", kind: "Service", name, port: 80, weight });
  const w2 = backends.length > 1 ? r.pick([5, 10, 25, 50]) : 0;
  const weighted = backends.length > 1 ? [backendRef(backends[0], 100 - w2), backendRef(backends[1], w2)] : [backendRef(backends[0], 1)];
  const rules = [];
  const nRules = r.int(1, 3);
  for (let i = 0; i < nRules; i++) {
    const p = r.pick(PATHS);
    const matches = [{ path: { type: "PathPrefix", value: p } }];
    if (r.chance(0.4)) matches[0].method = r.pick(METHODS);
    if (r.chance(0.3)) matches.push({ path: { type: "Exact", value: `${p}/health` }, headers: [{ type: "Exact", name: "x-probe", value: "1" }] });
    if (r.chance(0.2)) matches.push({ path: { type: "RegularExpression", value: `^${p}/[a-z]+$` }, queryParams: [{ type: "Exact", name: "v", value: String(r.int(1, 3)) }] });
    const filters = [];
    if (r.chance(0.5)) filters.push({ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "X-Route", value: `${app}-${i}` }], remove: ["X-Debug"] } });
    if (r.chance(0.3)) filters.push({ type: "ResponseHeaderModifier", responseHeaderModifier: { add: [{ name: "X-Served-By", value: app }] } });
    rules.push({
      name: `rule-${i}`,
      matches,
      ...(filters.length ? { filters } : {}),
      backendRefs: weighted,
      ...(r.chance(0.5) ? { timeouts: { request: "10s", backendRequest: r.pick(["2s", "5s"]) } } : {}),
    });
  }
  if (backends.length > 1) {
    rules.push({ name: "canary", matches: [{ path: { type: "PathPrefix", value: "/" }, headers: [{ type: "Exact", name: "x-canary", value: "true" }] }], backendRefs: [backendRef(backends[1], 1)] });
  }
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: meta(app, ns, { app }),
    spec: { parentRefs, ...(hostnames ? { hostnames } : {}), rules },
  };
}

const PROFILES = [
  { weight: 0.45, make: istioBundle },
  { weight: 0.3, make: linkerdBundle },
  { weight: 0.25, make: gatewayBundle },
];

function pickProfile(r) {
  let x = r.next();
  for (const p of PROFILES) {
    if ((x -= p.weight) < 0) return p;
  }
  return PROFILES[PROFILES.length - 1];
}

/**
 * Writes the repository; returns { dir, files, objects, kinds, namespaces } where kinds counts objects per
 * apiVersion/kind. `dir` is emptied first. `nsPrefix` is prepended to every namespace, `labels` are added to
 * every object (both change nothing else: the same seed draws the same objects).
 */
export function generate({ out = join(here, "out", "repo"), seed = 20240501, objects = 10000, perFile = 20, nsPrefix: prefix = "", labels = {} } = {}) {
  if (objects % perFile !== 0) throw new Error(`--objects (${objects}) must be a multiple of --per-file (${perFile})`);
  nsPrefix = prefix;
  extraLabels = labels;
  const dir = resolve(out);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "meshops.yaml"),
    `# Generated by bench/check/generate.mjs (seed ${seed}): ${objects} objects in ${objects / perFile} files.\nversion: 1\nenvironments:\n  bench:\n    path: manifests\n`,
  );
  const r = prng(seed);
  appsByNamespace.clear();
  const kinds = {};
  const nFiles = objects / perFile;
  const appSeq = new Map();
  const files = [];
  for (let f = 0; f < nFiles; f++) {
    // 60 namespaces: payments-0, catalog-0, ..., analytics-2 (files round-robin over them)
    const domain = DOMAINS[f % DOMAINS.length];
    const ns = `${nsPrefix}${domain}-${Math.floor(f / DOMAINS.length) % NAMESPACE_SETS}`;
    const docs = [];
    while (docs.length < perFile) {
      const n = (appSeq.get(ns) ?? 0) + 1;
      appSeq.set(ns, n);
      const app = `${r.pick(NOUNS)}-${domain}-${n}`;
      const bundle = pickProfile(r).make(r, ns, app).slice(0, perFile - docs.length);
      // only an app whose ServiceAccount made it into the file can be named as a caller
      if (bundle.some((d) => d.kind === "ServiceAccount")) {
        if (!appsByNamespace.has(ns)) appsByNamespace.set(ns, []);
        appsByNamespace.get(ns).push(app);
      }
      docs.push(...bundle);
    }
    for (const d of docs) kinds[`${d.apiVersion}/${d.kind}`] = (kinds[`${d.apiVersion}/${d.kind}`] ?? 0) + 1;
    const rel = join("manifests", ns, `${String(f).padStart(3, "0")}-${docs[0].metadata.name}.yaml`);
    const text = docs.map((d) => `---\n${stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })}`).join("");
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
    files.push(rel);
  }
  return { dir, files, objects, namespaces: [...appSeq.keys()].sort(), kinds: Object.fromEntries(Object.entries(kinds).sort(([a], [b]) => a.localeCompare(b))) };
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--out") o.out = val();
    else if (a === "--seed") o.seed = Number(val());
    else if (a === "--objects") o.objects = Number(val());
    else if (a === "--per-file") o.perFile = Number(val());
    else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node bench/check/generate.mjs [--out DIR] [--seed N] [--objects N] [--per-file N]\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const res = generate(parseArgs(process.argv.slice(2)));
  process.stdout.write(`wrote ${res.objects} objects in ${res.files.length} files to ${res.dir}\n`);
  for (const [k, n] of Object.entries(res.kinds)) process.stdout.write(`  ${String(n).padStart(5)}  ${k}\n`);
}
