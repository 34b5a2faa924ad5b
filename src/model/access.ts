/**
 * The access matrix: may a source identity call a workload's port (and path/method)? Istio follows the
 * documented AuthorizationPolicy order — CUSTOM, then DENY, then ALLOW; no ALLOW policy for the workload
 * allows everything; an ALLOW policy present but matching nothing denies
 * (https://istio.io/latest/docs/reference/config/security/authorization-policy/). Linkerd follows its
 * policy model: a Server selecting the port denies unless an AuthorizationPolicy (or ServerAuthorization)
 * authorizes the client; a port no Server selects gets the default inbound policy — the pod's or namespace's
 * `config.linkerd.io/default-inbound-policy` annotation, else the cluster default (`all-unauthenticated`)
 * (https://linkerd.io/2/reference/authorization-policy/).
 *
 * Attributes a request leaves unspecified (path, method, `when` conditions, IP blocks, JWTs) are read
 * existentially: an ALLOW rule constraining them still counts as matching (some request is allowed), a DENY
 * rule constraining them does not (some request gets through). The matrix therefore answers "can this
 * identity reach this port at all"; an allowed decision's `scope` then says which paths and methods (the
 * grants of the ALLOW rules that match the source, minus DENY rules on paths; a Linkerd AuthorizationPolicy on
 * an HTTPRoute grants the route's matches), which the semantic diff reports per path.
 */
import { asArr, asObj, asStr, asStrMap, selectorMatches, type Obj, type Source, type WorkloadView } from "./core.js";
import type { IstioAuthorizationPolicyView } from "./istio.js";
import type { LinkerdAuthorizationPolicyView, LinkerdServerView, ServerAuthorizationView } from "./linkerd.js";
import { inNamespace, linkerdInjected, mtlsModeOf, type MeshModel } from "./mesh-model.js";

/** Who calls: a ServiceAccount's mTLS identity, any authenticated (mTLS) client, or a plaintext client. */
export type SourceIdentity = { kind: "serviceAccount"; namespace: string; serviceAccount: string } | { kind: "authenticated" } | { kind: "unauthenticated" };

/** One request to decide. */
export interface AccessRequest {
  source: SourceIdentity;
  workload: Pick<WorkloadView, "namespace" | "name" | "labels" | "annotations" | "ports">;
  /** The workload (container) port. */
  port: number;
  path?: string;
  method?: string;
}

/** The answer, and which object decided it. */
export interface AccessDecision {
  allowed: boolean;
  mesh: "istio" | "linkerd";
  /** Why, in a few words ("DENY policy bookinfo/deny-all", "default inbound policy deny"). */
  reason: string;
  /** The deciding object, when one did (absent for defaults). */
  source?: Source;
  /** A matching CUSTOM policy defers the request to this external authorizer first. */
  customProvider?: string;
  /** For an allowed request that names no path or method: which paths and methods are allowed (absent: all of them). */
  scope?: AccessScope;
}

/** One path pattern and one method: "/api/*" + "GET"; "*" stands for every path or every method. */
export interface AccessGrant {
  /** Istio pattern ("/api/*", "*.json", exact) or Gateway API match ("/api/*" for PathPrefix /api, "~re" for a regex); "not …" for notPaths. */
  path: string;
  method: string;
  /** For a denial: the policy that makes it ("DENY policy bookinfo/no-admin"). */
  by?: string;
}

/** What an allowed source may reach on a workload port: grants, minus denials carved out by DENY rules on paths or methods. */
export interface AccessScope {
  allowed: AccessGrant[];
  denied: AccessGrant[];
}

/** Everything: what "allowed" meant before paths were modelled. */
export const allPaths: AccessGrant = { path: "*", method: "*" };

/** Does pattern p match every path pattern q matches (Istio patterns: exact, "prefix*", "*suffix", "*")? */
function patternCovers(p: string, q: string): boolean {
  if (p === q || p === "*") return true;
  if (q === "*" || p.startsWith("not ") || q.startsWith("not ") || p.startsWith("~") || q.startsWith("~")) return false;
  if (p.endsWith("*")) {
    const pre = p.slice(0, -1);
    return q.endsWith("*") ? q.slice(0, -1).startsWith(pre) : !q.startsWith("*") && q.startsWith(pre);
  }
  if (p.startsWith("*")) {
    const suf = p.slice(1);
    return q.startsWith("*") ? q.slice(1).endsWith(suf) : !q.endsWith("*") && q.endsWith(suf);
  }
  return false;
}

/** Does grant g include everything grant h allows? */
export function grantCovers(g: AccessGrant, h: AccessGrant): boolean {
  return patternCovers(g.path, h.path) && (g.method === "*" || g.method === h.method);
}

/** Does the scope allow the whole of grant g (some allowed grant covers it, no denial overlaps it)? */
export function scopePermits(scope: AccessScope | undefined, g: AccessGrant): boolean {
  if (!scope) return true;
  return scope.allowed.some((a) => grantCovers(a, g)) && !scope.denied.some((d) => grantCovers(d, g) || grantCovers(g, d));
}

/** Drops grants another grant of the list covers; sorted, so equal scopes print equally. */
function normalizeGrants(gs: AccessGrant[]): AccessGrant[] {
  const uniq = [...new Map(gs.map((g) => [`${g.path}\0${g.method}`, g])).values()];
  return uniq.filter((g) => !uniq.some((h) => h !== g && grantCovers(h, g) && !(grantCovers(g, h) && `${h.path}\0${h.method}` > `${g.path}\0${g.method}`))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.method < b.method ? -1 : a.method > b.method ? 1 : 0));
}

/** A scope, or undefined when it allows everything (the common case stays cheap and prints as before). */
function scopeOf(allowed: AccessGrant[], denied: AccessGrant[]): AccessScope | undefined {
  const a = normalizeGrants(allowed);
  const d = normalizeGrants(denied);
  if (d.length === 0 && a.some((g) => g.path === "*" && g.method === "*")) return undefined;
  return { allowed: a, denied: d };
}

/** Path × method grants of an Istio operation (or of a Gateway API match): a missing list is "*". */
function grantsOf(paths: string[], methods: string[]): AccessGrant[] {
  return paths.flatMap((path) => methods.map((method) => ({ path, method })));
}

/** Options of accessDecision and accessMatrix. */
export interface AccessOptions {
  /** Linkerd's cluster-wide default inbound policy (install value `proxy.defaultInboundPolicy`). */
  linkerdDefaultInboundPolicy: string;
  /** Deny plaintext clients on ports whose PeerAuthentication is STRICT (default true). */
  considerMtls: boolean;
  /** Trust domain of Istio principals. */
  trustDomain: string;
}

/** Istio's and Linkerd's defaults. */
export function defaultAccessOptions(): AccessOptions {
  return { linkerdDefaultInboundPolicy: "all-unauthenticated", considerMtls: true, trustDomain: "cluster.local" };
}

/** "sa bookinfo/productpage", "any authenticated", "unauthenticated". */
export function sourceLabel(s: SourceIdentity): string {
  return s.kind === "serviceAccount" ? `sa ${s.namespace}/${s.serviceAccount}` : s.kind === "authenticated" ? "any authenticated" : "unauthenticated";
}

/** Decides one request against the model's Istio or Linkerd policy (Linkerd when the workload is Linkerd-injected). */
export function accessDecision(model: MeshModel, req: AccessRequest, opts: Partial<AccessOptions> = {}): AccessDecision {
  const o = { ...defaultAccessOptions(), ...opts };
  return linkerdInjected(model, req.workload) ? linkerdDecision(model, req, o) : istioDecision(model, req, o);
}

/** One cell of the access matrix. */
export interface AccessEntry {
  /** "namespace/name" of the workload. */
  workload: string;
  namespace: string;
  port: number;
  source: SourceIdentity;
  decision: AccessDecision;
}

/** The source identities the matrix asks about: every ServiceAccount (declared or used by a workload), any authenticated, unauthenticated. */
export function matrixSources(model: MeshModel): SourceIdentity[] {
  const sas = new Set<string>();
  for (const sa of model.serviceAccounts) sas.add(`${sa.namespace}/${sa.name}`);
  for (const w of model.workloads) sas.add(`${w.namespace}/${w.serviceAccount}`);
  const out: SourceIdentity[] = [...sas].sort().map((k) => {
    const [namespace = "", serviceAccount = ""] = k.split("/");
    return { kind: "serviceAccount", namespace, serviceAccount };
  });
  return [...out, { kind: "authenticated" }, { kind: "unauthenticated" }];
}

/** The ports a workload serves: its container ports, else the numeric target ports of the Services selecting it. */
export function workloadPorts(model: MeshModel, w: WorkloadView): number[] {
  const ports = new Set(w.ports.map((p) => p.containerPort));
  if (ports.size === 0) {
    for (const s of model.services.values()) {
      if (!s.workloads.includes(w)) continue;
      for (const p of s.ports) ports.add(typeof p.targetPort === "number" ? p.targetPort : p.port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** For every workload and port, whether each source identity may call it; sorted by workload, port, source. */
export function accessMatrix(model: MeshModel, opts: Partial<AccessOptions> = {}): AccessEntry[] {
  const sources = matrixSources(model);
  return [...model.workloads].sort(byName).flatMap((w) => accessEntriesOf(model, w, sources, opts));
}

/** One workload's rows of the access matrix, for the given sources. */
export function accessEntriesOf(model: MeshModel, w: WorkloadView, sources: readonly SourceIdentity[], opts: Partial<AccessOptions> = {}): AccessEntry[] {
  const out: AccessEntry[] = [];
  // options, mesh and name once per workload, not per cell (a diff decides hundreds of thousands of cells)
  const o = { ...defaultAccessOptions(), ...opts };
  const workload = `${w.namespace}/${w.name}`;
  // A decision reads a source only through what the policies name — Linkerd: the identities, ServiceAccounts and
  // namespaces of the model's authentications; Istio: the principal and namespace patterns of the workload's
  // policies. Sources with the same signature get the same decision, made once per port.
  const linkerd = linkerdInjected(model, w);
  const decide = linkerd ? linkerdDecision : istioDecision;
  const signature = linkerd ? linkerdSourceSignature(model, o.trustDomain) : istioSourceSignature(policiesFor(model, w), o.trustDomain);
  const keys = sources.map(signature);
  for (const port of workloadPorts(model, w)) {
    const decided = new Map<string, AccessDecision>();
    sources.forEach((source, i) => {
      const k = keys[i]!;
      let decision = decided.get(k);
      if (!decision) decided.set(k, (decision = decide(model, { source, workload: w, port }, o)));
      out.push({ workload, namespace: w.namespace, port, source, decision });
    });
  }
  return out;
}

const linkerdSignatures = new WeakMap<MeshModel, Map<string, (s: SourceIdentity) => string>>();

/**
 * Which of the identity globs, ServiceAccount and Namespace names of the model's Linkerd authentications
 * (MeshTLSAuthentication, ServerAuthorization clients, ServiceAccount references) a source matches; built once
 * per model and trust domain, memoized per source.
 */
function linkerdSourceSignature(model: MeshModel, trustDomain: string): (s: SourceIdentity) => string {
  let byDomain = linkerdSignatures.get(model);
  if (!byDomain) linkerdSignatures.set(model, (byDomain = new Map()));
  const existing = byDomain.get(trustDomain);
  if (existing) return existing;
  const globs = new Set<string>();
  const names = new Set<string>();
  const l = model.linkerd;
  for (const m of l.meshTlsAuthentications) {
    for (const id of m.identities) globs.add(id);
    for (const r of m.identityRefs) names.add(asStr(r.name) ?? "");
  }
  for (const sa of l.serverAuthorizations) {
    const mesh = asObj(sa.client.meshTLS);
    for (const id of strs(mesh.identities) ?? []) globs.add(id);
    for (const x of asArr(mesh.serviceAccounts).map(asObj)) names.add(asStr(x.name) ?? "");
  }
  for (const ap of l.authorizationPolicies) for (const r of ap.requiredAuthenticationRefs) names.add(asStr(r.name) ?? "");
  // exact identities and names are looked up; only wildcard globs are matched one by one
  const exact = new Set([...globs].filter((g) => !g.includes("*")));
  const wild = [...globs].filter((g) => g.includes("*"));
  const memo = new Map<string, string>();
  const fn = (s: SourceIdentity): string => {
    if (s.kind !== "serviceAccount") return s.kind;
    const label = `${s.namespace}/${s.serviceAccount}`;
    let k = memo.get(label);
    if (k === undefined) {
      const idLocal = linkerdIdentity(s.namespace, s.serviceAccount, trustDomain);
      const idDefault = linkerdIdentity(s.namespace, s.serviceAccount);
      // a source named by an exact identity, or whose account or namespace a reference names, is decided on its own
      if (exact.has(idLocal) || exact.has(idDefault) || names.has(s.serviceAccount) || names.has(s.namespace)) k = `sa:${label}`;
      else {
        k = "sa:";
        for (const g of wild) k += `${globMatch(g, idLocal) ? 1 : 0}${globMatch(g, idDefault) ? 1 : 0}`;
      }
      memo.set(label, k);
    }
    return k;
  };
  byDomain.set(trustDomain, fn);
  return fn;
}

/** Istio principal matching: "cluster.local/…" patterns stand for the local trust domain too. */
function principalMatch(p: string, v: string, trustDomain: string): boolean {
  return istioMatch(p, v) || (p.startsWith("cluster.local/") && istioMatch(p.replace(/^cluster\.local\//, `${trustDomain}/`), v));
}

/** Which principal and namespace patterns of the policies' rules a source matches: equal signatures, equal decisions. */
function istioSourceSignature(pols: IstioAuthorizationPolicyView[], trustDomain: string): (s: SourceIdentity) => string {
  const principals = new Set<string>();
  const namespaces = new Set<string>();
  for (const p of pols) {
    for (const r of p.rules) {
      for (const f of asArr(r.from)) {
        const src = asObj(asObj(f).source);
        for (const x of [...(strs(src.principals) ?? []), ...(strs(src.notPrincipals) ?? [])]) principals.add(x);
        for (const x of [...(strs(src.namespaces) ?? []), ...(strs(src.notNamespaces) ?? [])]) namespaces.add(x);
      }
    }
  }
  const ps = [...principals];
  const ns = [...namespaces];
  return (s) => {
    if (s.kind !== "serviceAccount") return s.kind;
    const principal = `${trustDomain}/ns/${s.namespace}/sa/${s.serviceAccount}`;
    let k = "sa:";
    for (const p of ps) k += principalMatch(p, principal, trustDomain) ? "1" : "0";
    k += "|";
    for (const n of ns) k += istioMatch(n, s.namespace) ? "1" : "0";
    return k;
  };
}

/**
 * Everything a workload's access decisions read, as one string: equal keys in two models mean equal rows
 * for every source both know, so a diff can skip the workload without deciding anything.
 */
export function accessInputsKey(model: MeshModel, w: WorkloadView, opts: Partial<AccessOptions> = {}): string {
  const o = { ...defaultAccessOptions(), ...opts };
  const spec = (x: { source: Source }): string => {
    let k = specKeys.get(x);
    if (k === undefined) {
      const m = x.source.manifest;
      k = canonicalKey({ n: m.ref.name, ns: m.ref.namespace, l: asObj(m.object.metadata).labels, s: m.object.spec });
      specKeys.set(x, k);
    }
    return k;
  };
  const ports = workloadPorts(model, w);
  const base = { labels: w.labels, ports: w.ports.map((p) => [p.name, p.containerPort]), all: ports, o };
  if (linkerdInjected(model, w)) {
    // The Linkerd policy objects are keyed once per model (appended, not re-escaped per workload).
    return `${canonicalKey({ ...base, mesh: "linkerd", a: w.annotations["config.linkerd.io/default-inbound-policy"], nsa: model.namespaces.get(w.namespace)?.annotations["config.linkerd.io/default-inbound-policy"] })}|${linkerdPolicyKey(model, w.namespace)}`;
  }
  const mtls = o.considerMtls ? ports.map((p) => mtlsModeOf(model, w, p).mode) : [];
  return `${canonicalKey({ ...base, mesh: "istio", mtls })}|${policiesFor(model, w).map(spec).join("|")}`;
}

const linkerdKeys = new WeakMap<MeshModel, Map<string, string>>();
const specKeys = new WeakMap<object, string>();
type LinkerdObject = { namespace: string; source: Source };
const objectKeyOf = (x: LinkerdObject): string =>
  canonicalKey([x.source.manifest.ref.kind, x.source.manifest.ref.namespace, x.source.manifest.ref.name, asObj(x.source.manifest.object.metadata).labels, x.source.manifest.object.spec]);

/**
 * Every Linkerd policy object a decision for a workload in `namespace` can read, keyed once per model and
 * namespace: Servers, AuthorizationPolicies (of the namespace or targeting it), ServerAuthorizations and HTTPRoutes
 * of that namespace (a Server selects pods of its own namespace, and policies attach to it there), and the authentications of every
 * namespace (a policy may name one elsewhere). A policy change in one namespace re-decides that namespace only.
 */
function linkerdPolicyKey(model: MeshModel, namespace: string): string {
  let byNs = linkerdKeys.get(model);
  if (!byNs) {
    byNs = new Map();
    const l = model.linkerd;
    const auth = [...l.meshTlsAuthentications, ...l.networkAuthentications].map(objectKeyOf).sort().join("|");
    const local = new Map<string, string[]>();
    const add = (ns: string, x: LinkerdObject): void => {
      const list = local.get(ns);
      if (list) list.push(objectKeyOf(x));
      else local.set(ns, [objectKeyOf(x)]);
    };
    for (const x of [...l.servers, ...l.serverAuthorizations, ...l.routes] as LinkerdObject[]) add(x.namespace, x);
    // an AuthorizationPolicy may name its target's namespace explicitly
    for (const ap of l.authorizationPolicies) {
      add(ap.namespace, ap);
      if (ap.targetRef.namespace !== ap.namespace) add(ap.targetRef.namespace, ap);
    }
    for (const [ns, keys] of local) byNs.set(ns, `${keys.sort().join("|")}#${auth}`);
    byNs.set("", `#${auth}`);
    linkerdKeys.set(model, byNs);
  }
  return byNs.get(namespace) ?? byNs.get("") ?? "";
}

function canonicalKey(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalKey).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalKey(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

// ---------------------------------------------------------------- Istio

/** Code-point order of "namespace/name": the same in every locale. */
function byName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  const x = `${a.namespace}/${a.name}`;
  const y = `${b.namespace}/${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Istio string match: exact, "prefix*", "*suffix" or "*" (any non-empty value). */
export function istioMatch(pattern: string, value: string): boolean {
  if (pattern === "*") return value !== "";
  if (pattern.endsWith("*")) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith("*")) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

const strsCache = new WeakMap<unknown[], string[]>();
/** A policy's string list (numbers as strings); parsed once per list, since a diff reads the same rules for every source. */
const strs = (v: unknown): string[] | undefined => {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return [];
  let out = strsCache.get(v);
  if (!out) strsCache.set(v, (out = v.flatMap((x) => (typeof x === "string" ? [x] : typeof x === "number" ? [String(x)] : []))));
  return out;
};

/** Tri-state: a constraint on a value the request does not name is "unknown". */
type Tri = boolean | "unknown";

const policiesCache = new WeakMap<MeshModel, WeakMap<object, IstioAuthorizationPolicyView[]>>();

/** The AuthorizationPolicies that apply to a workload, in name order; cached per model and workload (a matrix row asks once per source and port). */
function policiesFor(model: MeshModel, w: AccessRequest["workload"]): IstioAuthorizationPolicyView[] {
  let byWorkload = policiesCache.get(model);
  if (!byWorkload) policiesCache.set(model, (byWorkload = new WeakMap()));
  let pols = byWorkload.get(w);
  if (!pols) byWorkload.set(w, (pols = selectPolicies(model, w)));
  return pols;
}

function selectPolicies(model: MeshModel, w: AccessRequest["workload"]): IstioAuthorizationPolicyView[] {
  const root = model.options.rootNamespace;
  const all = model.istio.authorizationPolicies;
  // the mesh-wide policies of the root namespace, and the workload's namespace's (namespace/name is unique, so the
  // sort gives one order whatever the order they are gathered in)
  const mesh = root === w.namespace ? [] : inNamespace(all, root).filter((p) => !p.selector);
  return [...mesh, ...inNamespace(all, w.namespace)]
    .filter((p) => !p.hasTargetRefs) // targetRefs bind to waypoints and gateways, not to sidecar workloads
    .filter((p) => (p.namespace === root && !p.selector) || (p.namespace === w.namespace && (!p.selector || selectorMatches(p.selector, w.labels))))
    .sort(byName);
}

/** Does a value list constraint (positive and negated) hold? Undefined value: unknown unless unconstrained. */
function listMatch(pos: string[] | undefined, neg: string[] | undefined, value: string | undefined, match: (p: string, v: string) => boolean): Tri {
  if (pos === undefined && neg === undefined) return true;
  if (value === undefined) return "unknown";
  if (pos !== undefined && !pos.some((p) => match(p, value))) return false;
  if (neg !== undefined && neg.some((p) => match(p, value))) return false;
  return true;
}

/** Identity fields of a source: principal and namespace, or undefined for plaintext; "authenticated" is a wildcard identity. */
function sourceMatches(src: Obj, s: SourceIdentity, trustDomain: string): Tri {
  const results: Tri[] = [];
  const principals = strs(src.principals);
  const notPrincipals = strs(src.notPrincipals);
  const namespaces = strs(src.namespaces);
  const notNamespaces = strs(src.notNamespaces);
  if (s.kind === "serviceAccount") {
    // Istio principals are "<trust domain>/ns/<namespace>/sa/<name>"; "cluster.local" stands for the local trust domain.
    const principal = `${trustDomain}/ns/${s.namespace}/sa/${s.serviceAccount}`;
    const pm = (p: string, v: string): boolean => istioMatch(p, v) || (p.startsWith("cluster.local/") && istioMatch(p.replace(/^cluster\.local\//, `${trustDomain}/`), v));
    results.push(listMatch(principals, notPrincipals, principal, pm), listMatch(namespaces, notNamespaces, s.namespace, istioMatch));
  } else if (s.kind === "authenticated") {
    // Some authenticated identity: a "*" positive list matches; a specific list or any negation leaves it open.
    const any = (pos?: string[], neg?: string[]): Tri => (pos === undefined && neg === undefined ? true : pos !== undefined && !pos.includes("*") ? "unknown" : neg !== undefined && neg.includes("*") ? false : neg !== undefined ? "unknown" : true);
    results.push(any(principals, notPrincipals), any(namespaces, notNamespaces));
  } else {
    // Plaintext: no principal, no namespace. A positive list never matches; a negated list always does (Envoy negates a match that failed).
    if (principals !== undefined || namespaces !== undefined) return false;
  }
  // JWT principals: the request carries none.
  if (strs(src.requestPrincipals) !== undefined) return false;
  if (src.ipBlocks !== undefined || src.remoteIpBlocks !== undefined || src.notIpBlocks !== undefined || src.notRemoteIpBlocks !== undefined) results.push("unknown");
  return and(results);
}

function and(xs: Tri[]): Tri {
  if (xs.includes(false)) return false;
  return xs.includes("unknown") ? "unknown" : true;
}
function or(xs: Tri[]): Tri {
  if (xs.includes(true)) return true;
  return xs.includes("unknown") ? "unknown" : false;
}

function operationMatches(op: Obj, req: AccessRequest): Tri {
  const port = String(req.port);
  return and([
    listMatch(strs(op.ports), strs(op.notPorts), port, (p, v) => p === v),
    listMatch(strs(op.paths), strs(op.notPaths), req.path, istioMatch),
    listMatch(strs(op.methods), strs(op.notMethods), req.method, istioMatch),
    listMatch(strs(op.hosts), strs(op.notHosts), undefined, istioMatch),
  ]);
}

/** Does a rule match? from: any source entry; to: any operation; when: unknown (conditions on request attributes). */
export function istioRuleMatches(rule: Obj, req: AccessRequest, trustDomain = "cluster.local"): Tri {
  const from = rule.from === undefined ? true : or(asArr(rule.from).map((f) => sourceMatches(asObj(asObj(f).source), req.source, trustDomain)));
  const to = rule.to === undefined ? true : or(asArr(rule.to).map((t) => operationMatches(asObj(asObj(t).operation), req)));
  const when = asArr(rule.when).length > 0 ? "unknown" : true;
  return and([from, to, when]);
}

function policyMatches(p: IstioAuthorizationPolicyView, req: AccessRequest, trustDomain: string): Tri {
  // No rules: the policy matches nothing (an ALLOW without rules is "allow nothing").
  return or(p.rules.map((r) => istioRuleMatches(r, req, trustDomain)));
}

function istioDecision(model: MeshModel, req: AccessRequest, o: AccessOptions): AccessDecision {
  const name = (p: IstioAuthorizationPolicyView): string => `${p.namespace}/${p.name}`;
  if (o.considerMtls && req.source.kind === "unauthenticated") {
    const m = mtlsModeOf(model, req.workload, req.port);
    if (m.mode === "STRICT") return { allowed: false, mesh: "istio", reason: "mTLS STRICT rejects plaintext", ...(m.source ? { source: m.source } : {}) };
  }
  const pols = policiesFor(model, req.workload);
  let customProvider: string | undefined;
  for (const p of pols.filter((x) => x.action === "CUSTOM")) {
    if (policyMatches(p, req, o.trustDomain) !== false) {
      customProvider = asStr(asObj(asObj(p.source.manifest.object.spec).provider).name) ?? name(p);
      break;
    }
  }
  const extra = customProvider ? { customProvider } : {};
  for (const p of pols.filter((x) => x.action === "DENY")) {
    if (policyMatches(p, req, o.trustDomain) === true) return { allowed: false, mesh: "istio", reason: `DENY policy ${name(p)}`, source: p.source, ...extra };
  }
  const allows = pols.filter((x) => x.action === "ALLOW");
  const scope = (): { scope?: AccessScope } => {
    if (req.path !== undefined || req.method !== undefined || !pols.some(constrainsPaths)) return {};
    const sc = istioScope(pols, req, o.trustDomain);
    return sc ? { scope: sc } : {};
  };
  if (allows.length === 0) return { allowed: true, mesh: "istio", reason: "no ALLOW policy selects the workload", ...extra, ...scope() };
  for (const p of allows) {
    if (policyMatches(p, req, o.trustDomain) !== false) return { allowed: true, mesh: "istio", reason: `ALLOW policy ${name(p)}`, source: p.source, ...extra, ...scope() };
  }
  return { allowed: false, mesh: "istio", reason: `no rule of the ALLOW policies ${allows.map(name).join(", ")} matches`, source: (allows[0] as IstioAuthorizationPolicyView).source, ...extra };
}

const pathRules = new WeakMap<IstioAuthorizationPolicyView, boolean>();
/** Does any rule of the policy name paths or methods (else every scope it gives is "everything")? */
function constrainsPaths(p: IstioAuthorizationPolicyView): boolean {
  let v = pathRules.get(p);
  if (v === undefined) {
    v = p.rules.some((r) => asArr(r.to).some((t) => {
      const op = asObj(asObj(t).operation);
      return op.paths !== undefined || op.notPaths !== undefined || op.methods !== undefined || op.notMethods !== undefined;
    }));
    pathRules.set(p, v);
  }
  return v;
}

/** The grants of the operations of a rule's `to` that apply to the port; one grant of everything without `to`. */
function ruleGrants(rule: Obj, port: number): AccessGrant[] {
  if (rule.to === undefined) return [allPaths];
  return asArr(rule.to).flatMap((t) => {
    const op = asObj(asObj(t).operation);
    if (listMatch(strs(op.ports), strs(op.notPorts), String(port), (p, v) => p === v) === false) return [];
    const paths = strs(op.paths) ?? (strs(op.notPaths) ? [`not ${(strs(op.notPaths) ?? []).join(",")}`] : ["*"]);
    const methods = strs(op.methods) ?? (strs(op.notMethods) ? [`not ${(strs(op.notMethods) ?? []).join(",")}`] : ["*"]);
    return grantsOf(paths, methods);
  });
}

/**
 * The paths and methods an Istio-allowed source may call: the grants of every ALLOW rule whose source matches
 * (all of them when no ALLOW policy selects the workload), minus those of DENY rules that match the source
 * certainly and constrain only paths, methods and ports.
 */
function istioScope(pols: IstioAuthorizationPolicyView[], req: AccessRequest, trustDomain: string): AccessScope | undefined {
  const fromMatches = (rule: Obj): Tri => (rule.from === undefined ? true : or(asArr(rule.from).map((f) => sourceMatches(asObj(asObj(f).source), req.source, trustDomain))));
  const allows = pols.filter((p) => p.action === "ALLOW");
  const allowed = allows.length === 0 ? [allPaths] : allows.flatMap((p) => p.rules.filter((r) => fromMatches(r) !== false).flatMap((r) => ruleGrants(r, req.port)));
  const denied = pols
    .filter((p) => p.action === "DENY")
    .flatMap((p) => p.rules.filter((r) => fromMatches(r) === true && asArr(r.when).length === 0).flatMap((r) => ruleGrants(r, req.port).map((g) => ({ ...g, by: `DENY policy ${p.namespace}/${p.name}` }))))
    .filter((g) => !g.path.startsWith("not ") && !g.method.startsWith("not "));
  return scopeOf(allowed, denied);
}

// ---------------------------------------------------------------- Linkerd

/** Linkerd mesh identity of a ServiceAccount. */
export function linkerdIdentity(namespace: string, serviceAccount: string, trustDomain = "cluster.local"): string {
  return `${serviceAccount}.${namespace}.serviceaccount.identity.linkerd.${trustDomain}`;
}

const globs = new Map<string, RegExp>();
function globMatch(pattern: string, value: string): boolean {
  let re = globs.get(pattern);
  if (!re) globs.set(pattern, (re = new RegExp(`^${pattern.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`)));
  return re.test(value);
}

function serverSelects(model: MeshModel, s: LinkerdServerView, req: AccessRequest): boolean {
  if (s.namespace !== req.workload.namespace || !s.podSelector || s.hasExpressions) return false;
  if (!selectorMatches(s.podSelector, req.workload.labels)) return false;
  if (typeof s.port === "number") return s.port === req.port;
  return req.workload.ports.some((p) => p.name === s.port && p.containerPort === req.port);
}

/** Default policies that admit a source. */
function defaultAdmits(policy: string, s: SourceIdentity): boolean {
  switch (policy) {
    case "all-unauthenticated":
    case "cluster-unauthenticated":
    case "audit":
      return true;
    case "all-authenticated":
    case "cluster-authenticated":
      return s.kind !== "unauthenticated";
    default:
      return false;
  }
}

/** Does one authentication (MeshTLSAuthentication, NetworkAuthentication, ServiceAccount or Namespace ref) admit the source? */
function authenticationAdmits(model: MeshModel, ref: Obj, policyNs: string, s: SourceIdentity, trustDomain: string): Tri {
  const kind = asStr(ref.kind) ?? "";
  const name = asStr(ref.name) ?? "";
  const ns = asStr(ref.namespace) ?? policyNs;
  if (kind === "NetworkAuthentication") return model.linkerd.networkAuthentications.some((n) => n.namespace === ns && n.name === name) ? "unknown" : false;
  if (kind === "ServiceAccount") return s.kind === "serviceAccount" ? s.namespace === ns && s.serviceAccount === name : s.kind === "authenticated" ? "unknown" : false;
  if (kind !== "MeshTLSAuthentication") return false;
  const mtls = model.linkerd.meshTlsAuthentications.find((m) => m.namespace === ns && m.name === name);
  if (!mtls || s.kind === "unauthenticated") return false;
  const results: Tri[] = mtls.identities.map((id) => (s.kind === "serviceAccount" ? globMatch(id, linkerdIdentity(s.namespace, s.serviceAccount, trustDomain)) : id === "*" ? true : "unknown"));
  for (const r of mtls.identityRefs) {
    const rk = asStr(r.kind);
    const rn = asStr(r.name);
    const rns = asStr(r.namespace) ?? mtls.namespace;
    if (rk === "ServiceAccount") results.push(s.kind === "serviceAccount" ? (rn === "*" || rn === s.serviceAccount) && rns === s.namespace : "unknown");
    else if (rk === "Namespace") results.push(s.kind === "serviceAccount" ? rn === "*" || rn === s.namespace : rn === "*" ? true : "unknown");
  }
  return or(results);
}

function serverAuthorizationAdmits(client: Obj, s: SourceIdentity): Tri {
  if (client.unauthenticated === true) return true;
  if (s.kind === "unauthenticated") return false;
  const mesh = asObj(client.meshTLS);
  if (mesh.unauthenticatedTLS === true) return true;
  const results: Tri[] = [];
  for (const id of strs(mesh.identities) ?? []) results.push(s.kind === "serviceAccount" ? globMatch(id, linkerdIdentity(s.namespace, s.serviceAccount)) : id === "*" ? true : "unknown");
  for (const sa of asArr(mesh.serviceAccounts).map(asObj)) {
    const n = asStr(sa.name);
    const ns = asStr(sa.namespace);
    results.push(s.kind === "serviceAccount" ? n === s.serviceAccount && (ns === undefined || ns === s.namespace) : "unknown");
  }
  return or(results);
}

function linkerdDecision(model: MeshModel, req: AccessRequest, o: AccessOptions): AccessDecision {
  const s = req.source;
  const index = linkerdIndex(model);
  const server = (index.servers.get(req.workload.namespace) ?? []).find((x) => serverSelects(model, x, req));
  if (!server) {
    const pod = req.workload.annotations["config.linkerd.io/default-inbound-policy"];
    const ns = model.namespaces.get(req.workload.namespace);
    const nsPolicy = ns?.annotations["config.linkerd.io/default-inbound-policy"];
    const policy = pod ?? nsPolicy ?? o.linkerdDefaultInboundPolicy;
    const src = pod !== undefined ? undefined : nsPolicy !== undefined ? ns?.source : undefined;
    return { allowed: defaultAdmits(policy, s), mesh: "linkerd", reason: `default inbound policy ${policy}`, ...(src ? { source: src } : {}) };
  }
  const serverName = `${server.namespace}/${server.name}`;
  const serverLabels = asStrMap(asObj(server.source.manifest.object.metadata).labels);
  let first: AccessDecision | undefined;
  const grants: AccessGrant[] = [];
  for (const ap of index.policies.get(server.namespace) ?? []) {
    const t = ap.targetRef;
    const targets =
      (t.kind === "Server" && t.name === server.name && t.namespace === server.namespace) ||
      (t.kind === "Namespace" && t.name === server.namespace && ap.namespace === server.namespace) ||
      (t.kind === "HTTPRoute" && t.namespace === server.namespace && routeAttachedTo(model, t.name, t.namespace, server.name));
    if (!targets) continue;
    // Every required authentication must admit the client; a route-level policy admits the route's paths only.
    const admits = and(ap.requiredAuthenticationRefs.map((r) => authenticationAdmits(model, r, ap.namespace, s, o.trustDomain)));
    if (admits !== false && ap.requiredAuthenticationRefs.length > 0) {
      first ??= { allowed: true, mesh: "linkerd", reason: `AuthorizationPolicy ${ap.namespace}/${ap.name}`, source: ap.source };
      grants.push(...(t.kind === "HTTPRoute" ? linkerdRouteGrants(model, t.name, t.namespace) : [allPaths]));
    }
  }
  for (const sa of index.serverAuthorizations.get(server.namespace) ?? []) {
    const targets = sa.server.name === server.name || (sa.server.selector !== undefined && selectorMatches(sa.server.selector, serverLabels));
    if (targets && serverAuthorizationAdmits(sa.client, s) !== false) {
      first ??= { allowed: true, mesh: "linkerd", reason: `ServerAuthorization ${sa.namespace}/${sa.name}`, source: sa.source };
      grants.push(allPaths);
    }
  }
  // Server.spec.accessPolicy (Linkerd 2.13+) is the fallback for a selected port; it defaults to deny.
  const access = asStr(asObj(server.source.manifest.object.spec).accessPolicy) ?? "deny";
  const fallback: AccessDecision = { allowed: defaultAdmits(access, s), mesh: "linkerd", reason: `Server ${serverName} accessPolicy ${access}`, source: server.source };
  if (!first) return fallback;
  if (fallback.allowed) grants.push(allPaths);
  const scope = req.path === undefined && req.method === undefined ? scopeOf(grants, []) : undefined;
  return scope ? { ...first, scope } : first;
}

/** The paths and methods of a Linkerd (policy.linkerd.io) HTTPRoute's rules: PathPrefix /api is "/api/*", a regex "~re", no match everything. */
function linkerdRouteGrants(model: MeshModel, name: string, namespace: string): AccessGrant[] {
  const r = model.linkerd.routes.find((x) => x.name === name && x.namespace === namespace);
  if (!r) return [];
  return r.rules.flatMap((rule) =>
    rule.matches.length === 0
      ? [allPaths]
      : rule.matches.map((m) => {
          const p = asObj(m.path);
          const v = asStr(p.value) ?? "/";
          const type = asStr(p.type) ?? "PathPrefix";
          const path = type === "Exact" ? v : type === "RegularExpression" ? `~${v}` : v === "/" ? "*" : `${v.replace(/\/$/, "")}/*`;
          return { path: m.path === undefined ? "*" : path, method: asStr(m.method) ?? "*" };
        }),
  );
}

interface LinkerdIndex {
  servers: Map<string, LinkerdServerView[]>;
  policies: Map<string, LinkerdAuthorizationPolicyView[]>;
  serverAuthorizations: Map<string, ServerAuthorizationView[]>;
}
const linkerdIndexes = new WeakMap<MeshModel, LinkerdIndex>();

/** Linkerd Servers, AuthorizationPolicies (by their own and their target's namespace) and ServerAuthorizations per namespace, in name order: built once per model, not sorted per decision. */
function linkerdIndex(model: MeshModel): LinkerdIndex {
  let ix = linkerdIndexes.get(model);
  if (ix) return ix;
  const group = <T>(xs: readonly T[], nss: (x: T) => string[]): Map<string, T[]> => {
    const m = new Map<string, T[]>();
    for (const x of xs)
      for (const ns of new Set(nss(x))) {
        const list = m.get(ns);
        if (list) list.push(x);
        else m.set(ns, [x]);
      }
    return m;
  };
  const l = model.linkerd;
  ix = {
    servers: group([...l.servers].sort(byName), (x) => [x.namespace]),
    policies: group([...l.authorizationPolicies].sort(byName), (x) => [x.namespace, x.targetRef.namespace]),
    serverAuthorizations: group([...l.serverAuthorizations].sort(byName), (x) => [x.namespace]),
  };
  linkerdIndexes.set(model, ix);
  return ix;
}

function routeAttachedTo(model: MeshModel, name: string, namespace: string, server: string): boolean {
  const r = model.linkerd.routes.find((x) => x.name === name && x.namespace === namespace);
  return r !== undefined && r.parentRefs.some((p) => p.kind === "Server" && p.name === server);
}
