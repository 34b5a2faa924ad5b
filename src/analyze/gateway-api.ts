/** Gateway API references: parentRefs and backendRefs to missing objects, cross-namespace backendRefs without a ReferenceGrant. */
import { GATEWAY_GROUP, referenceGranted } from "../model/gateway-api.js";
import type { Finding } from "../report/finding.js";
import { findingAt, heldIn, missingReference, type Analyzer } from "./analyzer.js";

/** MSH3001: Route parentRef to a missing Gateway or Service. */
export const parentNotFound: Analyzer = {
  code: "MSH3001",
  severity: "error",
  title: "Route parentRef to a missing Gateway or Service",
  explanation:
    "A Gateway API route attaches to its parents (a Gateway, or a Service for mesh routing as in GAMMA) through spec.parentRefs; a parentRef without a namespace means the route's namespace. When the parent does not exist the route is not accepted (status Accepted=False) and none of its rules take effect. When the repository holds no object of the parent's kind at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    const gateways = new Set(model.gatewayApi.gateways.map((g) => `${g.namespace}/${g.name}`));
    for (const rt of model.gatewayApi.routes) {
      for (const p of rt.parentRefs) {
        if (p.kind === "Gateway" && p.group === GATEWAY_GROUP) {
          if (!gateways.has(`${p.namespace}/${p.name}`))
            out.push(...missingReference(this, ctx, p.source, `parent Gateway ${p.namespace}/${p.name} does not exist`, heldIn(model, GATEWAY_GROUP, "Gateway", p.namespace, "Gateway API Gateways"), ["name"]));
        } else if (p.kind === "Service" && p.group === "") {
          if (!model.servicesByName.has(`${p.namespace}/${p.name}`))
            out.push(...missingReference(this, ctx, p.source, `parent Service ${p.namespace}/${p.name} does not exist`, heldIn(model, "", "Service", p.namespace, "Services"), ["name"]));
        }
      }
    }
    return out;
  },
};

/** MSH3002: Route backendRef to a missing Service. */
export const backendNotFound: Analyzer = {
  code: "MSH3002",
  severity: "error",
  title: "Route backendRef to a missing Service",
  explanation:
    "A Gateway API route rule forwards to backendRefs, by default Services in the route's namespace. A backendRef to a Service that does not exist makes the implementation answer that share of requests with 500 (ResolvedRefs=False, reason BackendNotFound), while the other backends keep their weights. When the repository holds no Services at all, the Service probably lives elsewhere and the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const rt of model.gatewayApi.routes) {
      for (const rule of rt.rules) {
        for (const b of rule.backendRefs) {
          if (b.kind !== "Service" || b.group !== "") continue;
          if (!model.servicesByName.has(`${b.namespace}/${b.name}`))
            out.push(...missingReference(this, ctx, b.source, `backend Service ${b.namespace}/${b.name} does not exist`, heldIn(model, "", "Service", b.namespace, "Services"), ["name"]));
        }
      }
    }
    return out;
  },
};

/** MSH3003: Cross-namespace backendRef without a ReferenceGrant. */
export const crossNamespaceWithoutGrant: Analyzer = {
  code: "MSH3003",
  severity: "error",
  title: "Cross-namespace backendRef without a ReferenceGrant",
  explanation:
    "A route may forward to a backend in another namespace only if a ReferenceGrant in the backend's namespace allows routes of that kind from the route's namespace (https://gateway-api.sigs.k8s.io/api-types/referencegrant/). Without one the reference is refused (ResolvedRefs=False, reason RefNotPermitted) and the requests for that backend fail. Add the ReferenceGrant next to the backend, or move the route.",
  run(model) {
    const out: Finding[] = [];
    for (const rt of model.gatewayApi.routes) {
      for (const rule of rt.rules) {
        for (const b of rule.backendRefs) {
          if (b.namespace === rt.namespace) continue;
          if (!referenceGranted(model.gatewayApi.referenceGrants, { group: GATEWAY_GROUP, kind: rt.kind, namespace: rt.namespace }, b))
            out.push(findingAt(this, b.source, `backend ${b.kind} ${b.namespace}/${b.name} is in another namespace and no ReferenceGrant in ${b.namespace} allows ${rt.kind}s from ${rt.namespace}`, { path: ["namespace"] }));
        }
      }
    }
    return out;
  },
};
