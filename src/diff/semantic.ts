/**
 * The semantic diff of two MeshModels: what a change does to traffic, routes, access and mTLS — not how
 * the YAML changed. Everything compared is a normalized value (weights in percent, canonical JSON of
 * matches), so reformatting, reordering keys or comments produce no line.
 */
import {
  accessEntriesOf,
  accessInputsKey,
  allPaths,
  grantCovers,
  matrixSources,
  sourceLabel,
  workloadPorts,
  type AccessDecision,
  type AccessEntry,
  type AccessGrant,
  type AccessOptions,
  type AccessScope,
  type SourceIdentity,
} from "../model/access.js";
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

/** One path/method grant of a (workload, port, source) that became allowed or denied, with what still holds around it. */
interface AccessItem {
  grant: AccessGrant;
  opened: boolean;
  /** Narrower grants that keep their old state ("still ALLOWED: /api/v1/*" after /api/* closed). */
  kept: AccessGrant[];
  /** The DENY policy that closed it, when one did. */
  by?: string;
}

const everything: AccessScope = { allowed: [allPaths], denied: [] };
const nothing: AccessScope = { allowed: [], denied: [] };
const grantKey = (g: AccessGrant): string => `${g.path}\0${g.method}`;
/** "GET /api/*", or the path alone for every method. */
const grantLabel = (g: AccessGrant): string => (g.method === "*" ? g.path : `${g.method} ${g.path}`);

/** Does the scope allow all of g (an allowed grant covers it, no denial covers it)? Partial overlaps are the narrower grant's own line. */
function permits(scope: AccessScope, g: AccessGrant): boolean {
  return scope.allowed.some((a) => grantCovers(a, g)) && !scope.denied.some((d) => grantCovers(d, g));
}

/**
 * The path/method grants whose state changed between two decisions for one (workload, port, source). A port
 * opened or closed as a whole is one item for every path ("*"); narrowing /api/* to /api/v1/* closes /api/*
 * and keeps /api/v1/*. Only the widest grant of each direction is reported.
 */
function accessChange(b: AccessDecision, h: AccessDecision): AccessItem[] {
  if (b.allowed === h.allowed && !b.scope && !h.scope) return [];
  if (!b.allowed && !h.allowed) return [];
  const bs = b.allowed ? (b.scope ?? everything) : nothing;
  const hs = h.allowed ? (h.scope ?? everything) : nothing;
  const candidates = new Map<string, AccessGrant>();
  for (const g of [...bs.allowed, ...bs.denied, ...hs.allowed, ...hs.denied]) candidates.set(grantKey(g), g);
  const items: AccessItem[] = [];
  for (const g of candidates.values()) {
    const was = permits(bs, g);
    const is = permits(hs, g);
    if (was === is) continue;
    // what keeps its state inside g: the narrower grants the new (closed) or old (opened) scope allows
    const keep = is ? bs : hs;
    const by = is ? undefined : hs.denied.find((d) => grantCovers(d, g))?.by;
    items.push({ grant: g, opened: is, kept: keep.allowed.filter((k) => grantKey(k) !== grantKey(g) && grantCovers(g, k) && permits(keep, k)), ...(by ? { by } : {}) });
  }
  return items.filter((i) => !items.some((j) => j !== i && j.opened === i.opened && grantCovers(j.grant, i.grant) && !(grantCovers(i.grant, j.grant) && grantKey(j.grant) > grantKey(i.grant))));
}

/** "" for every path, the path itself for "/…" patterns, " (paths …)" otherwise. */
function pathSuffix(path: string): string {
  return path === "*" ? "" : path.startsWith("/") ? path : ` (paths ${path})`;
}

/**
 * Access lines: per source identity and workload port — and path, where policies name paths or methods.
 * Services (subject "name.namespace:port") whose workloads' target port shows the same change collapse to one line.
 */
function accessLines(base: MeshModel, head: MeshModel, opts: Partial<AccessOptions>): SemanticDiffLine[] {
  const key = (e: AccessEntry): string => `${e.workload}:${e.port}|${sourceLabel(e.source)}`;
  // Only workloads whose decision inputs changed are decided, and only for sources both revisions know.
  const baseSources = new Set(matrixSources(base).map(sourceLabel));
  const sources = matrixSources(head).filter((s) => baseSources.has(sourceLabel(s)));
  const baseByName = new Map(base.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w]));
  type Change = { entry: AccessEntry; items: AccessItem[]; sig: string };
  const changes = new Map<string, Change>();
  const n = sources.length;
  for (const w of head.workloads) {
    const bw = baseByName.get(`${w.kind}/${w.namespace}/${w.name}`);
    if (!bw || n === 0 || accessInputsKey(base, bw, opts) === accessInputsKey(head, w, opts)) continue;
    // accessEntriesOf lists each port's entries in `sources` order: the entry at i compares with the base entry of its port at i % n
    const baseEntries = accessEntriesOf(base, bw, sources, opts);
    const basePorts = new Map<number, number>();
    for (let i = 0; i < baseEntries.length; i += n) basePorts.set((baseEntries[i] as AccessEntry).port, i);
    const headEntries = accessEntriesOf(head, w, sources, opts);
    for (let i = 0; i < headEntries.length; i++) {
      const e = headEntries[i] as AccessEntry;
      const at = basePorts.get(e.port);
      // Ports that exist in only one revision are new or gone, not access opened or closed.
      if (at === undefined) continue;
      const b = baseEntries[at + (i % n)] as AccessEntry;
      const items = accessChange(b.decision, e.decision);
      if (items.length === 0) continue;
      const sig = `${items.map((x) => `${x.opened}${grantKey(x.grant)}${x.kept.map(grantKey).join(",")}`).join("|")}|${e.decision.source ? e.decision.reason : ""}`;
      changes.set(key(e), { entry: e, items, sig });
    }
  }
  const out: SemanticDiffLine[] = [];
  if (changes.size === 0) return out;
  const changed = new Set([...changes.values()].map((c) => c.entry.workload));
  // changes by "namespace/name:port", so collapsing per Service port does not scan every change per workload
  const byWorkloadPort = new Map<string, [string, Change][]>();
  for (const [k, c] of changes) {
    const wp = `${c.entry.workload}:${c.entry.port}`;
    const list = byWorkloadPort.get(wp);
    if (list) list.push([k, c]);
    else byWorkloadPort.set(wp, [[k, c]]);
  }
  const subjects: { subject: string; change: Change }[] = [];
  const consumed = new Set<string>();
  const services = [...head.services.values()].sort((a, b) => cmp(a.host, b.host));
  for (const s of services) {
    if (!s.workloads.some((w) => changed.has(`${w.namespace}/${w.name}`))) continue;
    for (const sp of s.ports) {
      const target = typeof sp.targetPort === "number" ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined;
      if (target === undefined) continue;
      const bySource = new Map<string, { key: string; change: Change }[]>();
      for (const w of s.workloads) {
        if (!workloadPorts(head, w).includes(target)) continue;
        for (const [k, c] of byWorkloadPort.get(`${w.namespace}/${w.name}:${target}`) ?? []) {
          const src = sourceLabel(c.entry.source);
          bySource.set(src, [...(bySource.get(src) ?? []), { key: k, change: c }]);
        }
      }
      for (const list of bySource.values()) {
        const first = list[0];
        if (!first || list.length !== s.workloads.length || list.some((x) => x.change.sig !== first.change.sig)) continue;
        for (const x of list) consumed.add(x.key);
        subjects.push({ subject: `${s.name}.${s.namespace}:${sp.port}`, change: first.change });
      }
    }
  }
  for (const [k, c] of changes) {
    if (consumed.has(k)) continue;
    subjects.push({ subject: `${c.entry.workload}:${c.entry.port}`, change: c });
  }
  // Sources with the same change for the same reason share one line, in matrix order (ServiceAccounts, any authenticated, unauthenticated);
  // the methods of one path share the line too.
  const groups = new Map<string, { subject: string; opened: boolean; detail: string; sources: SourceIdentity[] }>();
  for (const { subject, change } of subjects) {
    const decision = change.entry.decision;
    const byPath = new Map<string, { path: string; opened: boolean; methods: string[]; kept: Set<string>; by?: string }>();
    for (const it of change.items) {
      const k = `${it.grant.path}|${it.opened}|${it.by ?? ""}`;
      const g = byPath.get(k) ?? { path: it.grant.path, opened: it.opened, methods: [], kept: new Set<string>(), ...(it.by ? { by: it.by } : {}) };
      g.methods.push(it.grant.method);
      for (const x of it.kept) g.kept.add(grantLabel(x));
      byPath.set(k, g);
    }
    for (const p of byPath.values()) {
      const reason = p.by ?? (decision.source ? decision.reason : undefined);
      const parts = [
        ...(p.methods.includes("*") ? [] : [p.methods.sort().join(", ")]),
        ...(p.kept.size ? [`${p.opened ? "before only" : "still ALLOWED"}: ${[...p.kept].sort().join(", ")}`] : []),
        ...(reason ? [reason] : []),
      ];
      const detail = parts.length ? ` (${parts.join("; ")})` : "";
      const lineSubject = subject + pathSuffix(p.path);
      const k = `${lineSubject}|${p.opened}|${detail}`;
      const g = groups.get(k) ?? { subject: lineSubject, opened: p.opened, detail, sources: [] };
      g.sources.push(change.entry.source);
      groups.set(k, g);
    }
  }
  // A namespace whose every ServiceAccount shares a line is written "sa ns/*"
  const perNamespace = new Map<string, number>();
  for (const s of sources) if (s.kind === "serviceAccount") perNamespace.set(s.namespace, (perNamespace.get(s.namespace) ?? 0) + 1);
  for (const g of groups.values()) {
    const labels = collapseNamespaces(g.sources.sort((a, b) => sourceRank(a) - sourceRank(b) || cmp(sourceLabel(a), sourceLabel(b))), perNamespace);
    out.push({ subject: g.subject, kind: "access", change: `${labels.join(", ")} newly ${g.opened ? "ALLOWED" : "DENIED"}${g.detail}`, risk: g.opened ? "high" : "medium" });
  }
  return out;
}

/** Source labels in order, with "sa ns/*" for a namespace all of whose ServiceAccounts (of the ones the diff asked about) are listed, when there are four or more. */
function collapseNamespaces(sorted: SourceIdentity[], perNamespace: ReadonlyMap<string, number>): string[] {
  const count = new Map<string, number>();
  for (const s of sorted) if (s.kind === "serviceAccount") count.set(s.namespace, (count.get(s.namespace) ?? 0) + 1);
  const out: string[] = [];
  for (const s of sorted) {
    if (s.kind === "serviceAccount") {
      const n = count.get(s.namespace) ?? 0;
      if (n >= 4 && n === perNamespace.get(s.namespace)) {
        if (out[out.length - 1] !== `sa ${s.namespace}/*`) out.push(`sa ${s.namespace}/*`);
        continue;
      }
    }
    out.push(sourceLabel(s));
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
