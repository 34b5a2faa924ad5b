/** Istio objects that select workloads: DestinationRule subsets, AuthorizationPolicy selectors, mTLS between DestinationRule and PeerAuthentication. */
import { selectorMatches, type WorkloadView } from "../model/core.js";
import { serviceOfHost } from "../model/hosts.js";
import { mtlsModeOf, workloadsSelectedBy, type MeshModel } from "../model/mesh-model.js";
import type { Finding } from "../report/finding.js";
import { findingAt, type AnalyzeContext, type Analyzer } from "./analyzer.js";

/**
 * Selectors are not references to named objects: when the repository holds no workloads at all, a mesh-only
 * repository would get a warning on every selector, so nothing is said unless `references: strict`.
 */
function selectorsCheckable(model: MeshModel, ctx: AnalyzeContext): boolean {
  return model.workloads.length > 0 || ctx.references === "strict";
}

const fmt = (sel: Record<string, string>): string =>
  Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** MSH2006: DestinationRule subset matches no workload. */
export const subsetSelectsNothing: Analyzer = {
  code: "MSH2006",
  severity: "warning",
  title: "DestinationRule subset matches no workload",
  explanation:
    "A DestinationRule subset selects the pods of its host's Service that carry the subset's labels (for example version: v2). When none of the Service's workloads carries them, the subset has no endpoints and traffic routed to it fails with 503. This is expected for a moment during a canary rollout, which is why it is a warning; otherwise fix the labels. Only Services whose workloads are in the repository are checked.",
  run(model, ctx) {
    const out: Finding[] = [];
    if (!selectorsCheckable(model, ctx)) return out;
    for (const dr of model.istio.destinationRules) {
      const svc = model.services.get(dr.host);
      if (!svc || svc.workloads.length === 0) continue;
      for (const s of dr.subsets) {
        if (Object.keys(s.labels).length === 0) continue;
        if (!svc.workloads.some((w) => selectorMatches(s.labels, w.labels)))
          out.push(findingAt(this, s.source, `subset "${s.name}" (${fmt(s.labels)}) matches none of the workloads of Service ${svc.namespace}/${svc.name} (${svc.workloads.map((w) => `${w.kind}/${w.name}`).join(", ")})`, { path: ["labels"] }));
      }
    }
    return out;
  },
};

/** MSH2007: AuthorizationPolicy selector matches no workload. */
export const authorizationSelectsNothing: Analyzer = {
  code: "MSH2007",
  severity: "warning",
  istio: "IST0127",
  title: "AuthorizationPolicy selector matches no workload",
  explanation:
    "An Istio AuthorizationPolicy with a selector applies only to the workloads in its namespace whose labels match. When none does, the policy protects nothing: an ALLOW or DENY meant for a workload is silently inert, usually because of a label typo or the wrong namespace. Fix the selector, or remove the policy. Checked only when the repository holds workloads.",
  run(model, ctx) {
    const out: Finding[] = [];
    if (!selectorsCheckable(model, ctx)) return out;
    for (const ap of model.istio.authorizationPolicies) {
      if (!ap.selector || ap.hasTargetRefs) continue;
      if (workloadsSelectedBy(model, ap.namespace, ap.selector).length === 0)
        out.push(findingAt(this, ap.source, `selector ${fmt(ap.selector)} matches no workload in namespace ${ap.namespace}`, { path: ["spec", "selector"] }));
    }
    return out;
  },
};

/** The workloads behind a host: the Service's when known, else a stand-in for the namespace (namespace and mesh-wide policies). */
function serverWorkloads(model: MeshModel, host: string): { workloads: Pick<WorkloadView, "namespace" | "labels" | "annotations">[]; ports: (number | undefined)[] } | undefined {
  const svc = model.services.get(host);
  if (svc?.workloads.length) return { workloads: svc.workloads, ports: svc.ports.map((p) => (typeof p.targetPort === "number" ? p.targetPort : p.port)) };
  const ref = serviceOfHost(host, model.options.clusterDomain);
  if (!ref) return undefined;
  // Without the workloads, a workload-level PeerAuthentication in the namespace might apply to them or not: say nothing.
  if (model.istio.peerAuthentications.some((p) => p.namespace === ref.namespace && p.selector)) return undefined;
  return { workloads: [{ namespace: ref.namespace, labels: {}, annotations: {} }], ports: [undefined] };
}

/** MSH2008: DestinationRule TLS mode conflicts with PeerAuthentication. */
export const mtlsConflict: Analyzer = {
  code: "MSH2008",
  severity: "error",
  istio: "IST0113",
  title: "DestinationRule TLS mode conflicts with PeerAuthentication",
  explanation:
    "A DestinationRule tells clients how to connect (tls.mode DISABLE: plaintext, ISTIO_MUTUAL: Istio mTLS) while the server side's PeerAuthentication says what it accepts (STRICT: mTLS only, DISABLE: plaintext only). Plaintext to a STRICT workload, or mTLS to a workload with mTLS DISABLE, is refused and clients see connection resets or 503. Align the two: usually drop the DestinationRule's tls block and let Istio's auto mTLS choose.",
  run(model) {
    const out: Finding[] = [];
    for (const dr of model.istio.destinationRules) {
      const modes = [...(dr.tlsMode ? [{ port: undefined as number | undefined, mode: dr.tlsMode, source: { ...dr.source, path: ["spec", "trafficPolicy", "tls", "mode"] } }] : []), ...dr.portTlsModes];
      for (const c of modes) {
        if (c.mode !== "DISABLE" && c.mode !== "ISTIO_MUTUAL") continue;
        const server = serverWorkloads(model, dr.host);
        if (!server) continue;
        const ports = c.port !== undefined ? [c.port] : server.ports;
        const conflicts = new Set<string>();
        let decidedBy: string | undefined;
        for (const w of server.workloads)
          for (const p of ports) {
            const s = mtlsModeOf(model, w, p);
            if ((c.mode === "DISABLE" && s.mode === "STRICT") || (c.mode === "ISTIO_MUTUAL" && s.mode === "DISABLE")) {
              conflicts.add(s.mode);
              decidedBy ??= s.source ? `PeerAuthentication ${s.source.manifest.ref.namespace ?? ""}/${s.source.manifest.ref.name} (${s.source.manifest.origin.file}:${s.source.manifest.origin.line})` : undefined;
            }
          }
        for (const serverMode of conflicts)
          out.push(findingAt(this, c.source, `tls mode ${c.mode} for ${dr.host}${c.port !== undefined ? ` port ${c.port}` : ""} conflicts with mTLS ${serverMode} set by ${decidedBy ?? "a PeerAuthentication"}`));
      }
    }
    return out;
  },
};
