/**
 * `meshops adopt`: makes meshops the owner of the fields other field managers set on the objects of an
 * environment (a client-side `kubectl apply`, Helm, `kubectl edit`/`label`/`patch`), so that Git becomes the
 * whole truth of those objects: the next apply removes what Git does not set and no longer conflicts on what
 * it does. This is the ownership transfer `kubectl` performs when migrating client-side to server-side apply
 * (client-go's csaupgrade): the other managers' managedFields entries are merged into meshops' Apply entry
 * and removed, in one JSON Patch guarded by the object's resourceVersion (a concurrent change makes the
 * patch fail instead of losing a write). Values are not changed by adopt; only ownership.
 */
import { subjectOf, type Manifest, type ResourceRef } from "../model/resource.js";
import type { KubeClient, KubeObject } from "./client.js";
import { KubeError } from "./errors.js";
import { foreignFields, managedFieldsOf, mergeFieldSets, type FieldSet, type ForeignField, type ManagedFieldsEntry } from "./fields.js";
import { desiredObject } from "./plan.js";

export interface AdoptOptions {
  env: string;
  /** Our field manager. */
  manager?: string;
  /** Adopt only these managers' fields (default: every other manager's). */
  only?: readonly string[];
  /** Never adopt these managers' fields (controllers that legitimately own spec fields). */
  ignore?: readonly string[];
  dryRun?: boolean;
  labels?: Record<string, string>;
}

export interface AdoptEntry {
  subject: string;
  ref: ResourceRef;
  origin?: { file: string; line: number };
  /** adopted: ownership moved (or would move, in a dry run); none: nothing to adopt; missing: not in the cluster. */
  result: "adopted" | "none" | "missing" | "error";
  /** Managers whose fields moved to meshops. */
  managers?: string[];
  /** Fields Git does not set that the next apply removes (they were set by the adopted managers). */
  removedByNextApply?: ForeignField[];
  error?: string;
}

/** The new managedFields: the adopted managers' entries merged into our Apply entry. */
export function adoptedManagedFields(live: KubeObject, self: string, adopt: (e: ManagedFieldsEntry) => boolean, now: string): { managedFields: ManagedFieldsEntry[]; managers: string[] } {
  const entries = managedFieldsOf(live);
  const taken = entries.filter((e) => e.manager !== self && e.subresource !== "status" && adopt(e));
  if (taken.length === 0) return { managedFields: entries, managers: [] };
  const mine = entries.find((e) => e.manager === self && e.operation === "Apply" && !e.subresource);
  const stripStatus = (s: FieldSet | undefined): FieldSet | undefined => {
    if (!s || !("f:status" in s)) return s;
    const { "f:status": _status, ...rest } = s;
    return rest;
  };
  const merged: ManagedFieldsEntry = {
    manager: self,
    operation: "Apply",
    apiVersion: mine?.apiVersion ?? String(live.apiVersion ?? ""),
    time: now,
    fieldsType: "FieldsV1",
    fieldsV1: mergeFieldSets(mine?.fieldsV1, ...taken.map((e) => stripStatus(e.fieldsV1))),
  };
  const rest = entries.filter((e) => e !== mine && !taken.includes(e));
  return { managedFields: [merged, ...rest], managers: [...new Set(taken.map((e) => e.manager ?? "(unknown)"))].sort() };
}

/** Adopts the objects of `manifests` that exist in the cluster. */
export async function adoptObjects(kube: KubeClient, manifests: Manifest[], opts: AdoptOptions): Promise<AdoptEntry[]> {
  const self = opts.manager ?? "meshops";
  const only = opts.only?.length ? new Set(opts.only) : undefined;
  const ignore = new Set(opts.ignore ?? []);
  const wanted = (e: ManagedFieldsEntry): boolean => !ignore.has(e.manager ?? "") && (!only || only.has(e.manager ?? ""));
  const labels = { "meshops.dev/environment": opts.env, ...opts.labels };
  const entries = await Promise.all(
    manifests.map(async (m): Promise<AdoptEntry> => {
      const origin = { file: m.origin.file, line: m.origin.line };
      let ref = m.ref;
      try {
        ref = (await desiredObject(kube, m, labels)).ref;
        const base = { subject: subjectOf(ref), ref, origin };
        const live = await kube.get(ref);
        if (!live) return { ...base, result: "missing" };
        const { managedFields, managers } = adoptedManagedFields(live, self, wanted, new Date().toISOString().replace(/\.\d+Z$/, "Z"));
        if (managers.length === 0) return { ...base, result: "none" };
        const removed = foreignFields(live, self).filter((f) => managers.includes(f.manager));
        if (!opts.dryRun) {
          await kube.jsonPatch(ref, [
            { op: "test", path: "/metadata/resourceVersion", value: live.metadata?.resourceVersion },
            { op: "replace", path: "/metadata/managedFields", value: managedFields },
          ]);
        }
        return { ...base, result: "adopted", managers, ...(removed.length ? { removedByNextApply: removed } : {}) };
      } catch (e) {
        if (!(e instanceof KubeError)) throw e;
        return { subject: subjectOf(ref), ref, origin, result: "error", error: e.message };
      }
    }),
  );
  return entries.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}
