/** Core and cross-mesh rules: Services selecting nothing, missing ServiceAccounts, workloads outside the mesh that mesh policy expects inside. */
import type { Finding } from "../report/finding.js";
import { findingAt, heldIn, missingReference, type Analyzer } from "./analyzer.js";

/** MSH5001: Service selector matches no workload. */
export const serviceSelectsNothing: Analyzer = {
  code: "MSH5001",
  severity: "warning",
  title: "Service selector matches no workload",
  explanation:
    "A Service with a selector sends traffic to the pods in its namespace whose labels match. When none of the workloads in the namespace matches, the Service has no endpoints, and every route to it (VirtualService, HTTPRoute, TrafficSplit) fails. Checked only for namespaces where the repository holds workloads, since the pods may be deployed from elsewhere.",
  run(model) {
    const out: Finding[] = [];
    const nsWithWorkloads = new Set(model.workloads.map((w) => w.namespace));
    for (const svc of model.services.values()) {
      const sel = svc.selector;
      if (!sel || Object.keys(sel).length === 0 || !nsWithWorkloads.has(svc.namespace) || svc.workloads.length > 0) continue;
      out.push(findingAt(this, svc.source, `selector ${Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(",")} matches none of the workloads in namespace ${svc.namespace}`, { path: ["spec", "selector"] }));
    }
    return out;
  },
};

/** MSH5002: Workload ServiceAccount not found. */
export const serviceAccountNotFound: Analyzer = {
  code: "MSH5002",
  severity: "error",
  title: "Workload ServiceAccount not found",
  explanation:
    "A workload runs as the ServiceAccount named in its pod spec, and that account is its mesh identity (spiffe://<trust domain>/ns/<namespace>/sa/<name> in Istio, the Linkerd identity likewise). When the account does not exist the pods are not created, and authorization policies written for that identity never match. When the repository holds no ServiceAccounts at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const w of model.workloads) {
      if (w.serviceAccount === "default") continue;
      if (model.serviceAccounts.some((sa) => sa.namespace === w.namespace && sa.name === w.serviceAccount)) continue;
      out.push(...missingReference(this, ctx, w.source, `ServiceAccount ${w.namespace}/${w.serviceAccount} does not exist`, heldIn(model, "", "ServiceAccount", w.namespace, "ServiceAccounts"), ["spec", "serviceAccountName"]));
    }
    return out;
  },
};

/** MSH5003: Istio policy in a namespace without sidecar injection. */
export const namespaceNotInjected: Analyzer = {
  code: "MSH5003",
  severity: "warning",
  istio: "IST0102",
  title: "Istio policy in a namespace without sidecar injection",
  explanation:
    "Istio routing and security (VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy) act only on pods that carry the sidecar. When the repository defines such policy in a namespace whose Namespace object enables no injection (istio-injection=enabled or istio.io/rev) and whose workloads do not ask for it themselves (sidecar.istio.io/inject), the policy does nothing for them and their traffic is plaintext. Enable injection on the namespace, or remove the policy.",
  run(model) {
    const out: Finding[] = [];
    for (const ns of model.namespaces.values()) {
      const workloads = model.workloads.filter((w) => w.namespace === ns.name);
      if (workloads.length === 0) continue;
      const istioPolicy =
        [...model.istio.virtualServices, ...model.istio.destinationRules].some((o) => o.namespace === ns.name) ||
        [...model.istio.peerAuthentications, ...model.istio.authorizationPolicies].some((o) => o.namespace === ns.name);
      const istioOn = ns.istioInjection === "enabled" || (ns.istioRevision !== undefined && ns.istioInjection !== "disabled");
      if (istioPolicy && !istioOn) {
        const bare = workloads.filter((w) => w.labels["sidecar.istio.io/inject"] !== "true" && w.annotations["sidecar.istio.io/inject"] !== "true");
        if (bare.length) out.push(findingAt(this, ns.source, `namespace ${ns.name} has Istio policy but no sidecar injection (istio-injection=enabled or istio.io/rev) for ${bare.map((w) => `${w.kind}/${w.name}`).join(", ")}`, { path: ["metadata"] }));
      }
    }
    return out;
  },
};
