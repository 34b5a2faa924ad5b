/**
 * The zero-trust policy pack (issue 3 item 4), configured in meshops.yaml `policy.zeroTrust`: mesh-wide STRICT
 * mTLS (Istio) or a deny default inbound policy (Linkerd); no PERMISSIVE/DISABLE or weaker-than-deny exception
 * without a `meshops.dev/justification` annotation; a default-deny AuthorizationPolicy; no ALLOW rule that admits
 * any principal or any namespace into a sensitive namespace. Every rule is linear in the number of objects.
 */
import type { ZeroTrustConfig } from "../config/schema.js";
import { asArr, asObj, asStr, asStrMap, type NamespaceView, type Obj } from "../model/core.js";
import { linkerdInjected, type MeshModel } from "../model/mesh-model.js";
import type { FieldPath, Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { policyFindingAt, policyFindingAtEnv, type EnvironmentSite, type PolicyRule } from "./rule.js";

/** The annotation that justifies an mTLS or inbound-policy exception; an empty or blank value does not count. */
export const JUSTIFICATION_ANNOTATION = "meshops.dev/justification";
/** Linkerd's default inbound policy annotation on namespaces and pod templates (https://linkerd.io/2/reference/authorization-policy/). */
export const LINKERD_DEFAULT_POLICY = "config.linkerd.io/default-inbound-policy";
const LINKERD_SKIP_INBOUND = "config.linkerd.io/skip-inbound-ports";

/** The pack's settings with defaults applied. */
export interface ZeroTrustSettings {
  /** Undefined: the meshes the environment renders objects or injection settings for. */
  meshes?: ("istio" | "linkerd")[];
  istioRootNamespace: string;
  linkerdDefaultInboundPolicy: string;
  sensitiveNamespaces: string[];
  sensitiveNamespaceLabels: Record<string, string>;
}

/** Defaults applied to the merged meshops.yaml settings; undefined when the pack is not enabled. */
export function resolveZeroTrust(c: ZeroTrustConfig | undefined): ZeroTrustSettings | undefined {
  if (c?.enabled !== true) return undefined;
  return {
    ...(c.meshes ? { meshes: c.meshes } : {}),
    istioRootNamespace: c.istioRootNamespace ?? "istio-system",
    linkerdDefaultInboundPolicy: c.linkerdDefaultInboundPolicy ?? "all-unauthenticated",
    sensitiveNamespaces: c.sensitiveNamespaces ?? [],
    sensitiveNamespaceLabels: c.sensitiveNamespaceSelector?.matchLabels ?? { "meshops.dev/sensitive": "true" },
  };
}

export const meshWideStrictMissing: PolicyRule = {
  code: "MSH6001",
  severity: "error",
  title: "No mesh-wide STRICT mTLS (Istio)",
  explanation:
    "Zero trust starts with every workload refusing plaintext. In Istio that is a PeerAuthentication without selector in the root namespace (meshConfig.rootNamespace, istio-system unless meshops.yaml policy.zeroTrust.istioRootNamespace says otherwise) with mtls.mode STRICT. Without one, workloads accept plaintext (Istio's default is PERMISSIVE) unless a namespace or workload policy says otherwise. The finding points at a mesh-wide PeerAuthentication with another mode, or at the environment in meshops.yaml when the environment renders none. When the mesh-wide policy is managed outside the repository, turn the rule off for that environment (policy.rules: { MSH6001: off }).",
};

export const exceptionWithoutJustification: PolicyRule = {
  code: "MSH6002",
  severity: "error",
  title: "mTLS or inbound-policy exception without justification",
  explanation:
    "An exception to zero trust must say why. Istio: a namespace or workload PeerAuthentication (or one of its portLevelMtls entries) with mode PERMISSIVE or DISABLE, or a DestinationRule whose traffic policy (top level, per port or per subset) sets tls.mode DISABLE. Linkerd: a namespace or pod template annotated config.linkerd.io/default-inbound-policy with anything but deny, or config.linkerd.io/skip-inbound-ports (traffic that bypasses the proxy), or a Server whose accessPolicy is not deny. Each needs the annotation meshops.dev/justification with a non-blank reason on the object itself (for a workload, on the workload or its pod template), so the exception is reviewed where it is made.",
};

export const linkerdDefaultNotDeny: PolicyRule = {
  code: "MSH6003",
  severity: "error",
  title: "Linkerd default inbound policy is not deny",
  explanation:
    "Linkerd admits every client on a port that no Server selects, according to the default inbound policy: the pod's or namespace's config.linkerd.io/default-inbound-policy annotation, else the cluster's proxy.defaultInboundPolicy (all-unauthenticated unless the installation changed it; tell meshops with policy.zeroTrust.linkerdDefaultInboundPolicy). Zero trust requires deny, so that only what a Server and an AuthorizationPolicy open is reachable. The finding points at each meshed Namespace that inherits a weaker cluster default, or at the environment in meshops.yaml when the Namespace objects are not in the repository. For Linkerd the deny default is also the default-deny authorization that MSH6010 asks of Istio.",
};

export const defaultDenyMissing: PolicyRule = {
  code: "MSH6010",
  severity: "error",
  title: "No default-deny AuthorizationPolicy (Istio)",
  explanation:
    "With no AuthorizationPolicy selecting a workload, Istio allows every request to it. A default-deny is an AuthorizationPolicy without selector and without rules (spec: {}; ALLOW with no rules allows nothing), in the root namespace for the whole mesh or in each namespace; ALLOW policies then open what is needed. A DENY policy with an empty rule (deny everything) counts as well. The finding points at each Istio namespace without one when the root namespace has none (at its Namespace object, or at the environment in meshops.yaml when the repository holds no Namespace object for it).",
};

export const allowAnyIntoSensitive: PolicyRule = {
  code: "MSH6020",
  severity: "error",
  title: "ALLOW rule admits any principal or any namespace into a sensitive namespace",
  explanation:
    "Sensitive namespaces (meshops.yaml policy.zeroTrust.sensitiveNamespaces, and Namespace objects labelled as sensitiveNamespaceSelector says, meshops.dev/sensitive: \"true\" by default) must name who may call them. Istio: an ALLOW AuthorizationPolicy in the namespace, or a mesh-wide one in the root namespace, with a rule without from (any source), or a source that names no principals and no namespaces (only notPrincipals, notNamespaces, ipBlocks or requestPrincipals), or principals such as \"*\", \"cluster.local/*\" or \".../ns/*/...\", or namespaces \"*\" (unless a when condition on source.principal or source.namespace narrows it). Linkerd: an AuthorizationPolicy that requires no authentication or only a NetworkAuthentication, or a MeshTLSAuthentication with identity \"*\" or a wildcard namespace; a ServerAuthorization for unauthenticated clients, unauthenticatedTLS or identity \"*\"; a Server whose accessPolicy admits every client.",
};

/** The pack's rules, by code. */
export const zeroTrustRules: readonly PolicyRule[] = [meshWideStrictMissing, exceptionWithoutJustification, linkerdDefaultNotDeny, defaultDenyMissing, allowAnyIntoSensitive];

function annotations(m: Manifest): Record<string, string> {
  return asStrMap(asObj(m.object.metadata).annotations);
}

/** The justification on the object (or, for a workload, on its pod template), when it is not blank. */
export function justification(m: Manifest): string | undefined {
  const pod = asStrMap(asObj(asObj(asObj(asObj(m.object.spec).template).metadata).annotations));
  const v = annotations(m)[JUSTIFICATION_ANNOTATION] ?? pod[JUSTIFICATION_ANNOTATION];
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** Which meshes' rules apply: configured, or those the environment renders objects or injection settings for. */
export function meshesOf(model: MeshModel, s: ZeroTrustSettings): Set<"istio" | "linkerd"> {
  if (s.meshes) return new Set(s.meshes);
  const out = new Set<"istio" | "linkerd">();
  for (const k of model.kinds) {
    const group = k.slice(0, k.indexOf("/"));
    if (group.endsWith(".istio.io")) out.add("istio");
    if (group === "policy.linkerd.io" || group === "linkerd.io") out.add("linkerd");
  }
  for (const ns of model.namespaces.values()) {
    if (ns.istioInjection === "enabled" || ns.istioRevision !== undefined) out.add("istio");
    if (ns.linkerdInject === "enabled" || ns.linkerdInject === "ingress") out.add("linkerd");
  }
  for (const w of model.workloads) {
    if (w.labels["sidecar.istio.io/inject"] === "true") out.add("istio");
    if (w.annotations["linkerd.io/inject"] === "enabled") out.add("linkerd");
  }
  return out;
}

/** Sensitive namespaces: configured names plus Namespace objects whose labels match the selector. */
export function sensitiveNamespaces(model: MeshModel, s: ZeroTrustSettings): Set<string> {
  const out = new Set(s.sensitiveNamespaces);
  const sel = Object.entries(s.sensitiveNamespaceLabels);
  if (sel.length) for (const ns of model.namespaces.values()) if (sel.every(([k, v]) => ns.labels[k] === v)) out.add(ns.name);
  return out;
}

const SYSTEM_NAMESPACES = new Set(["kube-system", "kube-public", "kube-node-lease"]);

/** Runs the pack on one environment's model. */
export function runZeroTrust(model: MeshModel, s: ZeroTrustSettings, env: EnvironmentSite): Finding[] {
  const meshes = meshesOf(model, s);
  const sensitive = sensitiveNamespaces(model, s);
  const out: Finding[] = [];
  if (meshes.has("istio")) out.push(...istioMeshWideStrict(model, s, env), ...istioExceptions(model, s), ...istioDefaultDeny(model, s, env), ...istioAllowAny(model, s, sensitive));
  if (meshes.has("linkerd")) out.push(...linkerdExceptions(model), ...linkerdDefaultDeny(model, s, env), ...linkerdAllowAny(model, sensitive));
  return out;
}

// ---------------------------------------------------------------- Istio

function istioMeshWideStrict(model: MeshModel, s: ZeroTrustSettings, env: EnvironmentSite): Finding[] {
  const root = s.istioRootNamespace;
  const meshWide = model.istio.peerAuthentications.filter((p) => p.namespace === root && !p.selector);
  if (meshWide.some((p) => p.mode === "STRICT")) return [];
  const r = meshWideStrictMissing;
  if (meshWide.length === 0) return [policyFindingAtEnv(r, env, `no mesh-wide STRICT PeerAuthentication (without selector) in the root namespace ${root}; workloads accept plaintext`)];
  return meshWide.map((p) => policyFindingAt(r, p.source.manifest, `mesh-wide PeerAuthentication ${root}/${p.name} has mTLS mode ${p.mode ?? "UNSET"} (PERMISSIVE unless set); zero trust requires STRICT`, p.mode ? ["spec", "mtls", "mode"] : ["spec"]));
}

const WEAK_MTLS = new Set(["PERMISSIVE", "DISABLE"]);

function istioExceptions(model: MeshModel, s: ZeroTrustSettings): Finding[] {
  const r = exceptionWithoutJustification;
  const out: Finding[] = [];
  const how = `add ${JUSTIFICATION_ANNOTATION} with the reason, or use STRICT`;
  for (const p of model.istio.peerAuthentications) {
    const m = p.source.manifest;
    if (justification(m)) continue;
    const meshWide = p.namespace === s.istioRootNamespace && !p.selector;
    const scope = p.selector ? `workload PeerAuthentication ${p.namespace}/${p.name}` : `namespace PeerAuthentication ${p.namespace}/${p.name}`;
    if (!meshWide && p.mode && WEAK_MTLS.has(p.mode)) out.push(policyFindingAt(r, m, `${scope} sets mTLS mode ${p.mode} without a justification: ${how}`, ["spec", "mtls", "mode"]));
    for (const pl of p.portLevel) if (WEAK_MTLS.has(pl.mode)) out.push(policyFindingAt(r, m, `${scope} sets mTLS mode ${pl.mode} on port ${pl.port} without a justification: ${how}`, [...pl.source.path, "mode"]));
  }
  for (const dr of model.istio.destinationRules) {
    const m = dr.source.manifest;
    if (justification(m)) continue;
    const spec = asObj(m.object.spec);
    const policies: { tp: Obj; path: FieldPath; where: string }[] = [{ tp: asObj(spec.trafficPolicy), path: ["spec", "trafficPolicy"], where: "" }];
    asArr(spec.subsets).forEach((sub, i) => policies.push({ tp: asObj(asObj(sub).trafficPolicy), path: ["spec", "subsets", i, "trafficPolicy"], where: ` (subset ${asStr(asObj(sub).name) ?? i})` }));
    for (const { tp, path, where } of policies) {
      if (asStr(asObj(tp.tls).mode) === "DISABLE") out.push(policyFindingAt(r, m, `DestinationRule ${dr.namespace}/${dr.name}${where} disables TLS to ${dr.host} without a justification: add ${JUSTIFICATION_ANNOTATION} with the reason, or use ISTIO_MUTUAL`, [...path, "tls", "mode"]));
      asArr(tp.portLevelSettings).forEach((pls, j) => {
        if (asStr(asObj(asObj(pls).tls).mode) !== "DISABLE") return;
        const port = asObj(asObj(pls).port).number;
        out.push(policyFindingAt(r, m, `DestinationRule ${dr.namespace}/${dr.name}${where} disables TLS to ${dr.host} port ${String(port ?? j)} without a justification: add ${JUSTIFICATION_ANNOTATION} with the reason, or use ISTIO_MUTUAL`, [...path, "portLevelSettings", j, "tls", "mode"]));
      });
    }
  }
  return out;
}

/** ALLOW without rules (allows nothing) or DENY with a rule that matches everything, for a whole namespace. */
function isDefaultDeny(p: MeshModel["istio"]["authorizationPolicies"][number]): boolean {
  if (p.selector || p.hasTargetRefs) return false;
  if (p.action === "ALLOW") return p.rules.length === 0;
  if (p.action === "DENY") return p.rules.some((r) => Object.keys(r).length === 0);
  return false;
}

/** Namespaces whose workloads Istio serves: Namespaces with injection, namespaces with Istio security policy, and namespaces of workloads not in Linkerd. */
function istioNamespaces(model: MeshModel, root: string): string[] {
  const names = new Set<string>();
  for (const p of [...model.istio.authorizationPolicies, ...model.istio.peerAuthentications]) names.add(p.namespace);
  for (const ns of model.namespaces.values()) if (ns.istioInjection === "enabled" || (ns.istioRevision !== undefined && ns.istioInjection !== "disabled")) names.add(ns.name);
  for (const w of model.workloads) {
    const ns = model.namespaces.get(w.namespace);
    if (ns?.istioInjection === "disabled" || w.labels["sidecar.istio.io/inject"] === "false" || linkerdInjected(model, w)) continue;
    names.add(w.namespace);
  }
  return [...names].filter((n) => n !== root && !SYSTEM_NAMESPACES.has(n)).sort();
}

function istioDefaultDeny(model: MeshModel, s: ZeroTrustSettings, env: EnvironmentSite): Finding[] {
  const root = s.istioRootNamespace;
  const covered = new Set(model.istio.authorizationPolicies.filter(isDefaultDeny).map((p) => p.namespace));
  if (covered.has(root)) return [];
  const r = defaultDenyMissing;
  const missing = istioNamespaces(model, root).filter((n) => !covered.has(n));
  const out: Finding[] = [];
  const without: string[] = [];
  for (const n of missing) {
    const ns: NamespaceView | undefined = model.namespaces.get(n);
    if (ns) out.push(policyFindingAt(r, ns.source.manifest, `namespace ${n} has no default-deny AuthorizationPolicy (spec: {}) and the root namespace ${root} has none either: every request is allowed where no ALLOW policy selects the workload`, ["metadata", "name"]));
    else without.push(n);
  }
  if (without.length) out.push(policyFindingAtEnv(r, env, `no default-deny AuthorizationPolicy (spec: {}) in the root namespace ${root} nor in namespace${without.length > 1 ? "s" : ""} ${without.join(", ")}`));
  if (missing.length === 0 && covered.size === 0) out.push(policyFindingAtEnv(r, env, `no default-deny AuthorizationPolicy (spec: {}) in the root namespace ${root}`));
  return out;
}

/** Does a principal pattern admit identities from any namespace? "*", "<trust domain>/*", ".../ns/*..." */
function wildcardPrincipal(p: string): boolean {
  return p === "*" || /^[^/]*\*$/.test(p) || p.includes("/ns/*");
}

const strList = (v: unknown): string[] | undefined => (v === undefined ? undefined : asArr(v).filter((x): x is string => typeof x === "string"));

/** Why a source admits any principal or any namespace, or undefined when it names whom it admits. */
function openSource(src: Obj): string | undefined {
  const principals = strList(src.principals);
  const namespaces = strList(src.namespaces);
  const wp = principals?.find(wildcardPrincipal);
  if (wp !== undefined) return `principal "${wp}" admits any principal`;
  if (namespaces?.includes("*")) return `namespace "*" admits any namespace`;
  if (principals === undefined && namespaces === undefined) {
    const has = ["notPrincipals", "notNamespaces", "ipBlocks", "remoteIpBlocks", "notIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"].filter((k) => src[k] !== undefined);
    return `the source names no principals or namespaces${has.length ? ` (only ${has.join(", ")})` : ""}, so it admits any principal`;
  }
  return undefined;
}

/** A `when` condition on the caller's identity narrows a rule without `from`. */
function whenNarrowsIdentity(rule: Obj): boolean {
  return asArr(rule.when).some((w) => ["source.principal", "source.namespace"].includes(asStr(asObj(w).key) ?? "") && asObj(w).values !== undefined);
}

function istioAllowAny(model: MeshModel, s: ZeroTrustSettings, sensitive: Set<string>): Finding[] {
  if (sensitive.size === 0) return [];
  const r = allowAnyIntoSensitive;
  const out: Finding[] = [];
  const root = s.istioRootNamespace;
  const names = [...sensitive].sort().join(", ");
  for (const p of model.istio.authorizationPolicies) {
    if (p.action !== "ALLOW") continue;
    const meshWide = p.namespace === root && !p.selector && !p.hasTargetRefs;
    if (!sensitive.has(p.namespace) && !meshWide) continue;
    const into = meshWide && !sensitive.has(p.namespace) ? `mesh-wide AuthorizationPolicy ${p.namespace}/${p.name} (applies to the sensitive namespace${sensitive.size > 1 ? "s" : ""} ${names})` : `AuthorizationPolicy ${p.namespace}/${p.name} in sensitive namespace ${p.namespace}`;
    const m = p.source.manifest;
    p.rules.forEach((rule, i) => {
      if (whenNarrowsIdentity(rule)) return;
      const from = asArr(rule.from);
      if (from.length === 0) {
        out.push(policyFindingAt(r, m, `${into}: ALLOW rule ${i} has no from, so it admits any principal from any namespace`, ["spec", "rules", i]));
        return;
      }
      from.forEach((f, j) => {
        const why = openSource(asObj(asObj(f).source));
        if (why) out.push(policyFindingAt(r, m, `${into}: ALLOW rule ${i}: ${why}`, ["spec", "rules", i, "from", j, "source"]));
      });
    });
  }
  return out;
}

// ---------------------------------------------------------------- Linkerd

function linkerdExceptions(model: MeshModel): Finding[] {
  const r = exceptionWithoutJustification;
  const out: Finding[] = [];
  const check = (m: Manifest, ann: Record<string, string>, base: FieldPath, what: string): void => {
    if (justification(m)) return;
    const policy = ann[LINKERD_DEFAULT_POLICY];
    if (policy !== undefined && policy !== "deny") out.push(policyFindingAt(r, m, `${what} sets ${LINKERD_DEFAULT_POLICY}: ${policy} without a justification: add ${JUSTIFICATION_ANNOTATION} with the reason, or use deny`, [...base, LINKERD_DEFAULT_POLICY]));
    const skip = ann[LINKERD_SKIP_INBOUND];
    if (skip !== undefined && skip.trim() !== "") out.push(policyFindingAt(r, m, `${what} sets ${LINKERD_SKIP_INBOUND}: ${skip} (inbound traffic that bypasses the proxy: no mTLS, no policy) without a justification: add ${JUSTIFICATION_ANNOTATION} with the reason`, [...base, LINKERD_SKIP_INBOUND]));
  };
  for (const ns of model.namespaces.values()) check(ns.source.manifest, ns.annotations, ["metadata", "annotations"], `namespace ${ns.name}`);
  for (const w of model.workloads) {
    if (!linkerdInjected(model, w)) continue;
    const m = w.source.manifest;
    check(m, w.annotations, w.kind === "Pod" ? ["metadata", "annotations"] : ["spec", "template", "metadata", "annotations"], `${w.kind} ${w.namespace}/${w.name}`);
  }
  for (const srv of model.linkerd.servers) {
    const m = srv.source.manifest;
    const access = asStr(asObj(m.object.spec).accessPolicy);
    if (access !== undefined && access !== "deny" && !justification(m)) out.push(policyFindingAt(r, m, `Server ${srv.namespace}/${srv.name} sets accessPolicy ${access} without a justification: add ${JUSTIFICATION_ANNOTATION} with the reason, or use deny`, ["spec", "accessPolicy"]));
  }
  return out;
}

function linkerdDefaultDeny(model: MeshModel, s: ZeroTrustSettings, env: EnvironmentSite): Finding[] {
  const cluster = s.linkerdDefaultInboundPolicy;
  if (cluster === "deny") return [];
  const r = linkerdDefaultNotDeny;
  // Meshed namespaces, and whether each workload in them sets its own default.
  const meshed = new Map<string, { workloads: number; own: number }>();
  for (const ns of model.namespaces.values()) if (ns.linkerdInject === "enabled" || ns.linkerdInject === "ingress") meshed.set(ns.name, { workloads: 0, own: 0 });
  for (const w of model.workloads) {
    if (!linkerdInjected(model, w)) continue;
    const e = meshed.get(w.namespace) ?? { workloads: 0, own: 0 };
    e.workloads++;
    if (w.annotations[LINKERD_DEFAULT_POLICY] !== undefined) e.own++;
    meshed.set(w.namespace, e);
  }
  const out: Finding[] = [];
  const without: string[] = [];
  for (const [name, e] of [...meshed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const ns = model.namespaces.get(name);
    if (ns?.annotations[LINKERD_DEFAULT_POLICY] !== undefined) continue; // deny, or an exception MSH6002 judges
    if (e.workloads > 0 && e.own === e.workloads) continue;
    if (ns) out.push(policyFindingAt(r, ns.source.manifest, `namespace ${name} inherits the cluster default inbound policy ${cluster}; zero trust requires deny: annotate it ${LINKERD_DEFAULT_POLICY}: deny, or install Linkerd with proxy.defaultInboundPolicy=deny and say so in policy.zeroTrust.linkerdDefaultInboundPolicy`, ["metadata", "name"]));
    else without.push(name);
  }
  if (without.length) out.push(policyFindingAtEnv(r, env, `namespace${without.length > 1 ? "s" : ""} ${without.join(", ")} inherit${without.length > 1 ? "" : "s"} the cluster default inbound policy ${cluster} (policy.zeroTrust.linkerdDefaultInboundPolicy); zero trust requires deny`));
  if (meshed.size === 0) out.push(policyFindingAtEnv(r, env, `the cluster default inbound policy is ${cluster} (policy.zeroTrust.linkerdDefaultInboundPolicy); zero trust requires deny`));
  return out;
}

/** Linkerd identity "<sa>.<ns>.serviceaccount.identity.linkerd.<td>": "*" or a wildcard namespace admits any namespace. */
function wildcardIdentity(id: string): boolean {
  if (id === "*") return true;
  const parts = id.split(".");
  return parts[1] === "*" || (parts[0] === "*" && parts[1] === "serviceaccount");
}

function linkerdAllowAny(model: MeshModel, sensitive: Set<string>): Finding[] {
  if (sensitive.size === 0) return [];
  const r = allowAnyIntoSensitive;
  const out: Finding[] = [];
  for (const ap of model.linkerd.authorizationPolicies) {
    if (!sensitive.has(ap.namespace)) continue;
    const m = ap.source.manifest;
    const at = `AuthorizationPolicy ${ap.namespace}/${ap.name} in sensitive namespace ${ap.namespace}`;
    const refs = ap.requiredAuthenticationRefs;
    if (refs.length === 0) {
      out.push(policyFindingAt(r, m, `${at} requires no authentication, so it admits any client`, ["spec", "requiredAuthenticationRefs"]));
      continue;
    }
    if (refs.every((x) => asStr(x.kind) === "NetworkAuthentication")) {
      out.push(policyFindingAt(r, m, `${at} requires only a NetworkAuthentication, so it admits any principal from those networks`, ["spec", "requiredAuthenticationRefs"]));
      continue;
    }
    refs.forEach((ref, i) => {
      if (asStr(ref.kind) !== "MeshTLSAuthentication") return;
      const ns = asStr(ref.namespace) ?? ap.namespace;
      const mtls = model.linkerd.meshTlsAuthentications.find((x) => x.namespace === ns && x.name === asStr(ref.name));
      const wild = mtls?.identities.find(wildcardIdentity) ?? (mtls?.identityRefs.some((x) => asStr(x.kind) === "Namespace" && asStr(x.name) === "*") ? "Namespace *" : undefined);
      if (wild !== undefined) out.push(policyFindingAt(r, m, `${at} requires MeshTLSAuthentication ${ns}/${asStr(ref.name) ?? ""}, whose identity "${wild}" admits any principal`, ["spec", "requiredAuthenticationRefs", i]));
    });
  }
  for (const sa of model.linkerd.serverAuthorizations) {
    if (!sensitive.has(sa.namespace)) continue;
    const c = sa.client;
    const mesh = asObj(c.meshTLS);
    const why =
      c.unauthenticated === true ? "client.unauthenticated admits any client" : mesh.unauthenticatedTLS === true ? "client.meshTLS.unauthenticatedTLS admits any TLS client" : strList(mesh.identities)?.some(wildcardIdentity) ? "client.meshTLS.identities \"*\" admits any principal" : undefined;
    if (why) out.push(policyFindingAt(r, sa.source.manifest, `ServerAuthorization ${sa.namespace}/${sa.name} in sensitive namespace ${sa.namespace}: ${why}`, ["spec", "client"]));
  }
  for (const srv of model.linkerd.servers) {
    if (!sensitive.has(srv.namespace)) continue;
    const access = asStr(asObj(srv.source.manifest.object.spec).accessPolicy);
    if (access !== undefined && access !== "deny") out.push(policyFindingAt(r, srv.source.manifest, `Server ${srv.namespace}/${srv.name} in sensitive namespace ${srv.namespace} has accessPolicy ${access}, which admits clients no AuthorizationPolicy names`, ["spec", "accessPolicy"]));
  }
  return out;
}
