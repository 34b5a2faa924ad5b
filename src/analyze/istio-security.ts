/** Istio security references: PeerAuthentication selectors, AuthorizationPolicy principals and namespaces, Sidecars without selectors, gateway hosts. */
import { asArr, asObj, asStr } from "../model/core.js";
import { hostMatches } from "../model/hosts.js";
import { workloadsSelectedBy } from "../model/mesh-model.js";
import type { Finding } from "../report/finding.js";
import { findingAt, heldAnywhere, heldIn, missingReference, type Analyzer } from "./analyzer.js";

/** MSH2014: PeerAuthentication selector matches no workload. */
export const peerAuthenticationSelectsNothing: Analyzer = {
  code: "MSH2014",
  severity: "warning",
  title: "PeerAuthentication selector matches no workload",
  explanation:
    "A PeerAuthentication with a selector sets the mTLS mode of the workloads in its namespace whose labels match, overriding the namespace and mesh policy. When none matches, the override applies to nothing: a STRICT meant to lock a workload down, or a PERMISSIVE port meant to let a probe through, has no effect. Fix the selector. Checked only when the repository holds workloads.",
  run(model) {
    const out: Finding[] = [];
    if (model.workloads.length === 0) return out;
    for (const pa of model.istio.peerAuthentications) {
      if (!pa.selector) continue;
      if (workloadsSelectedBy(model, pa.namespace, pa.selector).length === 0)
        out.push(findingAt(this, pa.source, `selector ${Object.entries(pa.selector).map(([k, v]) => `${k}=${v}`).join(",")} matches no workload in namespace ${pa.namespace}`, { path: ["spec", "selector"] }));
    }
    return out;
  },
};

/** MSH2015: More than one Sidecar without workloadSelector in a namespace. */
export const multipleSidecarsWithoutSelector: Analyzer = {
  code: "MSH2015",
  severity: "error",
  istio: "IST0111",
  title: "More than one Sidecar without workloadSelector in a namespace",
  explanation:
    "A namespace may have one Sidecar without workloadSelector, which then applies to every proxy in it. With two, Istio picks one of them and ignores the other, so egress restrictions or ingress settings apply unpredictably. Merge them, or give all but one a workloadSelector.",
  run(model) {
    const out: Finding[] = [];
    const byNs = new Map<string, typeof model.istio.sidecars>();
    for (const s of model.istio.sidecars) if (!s.selector) byNs.set(s.namespace, [...(byNs.get(s.namespace) ?? []), s]);
    for (const [ns, list] of byNs) {
      if (list.length < 2) continue;
      for (const s of list) out.push(findingAt(this, s.source, `namespace ${ns} has ${list.length} Sidecars without workloadSelector (${list.map((x) => x.name).join(", ")}); Istio uses only one`));
    }
    return out;
  },
};

/** The rules[].from[].source blocks of a policy with their field paths. */
function sources(rules: Record<string, unknown>[]): { source: Record<string, unknown>; path: (string | number)[] }[] {
  return rules.flatMap((r, i) => asArr(r.from).map((f, j) => ({ source: asObj(asObj(f).source), path: ["spec", "rules", i, "from", j, "source"] })));
}

/** MSH2016: AuthorizationPolicy principal names a ServiceAccount that does not exist. */
export const principalNotFound: Analyzer = {
  code: "MSH2016",
  severity: "error",
  title: "AuthorizationPolicy principal names a ServiceAccount that does not exist",
  explanation:
    "An AuthorizationPolicy source principal is a workload identity, <trust domain>/ns/<namespace>/sa/<service account>. When that ServiceAccount does not exist, no workload can have the identity: an ALLOW for it admits nobody (the caller meant to be allowed is denied), a DENY for it protects against nobody. Fix the namespace or account name. When the repository holds no ServiceAccounts at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const ap of model.istio.authorizationPolicies)
      for (const s of sources(ap.rules))
        asArr(s.source.principals).forEach((p, k) => {
          const m = typeof p === "string" && !p.includes("*") ? /^[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(p) : null;
          if (!m?.[1] || !m[2] || m[2] === "default") return;
          const [ns, sa] = [m[1], m[2]];
          if (model.serviceAccounts.some((x) => x.namespace === ns && x.name === sa)) return;
          out.push(...missingReference(this, ctx, { manifest: ap.source.manifest, path: [...s.path, "principals", k] }, `principal ${p as string} names ServiceAccount ${ns}/${sa}, which does not exist`, heldIn(model, "", "ServiceAccount", ns, "ServiceAccounts")));
        });
    return out;
  },
};

/** MSH2017: AuthorizationPolicy source namespace does not exist. */
export const sourceNamespaceNotFound: Analyzer = {
  code: "MSH2017",
  // Namespaces are cluster infrastructure, often created outside the mesh repository: a warning even when the repository holds some.
  severity: "warning",
  title: "AuthorizationPolicy source namespace does not exist",
  explanation:
    "An AuthorizationPolicy rule can match callers by namespace (from.source.namespaces). A namespace that does not exist matches nobody, so an ALLOW admits no one from it and a DENY blocks no one, usually because of a typo or a renamed namespace. When the repository holds no Namespace objects at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    const held = heldAnywhere(model, "", "Namespace", "Namespaces");
    for (const ap of model.istio.authorizationPolicies)
      for (const s of sources(ap.rules))
        asArr(s.source.namespaces).forEach((n, k) => {
          const name = asStr(n);
          if (!name || name.includes("*") || model.namespaces.has(name) || name === ap.namespace) return;
          out.push(...missingReference(this, ctx, { manifest: ap.source.manifest, path: [...s.path, "namespaces", k] }, `source namespace ${name} does not exist`, held));
        });
    return out;
  },
};

/** MSH2018: VirtualService host not served by its gateway. */
export const hostNotInGateway: Analyzer = {
  code: "MSH2018",
  severity: "warning",
  istio: "IST0132",
  title: "VirtualService host not served by its gateway",
  explanation:
    "A VirtualService bound to an ingress or egress Gateway applies only to the hosts that the Gateway's servers accept. A VirtualService host that no server host of the Gateway matches (exactly or by wildcard) is never routed through that Gateway, so requests for it get 404 from the gateway. Add the host to the Gateway's servers, or fix the VirtualService host.",
  run(model) {
    const out: Finding[] = [];
    for (const vs of model.istio.virtualServices)
      for (const g of vs.gateways) {
        if (g.name === "mesh") continue;
        const key = g.name.includes("/") ? g.name : g.name.includes(".") ? `${g.name.split(".")[1] ?? ""}/${g.name.split(".")[0] ?? ""}` : `${vs.namespace}/${g.name}`;
        const gw = model.istio.gateways.find((x) => `${x.namespace}/${x.name}` === key);
        if (!gw) continue;
        const missing = vs.hosts.filter((h) => !gw.hosts.some((gh) => hostMatches(gh, h) || hostMatches(h, gh)));
        if (missing.length) out.push(findingAt(this, g.source, `host${missing.length > 1 ? "s" : ""} ${missing.join(", ")} not served by Gateway ${key} (hosts ${gw.hosts.join(", ")})`));
      }
    return out;
  },
};
