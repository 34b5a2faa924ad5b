/**
 * meshsim (telemetry emulator): keeps the routing objects of the configured namespaces up to date from the
 * API server — one list, then a watch per kind and namespace, restarted when the server ends it.
 */
import type { KubeClient, KubeObject } from "../cluster/client.js";
import type { RoutingKind } from "./config.js";
import type { Obj, RouteObjects } from "./routing.js";

const KINDS: Record<keyof RouteObjects, { apiVersion: string; kind: string; for: RoutingKind }> = {
  virtualServices: { apiVersion: "networking.istio.io/v1", kind: "VirtualService", for: "virtualservice" },
  destinationRules: { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", for: "virtualservice" },
  httpRoutes: { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", for: "httproute" },
  trafficSplits: { apiVersion: "split.smi-spec.io/v1alpha2", kind: "TrafficSplit", for: "trafficsplit" },
};

export interface RoutingWatch {
  /** Resolves when the first list of every kind and namespace has been read (or failed). */
  ready: Promise<void>;
  stop(): void;
}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/**
 * Watches the kinds the routing orders need in `namespaces`; calls `onChange` with all current objects after
 * every change. Failures (a missing CRD, an unreachable server) are logged once per streak and retried.
 */
export function watchRouting(kube: KubeClient, kinds: Set<RoutingKind>, namespaces: string[], onChange: (objs: RouteObjects) => void, log: (msg: string) => void): RoutingWatch {
  const caches: Record<keyof RouteObjects, Map<string, Obj>> = { virtualServices: new Map(), destinationRules: new Map(), httpRoutes: new Map(), trafficSplits: new Map() };
  const snapshot = (): RouteObjects => ({
    virtualServices: [...caches.virtualServices.values()],
    destinationRules: [...caches.destinationRules.values()],
    httpRoutes: [...caches.httpRoutes.values()],
    trafficSplits: [...caches.trafficSplits.values()],
  });
  const changed = (): void => onChange(snapshot());
  let stopped = false;
  const stops = new Set<() => void>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      const cancel = (): void => {
        clearTimeout(t);
        stops.delete(cancel);
        r();
      };
      const t = setTimeout(cancel, ms);
      stops.add(cancel);
    });

  const loops: Promise<void>[] = [];
  const firsts: Promise<void>[] = [];
  // a watch per namespace for a few namespaces, one cluster-wide watch (filtered here) for many
  const wanted = new Set(namespaces);
  const scopes: (string | undefined)[] = namespaces.length > 8 ? [undefined] : namespaces;
  for (const [field, k] of Object.entries(KINDS) as [keyof RouteObjects, (typeof KINDS)[keyof RouteObjects]][]) {
    if (!kinds.has(k.for)) continue;
    for (const ns of scopes) {
      const cache = caches[field];
      const where = ns ?? `${namespaces.length} namespaces`;
      const mine = (o: Obj): boolean => (ns === undefined ? wanted.has(o.metadata?.namespace ?? "") : (o.metadata?.namespace ?? "") === ns);
      let first!: () => void;
      firsts.push(new Promise<void>((r) => (first = r)));
      loops.push(
        (async () => {
          let failing = false;
          let listed = false;
          while (!stopped) {
            try {
              if (!listed) {
                // the initial state before emission starts, so the first samples already follow the routing
                const items = await kube.list(k.apiVersion, k.kind, ns === undefined ? {} : { namespace: ns });
                for (const o of items) if (mine(o as Obj)) cache.set(keyOf(o), o as Obj);
                listed = true;
                changed();
              }
              const seen = new Set<string>();
              const w = kube.watch(k.apiVersion, k.kind, { ...(ns === undefined ? {} : { namespace: ns }), timeoutSeconds: 240 }, (e) => {
                if (e.type === "BOOKMARK" || e.type === "ERROR" || !mine(e.object as Obj)) return;
                const key = keyOf(e.object);
                seen.add(key);
                if (e.type === "DELETED") cache.delete(key);
                else cache.set(key, e.object as Obj);
                changed();
              });
              stops.add(w.stop);
              first();
              // objects deleted while no watch was open do not come back as ADDED: drop them after the replay
              const prune = setTimeout(() => {
                let any = false;
                for (const [key, o] of cache) if (mine(o) && !seen.has(key)) any = cache.delete(key) || any;
                if (any) changed();
              }, 2_000);
              try {
                await w.done;
              } finally {
                clearTimeout(prune);
                stops.delete(w.stop);
              }
              if (failing) log(`watching ${k.kind} in ${where} again`);
              failing = false;
            } catch (e) {
              if (stopped) break;
              if (!failing) log(`cannot watch ${k.kind} in ${where} (retrying every 2s): ${(e as Error).message}`);
              failing = true;
              first();
              await sleep(2_000);
            }
          }
        })(),
      );
    }
  }
  return {
    ready: Promise.all(firsts).then(() => undefined),
    stop() {
      stopped = true;
      for (const s of [...stops]) s();
      void Promise.allSettled(loops);
    },
  };
}
