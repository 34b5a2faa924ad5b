/**
 * Field-level diff of a live object and its server-side dry-run result. Both come from the server, so
 * defaulted fields appear on both sides and cancel out; what the server owns (managedFields,
 * resourceVersion, uid, generation, timestamps, status) is removed first (as Flux's ssa/manager_diff.go
 * and Argo CD's server-side diff do).
 */
import type { KubeObject } from "./client.js";

/** One changed field: a JSONPath-like path and the values before and after (undefined = absent). */
export interface FieldChange {
  /** `.spec.http[0].route[1].weight` */
  path: string;
  old?: unknown;
  new?: unknown;
  /** Values withheld (Secret data). */
  masked?: boolean;
}

const SERVER_METADATA = ["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"];

/** Drops what the server owns, so only declared state is compared. */
export function normalizeForDiff(obj: KubeObject): KubeObject {
  const { status: _status, metadata, ...rest } = obj;
  const meta: Record<string, unknown> = { ...(metadata ?? {}) };
  for (const k of SERVER_METADATA) delete meta[k];
  return { ...rest, metadata: meta };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return SIMPLE_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** ["spec", "http", 0, "weight"] → `.spec.http[0].weight` (the paths diffObjects reports). */
export function fieldPath(segments: (string | number)[]): string {
  return segments.reduce<string>((p, k) => child(p, k), "");
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) walk(a[k], b[k], child(path, k), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) walk(a[i], b[i], child(path, i), out);
    return;
  }
  if (a === undefined && b === undefined) return;
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  out.push({ path: path || ".", ...(a !== undefined ? { old: a } : {}), ...(b !== undefined ? { new: b } : {}) });
}

/** Changes from `live` to `desired` (both normalized first); Secret data and stringData are masked. */
export function diffObjects(live: KubeObject, desired: KubeObject): FieldChange[] {
  const out: FieldChange[] = [];
  walk(normalizeForDiff(live), normalizeForDiff(desired), "", out);
  if (live.kind === "Secret" || desired.kind === "Secret") {
    return out.map((c) => (/^\.(data|stringData)\b/.test(c.path) ? { path: c.path, masked: true } : c));
  }
  return out;
}

/** A value as one line of YAML-ish text for the terminal. */
export function formatValue(v: unknown): string {
  if (v === undefined) return "(absent)";
  if (typeof v === "string") return /^[\w./:@-]+$/.test(v) && v !== "" ? v : JSON.stringify(v);
  return JSON.stringify(v);
}
