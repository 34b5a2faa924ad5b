/**
 * Plan as data (kapp's Calculate, Flux's ssa dry-run diff): per rendered object a server-side dry-run apply
 * compared with the live object, plus the inventory objects that left Git. Nothing is changed.
 */
import { identityKey, subjectOf, type Manifest, type ResourceRef } from "../model/resource.js";
import type { KubeClient, KubeObject } from "./client.js";
import { diffObjects, fieldPath, type FieldChange } from "./diff.js";
import { KubeError, type FieldConflict } from "./errors.js";
import { ownedFields, type FieldSet } from "./fields.js";
import { PRUNE_ANNOTATION, staleObjects } from "./inventory.js";

/** The fluxcd change-set actions (fluxcd/pkg ssa/changeset.go). */
export type ChangeAction = "created" | "configured" | "unchanged" | "deleted" | "skipped";

/** One object's planned change. */
export interface PlanEntry {
  /** `Kind/namespace/name` */
  subject: string;
  ref: ResourceRef;
  action: ChangeAction;
  /** Where the object is declared (absent for prunes). */
  origin?: { file: string; line: number };
  /** Field changes, for "configured". */
  changes?: FieldChange[];
  /** Why an object is skipped (prune disabled, not created by meshops, an API error). */
  reason?: string;
  /** The API error that made the object unplannable. */
  error?: { code: string; message: string; conflicts?: FieldConflict[] };
  /** The object to apply (with its namespace resolved); not part of the JSON output. */
  desired?: KubeObject;
  /** The rendered object, to locate fields an API error names. */
  manifest?: Manifest;
  /** Live uid/resourceVersion of an object to prune (delete precondition). */
  live?: { resourceVersion?: string };
  /** The live object the entry was planned against (drift reads its managedFields and status); not part of the JSON output. */
  liveObject?: KubeObject;
}

export interface Plan {
  env: string;
  entries: PlanEntry[];
}

export interface PlanOptions {
  env: string;
  /** Objects of the current inventory revision (prune candidates). */
  inventory: ResourceRef[];
  /** Plan as if --force-conflicts were given. */
  force?: boolean;
  /** Labels added to every applied object. */
  labels?: Record<string, string>;
  /** Dry-run every object, even those provably unchanged (see unchangedByApply). */
  dryRunAll?: boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Is every value of `desired` in `live` (objects: a subset; lists: the same length, element by element)? Collects desired leaf paths. */
function containedIn(desired: unknown, live: unknown, segs: (string | number)[], leaves: (string | number)[][]): boolean {
  if (isPlainObject(desired)) {
    if (!isPlainObject(live)) return false;
    const keys = Object.keys(desired);
    if (keys.length === 0) {
      leaves.push(segs);
      return true;
    }
    return keys.every((k) => containedIn(desired[k], live[k], [...segs, k], leaves));
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    if (desired.length === 0) {
      leaves.push(segs);
      return true;
    }
    return desired.every((d, i) => containedIn(d, live[i], [...segs, i], leaves));
  }
  leaves.push(segs);
  return desired === live;
}

function valueAt(obj: unknown, segs: (string | number)[]): unknown {
  let cur = obj;
  for (const k of segs) {
    if (typeof k === "number" ? !Array.isArray(cur) : !isPlainObject(cur)) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/**
 * Would a server-side apply of `desired` by meshops leave `live` as it is? Decided without asking the server
 * only when that is certain: meshops is the object's only Apply manager entry of `desired`'s apiVersion, every
 * value `desired` sets is already live (server defaults may add more), every field `desired` sets is owned by
 * meshops (so nobody took one over, and applying would not only add ownership), and every field meshops owns
 * is still in `desired` (so applying would remove nothing). Anything else — another manager's fields in the
 * way, normalised values (`"80"` for 80, quantities), reordered lists — falls back to the server's dry run.
 */
export function unchangedByApply(live: KubeObject, desired: KubeObject, manager = "meshops"): boolean {
  const entries = (live.metadata?.managedFields ?? []).filter((m) => m.manager === manager);
  if (entries.length !== 1) return false;
  const mine = entries[0]!;
  if (mine.operation !== "Apply" || mine.subresource || mine.apiVersion !== desired.apiVersion) return false;
  const { metadata, apiVersion: _v, kind: _k, ...rest } = desired;
  const { name: _n, namespace: _ns, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  const leaves: (string | number)[][] = [];
  if (!containedIn({ ...rest, metadata: meta }, { ...live, metadata: live.metadata ?? {} }, [], leaves)) return false;
  const owned = ownedFields(mine.fieldsV1 as FieldSet | undefined, live).map((f) => f.path);
  const ownedSet = new Set(owned);
  // every field meshops owns is still desired
  for (const f of ownedFields(mine.fieldsV1 as FieldSet | undefined, live)) if (valueAt(desired, f.segments) === undefined) return false;
  // every desired leaf is owned by meshops (the field itself or an atomic container around it)
  for (const segs of leaves) {
    let covered = false;
    for (let n = segs.length; n > 0 && !covered; n--) covered = ownedSet.has(fieldPath(segs.slice(0, n)));
    if (!covered) return false;
  }
  return true;
}

/** The label meshops puts on every object it applies. */
export const ENV_LABEL = "meshops.dev/environment";

/** Did meshops ever apply this live object (a managedFields entry of manager "meshops")? */
export function managedByMeshops(obj: KubeObject, manager = "meshops"): boolean {
  return (obj.metadata?.managedFields ?? []).some((m) => m.manager === manager);
}

function errorOf(e: unknown): PlanEntry["error"] {
  if (e instanceof KubeError) return { code: e.code, message: e.message, ...(e.details.conflicts ? { conflicts: e.details.conflicts } : {}) };
  throw e;
}

/** "spec.http[0].route[0].weight" → ["spec", "http", 0, "route", 0, "weight"]. */
export function parseFieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of field.replace(/^\./, "").matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** The file and line of the field an API error names, when the origin file has it. */
export function locateError(m: Manifest, e: unknown): { file: string; line: number } | undefined {
  if (!(e instanceof KubeError)) return undefined;
  for (const f of e.details.fields ?? []) {
    const pos = m.locate(parseFieldPath(f));
    if (pos) return { file: m.origin.file, line: pos.line };
  }
  return undefined;
}

/** Resolves namespaces (the context's for namespaced objects that name none) and adds meshops' labels. */
export async function desiredObject(kube: KubeClient, m: Manifest, labels: Record<string, string>): Promise<{ ref: ResourceRef; obj: KubeObject }> {
  const info = await kube.resource(m.ref.apiVersion, m.ref.kind);
  const meta = { ...((m.object.metadata ?? {}) as Record<string, unknown>) };
  let ref = m.ref;
  if (info.namespaced && !ref.namespace) {
    ref = { ...ref, namespace: kube.defaultNamespace };
    meta.namespace = kube.defaultNamespace;
  } else if (!info.namespaced && ref.namespace) {
    // cluster-scoped objects ignore a namespace (as kubectl does); drop it so identities match
    const { namespace: _ns, ...rest } = ref;
    ref = rest;
    delete meta.namespace;
  }
  meta.labels = { ...((meta.labels ?? {}) as Record<string, string>), ...labels };
  return { ref, obj: { ...m.object, metadata: meta } };
}

/** Objects of one kind in one namespace at or above which one LIST replaces the GETs (1 request instead of n). */
const LIST_THRESHOLD = 4;

/**
 * Live objects, read with one LIST per apiVersion/kind/namespace that holds several of the planned objects
 * (a LIST of 1,000 objects takes about as long as 20 GETs) and a GET otherwise, or when LIST is not allowed.
 */
function createLiveCache(kube: KubeClient, refs: ResourceRef[]): (ref: ResourceRef) => Promise<KubeObject | undefined> {
  const counts = new Map<string, number>();
  const groupKey = (r: ResourceRef): string => `${r.apiVersion}|${r.kind}|${r.namespace ?? ""}`;
  for (const r of refs) counts.set(groupKey(r), (counts.get(groupKey(r)) ?? 0) + 1);
  const lists = new Map<string, Promise<Map<string, KubeObject> | undefined>>();
  return async (ref) => {
    const k = groupKey(ref);
    if ((counts.get(k) ?? 0) >= LIST_THRESHOLD) {
      let p = lists.get(k);
      if (!p) {
        p = kube
          .list(ref.apiVersion, ref.kind, ref.namespace ? { namespace: ref.namespace } : {})
          .then((items) => new Map(items.map((o) => [String(o.metadata?.name ?? ""), o])))
          .catch((e: unknown) => {
            if (e instanceof KubeError && e.code === "forbidden") return undefined;
            throw e;
          });
        lists.set(k, p);
      }
      const byName = await p;
      if (byName) return byName.get(ref.name);
    }
    return kube.get(ref);
  };
}

/** Plans one environment: dry-run apply per object (bounded by the client's concurrency), then prunes. */
export async function computePlan(kube: KubeClient, manifests: Manifest[], opts: PlanOptions): Promise<Plan> {
  const labels = { [ENV_LABEL]: opts.env, ...opts.labels };
  const creatingNamespaces = new Set(manifests.filter((m) => m.ref.kind === "Namespace" && m.ref.apiVersion === "v1").map((m) => m.ref.name));
  const creatingKinds = new Set<string>();
  for (const m of manifests) {
    if (m.ref.kind !== "CustomResourceDefinition") continue;
    const spec = (m.object.spec ?? {}) as { group?: string; names?: { kind?: string } };
    if (spec.group && spec.names?.kind) creatingKinds.add(`${spec.group}|${spec.names.kind}`);
  }
  const liveObject = createLiveCache(kube, [...manifests.map((m) => m.ref), ...opts.inventory]);
  const namespaces = new Map<string, Promise<boolean>>();
  const namespaceExists = (name: string): Promise<boolean> => {
    let p = namespaces.get(name);
    if (!p) {
      p = kube.get({ apiVersion: "v1", kind: "Namespace", name }).then((n) => n !== undefined);
      namespaces.set(name, p);
    }
    return p;
  };
  const planned = await Promise.all(
    manifests.map(async (m): Promise<PlanEntry> => {
      const origin = { file: m.origin.file, line: m.origin.line };
      let ref = m.ref;
      try {
        const d = await desiredObject(kube, m, labels);
        ref = d.ref;
        const base = { subject: subjectOf(ref), ref, origin, desired: d.obj, manifest: m };
        const live = await liveObject(ref);
        if (!live && ref.namespace && creatingNamespaces.has(ref.namespace)) {
          // its namespace is created by this plan: a dry run would fail with NotFound
          if (!(await namespaceExists(ref.namespace))) return { ...base, action: "created" };
        }
        // an object the last apply left exactly as Git has it needs no dry run (kapp/Flux send one per object)
        if (live && !opts.dryRunAll && unchangedByApply(live, d.obj)) return { ...base, action: "unchanged", liveObject: live };
        const dry = await kube.apply(d.obj, { dryRun: true, force: opts.force ?? false });
        if (!live) return { ...base, action: "created" };
        const changes = diffObjects(live, dry);
        if (changes.length) return { ...base, action: "configured", changes, liveObject: live };
        // same content but never applied by meshops (e.g. created with kubectl): apply to own its fields, or it could never be pruned
        if (!managedByMeshops(live)) return { ...base, action: "configured", changes: [], reason: "adopted: its fields become managed by meshops", liveObject: live };
        return { ...base, action: "unchanged", liveObject: live };
      } catch (e) {
        const group = m.ref.apiVersion.includes("/") ? m.ref.apiVersion.split("/")[0] : "";
        if (e instanceof KubeError && e.code === "unknown_kind" && creatingKinds.has(`${group}|${m.ref.kind}`)) {
          // its CRD is created by this plan: it can only be checked once the CRD is established
          const meta = (m.object.metadata ?? {}) as Record<string, unknown>;
          const desired = { ...m.object, metadata: { ...meta, labels: { ...((meta.labels ?? {}) as Record<string, string>), ...labels } } };
          return { subject: subjectOf(ref), ref, origin, action: "created", desired, manifest: m, reason: "its CRD is created by this apply" };
        }
        const error = errorOf(e);
        return { subject: subjectOf(ref), ref, origin: locateError(m, e) ?? origin, action: "skipped", reason: error?.message ?? "failed", ...(error ? { error } : {}) };
      }
    }),
  );
  const desiredRefs = planned.map((p) => p.ref);
  const prunes = await Promise.all(
    staleObjects(opts.inventory, desiredRefs).map(async (ref): Promise<PlanEntry | undefined> => {
      const subject = subjectOf(ref);
      try {
        const live = await liveObject(ref);
        if (!live) return undefined;
        if (live.metadata?.annotations?.[PRUNE_ANNOTATION] === "disabled") return { subject, ref, action: "skipped", reason: `annotated ${PRUNE_ANNOTATION}: disabled` };
        if (!managedByMeshops(live)) return { subject, ref, action: "skipped", reason: "not applied by meshops (no meshops field manager): never pruned", liveObject: live };
        return { subject, ref, action: "deleted", liveObject: live, live: { ...(live.metadata?.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}) } };
      } catch (e) {
        const error = errorOf(e);
        return { subject, ref, action: "skipped", reason: error?.message ?? "failed", ...(error ? { error } : {}) };
      }
    }),
  );
  const entries = [...planned, ...prunes.filter((p): p is PlanEntry => p !== undefined)];
  entries.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : identityKey(a.ref).localeCompare(identityKey(b.ref))));
  return { env: opts.env, entries };
}

/** Counts per action. */
export function summarize(plan: Plan): Record<ChangeAction, number> {
  const s: Record<ChangeAction, number> = { created: 0, configured: 0, unchanged: 0, deleted: 0, skipped: 0 };
  for (const e of plan.entries) s[e.action]++;
  return s;
}
