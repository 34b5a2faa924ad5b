/** Gateway API attachment: backend ports, and listeners that do not admit a route's namespace. */
import { selectorMatches } from "../model/core.js";
import { GATEWAY_GROUP } from "../model/gateway-api.js";
import type { Finding } from "../report/finding.js";
import { findingAt, type Analyzer } from "./analyzer.js";

/** MSH3004: Route backendRef port is not a port of the Service. */
export const backendPortNotFound: Analyzer = {
  code: "MSH3004",
  severity: "error",
  title: "Route backendRef port is not a port of the Service",
  explanation:
    "A backendRef to a Service names one of the Service's ports (its port, not the targetPort). When the Service has no such port the backend is invalid (ResolvedRefs=False) and its share of requests fails. Use one of the Service's ports.",
  run(model) {
    const out: Finding[] = [];
    for (const rt of model.gatewayApi.routes)
      for (const rule of rt.rules)
        for (const b of rule.backendRefs) {
          if (b.kind !== "Service" || b.group !== "" || b.port === undefined) continue;
          const svc = model.servicesByName.get(`${b.namespace}/${b.name}`);
          if (!svc || svc.ports.some((p) => p.port === b.port)) continue;
          out.push(findingAt(this, b.source, `port ${b.port} is not a port of Service ${svc.namespace}/${svc.name} (${svc.ports.map((p) => p.port).join(", ") || "none"})`, { path: ["port"] }));
        }
    return out;
  },
};

/** MSH3005: No listener of the parent Gateway admits routes from the route's namespace. */
export const listenerRejectsNamespace: Analyzer = {
  code: "MSH3005",
  severity: "error",
  title: "No listener of the parent Gateway admits routes from the route's namespace",
  explanation:
    "A Gateway listener admits routes only from the namespaces its allowedRoutes.namespaces.from says: Same (the default, the Gateway's own namespace), All, or Selector (namespaces with matching labels). A route in another namespace that attaches to a listener admitting only Same is not accepted (Accepted=False, NotAllowedByListeners) and receives no traffic. Set allowedRoutes on the listener, or move the route.",
  run(model) {
    const out: Finding[] = [];
    for (const rt of model.gatewayApi.routes)
      for (const p of rt.parentRefs) {
        if (p.kind !== "Gateway" || p.group !== GATEWAY_GROUP) continue;
        const gw = model.gatewayApi.gateways.find((g) => g.namespace === p.namespace && g.name === p.name);
        if (!gw) continue;
        const listeners = gw.listeners.filter((l) => (p.sectionName === undefined || l.name === p.sectionName) && (p.port === undefined || l.port === p.port));
        if (listeners.length === 0) continue;
        const nsLabels = model.namespaces.get(rt.namespace)?.labels;
        const admits = listeners.some(
          (l) =>
            l.allowedFrom === "All" ||
            (l.allowedFrom === "Same" && rt.namespace === gw.namespace) ||
            // A selector over a namespace the repository does not hold cannot be decided here.
            (l.allowedFrom === "Selector" && (nsLabels === undefined || selectorMatches(l.allowedSelector ?? {}, { ...nsLabels, "kubernetes.io/metadata.name": rt.namespace }))),
        );
        if (!admits) out.push(findingAt(this, p.source, `no listener of Gateway ${gw.namespace}/${gw.name}${p.sectionName ? ` (section ${p.sectionName})` : ""} admits ${rt.kind}s from namespace ${rt.namespace}`));
      }
    return out;
  },
};

/** Gateway API hostname intersection: equal, or one a wildcard (*.example.com) covering the other. */
function hostnamesIntersect(a: string, b: string): boolean {
  return a === b || (a.startsWith("*.") && b.endsWith(a.slice(1))) || (b.startsWith("*.") && a.endsWith(b.slice(1)));
}

/** MSH3006: Route hostnames match no listener of the parent Gateway. */
export const noListenerHostname: Analyzer = {
  code: "MSH3006",
  severity: "error",
  title: "Route hostnames match no listener of the parent Gateway",
  explanation:
    "A route with hostnames attaches only to Gateway listeners whose hostname intersects one of them (a listener without hostname accepts any). When none intersects, the route is not accepted (Accepted=False, NoMatchingListenerHostname) and its rules receive no traffic. Fix the route's hostnames, or the listener's hostname.",
  run(model) {
    const out: Finding[] = [];
    for (const rt of model.gatewayApi.routes) {
      if (rt.hostnames.length === 0) continue;
      for (const p of rt.parentRefs) {
        if (p.kind !== "Gateway" || p.group !== GATEWAY_GROUP) continue;
        const gw = model.gatewayApi.gateways.find((g) => g.namespace === p.namespace && g.name === p.name);
        if (!gw) continue;
        const listeners = gw.listeners.filter((l) => (p.sectionName === undefined || l.name === p.sectionName) && (p.port === undefined || l.port === p.port));
        if (listeners.length === 0 || listeners.some((l) => l.hostname === undefined || rt.hostnames.some((h) => hostnamesIntersect(h, l.hostname ?? "")))) continue;
        out.push(findingAt(this, p.source, `hostnames ${rt.hostnames.join(", ")} match no listener hostname of Gateway ${gw.namespace}/${gw.name} (${listeners.map((l) => l.hostname).join(", ")})`));
      }
    }
    return out;
  },
};
