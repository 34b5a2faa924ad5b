/** Typed views of the Istio kinds: VirtualService, DestinationRule, Gateway, ServiceEntry, PeerAuthentication, AuthorizationPolicy, Sidecar. */
import { asArr, asNum, asObj, asStr, asStrMap, namespaceOf, type Obj, type Source } from "./core.js";
import { resolveHost } from "./hosts.js";
import type { Manifest } from "./resource.js";

/** One destination of a route, with its host resolved. */
export interface RouteDestination {
  /** Fully qualified host. */
  host: string;
  /** The host as written. */
  rawHost: string;
  subset?: string;
  port?: number;
  /** Weight as written (undefined when omitted). */
  weight?: number;
  source: Source;
}

/** One VirtualService http route, in evaluation order. */
export interface IstioHttpRoute {
  index: number;
  name?: string;
  /** The match blocks as written (undefined or empty: matches every request). */
  match?: Obj[];
  destinations: RouteDestination[];
  timeout?: string;
  retries?: Obj;
  fault?: Obj;
  mirror?: RouteDestination;
  redirect?: Obj;
  directResponse?: Obj;
  delegate?: Obj;
  source: Source;
}

/** A VirtualService. */
export interface VirtualServiceView {
  name: string;
  namespace: string;
  /** Hosts resolved to FQDNs. */
  hosts: string[];
  /** Gateways as written ("mesh" when none is given). */
  gateways: { name: string; source: Source }[];
  http: IstioHttpRoute[];
  /** Destinations of tcp and tls routes (for reference checks). */
  otherDestinations: RouteDestination[];
  /** spec.exportTo as written (empty: exported everywhere). */
  exportTo: string[];
  source: Source;
}

/** A Sidecar (egress/ingress scoping of the proxies it selects). */
export interface SidecarView {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  source: Source;
}

/** Reads a Sidecar. */
export function sidecarView(m: Manifest): SidecarView {
  const spec = asObj(m.object.spec);
  const selector = spec.workloadSelector !== undefined ? asStrMap(asObj(spec.workloadSelector).labels) : undefined;
  return { name: m.ref.name, namespace: namespaceOf(m), ...(selector && Object.keys(selector).length ? { selector } : {}), source: { manifest: m, path: [] } };
}

/** A DestinationRule subset. */
export interface SubsetView {
  name: string;
  labels: Record<string, string>;
  tlsMode?: string;
  source: Source;
}

/** A DestinationRule. */
export interface DestinationRuleView {
  name: string;
  namespace: string;
  host: string;
  subsets: SubsetView[];
  /** trafficPolicy.tls.mode (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL). */
  tlsMode?: string;
  /** trafficPolicy.portLevelSettings[].tls.mode by port. */
  portTlsModes: { port: number; mode: string; source: Source }[];
  source: Source;
}

/** An Istio Gateway. */
export interface IstioGatewayView {
  name: string;
  namespace: string;
  selector: Record<string, string>;
  /** Server hosts without their "namespace/" prefix. */
  hosts: string[];
  source: Source;
}

/** A ServiceEntry. */
export interface ServiceEntryView {
  name: string;
  namespace: string;
  hosts: string[];
  source: Source;
}

/** A PeerAuthentication. */
export interface PeerAuthenticationView {
  name: string;
  namespace: string;
  /** Undefined: applies to the whole namespace (or mesh, in the root namespace). */
  selector?: Record<string, string>;
  /** mtls.mode; UNSET or missing inherits from the parent scope. */
  mode?: string;
  portLevel: { port: number; mode: string; source: Source }[];
  source: Source;
}

/** An Istio AuthorizationPolicy. */
export interface IstioAuthorizationPolicyView {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  action: string;
  rules: Obj[];
  hasTargetRefs: boolean;
  source: Source;
}

function destination(m: Manifest, raw: Obj, ns: string, path: (string | number)[], clusterDomain: string): RouteDestination | undefined {
  const d = asObj(raw.destination ?? raw);
  const rawHost = asStr(d.host);
  if (!rawHost) return undefined;
  const subset = asStr(d.subset);
  const port = asNum(asObj(d.port).number);
  const weight = raw.destination !== undefined ? asNum(raw.weight) : undefined;
  return { host: resolveHost(rawHost, ns, clusterDomain), rawHost, ...(subset ? { subset } : {}), ...(port !== undefined ? { port } : {}), ...(weight !== undefined ? { weight } : {}), source: { manifest: m, path } };
}

/** Reads a VirtualService. */
export function virtualServiceView(m: Manifest, clusterDomain: string): VirtualServiceView {
  const spec = asObj(m.object.spec);
  const ns = namespaceOf(m);
  const gws = asArr(spec.gateways);
  const gateways = gws.length ? gws.flatMap((g, i) => (typeof g === "string" ? [{ name: g, source: { manifest: m, path: ["spec", "gateways", i] } }] : [])) : [{ name: "mesh", source: { manifest: m, path: ["spec"] } }];
  const http: IstioHttpRoute[] = asArr(spec.http).map((r, i) => {
    const o = asObj(r);
    const base = ["spec", "http", i];
    const destinations = asArr(o.route).flatMap((d, j) => destination(m, asObj(d), ns, [...base, "route", j, "destination"], clusterDomain) ?? []);
    const mirror = o.mirror !== undefined ? destination(m, asObj(o.mirror), ns, [...base, "mirror"], clusterDomain) : undefined;
    const route: IstioHttpRoute = { index: i, destinations, source: { manifest: m, path: base } };
    const name = asStr(o.name);
    if (name) route.name = name;
    if (Array.isArray(o.match)) route.match = o.match.map(asObj);
    const timeout = asStr(o.timeout);
    if (timeout) route.timeout = timeout;
    if (o.retries !== undefined) route.retries = asObj(o.retries);
    if (o.fault !== undefined) route.fault = asObj(o.fault);
    if (mirror) route.mirror = mirror;
    if (o.redirect !== undefined) route.redirect = asObj(o.redirect);
    if (o.directResponse !== undefined) route.directResponse = asObj(o.directResponse);
    if (o.delegate !== undefined) route.delegate = asObj(o.delegate);
    return route;
  });
  const otherDestinations = (["tcp", "tls"] as const).flatMap((k) =>
    asArr(spec[k]).flatMap((r, i) => asArr(asObj(r).route).flatMap((d, j) => destination(m, asObj(d), ns, ["spec", k, i, "route", j, "destination"], clusterDomain) ?? [])),
  );
  const hosts = asArr(spec.hosts).flatMap((h) => (typeof h === "string" ? [resolveHost(h, ns, clusterDomain)] : []));
  const exportTo = asArr(spec.exportTo).flatMap((e) => (typeof e === "string" ? [e] : []));
  return { name: m.ref.name, namespace: ns, hosts, gateways, http, otherDestinations, exportTo, source: { manifest: m, path: [] } };
}

/** Reads a DestinationRule. */
export function destinationRuleView(m: Manifest, clusterDomain: string): DestinationRuleView {
  const spec = asObj(m.object.spec);
  const ns = namespaceOf(m);
  const tp = asObj(spec.trafficPolicy);
  const subsets = asArr(spec.subsets).map((s, i) => {
    const o = asObj(s);
    const tlsMode = asStr(asObj(asObj(o.trafficPolicy).tls).mode);
    return { name: asStr(o.name) ?? "", labels: asStrMap(o.labels), ...(tlsMode ? { tlsMode } : {}), source: { manifest: m, path: ["spec", "subsets", i] } };
  });
  const portTlsModes = asArr(tp.portLevelSettings).flatMap((p, i) => {
    const o = asObj(p);
    const port = asNum(asObj(o.port).number);
    const mode = asStr(asObj(o.tls).mode);
    return port !== undefined && mode ? [{ port, mode, source: { manifest: m, path: ["spec", "trafficPolicy", "portLevelSettings", i, "tls", "mode"] } }] : [];
  });
  const tlsMode = asStr(asObj(tp.tls).mode);
  return { name: m.ref.name, namespace: ns, host: resolveHost(asStr(spec.host) ?? "", ns, clusterDomain), subsets, ...(tlsMode ? { tlsMode } : {}), portTlsModes, source: { manifest: m, path: [] } };
}

/** Reads an Istio Gateway. */
export function istioGatewayView(m: Manifest): IstioGatewayView {
  const spec = asObj(m.object.spec);
  const hosts = asArr(spec.servers).flatMap((s) => asArr(asObj(s).hosts).flatMap((h) => (typeof h === "string" ? [h.includes("/") ? h.slice(h.indexOf("/") + 1) : h] : [])));
  return { name: m.ref.name, namespace: namespaceOf(m), selector: asStrMap(spec.selector), hosts, source: { manifest: m, path: [] } };
}

/** Reads a ServiceEntry (hosts resolved like VirtualService hosts). */
export function serviceEntryView(m: Manifest, clusterDomain: string): ServiceEntryView {
  const ns = namespaceOf(m);
  const hosts = asArr(asObj(m.object.spec).hosts).flatMap((h) => (typeof h === "string" ? [resolveHost(h, ns, clusterDomain)] : []));
  return { name: m.ref.name, namespace: ns, hosts, source: { manifest: m, path: [] } };
}

/** Reads a PeerAuthentication. */
export function peerAuthenticationView(m: Manifest): PeerAuthenticationView {
  const spec = asObj(m.object.spec);
  const selector = spec.selector !== undefined ? asStrMap(asObj(spec.selector).matchLabels) : undefined;
  const mode = asStr(asObj(spec.mtls).mode);
  const portLevel = Object.entries(asObj(spec.portLevelMtls)).flatMap(([port, v]) => {
    const pm = asStr(asObj(v).mode);
    return /^[0-9]+$/.test(port) && pm ? [{ port: Number(port), mode: pm, source: { manifest: m, path: ["spec", "portLevelMtls", port] } }] : [];
  });
  return { name: m.ref.name, namespace: namespaceOf(m), ...(selector && Object.keys(selector).length ? { selector } : {}), ...(mode ? { mode } : {}), portLevel, source: { manifest: m, path: [] } };
}

/** Reads an Istio AuthorizationPolicy. */
export function istioAuthorizationPolicyView(m: Manifest): IstioAuthorizationPolicyView {
  const spec = asObj(m.object.spec);
  const selector = spec.selector !== undefined ? asStrMap(asObj(spec.selector).matchLabels) : undefined;
  return {
    name: m.ref.name,
    namespace: namespaceOf(m),
    ...(selector && Object.keys(selector).length ? { selector } : {}),
    action: asStr(spec.action) ?? "ALLOW",
    rules: asArr(spec.rules).map(asObj),
    hasTargetRefs: spec.targetRef !== undefined || spec.targetRefs !== undefined,
    source: { manifest: m, path: [] },
  };
}

/** A RequestAuthentication (JWT issuers accepted by the selected workloads). */
export interface RequestAuthenticationView {
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  issuers: string[];
  source: Source;
}

/** Reads a RequestAuthentication. */
export function requestAuthenticationView(m: Manifest): RequestAuthenticationView {
  const spec = asObj(m.object.spec);
  const selector = spec.selector !== undefined ? asStrMap(asObj(spec.selector).matchLabels) : undefined;
  const issuers = asArr(spec.jwtRules).flatMap((r) => asStr(asObj(r).issuer) ?? []);
  return { name: m.ref.name, namespace: namespaceOf(m), ...(selector && Object.keys(selector).length ? { selector } : {}), issuers, source: { manifest: m, path: [] } };
}
