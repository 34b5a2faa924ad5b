/** Typed views of the Linkerd kinds: Server, ServerAuthorization, AuthorizationPolicy, ServiceProfile, and SMI TrafficSplit. */
import { asArr, asNum, asObj, asStr, asStrMap, namespaceOf, type Obj, type Source } from "./core.js";
import type { Manifest } from "./resource.js";

/** A Linkerd Server: a port on the pods its podSelector picks. */
export interface LinkerdServerView {
  name: string;
  namespace: string;
  /** matchLabels of the podSelector (undefined when it uses only matchExpressions). */
  podSelector?: Record<string, string>;
  /** True when the selector has matchExpressions this model does not evaluate. */
  hasExpressions: boolean;
  /** Port number or container port name. */
  port?: number | string;
  proxyProtocol?: string;
  source: Source;
}

/** A Linkerd AuthorizationPolicy with its target. */
export interface LinkerdAuthorizationPolicyView {
  name: string;
  namespace: string;
  targetRef: { group: string; kind: string; name: string; namespace: string; source: Source };
  requiredAuthenticationRefs: Obj[];
  source: Source;
}

/** A ServiceProfile (named by the FQDN of the Service it describes). */
export interface ServiceProfileView {
  name: string;
  namespace: string;
  source: Source;
}

/** An SMI TrafficSplit. */
export interface TrafficSplitView {
  name: string;
  namespace: string;
  service: string;
  backends: { service: string; weight: number; source: Source }[];
  source: Source;
}

/** Reads a Server. */
export function linkerdServerView(m: Manifest): LinkerdServerView {
  const spec = asObj(m.object.spec);
  const sel = asObj(spec.podSelector);
  const port = asNum(spec.port) ?? asStr(spec.port);
  const proxyProtocol = asStr(spec.proxyProtocol);
  return {
    name: m.ref.name,
    namespace: namespaceOf(m),
    ...(sel.matchLabels !== undefined ? { podSelector: asStrMap(sel.matchLabels) } : sel.matchExpressions === undefined ? { podSelector: {} } : {}),
    hasExpressions: sel.matchExpressions !== undefined,
    ...(port !== undefined ? { port } : {}),
    ...(proxyProtocol ? { proxyProtocol } : {}),
    source: { manifest: m, path: [] },
  };
}

/** Reads a policy.linkerd.io AuthorizationPolicy. */
export function linkerdAuthorizationPolicyView(m: Manifest): LinkerdAuthorizationPolicyView {
  const spec = asObj(m.object.spec);
  const t = asObj(spec.targetRef);
  const ns = namespaceOf(m);
  return {
    name: m.ref.name,
    namespace: ns,
    targetRef: { group: asStr(t.group) ?? "", kind: asStr(t.kind) ?? "", name: asStr(t.name) ?? "", namespace: asStr(t.namespace) ?? ns, source: { manifest: m, path: ["spec", "targetRef"] } },
    requiredAuthenticationRefs: asArr(spec.requiredAuthenticationRefs).map(asObj),
    source: { manifest: m, path: [] },
  };
}

/** Reads a ServiceProfile. */
export function serviceProfileView(m: Manifest): ServiceProfileView {
  return { name: m.ref.name, namespace: namespaceOf(m), source: { manifest: m, path: ["metadata", "name"] } };
}

/** SMI weights are integers or Kubernetes quantities ("500m"). */
function smiWeight(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const m = /^([0-9.]+)(m?)$/.exec(v);
    if (m?.[1]) return Number(m[1]) / (m[2] ? 1000 : 1);
  }
  return 0;
}

/** Reads a TrafficSplit. */
export function trafficSplitView(m: Manifest): TrafficSplitView {
  const spec = asObj(m.object.spec);
  const backends = asArr(spec.backends).map((b, i) => {
    const o = asObj(b);
    return { service: asStr(o.service) ?? "", weight: smiWeight(o.weight), source: { manifest: m, path: ["spec", "backends", i] } };
  });
  return { name: m.ref.name, namespace: namespaceOf(m), service: asStr(spec.service) ?? "", backends, source: { manifest: m, path: [] } };
}

/** A MeshTLSAuthentication: the mesh identities (or ServiceAccounts) a policy requires. */
export interface MeshTlsAuthenticationView {
  name: string;
  namespace: string;
  identities: string[];
  identityRefs: Obj[];
  source: Source;
}

/** A NetworkAuthentication: the client networks a policy requires. */
export interface NetworkAuthenticationView {
  name: string;
  namespace: string;
  networks: { cidr: string; except: string[] }[];
  source: Source;
}

/** A ServerAuthorization (the older Linkerd policy API). */
export interface ServerAuthorizationView {
  name: string;
  namespace: string;
  server: { name?: string; selector?: Record<string, string> };
  client: Obj;
  source: Source;
}

/** Reads a MeshTLSAuthentication. */
export function meshTlsAuthenticationView(m: Manifest): MeshTlsAuthenticationView {
  const spec = asObj(m.object.spec);
  return { name: m.ref.name, namespace: namespaceOf(m), identities: asArr(spec.identities).flatMap((i) => asStr(i) ?? []), identityRefs: asArr(spec.identityRefs).map(asObj), source: { manifest: m, path: [] } };
}

/** Reads a NetworkAuthentication. */
export function networkAuthenticationView(m: Manifest): NetworkAuthenticationView {
  const spec = asObj(m.object.spec);
  const networks = asArr(spec.networks).map((n) => {
    const o = asObj(n);
    return { cidr: asStr(o.cidr) ?? "", except: asArr(o.except).flatMap((e) => asStr(e) ?? []) };
  });
  return { name: m.ref.name, namespace: namespaceOf(m), networks, source: { manifest: m, path: [] } };
}

/** Reads a ServerAuthorization. */
export function serverAuthorizationView(m: Manifest): ServerAuthorizationView {
  const spec = asObj(m.object.spec);
  const server = asObj(spec.server);
  const name = asStr(server.name);
  const selector = server.selector !== undefined ? asStrMap(asObj(server.selector).matchLabels) : undefined;
  return { name: m.ref.name, namespace: namespaceOf(m), server: { ...(name ? { name } : {}), ...(selector ? { selector } : {}) }, client: asObj(spec.client), source: { manifest: m, path: [] } };
}
