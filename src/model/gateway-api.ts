/** Typed views of the Gateway API kinds: Gateway, HTTPRoute / GRPCRoute (and the other routes), ReferenceGrant. */
import { asArr, asNum, asObj, asStr, asStrMap, namespaceOf, type Source } from "./core.js";
import type { Manifest } from "./resource.js";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** A reference from a route to its parent (a Gateway, or a Service for mesh routing). */
export interface ParentRefView {
  group: string;
  kind: string;
  name: string;
  namespace: string;
  sectionName?: string;
  port?: number;
  source: Source;
}

/** A backendRef with defaults applied (group "", kind Service, the route's namespace, weight 1). */
export interface BackendRefView {
  group: string;
  kind: string;
  name: string;
  namespace: string;
  port?: number;
  weight: number;
  source: Source;
}

/** One route rule, in order. */
export interface RouteRuleView {
  index: number;
  matches: Record<string, unknown>[];
  backendRefs: BackendRefView[];
  source: Source;
}

/** An HTTPRoute, GRPCRoute, TLSRoute, TCPRoute or UDPRoute of the Gateway API. */
export interface GatewayRouteView {
  kind: string;
  name: string;
  namespace: string;
  hostnames: string[];
  parentRefs: ParentRefView[];
  rules: RouteRuleView[];
  source: Source;
}

/** A Gateway listener and which namespaces' routes it admits (allowedRoutes.namespaces.from, default Same). */
export interface ListenerView {
  name: string;
  port?: number;
  protocol?: string;
  hostname?: string;
  allowedFrom: "Same" | "All" | "Selector";
  /** matchLabels of allowedRoutes.namespaces.selector. */
  allowedSelector?: Record<string, string>;
  source: Source;
}

/** A Gateway API Gateway. */
export interface GatewayView {
  name: string;
  namespace: string;
  gatewayClassName: string;
  listeners: ListenerView[];
  source: Source;
}

/** A ReferenceGrant: lets objects `from` another namespace refer to objects `to` in this one. */
export interface ReferenceGrantView {
  name: string;
  namespace: string;
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
  source: Source;
}

/** Core group spelled "" or "core". */
export function normalGroup(g: string | undefined): string {
  return g === undefined || g === "core" ? "" : g;
}

/** Reads a Gateway API route. */
export function gatewayRouteView(m: Manifest): GatewayRouteView {
  const spec = asObj(m.object.spec);
  const ns = namespaceOf(m);
  const parentRefs: ParentRefView[] = asArr(spec.parentRefs).map((p, i) => {
    const o = asObj(p);
    const sectionName = asStr(o.sectionName);
    const port = asNum(o.port);
    return {
      group: o.group === undefined ? GATEWAY_GROUP : normalGroup(asStr(o.group)),
      kind: asStr(o.kind) ?? "Gateway",
      name: asStr(o.name) ?? "",
      namespace: asStr(o.namespace) ?? ns,
      ...(sectionName ? { sectionName } : {}),
      ...(port !== undefined ? { port } : {}),
      source: { manifest: m, path: ["spec", "parentRefs", i] },
    };
  });
  const rules: RouteRuleView[] = asArr(spec.rules).map((r, i) => {
    const o = asObj(r);
    const backendRefs = asArr(o.backendRefs).map((b, j) => {
      const bo = asObj(b);
      const port = asNum(bo.port);
      return {
        group: normalGroup(asStr(bo.group)),
        kind: asStr(bo.kind) ?? "Service",
        name: asStr(bo.name) ?? "",
        namespace: asStr(bo.namespace) ?? ns,
        ...(port !== undefined ? { port } : {}),
        weight: asNum(bo.weight) ?? 1,
        source: { manifest: m, path: ["spec", "rules", i, "backendRefs", j] },
      };
    });
    return { index: i, matches: asArr(o.matches).map(asObj), backendRefs, source: { manifest: m, path: ["spec", "rules", i] } };
  });
  const hostnames = asArr(spec.hostnames).flatMap((h) => (typeof h === "string" ? [h] : []));
  return { kind: m.ref.kind, name: m.ref.name, namespace: ns, hostnames, parentRefs, rules, source: { manifest: m, path: [] } };
}

/** Reads a Gateway API Gateway. */
export function gatewayView(m: Manifest): GatewayView {
  const spec = asObj(m.object.spec);
  const listeners = asArr(spec.listeners).map((l, i): ListenerView => {
    const o = asObj(l);
    const port = asNum(o.port);
    const protocol = asStr(o.protocol);
    const hostname = asStr(o.hostname);
    const ns = asObj(asObj(o.allowedRoutes).namespaces);
    const from = asStr(ns.from);
    const allowedFrom: ListenerView["allowedFrom"] = from === "All" || from === "Selector" ? from : "Same";
    return {
      name: asStr(o.name) ?? "",
      ...(port !== undefined ? { port } : {}),
      ...(protocol ? { protocol } : {}),
      ...(hostname ? { hostname } : {}),
      allowedFrom,
      ...(allowedFrom === "Selector" && ns.selector !== undefined ? { allowedSelector: asStrMap(asObj(ns.selector).matchLabels) } : {}),
      source: { manifest: m, path: ["spec", "listeners", i] },
    };
  });
  return { name: m.ref.name, namespace: namespaceOf(m), gatewayClassName: asStr(spec.gatewayClassName) ?? "", listeners, source: { manifest: m, path: [] } };
}

/** Reads a ReferenceGrant. */
export function referenceGrantView(m: Manifest): ReferenceGrantView {
  const spec = asObj(m.object.spec);
  const from = asArr(spec.from).map((f) => {
    const o = asObj(f);
    return { group: normalGroup(asStr(o.group)), kind: asStr(o.kind) ?? "", namespace: asStr(o.namespace) ?? "" };
  });
  const to = asArr(spec.to).map((t) => {
    const o = asObj(t);
    const name = asStr(o.name);
    return { group: normalGroup(asStr(o.group)), kind: asStr(o.kind) ?? "", ...(name ? { name } : {}) };
  });
  return { name: m.ref.name, namespace: namespaceOf(m), from, to, source: { manifest: m, path: [] } };
}

/** Does a ReferenceGrant in the target's namespace allow `from` to refer to the target? */
export function referenceGranted(grants: readonly ReferenceGrantView[], from: { group: string; kind: string; namespace: string }, to: { group: string; kind: string; name: string; namespace: string }): boolean {
  return grants.some(
    (g) =>
      g.namespace === to.namespace &&
      g.from.some((f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace) &&
      g.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === to.name)),
  );
}
