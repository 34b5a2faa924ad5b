/**
 * managedFields as data: which field manager owns which field of a live object (the `FieldsV1` sets of
 * server-side apply: `f:` fields, `k:` list items by key, `v:` set items by value, `i:` items by index,
 * `.` the node itself), resolved against the object into paths like `.spec.http[0].route[1].weight`.
 * Drift uses it to name who changed a field and to find fields Git does not set that another manager does
 * (the blind spot of server-side-apply diffs); adopt uses it to move such fields to meshops.
 */
import type { KubeObject } from "./client.js";
import { fieldPath } from "./diff.js";

/** A FieldsV1 set: nested keys, `{}` at a leaf. */
export type FieldSet = { [key: string]: FieldSet };

/** One managedFields entry. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
  subresource?: string;
}

/** A field a manager owns, with its current value. */
export interface OwnedField {
  path: string;
  segments: (string | number)[];
  value: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The index of the list element a `k:`/`v:`/`i:` key names, or -1. */
function elementIndex(list: unknown[], key: string): number {
  const body = key.slice(2);
  if (key.startsWith("i:")) {
    const i = Number(body);
    return Number.isInteger(i) && i < list.length ? i : -1;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return -1;
  }
  if (key.startsWith("v:")) return list.findIndex((e) => deepEqual(e, parsed));
  if (!isObject(parsed)) return -1;
  // k: every key field equals (the server writes them as the object's own values)
  return list.findIndex((e) => isObject(e) && Object.entries(parsed as Record<string, unknown>).every(([k, v]) => deepEqual(e[k], v)));
}

/**
 * The leaf fields of a FieldsV1 set that exist in `value`. A node that owns itself (`.`) and nothing below
 * is a leaf (an atomic list item, a map owned as a whole); one with children is described by them.
 */
export function ownedFields(set: FieldSet | undefined, value: unknown, segments: (string | number)[] = []): OwnedField[] {
  const out: OwnedField[] = [];
  const walk = (s: FieldSet, v: unknown, segs: (string | number)[]): void => {
    const keys = Object.keys(s).filter((k) => k !== ".");
    if (keys.length === 0) {
      if (v !== undefined && segs.length > 0) out.push({ path: fieldPath(segs), segments: segs, value: v });
      return;
    }
    for (const k of keys) {
      const sub = s[k] ?? {};
      if (k.startsWith("f:")) {
        if (!isObject(v)) continue;
        const name = k.slice(2);
        if (!(name in v)) continue;
        walk(sub, v[name], [...segs, name]);
      } else if (k.startsWith("k:") || k.startsWith("v:") || k.startsWith("i:")) {
        if (!Array.isArray(v)) continue;
        const i = elementIndex(v, k);
        if (i >= 0) walk(sub, v[i], [...segs, i]);
      }
    }
  };
  if (set) walk(set, value, segments);
  return out;
}

/** The managedFields entries of a live object. */
export function managedFieldsOf(obj: KubeObject): ManagedFieldsEntry[] {
  return (obj.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
}

/** Is `a` the same field as `b`, or inside it, or around it? */
export function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const inside = (x: string, y: string): boolean => x.startsWith(y) && (x[y.length] === "." || x[y.length] === "[");
  return inside(a, b) || inside(b, a);
}

/** Per manager entry, the fields it owns in `obj` (status subresource entries excluded). */
export function ownership(obj: KubeObject): { entry: ManagedFieldsEntry; fields: OwnedField[] }[] {
  return managedFieldsOf(obj)
    .filter((e) => e.subresource !== "status")
    .map((entry) => ({ entry, fields: ownedFields(entry.fieldsV1, obj) }));
}

/** The managers owning `path` (or a field around or inside it) in `obj`. */
export function ownersOf(owned: { entry: ManagedFieldsEntry; fields: OwnedField[] }[], path: string): ManagedFieldsEntry[] {
  return owned.filter((o) => o.fields.some((f) => overlaps(f.path, path))).map((o) => o.entry);
}

/** The entry of the manager that wrote the object last with an Update (kubectl edit/patch, a controller). */
export function lastUpdater(obj: KubeObject, exclude: string): ManagedFieldsEntry | undefined {
  let best: ManagedFieldsEntry | undefined;
  for (const e of managedFieldsOf(obj)) {
    if (e.manager === exclude || e.subresource === "status") continue;
    if (!best || (e.time ?? "") > (best.time ?? "")) best = e;
  }
  return best;
}

/** Union of FieldsV1 sets (adopt: the fields of several managers become one manager's). */
export function mergeFieldSets(...sets: (FieldSet | undefined)[]): FieldSet {
  const out: FieldSet = {};
  for (const s of sets) {
    if (!s) continue;
    for (const [k, v] of Object.entries(s)) out[k] = k in out ? mergeFieldSets(out[k], v) : mergeFieldSets(v);
  }
  return out;
}

/** Fields under these paths are never "set by another manager" drift: servers and kubectl write them as bookkeeping. */
const BOOKKEEPING = [".metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]", ".metadata.annotations[\"deployment.kubernetes.io/revision\"]", ".metadata.finalizers", ".status"];

/** A field a manager other than `self` set and `self` does not own. */
export interface ForeignField {
  path: string;
  value: unknown;
  manager: string;
  operation?: string;
  time?: string;
}

/**
 * Fields other managers own that `self` does not (set by `kubectl apply`, Helm, `kubectl edit`…): a
 * server-side apply by `self` keeps them, so a diff of the applied result never shows them.
 */
export function foreignFields(obj: KubeObject, self: string): ForeignField[] {
  const owned = ownership(obj);
  const mine = owned.filter((o) => o.entry.manager === self).flatMap((o) => o.fields.map((f) => f.path));
  const out: ForeignField[] = [];
  const seen = new Set<string>();
  for (const o of owned) {
    if (o.entry.manager === self) continue;
    for (const f of o.fields) {
      if (BOOKKEEPING.some((b) => overlaps(f.path, b)) || seen.has(f.path)) continue;
      if (mine.some((m) => overlaps(m, f.path))) continue;
      seen.add(f.path);
      out.push({ path: f.path, value: f.value, manager: o.entry.manager ?? "(unknown)", ...(o.entry.operation ? { operation: o.entry.operation } : {}), ...(o.entry.time ? { time: o.entry.time } : {}) });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
