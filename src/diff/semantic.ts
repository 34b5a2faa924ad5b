/**
 * The semantic diff of two MeshModels: what a change does to traffic, routes, access and mTLS — not how
 * the YAML changed. Everything compared is a normalized value (weights in percent, canonical JSON of
 * matches), so reformatting, reordering keys or comments produce no line.
 */
import { accessEntriesOf, accessInputsKey, matrixSources, sourceLabel, workloadPorts, type AccessEntry, type AccessOptions, type SourceIdentity } from "../model/access.js";
import type { MeshModel, TableRoute } from "../model/mesh-model.js";
import { mtlsModeOf } from "../model/mesh-model.js";

/** One line of the semantic diff. */
export interface SemanticDiffLine {
  /** What changed: "reviews.bookinfo.svc", "reviews.bookinfo:9080", "namespace legacy", "bookinfo/ratings:9080". */
  subject: string;
  kind: "traffic" | "route" | "access" | "mtls";
  /** "v1 90% → 50%, v3 10% → 50%", "sa bookinfo/frontend newly ALLOWED", "STRICT → PERMISSIVE". */
  change: string;
  risk: "low" | "medium" | "high";
}

/** Options of semanticDiff. */
export interface SemanticDiffOptions {
  access: Partial<AccessOptions>;
}

const kindOrder = { traffic: 0, route: 1, access: 2, mtls: 3 } as const;

/** Compares the models of two revisions; lines sorted by subject, kind, change. */
export function semanticDiff(base: MeshModel, head: MeshModel, opts: Partial<SemanticDiffOptions> = {}): SemanticDiffLine[] {
  // The mTLS lines say when plaintext is newly accepted; the access lines stay about authorization policy.
  const accessOpts = { considerMtls: false, ...opts.access };
  const lines = [...routeLines(base, head), ...accessLines(base, head, accessOpts), ...mtlsLines(base, head)];
  return lines.sort((a, b) => cmp(a.subject, b.subject) || kindOrder[a.kind] - kindOrder[b.kind] || cmp(a.change, b.change));
}

/** Code-point order: the same in every locale. */
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** JSON with sorted keys: equal values, however written, give equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** "reviews.bookinfo.svc.cluster.local" → "reviews.bookinfo.svc". */
function shortHost(host: string, clusterDomain: string): string {
  return host.endsWith(`.svc.${clusterDomain}`) ? host.slice(0, -clusterDomain.length - 1) : host;
}

const pct = (n: number): string => `${Math.round(n * 100) / 100}%`;

/** Destination label: the subset when the route targets its own host, else the short host (with subset/port). */
function destLabel(host: string, d: TableRoute["destinations"][number], cd: string): string {
  const h = d.host === host ? "" : shortHost(d.host, cd);
  const s = d.subset ?? "";
  const p = d.port !== undefined ? `:${d.port}` : "";
  return (h && s ? `${h}/${s}` : h || s || shortHost(d.host, cd)) + p;
}

function weights(host: string, r: TableRoute, cd: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of r.destinations) {
    const k = destLabel(host, d, cd);
    m.set(k, (m.get(k) ?? 0) + d.weight);
  }
  return m;
}

function routeName(r: TableRoute, i: number, n: number): string {
  return n > 1 || r.matches.length > 0 ? `route ${i + 1}${r.matches.length ? ` (match ${canonical(r.matches)})` : ""}` : "route";
}

function routeLines(base: MeshModel, head: MeshModel): SemanticDiffLine[] {
  const cd = head.options.clusterDomain;
  const out: SemanticDiffLine[] = [];
  const hosts = new Set([...base.routes.keys(), ...head.routes.keys()]);
  for (const host of hosts) {
    const subject = shortHost(host, cd);
    const b = base.routes.get(host) ?? [];
    const h = head.routes.get(host) ?? [];
    const n = Math.max(b.length, h.length);
    for (let i = 0; i < n; i++) {
      const br = b[i];
      const hr = h[i];
      const prefix = n > 1 ? `${routeName((hr ?? br) as TableRoute, i, n)}: ` : "";
      if (!br && hr) {
        out.push({ subject, kind: "route", change: `${routeName(hr, i, n)} added → ${describeDests(host, hr, cd)}`, risk: "low" });
        continue;
      }
      if (br && !hr) {
        out.push({ subject, kind: "route", change: `${routeName(br, i, n)} removed (was → ${describeDests(host, br, cd)})`, risk: "medium" });
        continue;
      }
      if (!br || !hr) continue;
      const bw = weights(host, br, cd);
      const hw = weights(host, hr, cd);
      const keys = [...new Set([...bw.keys(), ...hw.keys()])].sort();
      const moved = keys.filter((k) => Math.abs((bw.get(k) ?? 0) - (hw.get(k) ?? 0)) > 1e-9);
      if (moved.length) {
        const maxDelta = Math.max(...moved.map((k) => Math.abs((bw.get(k) ?? 0) - (hw.get(k) ?? 0))));
        const newDest = moved.some((k) => !bw.has(k) && (hw.get(k) ?? 0) > 0);
        out.push({ subject, kind: "traffic", change: prefix + moved.map((k) => `${k} ${pct(bw.get(k) ?? 0)} → ${pct(hw.get(k) ?? 0)}`).join(", "), risk: maxDelta > 50 || newDest ? "high" : maxDelta > 10 ? "medium" : "low" });
      }
      const attr = (name: string, x: unknown, y: unknown, risk: SemanticDiffLine["risk"]): void => {
        const cx = x === undefined ? "none" : typeof x === "string" ? x : canonical(x);
        const cy = y === undefined ? "none" : typeof y === "string" ? y : canonical(y);
        if (cx !== cy) out.push({ subject, kind: "route", change: `${prefix}${name} ${cx} → ${cy}`, risk });
      };
      attr("matches", br.matches.length ? br.matches : undefined, hr.matches.length ? hr.matches : undefined, "medium");
      attr("timeout", br.timeout, hr.timeout, "low");
      attr("retries", br.retries, hr.retries, "low");
      attr("fault", br.fault, hr.fault, hr.fault ? "high" : "low");
      attr("mirror", br.mirror, hr.mirror, "low");
    }
  }
  return out;
}

function describeDests(host: string, r: TableRoute, cd: string): string {
  return [...weights(host, r, cd)].map(([k, w]) => `${k} ${pct(w)}`).join(", ");
}

/** Services (subject "name.namespace:port") whose workloads' target port shows the same change collapse to one line. */
function accessLines(base: MeshModel, head: MeshModel, opts: Partial<AccessOptions>): SemanticDiffLine[] {
  const key = (e: AccessEntry): string => `${e.workload}:${e.port}|${sourceLabel(e.source)}`;
  // Only workloads whose decision inputs changed are decided, and only for sources both revisions know.
  const baseSources = new Set(matrixSources(base).map(sourceLabel));
  const sources = matrixSources(head).filter((s) => baseSources.has(sourceLabel(s)));
  const baseByName = new Map(base.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w]));
  const before = new Map<string, AccessEntry>();
  const after: AccessEntry[] = [];
  for (const w of head.workloads) {
    const bw = baseByName.get(`${w.kind}/${w.namespace}/${w.name}`);
    if (!bw || accessInputsKey(base, bw, opts) === accessInputsKey(head, w, opts)) continue;
    for (const e of accessEntriesOf(base, bw, sources, opts)) before.set(key(e), e);
    after.push(...accessEntriesOf(head, w, sources, opts));
  }
  const changes = new Map<string, { entry: AccessEntry; opened: boolean }>();
  for (const e of after) {
    const b = before.get(key(e));
    // Workloads or sources that exist in only one revision are new or gone, not access opened or closed.
    if (!b || b.decision.allowed === e.decision.allowed) continue;
    changes.set(key(e), { entry: e, opened: e.decision.allowed });
  }
  const out: SemanticDiffLine[] = [];
  if (changes.size === 0) return out;
  const changed = new Set([...changes.values()].map((c) => c.entry.workload));
  const items: { subject: string; entry: AccessEntry; opened: boolean }[] = [];
  const consumed = new Set<string>();
  const services = [...head.services.values()].sort((a, b) => cmp(a.host, b.host));
  for (const s of services) {
    if (!s.workloads.some((w) => changed.has(`${w.namespace}/${w.name}`))) continue;
    for (const sp of s.ports) {
      const target = typeof sp.targetPort === "number" ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined;
      if (target === undefined) continue;
      const bySource = new Map<string, { keys: string[]; opened: boolean; entry: AccessEntry }[]>();
      for (const w of s.workloads) {
        if (!workloadPorts(head, w).includes(target)) continue;
        for (const [k, c] of changes) {
          if (!k.startsWith(`${w.namespace}/${w.name}:${target}|`)) continue;
          const src = sourceLabel(c.entry.source);
          bySource.set(src, [...(bySource.get(src) ?? []), { keys: [k], opened: c.opened, entry: c.entry }]);
        }
      }
      for (const list of bySource.values()) {
        const first = list[0];
        if (!first || list.length !== s.workloads.length || list.some((x) => x.opened !== first.opened)) continue;
        for (const x of list) for (const k of x.keys) consumed.add(k);
        items.push({ subject: `${s.name}.${s.namespace}:${sp.port}`, entry: first.entry, opened: first.opened });
      }
    }
  }
  for (const [k, c] of changes) {
    if (consumed.has(k)) continue;
    items.push({ subject: `${c.entry.workload}:${c.entry.port}`, entry: c.entry, opened: c.opened });
  }
  // Sources with the same change for the same reason share one line, in matrix order (ServiceAccounts, any authenticated, unauthenticated).
  const groups = new Map<string, { subject: string; opened: boolean; reason: string; sources: SourceIdentity[] }>();
  for (const it of items) {
    const reason = it.entry.decision.source ? ` (${it.entry.decision.reason})` : "";
    const k = `${it.subject}|${it.opened}|${reason}`;
    const g = groups.get(k) ?? { subject: it.subject, opened: it.opened, reason, sources: [] };
    g.sources.push(it.entry.source);
    groups.set(k, g);
  }
  for (const g of groups.values()) {
    const labels = g.sources.sort((a, b) => sourceRank(a) - sourceRank(b) || cmp(sourceLabel(a), sourceLabel(b))).map(sourceLabel);
    out.push({ subject: g.subject, kind: "access", change: `${labels.join(", ")} newly ${g.opened ? "ALLOWED" : "DENIED"}${g.reason}`, risk: g.opened ? "high" : "medium" });
  }
  return out;
}

const sourceRank = (s: SourceIdentity): number => (s.kind === "serviceAccount" ? 0 : s.kind === "authenticated" ? 1 : 2);

const strength: Record<string, number> = { DISABLE: 0, PERMISSIVE: 1, STRICT: 2, LINKERD: 2 };

function mtlsRisk(from: string, to: string): SemanticDiffLine["risk"] {
  return (strength[to] ?? 1) < (strength[from] ?? 1) ? "high" : "medium";
}

/** mTLS per workload port; a namespace (or the whole mesh) whose every port changed the same way is one line. */
function mtlsLines(base: MeshModel, head: MeshModel): SemanticDiffLine[] {
  const changes: { ns: string; subject: string; change: string; from: string; to: string }[] = [];
  const total = new Map<string, number>();
  const baseByName = new Map(base.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w]));
  for (const w of head.workloads) {
    const bw = baseByName.get(`${w.kind}/${w.namespace}/${w.name}`);
    if (!bw) continue;
    const ports = workloadPorts(head, w);
    for (const port of ports.length ? ports : [undefined]) {
      total.set(w.namespace, (total.get(w.namespace) ?? 0) + 1);
      const from = mtlsModeOf(base, bw, port).mode;
      const to = mtlsModeOf(head, w, port).mode;
      if (from !== to) changes.push({ ns: w.namespace, subject: `${w.namespace}/${w.name}${port !== undefined ? `:${port}` : ""}`, change: `${from} → ${to}`, from, to });
    }
  }
  const out: SemanticDiffLine[] = [];
  const namespaces = [...new Set(changes.map((c) => c.ns))].sort();
  const allSame = (xs: typeof changes): boolean => xs.every((c) => c.change === xs[0]?.change);
  const whole = namespaces.length > 1 && allSame(changes) && namespaces.length === total.size && namespaces.every((ns) => changes.filter((c) => c.ns === ns).length === total.get(ns));
  if (whole && changes[0]) return [{ subject: "mesh", kind: "mtls", change: changes[0].change, risk: mtlsRisk(changes[0].from, changes[0].to) }];
  for (const ns of namespaces) {
    const list = changes.filter((c) => c.ns === ns);
    if (list.length === total.get(ns) && allSame(list) && list[0]) out.push({ subject: `namespace ${ns}`, kind: "mtls", change: list[0].change, risk: mtlsRisk(list[0].from, list[0].to) });
    else for (const c of list) out.push({ subject: c.subject, kind: "mtls", change: c.change, risk: mtlsRisk(c.from, c.to) });
  }
  return out;
}
