/**
 * Changes, as correlation reads them: an environment's inventory revisions (what meshops applied, when, from
 * which commit), the objects that changed between consecutive revisions, and the services those objects
 * touch in the MeshModel (routes, destination rules, selector-based policies and mTLS, the Services and
 * workloads themselves). Pure: the CLI renders the revisions' commits and passes the manifests in.
 */
import type { InventoryRevision } from "../cluster/inventory.js";
import type { SemanticDiffLine } from "../diff/semantic.js";
import { resolveHost } from "../model/hosts.js";
import { workloadsSelectedBy, type MeshModel } from "../model/mesh-model.js";
import { identityKey, type Manifest, type ResourceRef } from "../model/resource.js";
import { serviceId } from "./mesh.js";

/** One applied revision as a candidate cause. */
export interface Change {
  revision: number;
  commit?: string;
  author?: string;
  subject?: string;
  /** Merge request reference ("!42", or "group/proj!42" when the message names the project). */
  mergeRequest?: string;
  /** Unix seconds. */
  appliedAt: number;
  /** Objects in this revision and not in the previous one, and the reverse (from the inventory lists). */
  added: ResourceRef[];
  removed: ResourceRef[];
  /** Objects whose rendered content changed (when both commits could be rendered). */
  modified: ResourceRef[];
  /** Services ("name.namespace") the changed objects touch; undefined when unknown (commits not renderable). */
  services?: string[];
  /** The change touches every service (a mesh-wide policy in Istio's root namespace). */
  meshWide?: boolean;
  /** The semantic diff of the revision against its predecessor, when computed. */
  semantic?: SemanticDiffLine[];
}

/** "See merge request group/proj!42" (GitLab's merge commit message) → "!42"; undefined without one. */
export function parseMergeRequest(message: string): string | undefined {
  const m = /See merge request (?:[\w.\-/]+)?!(\d+)/.exec(message);
  return m ? `!${m[1]}` : undefined;
}

/** Changes from inventory revisions (newest first, as stored), oldest first, with the object-list differences. */
export function changesFromInventory(revisions: readonly InventoryRevision[]): Change[] {
  const asc = [...revisions].sort((a, b) => a.revision - b.revision);
  return asc.map((r, i) => {
    const prev = asc[i - 1];
    const before = new Set((prev?.objects ?? []).map(identityKey));
    const now = new Set(r.objects.map(identityKey));
    return {
      revision: r.revision,
      ...(r.commit ? { commit: r.commit } : {}),
      ...(r.author ? { author: r.author } : {}),
      ...(r.subject ? { subject: r.subject } : {}),
      appliedAt: Date.parse(r.appliedAt) / 1000,
      added: prev ? r.objects.filter((o) => !before.has(identityKey(o))) : [...r.objects],
      removed: (prev?.objects ?? []).filter((o) => !now.has(identityKey(o))),
      modified: [],
    };
  });
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Manifests that differ between two renders: added, removed and modified (by identity and canonical content). */
export function changedManifests(base: readonly Manifest[], head: readonly Manifest[]): { added: Manifest[]; removed: Manifest[]; modified: { base: Manifest; head: Manifest }[] } {
  const b = new Map(base.map((m) => [identityKey(m.ref), m]));
  const h = new Map(head.map((m) => [identityKey(m.ref), m]));
  const added = [...h].filter(([k]) => !b.has(k)).map(([, m]) => m);
  const removed = [...b].filter(([k]) => !h.has(k)).map(([, m]) => m);
  const modified = [...h].filter(([k, m]) => b.has(k) && canonicalJson(b.get(k)!.object) !== canonicalJson(m.object)).map(([k, m]) => ({ base: b.get(k)!, head: m }));
  return { added, removed, modified };
}

function labelsAt(o: Record<string, unknown>, ...path: string[]): Record<string, string> | undefined {
  let cur: unknown = o;
  for (const p of path) cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[p] : undefined;
  return cur && typeof cur === "object" ? (cur as Record<string, string>) : undefined;
}

const SELECTOR_POLICIES = new Set(["PeerAuthentication", "AuthorizationPolicy", "Sidecar", "RequestAuthentication", "Telemetry", "EnvoyFilter", "Server"]);
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Pod"]);

/** Two label selectors that share a key and disagree on none can select the same pods. */
function selectorsOverlap(a: Record<string, string>, b: Record<string, string>): boolean {
  const shared = Object.keys(a).filter((k) => k in b);
  return shared.length > 0 && shared.every((k) => a[k] === b[k]);
}

/** Services ("name.namespace") that the manifests touch in `model`, and whether one of them is mesh-wide. */
export function servicesTouched(model: MeshModel, manifests: readonly Manifest[]): { services: Set<string>; meshWide: boolean } {
  const out = new Set<string>();
  let meshWide = false;
  const keys = new Set(manifests.map((m) => identityKey(m.ref)));
  const cd = model.options.clusterDomain;
  const svcOfWorkload = (ns: string, name: string): string[] =>
    [...model.services.values()].filter((s) => s.workloads.some((w) => w.namespace === ns && w.name === name)).map((s) => `${s.name}.${s.namespace}`);
  // routes defined by a changed object: the host and every destination
  for (const [host, routes] of model.routes) {
    for (const r of routes) {
      if (!keys.has(identityKey(r.source.manifest.ref))) continue;
      out.add(serviceId(host));
      for (const d of r.destinations) out.add(serviceId(d.host));
      if (r.mirror) out.add(serviceId(r.mirror.host));
    }
  }
  for (const m of manifests) {
    const ns = m.ref.namespace ?? "default";
    const spec = (m.object.spec ?? {}) as Record<string, unknown>;
    const kind = m.ref.kind;
    if (kind === "Service") out.add(`${m.ref.name}.${ns}`);
    else if (WORKLOAD_KINDS.has(kind)) for (const s of svcOfWorkload(ns, m.ref.name)) out.add(s);
    else if (kind === "DestinationRule" && typeof spec.host === "string") out.add(serviceId(resolveHost(spec.host, ns, cd)));
    else if (kind === "ServiceProfile") out.add(serviceId(m.ref.name));
    else if (kind === "TrafficSplit") {
      if (typeof spec.service === "string") out.add(serviceId(resolveHost(spec.service, ns, cd)));
      for (const b of (spec.backends ?? []) as { service?: string }[]) if (b.service) out.add(serviceId(resolveHost(b.service, ns, cd)));
    } else if (SELECTOR_POLICIES.has(kind)) {
      const sel = labelsAt(spec, "selector", "matchLabels") ?? labelsAt(spec, "podSelector", "matchLabels") ?? (kind === "Server" ? undefined : labelsAt(spec, "workloadSelector", "labels"));
      const targets = (spec.targetRefs ?? (spec.targetRef ? [spec.targetRef] : [])) as { kind?: string; name?: string }[];
      if (targets.some((t) => t.kind === "Service" && t.name)) {
        for (const t of targets) if (t.kind === "Service" && t.name) out.add(`${t.name}.${ns}`);
      } else if (sel && Object.keys(sel).length > 0) {
        const selected = workloadsSelectedBy(model, ns, sel);
        for (const w of selected) for (const s of svcOfWorkload(w.namespace, w.name)) out.add(s);
        // workloads are often deployed from elsewhere: a Service whose selector agrees with the policy's selects the same pods
        if (selected.length === 0) for (const s of model.services.values()) if (s.namespace === ns && s.selector && selectorsOverlap(s.selector, sel)) out.add(`${s.name}.${s.namespace}`);
      } else if (ns === model.options.rootNamespace) meshWide = true;
      else for (const s of model.services.values()) if (s.namespace === ns) out.add(`${s.name}.${s.namespace}`);
    }
  }
  return { services: out, meshWide };
}

/** Services named by semantic diff subjects ("reviews.bookinfo.svc", "reviews.bookinfo:9080"). */
export function servicesInDiff(lines: readonly SemanticDiffLine[]): Set<string> {
  const out = new Set<string>();
  for (const l of lines) {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.svc\b|:|$)/.exec(l.subject);
    if (m) out.add(`${m[1]}.${m[3]}`);
  }
  return out;
}
