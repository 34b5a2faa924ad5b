/** Istio conflicts and weak spots: two VirtualServices for one mesh host, plaintext port overrides, allow-all rules, port naming, destination ports. */
import { mtlsModeOf } from "../model/mesh-model.js";
import type { Finding } from "../report/finding.js";
import { findingAt, type Analyzer } from "./analyzer.js";

/** MSH2009: Two VirtualServices for one host on the mesh gateway. */
export const conflictingMeshVirtualServices: Analyzer = {
  code: "MSH2009",
  severity: "error",
  istio: "IST0109",
  title: "Two VirtualServices for one host on the mesh gateway",
  explanation:
    "Sidecars do not merge VirtualServices: when two VirtualServices bound to the mesh gateway (no spec.gateways, or mesh listed) name the same host, Istio uses one of them and ignores the other, so half of the intended routing silently does nothing and which half depends on creation time. Merge the routes into one VirtualService per host, or use delegate VirtualServices.",
  run(model) {
    const byHost = new Map<string, typeof model.istio.virtualServices>();
    for (const vs of model.istio.virtualServices) {
      if (!vs.gateways.some((g) => g.name === "mesh")) continue;
      for (const h of new Set(vs.hosts)) {
        if (h.includes("*")) continue;
        byHost.set(h, [...(byHost.get(h) ?? []), vs]);
      }
    }
    const out: Finding[] = [];
    for (const [host, list] of byHost) {
      if (list.length < 2) continue;
      for (const vs of list) {
        // exportTo: ["."] keeps a VirtualService to its own namespace's sidecars, so two such in different namespaces do not meet.
        const local = (v: typeof vs): boolean => v.exportTo.length > 0 && v.exportTo.every((e) => e === "." || e === v.namespace);
        const others = list.filter((o) => o !== vs && (o.namespace === vs.namespace || !local(o) || !local(vs))).map((o) => `${o.namespace}/${o.name}`);
        if (others.length === 0) continue;
        const i = vs.hosts.indexOf(host);
        out.push(findingAt(this, { manifest: vs.source.manifest, path: ["spec", "hosts", i] }, `host ${host} is also routed on the mesh gateway by VirtualService ${others.join(", ")}; sidecars use only one of them`));
      }
    }
    return out;
  },
};

/** MSH2010: Port-level mTLS override leaves a port plaintext under STRICT. */
export const plaintextPortOverride: Analyzer = {
  code: "MSH2010",
  severity: "warning",
  title: "Port-level mTLS override leaves a port plaintext under STRICT",
  explanation:
    "A PeerAuthentication's portLevelMtls can set one port of the selected workloads to PERMISSIVE or DISABLE while the workload (or its namespace, or the mesh) is STRICT. That port then accepts plaintext from anyone who can reach the pod, bypassing the identity checks that AuthorizationPolicies rely on. Keep it only for ports that must be plaintext (such as a health or metrics port scraped from outside the mesh), and say why in a meshops.dev/ignore annotation.",
  run(model) {
    const out: Finding[] = [];
    for (const pa of model.istio.peerAuthentications) {
      if (!pa.selector || pa.portLevel.length === 0) continue;
      const base = mtlsModeOf(model, { namespace: pa.namespace, labels: pa.selector, annotations: {} });
      if (base.mode !== "STRICT") continue;
      for (const p of pa.portLevel) {
        if (p.mode === "PERMISSIVE" || p.mode === "DISABLE") out.push(findingAt(this, p.source, `port ${p.port} accepts ${p.mode === "DISABLE" ? "only plaintext" : "plaintext"} (${p.mode}) while the selected workloads are STRICT`));
      }
    }
    return out;
  },
};

/** MSH2011: AuthorizationPolicy ALLOW rule admits every request. */
export const allowAllRule: Analyzer = {
  code: "MSH2011",
  severity: "warning",
  title: "AuthorizationPolicy ALLOW rule admits every request",
  explanation:
    "An ALLOW AuthorizationPolicy with an empty rule ({}) matches every request from every source, so it allows everything on the workloads it selects and makes every other ALLOW policy for them meaningless. That is occasionally meant (an explicit allow-all), but usually a rule whose from/to/when was lost in editing. Note that an ALLOW policy with no rules at all is the opposite: it allows nothing.",
  run(model) {
    const out: Finding[] = [];
    for (const ap of model.istio.authorizationPolicies) {
      if (ap.action !== "ALLOW") continue;
      ap.rules.forEach((r, i) => {
        if (Object.keys(r).length === 0) out.push(findingAt(this, ap.source, `rules[${i}] is empty and allows every request to the ${ap.selector ? "selected workloads" : `whole namespace ${ap.namespace}`}`, { path: ["spec", "rules", i] }));
      });
    }
    return out;
  },
};

const istioProtocols = new Set(["http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis", "udp"]);

/** MSH2012: Service port name does not declare its protocol. */
export const portNaming: Analyzer = {
  code: "MSH2012",
  severity: "info",
  istio: "IST0118",
  title: "Service port name does not declare its protocol",
  explanation:
    "Istio picks a Service port's protocol from appProtocol, or else from a port name of the form <protocol>[-<suffix>] (http, http-web, grpc, tcp, tls, ...). A port that has neither falls back to protocol sniffing, which adds latency to the first bytes and treats server-first protocols (MySQL, SMTP) wrongly. Name the port or set appProtocol. Checked for Services in namespaces with Istio injection.",
  run(model) {
    const out: Finding[] = [];
    for (const svc of model.services.values()) {
      const ns = model.namespaces.get(svc.namespace);
      if (!ns || (ns.istioInjection !== "enabled" && ns.istioRevision === undefined)) continue;
      for (const p of svc.ports) {
        if (p.appProtocol || p.protocol === "UDP") continue;
        const prefix = (p.name ?? "").split("-")[0] ?? "";
        if (istioProtocols.has(prefix) || (p.name ?? "").startsWith("grpc-web")) continue;
        out.push(findingAt(this, p.source, `port ${p.port}${p.name ? ` (${p.name})` : ""} has no appProtocol and its name does not start with a protocol (http, grpc, tcp, ...)`));
      }
    }
    return out;
  },
};

/** MSH2013: VirtualService destination port is not a port of the Service. */
export const destinationPortNotFound: Analyzer = {
  code: "MSH2013",
  severity: "error",
  title: "VirtualService destination port is not a port of the Service",
  explanation:
    "A VirtualService destination selects a port of the destination Service (port.number). When the Service has no such port, Envoy has no cluster for it and the requests on that route fail with 503. Use one of the Service's ports (its port, not the container's targetPort).",
  run(model) {
    const out: Finding[] = [];
    for (const vs of model.istio.virtualServices) {
      for (const d of [...vs.http.flatMap((r) => r.destinations), ...vs.otherDestinations]) {
        if (d.port === undefined) continue;
        const svc = model.services.get(d.host);
        if (!svc || svc.ports.some((p) => p.port === d.port)) continue;
        out.push(findingAt(this, d.source, `port ${d.port} is not a port of Service ${svc.namespace}/${svc.name} (${svc.ports.map((p) => p.port).join(", ") || "none"})`, { path: ["port", "number"] }));
      }
    }
    return out;
  },
};
