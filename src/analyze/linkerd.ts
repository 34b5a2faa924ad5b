/** Linkerd: Servers whose port no pod has, AuthorizationPolicy targets that do not exist, ServiceProfiles not named by FQDN. */
import { asObj, asStr } from "../model/core.js";
import { serviceOfHost } from "../model/hosts.js";
import { linkerdInjected, objectKey, workloadsSelectedBy } from "../model/mesh-model.js";
import type { Finding } from "../report/finding.js";
import { findingAt, heldIn, missingReference, type Analyzer } from "./analyzer.js";

/** MSH4001: Linkerd Server port matches no container port. */
export const serverPortNotOnPods: Analyzer = {
  code: "MSH4001",
  severity: "error",
  title: "Linkerd Server port matches no container port",
  explanation:
    "A Linkerd Server describes one port (a number or a container port name) of the pods its podSelector picks, and the authorization policies attached to it apply only to that port. When none of the selected pods declares the port, the Server and its policies never apply and the port keeps the default inbound policy. Fix the port, or declare it in the pod template. Checked only when the selected workloads are in the repository.",
  run(model) {
    const out: Finding[] = [];
    for (const s of model.linkerd.servers) {
      if (!s.podSelector || s.hasExpressions || s.port === undefined) continue;
      const pods = workloadsSelectedBy(model, s.namespace, s.podSelector);
      if (pods.length === 0) continue;
      const port = s.port;
      const has = pods.some((w) => w.ports.some((p) => (typeof port === "number" ? p.containerPort === port : p.name === port)));
      if (!has) out.push(findingAt(this, s.source, `port ${String(port)} is not a container port of the selected workloads (${pods.map((w) => `${w.kind}/${w.name}`).join(", ")})`, { path: ["spec", "port"] }));
    }
    return out;
  },
};

/** MSH4002: Linkerd AuthorizationPolicy target not found. */
export const authorizationTargetNotFound: Analyzer = {
  code: "MSH4002",
  severity: "error",
  title: "Linkerd AuthorizationPolicy target not found",
  explanation:
    "A Linkerd AuthorizationPolicy grants access to its targetRef: a Server, an HTTPRoute or GRPCRoute, or the whole Namespace. When the target does not exist the policy authorizes nothing, and clients that were meant to be allowed are denied by the default policy. Fix the target's name or kind. When the repository holds no object of the target's kind at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const ap of model.linkerd.authorizationPolicies) {
      const t = ap.targetRef;
      if (t.kind === "Namespace" || !t.kind) continue;
      const group = t.group === "core" ? "" : t.group;
      if (model.identities.has(objectKey(group, t.kind, t.namespace, t.name))) continue;
      out.push(...missingReference(this, ctx, t.source, `target ${t.kind} ${t.namespace}/${t.name} does not exist`, heldIn(model, group, t.kind, t.namespace, `${t.kind}s`), ["name"]));
    }
    return out;
  },
};

/** MSH4003: ServiceProfile not named by the Service's FQDN. */
export const serviceProfileNotFqdn: Analyzer = {
  code: "MSH4003",
  severity: "error",
  title: "ServiceProfile not named by the Service's FQDN",
  explanation:
    "Linkerd finds the ServiceProfile for a request by the fully qualified name of the Service being called (web-svc.emojivoto.svc.cluster.local); a ServiceProfile named web-svc or web-svc.emojivoto is never used, so its routes, retries and timeouts silently do nothing. Name it <service>.<namespace>.svc.<cluster domain>, or by the external FQDN for an external service.",
  run(model) {
    const out: Finding[] = [];
    const suffix = `.svc.${model.options.clusterDomain}`;
    for (const sp of model.linkerd.serviceProfiles) {
      const dots = sp.name.split(".").length - 1;
      if (sp.name.endsWith(suffix) ? dots >= suffix.split(".").length : dots >= 2 && !sp.name.endsWith(".svc")) continue;
      out.push(findingAt(this, sp.source, `ServiceProfile name "${sp.name}" is not a fully qualified name; expected ${sp.name.split(".")[0] ?? sp.name}.${sp.namespace}${suffix}`));
    }
    return out;
  },
};

/** MSH4004: Linkerd Server selects no pod. */
export const serverSelectsNothing: Analyzer = {
  code: "MSH4004",
  severity: "warning",
  title: "Linkerd Server selects no pod",
  explanation:
    "A Linkerd Server applies to the pods in its namespace that its podSelector matches. When none matches, the Server and every AuthorizationPolicy or ServerAuthorization attached to it protect nothing, usually because of a label typo. Fix the podSelector. Checked only when the repository holds workloads.",
  run(model) {
    const out: Finding[] = [];
    if (model.workloads.length === 0) return out;
    for (const s of model.linkerd.servers) {
      if (!s.podSelector || s.hasExpressions) continue;
      if (workloadsSelectedBy(model, s.namespace, s.podSelector).length === 0)
        out.push(findingAt(this, s.source, `podSelector ${Object.entries(s.podSelector).map(([k, v]) => `${k}=${v}`).join(",") || "(all pods)"} matches no workload in namespace ${s.namespace}`, { path: ["spec", "podSelector"] }));
    }
    return out;
  },
};

/** MSH4005: TrafficSplit service or backend not found. */
export const trafficSplitServiceNotFound: Analyzer = {
  code: "MSH4005",
  severity: "error",
  title: "TrafficSplit service or backend not found",
  explanation:
    "An SMI TrafficSplit splits the traffic addressed to its apex service (spec.service) across backend Services in the same namespace. A missing apex means the split never applies; a missing backend receives its share of requests and fails them. When the repository holds no Services at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    const has = (ns: string, name: string): boolean => model.servicesByName.has(`${ns}/${name}`);
    for (const ts of model.linkerd.trafficSplits) {
      const held = heldIn(model, "", "Service", ts.namespace, "Services");
      if (ts.service && !has(ts.namespace, ts.service)) out.push(...missingReference(this, ctx, ts.source, `apex Service ${ts.namespace}/${ts.service} does not exist`, held, ["spec", "service"]));
      for (const b of ts.backends) if (b.service && !has(ts.namespace, b.service)) out.push(...missingReference(this, ctx, b.source, `backend Service ${ts.namespace}/${b.service} does not exist`, held, ["service"]));
    }
    return out;
  },
};

/** MSH4006: Linkerd Server selects pods without the Linkerd proxy. */
export const serverOnUnmeshedPods: Analyzer = {
  code: "MSH4006",
  severity: "warning",
  title: "Linkerd Server selects pods without the Linkerd proxy",
  explanation:
    "Linkerd policy (Server, AuthorizationPolicy, ServerAuthorization) is enforced by the proxy in each pod. A Server whose podSelector picks workloads that get no proxy (neither the pod template nor the namespace sets linkerd.io/inject: enabled) enforces nothing on them, and their traffic is neither authenticated nor encrypted. Enable injection, or remove the Server. Checked when the repository holds the workloads and their Namespace.",
  run(model) {
    const out: Finding[] = [];
    for (const s of model.linkerd.servers) {
      const sel = s.podSelector;
      if (!sel || s.hasExpressions || !model.namespaces.has(s.namespace)) continue;
      const bare = workloadsSelectedBy(model, s.namespace, sel).filter((w) => !linkerdInjected(model, w));
      if (bare.length) out.push(findingAt(this, s.source, `selects ${bare.map((w) => `${w.kind}/${w.name}`).join(", ")}, which get no Linkerd proxy (linkerd.io/inject on the pod template or namespace ${s.namespace})`, { path: ["spec", "podSelector"] }));
    }
    return out;
  },
};

/** MSH4007: ServerAuthorization names a Server that does not exist. */
export const serverAuthorizationServerNotFound: Analyzer = {
  code: "MSH4007",
  severity: "error",
  title: "ServerAuthorization names a Server that does not exist",
  explanation:
    "A Linkerd ServerAuthorization (the older policy API) grants access to the Server named in spec.server.name, in its own namespace. When that Server does not exist, the authorization grants nothing and the clients it was written for are denied by the default policy. Fix the name, or select Servers by label with spec.server.selector. When the repository holds no Servers at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const m of model.manifests) {
      if (m.ref.kind !== "ServerAuthorization" || !m.ref.apiVersion.startsWith("policy.linkerd.io/")) continue;
      const name = asStr(asObj(asObj(m.object.spec).server).name);
      const ns = m.ref.namespace ?? "default";
      if (!name || model.linkerd.servers.some((s) => s.namespace === ns && s.name === name)) continue;
      out.push(...missingReference(this, ctx, { manifest: m, path: ["spec", "server", "name"] }, `Server ${ns}/${name} does not exist`, heldIn(model, "policy.linkerd.io", "Server", ns, "Servers")));
    }
    return out;
  },
};

/** MSH4008: Linkerd AuthorizationPolicy authentication not found. */
export const authenticationRefNotFound: Analyzer = {
  code: "MSH4008",
  severity: "error",
  title: "Linkerd AuthorizationPolicy authentication not found",
  explanation:
    "A Linkerd AuthorizationPolicy admits clients that satisfy all of its requiredAuthenticationRefs: MeshTLSAuthentication (identities), NetworkAuthentication (networks) or a ServiceAccount. A reference to one that does not exist can never be satisfied, so the policy admits nobody. Fix the reference. When the repository holds no object of that kind at all, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const ap of model.linkerd.authorizationPolicies)
      ap.requiredAuthenticationRefs.forEach((r, i) => {
        const kind = asStr(r.kind) ?? "";
        const name = asStr(r.name) ?? "";
        const ns = asStr(r.namespace) ?? ap.namespace;
        const group = kind === "ServiceAccount" ? "" : (asStr(r.group) ?? "policy.linkerd.io");
        if (!kind || !name) return;
        if (model.identities.has(objectKey(group, kind, ns, name))) return;
        out.push(...missingReference(this, ctx, { manifest: ap.source.manifest, path: ["spec", "requiredAuthenticationRefs", i] }, `${kind} ${ns}/${name} does not exist`, heldIn(model, group, kind, ns, `${kind}s`), ["name"]));
      });
    return out;
  },
};

/** MSH4009: ServiceProfile for a Service that does not exist. */
export const serviceProfileServiceNotFound: Analyzer = {
  code: "MSH4009",
  severity: "error",
  title: "ServiceProfile for a Service that does not exist",
  explanation:
    "A ServiceProfile named <service>.<namespace>.svc.<cluster domain> describes the routes, retries and timeouts of that Service. When no such Service exists the profile applies to nothing, usually because the Service was renamed or the namespace in the name is wrong. When the repository holds no Services in that namespace, the finding is a warning (meshops.yaml policy.references).",
  run(model, ctx) {
    const out: Finding[] = [];
    for (const sp of model.linkerd.serviceProfiles) {
      const ref = serviceOfHost(sp.name, model.options.clusterDomain);
      if (!ref || model.servicesByName.has(`${ref.namespace}/${ref.name}`)) continue;
      out.push(...missingReference(this, ctx, sp.source, `Service ${ref.namespace}/${ref.name} does not exist`, heldIn(model, "", "Service", ref.namespace, "Services")));
    }
    return out;
  },
};
