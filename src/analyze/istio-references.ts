/** Istio references: VirtualService destination hosts, subsets and gateways that do not exist. */
import { hostMatches, serviceOfHost } from "../model/hosts.js";
import type { MeshModel } from "../model/mesh-model.js";
import type { RouteDestination, VirtualServiceView } from "../model/istio.js";
import type { Finding } from "../report/finding.js";
import { heldIn, missingReference, type Analyzer, type Held } from "./analyzer.js";

function allDestinations(vs: VirtualServiceView): RouteDestination[] {
  return [...vs.http.flatMap((r) => [...r.destinations, ...(r.mirror ? [r.mirror] : [])]), ...vs.otherDestinations];
}

/** Is the host a Service of the model or a ServiceEntry host (wildcards allowed)? */
function hostKnown(model: MeshModel, host: string): boolean {
  return model.services.has(host) || model.istio.serviceEntries.some((se) => se.hosts.some((h) => hostMatches(h, host)));
}

/** MSH2001: VirtualService destination host not found. */
export const destinationHostNotFound: Analyzer = {
  code: "MSH2001",
  severity: "error",
  istio: "IST0101",
  title: "VirtualService destination host not found",
  explanation:
    "A VirtualService routes to a destination host that is neither a Kubernetes Service nor a ServiceEntry host. Istio resolves short names with the VirtualService's namespace (reviews in bookinfo is reviews.bookinfo.svc.cluster.local), so a typo or a wrong namespace silently sends the traffic nowhere: clients get 503 (no healthy upstream). When the repository holds no Services and no ServiceEntries at all, the Service probably lives elsewhere and the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const vs of model.istio.virtualServices) {
      for (const d of allDestinations(vs)) {
        if (hostKnown(model, d.host)) continue;
        // A cluster Service counts as knowable when the repository holds Services (or ServiceEntries) in its namespace; an external host when it holds any ServiceEntry.
        const svc = serviceOfHost(d.host, model.options.clusterDomain);
        let held: Held;
        if (svc) {
          const services = heldIn(model, "", "Service", svc.namespace, "Services");
          held = { ...services, any: services.any || model.kindsInNamespace.has(`networking.istio.io/ServiceEntry/${svc.namespace}`), plural: `Services or ServiceEntries in namespace ${svc.namespace}` };
        } else held = { any: model.istio.serviceEntries.length > 0, plural: "ServiceEntries" };
        out.push(...missingReference(this, ctx, d.source, `destination host "${d.rawHost}" (${d.host}) is not a Service or ServiceEntry host`, held, ["host"]));
      }
    }
    return out;
  },
};

/** MSH2002: VirtualService subset not defined by any DestinationRule. */
export const subsetNotFound: Analyzer = {
  code: "MSH2002",
  severity: "error",
  istio: "IST0101",
  title: "VirtualService subset not defined by any DestinationRule",
  explanation:
    "A VirtualService route names a subset (such as v2) that no DestinationRule for the destination host defines. Envoy then has no cluster for the subset and every request on that route fails with 503 (no healthy upstream). Define the subset in the host's DestinationRule, or apply the DestinationRule before the VirtualService. When the repository holds no DestinationRules at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    const held = { any: model.istio.destinationRules.length > 0, plural: "DestinationRules" };
    for (const vs of model.istio.virtualServices) {
      for (const d of allDestinations(vs)) {
        if (!d.subset) continue;
        const defined = model.istio.destinationRules.some((dr) => hostMatches(dr.host, d.host) && dr.subsets.some((s) => s.name === d.subset));
        if (!defined) out.push(...missingReference(this, ctx, d.source, `subset "${d.subset}" of host ${d.host} is not defined by any DestinationRule`, held, ["subset"]));
      }
    }
    return out;
  },
};

/** "ns/name", "name" (the VirtualService's namespace) or the older "name.ns.svc.cluster.local". */
function gatewayKey(ref: string, ns: string): string {
  if (ref.includes("/")) return ref;
  const parts = ref.split(".");
  return parts.length > 1 ? `${parts[1]}/${parts[0]}` : `${ns}/${ref}`;
}

/** MSH2003: VirtualService gateway not found. */
export const gatewayNotFound: Analyzer = {
  code: "MSH2003",
  severity: "error",
  istio: "IST0101",
  title: "VirtualService gateway not found",
  explanation:
    "A VirtualService binds to a gateway (spec.gateways) that is not an Istio Gateway: a name without a namespace means the VirtualService's own namespace, and the reserved name mesh means all sidecars. Routes bound to a missing gateway are never programmed, so the traffic they were meant to handle falls through to other rules or is refused. When the repository holds no Istio Gateways at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    const known = new Set(model.istio.gateways.map((g) => `${g.namespace}/${g.name}`));
    for (const vs of model.istio.virtualServices) {
      for (const g of vs.gateways) {
        if (g.name === "mesh" || known.has(gatewayKey(g.name, vs.namespace))) continue;
        out.push(...missingReference(this, ctx, g.source, `gateway "${g.name}" is not an Istio Gateway (looked for ${gatewayKey(g.name, vs.namespace)})`, heldIn(model, "networking.istio.io", "Gateway", gatewayKey(g.name, vs.namespace).split("/")[0] ?? "", "Istio Gateways")));
      }
    }
    return out;
  },
};
