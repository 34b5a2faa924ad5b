/**
 * meshsim (telemetry emulator): the traffic split of a service, from the routing objects a mesh would obey —
 * Istio VirtualService (+ DestinationRule subsets), Gateway API HTTPRoute (GAMMA: parentRef to the Service),
 * SMI TrafficSplit. Pure functions over the objects as the API server returns them.
 */
import type { RoutingKind, ServiceConfig } from "./config.js";
import { versionLabels, versionService } from "./config.js";

/** A Kubernetes object as JSON (structurally the cluster client's KubeObject). */
export type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; spec?: unknown };

export interface RouteObjects {
  virtualServices: Obj[];
  destinationRules: Obj[];
  httpRoutes: Obj[];
  trafficSplits: Obj[];
}

export interface Split {
  /** version key → share of requests, summing to 1 (empty: no version receives traffic). */
  weights: Record<string, number>;
  /** What decided it: "VirtualService ns/name", "HTTPRoute ns/name", "TrafficSplit ns/name" or "replicas". */
  source: string;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === "object" && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const nsOf = (o: Obj): string => o.metadata?.namespace ?? "default";
const idOf = (o: Obj): string => `${nsOf(o)}/${o.metadata?.name ?? "?"}`;

export function defaultRouting(mesh: "istio" | "linkerd"): RoutingKind[] {
  return mesh === "istio" ? ["virtualservice", "httproute"] : ["httproute", "trafficsplit"];
}

/** Does an Istio host (short names relative to `fromNs`) name the service? */
export function hostMatches(host: string, fromNs: string, svc: { namespace: string; name: string }): boolean {
  const h = host.toLowerCase();
  const fq = `${svc.name}.${svc.namespace}.svc.cluster.local`;
  if (h === fq || h === `${svc.name}.${svc.namespace}` || h === `${svc.name}.${svc.namespace}.svc`) return true;
  return h === svc.name && fromNs === svc.namespace;
}

/** Kubernetes quantity or number as a weight: 90, "90", "900m", 0.9. */
export function parseWeight(v: unknown, dflt: number): number {
  if (typeof v === "number" && Number.isFinite(v)) return Math.max(0, v);
  if (typeof v === "string") {
    const m = /^\s*([0-9]*\.?[0-9]+)(m)?\s*$/.exec(v);
    if (m) return Number(m[1]) / (m[2] ? 1000 : 1);
  }
  return dflt;
}

/** Traffic spread by kube-proxy over the pods of every version (no routing object applies). */
function byReplicas(svc: ServiceConfig, only?: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(svc.versions)) if (!only || only.includes(k)) out[k] = v.replicas;
  return out;
}

function normalize(w: Record<string, number>): Record<string, number> {
  const total = Object.values(w).reduce((a, b) => a + b, 0);
  const out: Record<string, number> = {};
  if (total <= 0) return out;
  for (const [k, v] of Object.entries(w)) if (v > 0) out[k] = v / total;
  return out;
}

function add(into: Record<string, number>, parts: Record<string, number>, weight: number): void {
  const n = normalize(parts);
  for (const [k, v] of Object.entries(n)) into[k] = (into[k] ?? 0) + v * weight;
}

/** Versions whose labels satisfy a selector (every selector label equal). */
function versionsMatching(svc: ServiceConfig, selector: Record<string, string>): string[] {
  return Object.keys(svc.versions).filter((k) => {
    const labels = versionLabels(svc, k);
    return Object.entries(selector).every(([lk, lv]) => labels[lk] === lv);
  });
}

/** The service a backend name denotes: the service itself (all versions by replicas) or a version's own service. */
function backendVersions(svc: ServiceConfig, name: string): string[] | undefined {
  if (name === svc.name) return Object.keys(svc.versions);
  const own = Object.keys(svc.versions).filter((k) => versionService(svc, k) === name);
  return own.length > 0 ? own : undefined;
}

/** Does a route entry apply to a plain request (no match, or a match any path satisfies)? */
function catchAll(matches: unknown): boolean {
  const ms = arr(matches);
  if (ms.length === 0) return true;
  return ms.some((m) => {
    const r = rec(m);
    const keys = Object.keys(r).filter((k) => k !== "name");
    if (keys.length === 0) return true;
    if (keys.length !== 1) return false;
    const uri = rec(r.uri ?? r.path);
    const prefix = str(uri.prefix) ?? (str(uri.type) === "PathPrefix" ? str(uri.value) : undefined);
    return prefix === "/";
  });
}

function fromVirtualService(svc: ServiceConfig, objs: RouteObjects): Split | undefined {
  const vss = objs.virtualServices
    .filter((vs) => arr(rec(vs.spec).hosts).some((h) => typeof h === "string" && hostMatches(h, nsOf(vs), svc)))
    .filter((vs) => arr(rec(vs.spec).gateways).length === 0 || arr(rec(vs.spec).gateways).includes("mesh"))
    .sort((a, b) => Number(nsOf(b) === svc.namespace) - Number(nsOf(a) === svc.namespace) || idOf(a).localeCompare(idOf(b)));
  const vs = vss[0];
  if (!vs) return undefined;
  const http = arr(rec(vs.spec).http).map(rec);
  const entry = http.find((h) => catchAll(h.match)) ?? http[0];
  if (!entry) return undefined;
  const routes = arr(entry.route).map(rec);
  const drs = objs.destinationRules.filter((dr) => typeof rec(dr.spec).host === "string" && hostMatches(String(rec(dr.spec).host), nsOf(dr), svc));
  const subsets = new Map<string, Record<string, string>>();
  for (const dr of drs) {
    for (const s of arr(rec(dr.spec).subsets).map(rec)) {
      const name = str(s.name);
      if (name && !subsets.has(name)) subsets.set(name, Object.fromEntries(Object.entries(rec(s.labels)).map(([k, v]) => [k, String(v)])));
    }
  }
  const weights: Record<string, number> = {};
  for (const r of routes) {
    const weight = routes.length === 1 ? parseWeight(r.weight, 100) || 100 : parseWeight(r.weight, 0);
    const dest = rec(r.destination);
    const host = str(dest.host) ?? "";
    let versions: string[] | undefined;
    if (hostMatches(host, nsOf(vs), svc)) {
      const subset = str(dest.subset);
      if (subset === undefined) versions = Object.keys(svc.versions);
      else {
        const sel = subsets.get(subset);
        versions = sel ? versionsMatching(svc, sel) : []; // Istio answers 503 for an unknown subset: no version gets it
      }
    } else {
      versions = backendVersions(svc, host.split(".")[0] ?? "");
    }
    if (versions && versions.length > 0) add(weights, byReplicas(svc, versions), weight);
  }
  return { weights: normalize(weights), source: `VirtualService ${idOf(vs)}` };
}

function fromHTTPRoute(svc: ServiceConfig, objs: RouteObjects): Split | undefined {
  const routes = objs.httpRoutes
    .filter((hr) =>
      arr(rec(hr.spec).parentRefs).some((p) => {
        const ref = rec(p);
        const group = str(ref.group) ?? "gateway.networking.k8s.io";
        return (group === "" || group === "core") && str(ref.kind) === "Service" && str(ref.name) === svc.name && (str(ref.namespace) ?? nsOf(hr)) === svc.namespace;
      }),
    )
    .sort((a, b) => idOf(a).localeCompare(idOf(b)));
  const hr = routes[0];
  if (!hr) return undefined;
  const rules = arr(rec(hr.spec).rules).map(rec);
  const rule = rules.find((r) => catchAll(r.matches)) ?? rules[0];
  if (!rule) return undefined;
  const weights: Record<string, number> = {};
  const refs = arr(rule.backendRefs).map(rec);
  // a rule without backendRefs answers 500 in Gateway API; treat it like "no traffic reaches any version"
  for (const ref of refs) {
    if ((str(ref.kind) ?? "Service") !== "Service") continue;
    if ((str(ref.namespace) ?? nsOf(hr)) !== svc.namespace) continue;
    const versions = backendVersions(svc, str(ref.name) ?? "");
    if (versions) add(weights, byReplicas(svc, versions), parseWeight(ref.weight, 1));
  }
  return { weights: normalize(weights), source: `HTTPRoute ${idOf(hr)}` };
}

function fromTrafficSplit(svc: ServiceConfig, objs: RouteObjects): Split | undefined {
  const ts = objs.trafficSplits
    .filter((t) => nsOf(t) === svc.namespace && str(rec(t.spec).service) === svc.name)
    .sort((a, b) => idOf(a).localeCompare(idOf(b)))[0];
  if (!ts) return undefined;
  const weights: Record<string, number> = {};
  for (const b of arr(rec(ts.spec).backends).map(rec)) {
    const versions = backendVersions(svc, str(b.service) ?? "");
    if (versions) add(weights, byReplicas(svc, versions), parseWeight(b.weight, 0));
  }
  return { weights: normalize(weights), source: `TrafficSplit ${idOf(ts)}` };
}

/** The split of a service's traffic over its versions: the first routing kind (in order) that has an object for it, else replicas. */
export function resolveSplit(svc: ServiceConfig, order: RoutingKind[], objs: RouteObjects): Split {
  for (const kind of order) {
    const s = kind === "virtualservice" ? fromVirtualService(svc, objs) : kind === "httproute" ? fromHTTPRoute(svc, objs) : fromTrafficSplit(svc, objs);
    if (s) return s;
  }
  return { weights: normalize(byReplicas(svc)), source: "replicas" };
}
