/**
 * Healing and watching drift.
 *
 * heal: re-applies Git's state of drifted and missing objects with server-side apply taking ownership back
 * (`force`: a `kubectl edit` made kubectl-edit the owner of the field it changed), in the apply order, under
 * the environment's Lease, and only while the inventory still names the revision the drift was computed
 * against (an apply that landed meanwhile moved the desired state: healing would undo it). Fields only
 * another manager set are not touched: `meshops adopt` first.
 *
 * watch: one watch per kind (label `meshops.dev/environment=<env>`, cluster-wide, or per namespace when
 * cluster-wide LIST/WATCH is forbidden) plus one on the inventory ConfigMap. An event for an object of the
 * desired state or inventory re-evaluates that object alone (a GET and a dry-run apply): reports arrive
 * within milliseconds of the change, not at a polling interval. A new inventory revision (an apply) reloads
 * the desired state. Streams that end are resumed from the last resourceVersion; an expired one relists.
 */
import { identityKey, type Manifest, type ResourceRef } from "../model/resource.js";
import type { KubeClient, KubeObject, WatchEvent } from "./client.js";
import { driftFromPlan, fingerprint, type DriftEntry, type DriftOptions } from "./drift.js";
import { KubeError } from "./errors.js";
import { readInventory, SYSTEM_NAMESPACE, inventoryName, type InventoryRevision } from "./inventory.js";
import { acquireLock, LockHeldError, systemClock } from "./lease.js";
import { stages } from "./order.js";
import { computePlan, ENV_LABEL } from "./plan.js";

export interface HealResult {
  healed: DriftEntry[];
  failed: { entry: DriftEntry; message: string }[];
  /** Drifted only by fields another manager set: re-applying does not remove them (adopt first). */
  notHealable: DriftEntry[];
  /** Why nothing was healed (the lock is held; the inventory moved on). */
  skipped?: string;
}

/** Can a re-apply fix this entry? */
function healable(e: DriftEntry): boolean {
  return e.desired !== undefined && (e.state === "missing" || (e.state === "drifted" && ((e.changes?.length ?? 0) > 0 || e.reason !== undefined)));
}

/** Re-applies Git's state of the drifted and missing entries (see the module comment). */
export async function healDrift(kube: KubeClient, env: string, entries: DriftEntry[], opts: { holder: string; revision?: number }): Promise<HealResult> {
  const targets = entries.filter(healable);
  const notHealable = entries.filter((e) => e.state === "drifted" && !healable(e));
  const result: HealResult = { healed: [], failed: [], notHealable };
  if (targets.length === 0) return result;
  let lock;
  try {
    lock = await acquireLock(kube, env, opts.holder, systemClock, { wait: false });
  } catch (e) {
    if (e instanceof LockHeldError) return { ...result, skipped: `not healed: ${e.message}` };
    throw e;
  }
  try {
    const { inventory } = await readInventory(kube, env);
    const now = inventory?.revisions[0]?.revision;
    if (opts.revision !== undefined && now !== opts.revision) return { ...result, skipped: `not healed: the inventory is at revision ${now ?? "none"} now, not ${opts.revision} (an apply landed)` };
    for (const stage of stages(targets, (e) => e.ref)) {
      await Promise.all(
        stage.map(async (e) => {
          try {
            await kube.apply(e.desired!, { force: true });
            result.healed.push(e);
          } catch (err) {
            if (!(err instanceof KubeError)) throw err;
            result.failed.push({ entry: e, message: err.message });
          }
        }),
      );
    }
  } finally {
    await lock.release();
  }
  // the applies ran concurrently: report them in a stable order
  result.healed.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  result.failed.sort((a, b) => (a.entry.subject < b.entry.subject ? -1 : a.entry.subject > b.entry.subject ? 1 : 0));
  return result;
}

/** The desired state of one environment at its current inventory revision. */
export interface DesiredState {
  manifests: Manifest[];
  /** Objects of the inventory's newest revision. */
  inventory: ResourceRef[];
  /** The inventory revision the desired state belongs to (undefined: never applied, or --rev/--working-tree). */
  revision?: InventoryRevision;
}

export type WatchReport =
  | { type: "initial"; entries: DriftEntry[]; desired: DesiredState }
  | { type: "change"; entry: DriftEntry; previous?: DriftEntry }
  | { type: "revision"; desired: DesiredState; entries: DriftEntry[] }
  | { type: "healed"; result: HealResult }
  | { type: "warning"; message: string };

export interface WatchDriftOptions extends Omit<DriftOptions, "inventory"> {
  /** Loads the desired state for an inventory revision (called at start and when the inventory changes). */
  load(revision: InventoryRevision | undefined): Promise<DesiredState>;
  /** Keep the desired state fixed (--rev/--working-tree) instead of following the inventory. */
  followInventory: boolean;
  heal: boolean;
  holder: string;
  report(r: WatchReport): void;
  signal: AbortSignal;
  /** Debounce of re-evaluations. */
  debounceMs?: number;
}

function kindKey(ref: ResourceRef): string {
  return `${ref.apiVersion}|${ref.kind}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
  });
}

/** Watches one environment until `signal` aborts (see the module comment). */
export async function watchDrift(kube: KubeClient, opts: WatchDriftOptions): Promise<void> {
  const { signal } = opts;
  let desired = await opts.load(undefined);
  const manifestsByKey = new Map<string, Manifest>();
  const inventoryKeys = new Map<string, ResourceRef>();
  const current = new Map<string, DriftEntry>();
  /** resourceVersion of the live object each entry was evaluated against */
  const evaluatedRv = new Map<string, string | undefined>();
  /** Events seen before the first evaluation finished. */
  const early = new Map<string, string | undefined>();
  let ready = false;

  const index = (d: DesiredState): void => {
    manifestsByKey.clear();
    inventoryKeys.clear();
    for (const m of d.manifests) manifestsByKey.set(identityKey(m.ref), m);
    for (const r of d.inventory) inventoryKeys.set(identityKey(r), r);
  };

  const keyOfEntry = (e: DriftEntry): string => identityKey(e.ref);

  const evaluate = async (keys: string[] | undefined): Promise<DriftEntry[]> => {
    const ms = keys ? keys.map((k) => manifestsByKey.get(k)).filter((m): m is Manifest => m !== undefined) : desired.manifests;
    const inv = keys ? keys.filter((k) => !manifestsByKey.has(k)).map((k) => inventoryKeys.get(k)).filter((r): r is ResourceRef => r !== undefined) : desired.inventory;
    const plan = await computePlan(kube, ms, { env: opts.env, inventory: inv, force: true });
    const entries = driftFromPlan(plan.entries, opts);
    for (const p of plan.entries) evaluatedRv.set(identityKey(p.ref), p.liveObject?.metadata?.resourceVersion);
    return entries;
  };

  const heal = async (entries: DriftEntry[]): Promise<void> => {
    if (!opts.heal) return;
    const todo = entries.filter((e) => e.state === "drifted" || e.state === "missing");
    if (todo.length === 0) return;
    const result = await healDrift(kube, opts.env, todo, { holder: opts.holder, ...(desired.revision ? { revision: desired.revision.revision } : {}) });
    opts.report({ type: "healed", result });
  };

  const record = (entries: DriftEntry[], announce: boolean): void => {
    for (const e of entries) {
      const k = keyOfEntry(e);
      const prev = current.get(k);
      current.set(k, e);
      if (announce && (!prev || fingerprint(prev) !== fingerprint(e))) opts.report({ type: "change", entry: e, ...(prev ? { previous: prev } : {}) });
    }
  };

  // re-evaluation queue: keys collected over a short debounce, evaluated together, one batch at a time
  const queued = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const flush = (): void => {
    timer = undefined;
    const keys = [...queued];
    queued.clear();
    running = running.then(async () => {
      if (signal.aborted || keys.length === 0) return;
      try {
        const entries = await evaluate(keys);
        record(entries, true);
        await heal(entries);
      } catch (e) {
        opts.report({ type: "warning", message: `re-evaluating ${keys.length} objects failed: ${(e as Error).message}` });
      }
    });
  };
  const schedule = (key: string): void => {
    queued.add(key);
    timer ??= setTimeout(flush, opts.debounceMs ?? 25);
  };

  const onObject = (obj: KubeObject): void => {
    const meta = obj.metadata ?? {};
    const ref: ResourceRef = { apiVersion: String(obj.apiVersion ?? ""), kind: String(obj.kind ?? ""), name: String(meta.name ?? ""), ...(meta.namespace ? { namespace: meta.namespace } : {}) };
    const key = identityKey(ref);
    if (!manifestsByKey.has(key) && !inventoryKeys.has(key)) return;
    if (!ready) {
      early.set(key, meta.resourceVersion);
      return;
    }
    if (evaluatedRv.get(key) !== undefined && evaluatedRv.get(key) === meta.resourceVersion) return;
    schedule(key);
  };

  // one long-running loop per watch: resumes after the stream ends, relists after 410 Gone, retries when unreachable
  const loop = async (apiVersion: string, kind: string, o: { namespace?: string; labelSelector?: string; fieldSelector?: string }, handle: (e: WatchEvent) => void): Promise<void> => {
    let rv: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      const w = kube.watch(apiVersion, kind, { ...o, ...(rv ? { resourceVersion: rv } : {}) }, (e) => {
        const v = e.object?.metadata?.resourceVersion;
        if (v) rv = v;
        if (e.type !== "BOOKMARK") handle(e);
      });
      const abort = (): void => w.stop();
      signal.addEventListener("abort", abort, { once: true });
      try {
        await w.done;
        failures = 0;
      } catch (e) {
        if (e instanceof KubeError && e.code === "expired") rv = undefined;
        else if (e instanceof KubeError && e.code === "forbidden") throw e;
        else {
          failures++;
          if (failures === 1 || failures % 10 === 0) opts.report({ type: "warning", message: `watch of ${kind}${o.namespace ? ` in ${o.namespace}` : ""}: ${(e as Error).message}; retrying` });
          await sleep(Math.min(200 * 2 ** Math.min(failures, 6), 10_000), signal);
        }
      } finally {
        signal.removeEventListener("abort", abort);
      }
    }
  };

  const watches = new Map<string, Promise<void>>();
  const startWatches = (): void => {
    const kinds = new Map<string, { apiVersion: string; kind: string; namespaces: Set<string | undefined> }>();
    for (const r of [...desired.manifests.map((m) => m.ref), ...desired.inventory]) {
      const k = kindKey(r);
      const entry = kinds.get(k) ?? { apiVersion: r.apiVersion, kind: r.kind, namespaces: new Set() };
      entry.namespaces.add(r.namespace ?? kube.defaultNamespace);
      kinds.set(k, entry);
    }
    for (const [k, v] of kinds) {
      if (watches.has(k)) continue;
      const labelSelector = `${ENV_LABEL}=${opts.env}`;
      const p = loop(v.apiVersion, v.kind, { labelSelector }, (e) => onObject(e.object)).catch(async (e: unknown) => {
        if (!(e instanceof KubeError && e.code === "forbidden")) throw e;
        // no cluster-wide list/watch: one watch per namespace the objects are in
        const info = await kube.resource(v.apiVersion, v.kind);
        if (!info.namespaced) throw e;
        await Promise.all([...v.namespaces].map((ns) => loop(v.apiVersion, v.kind, { labelSelector, ...(ns ? { namespace: ns } : {}) }, (ev) => onObject(ev.object))));
      });
      p.catch((e: unknown) => opts.report({ type: "warning", message: `not watching ${v.kind}: ${(e as Error).message}` }));
      watches.set(k, p);
    }
  };

  index(desired);
  startWatches();
  if (opts.followInventory) {
    let seenRevision = desired.revision?.revision;
    const inv = loop("v1", "ConfigMap", { namespace: SYSTEM_NAMESPACE, fieldSelector: `metadata.name=${inventoryName(opts.env)}` }, () => {
      running = running.then(async () => {
        if (signal.aborted) return;
        const { inventory } = await readInventory(kube, opts.env);
        const newest = inventory?.revisions[0];
        if (newest?.revision === seenRevision) return;
        seenRevision = newest?.revision;
        desired = await opts.load(newest);
        index(desired);
        startWatches();
        const entries = await evaluate(undefined);
        current.clear();
        record(entries, false);
        opts.report({ type: "revision", desired, entries });
        await heal(entries);
      });
    });
    inv.catch((e: unknown) => opts.report({ type: "warning", message: `not following the inventory: ${(e as Error).message}` }));
  }
  const entries = await evaluate(undefined);
  record(entries, false);
  opts.report({ type: "initial", entries, desired });
  ready = true;
  for (const [key, rv] of early) if (evaluatedRv.get(key) !== rv) schedule(key);
  early.clear();
  await heal(entries);
  await new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true })));
  if (timer) clearTimeout(timer);
}
