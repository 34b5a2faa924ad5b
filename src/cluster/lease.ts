/**
 * A coordination.k8s.io Lease per environment serialises applies (the CLI and a later controller use the
 * same lock). A lease whose renewTime + leaseDurationSeconds has passed is stale and is taken over.
 */
import type { KubeClient, KubeObject } from "./client.js";
import { KubeError } from "./errors.js";
import { SYSTEM_NAMESPACE } from "./inventory.js";

/** The current time; injected so lease expiry is testable. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = { now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export interface LockOptions {
  /** Lease duration: a holder that stops renewing for this long loses the lock. */
  ttlSeconds: number;
  /** Wait for a held lock instead of failing. */
  wait: boolean;
  /** Give up waiting after this long. */
  waitTimeoutMs: number;
  pollMs: number;
}

/** Defaults: a one-minute TTL renewed every 20 s, a five-minute wait. */
export function defaultLockOptions(): LockOptions {
  return { ttlSeconds: 60, wait: false, waitTimeoutMs: 300_000, pollMs: 1_000 };
}

/** Thrown when the lock is held by someone else (exit 1: try again later, or --wait-lock). */
export class LockHeldError extends Error {
  readonly code = "lock_held";
  readonly terminal = false;
}

/** A held lock. */
export interface Lock {
  readonly name: string;
  release(): Promise<void>;
}

/** Name of an environment's Lease. */
export function leaseName(env: string): string {
  return `meshops-apply-${env}`;
}

function microTime(d: Date): string {
  // MicroTime: RFC 3339 with microseconds
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function holderOf(lease: KubeObject | undefined, now: Date): { holder: string; expiresInS: number; since?: string } | undefined {
  const spec = (lease?.spec ?? {}) as { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseDurationSeconds?: number };
  if (!spec.holderIdentity) return undefined;
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? "");
  const ttl = spec.leaseDurationSeconds ?? 0;
  const expiresInS = Number.isFinite(renewed) ? Math.ceil((renewed + ttl * 1000 - now.getTime()) / 1000) : 0;
  if (expiresInS <= 0) return undefined;
  return { holder: spec.holderIdentity, expiresInS, ...(spec.acquireTime ? { since: spec.acquireTime } : {}) };
}

/** Acquires the environment's Lease as `identity`, renewing it until released. */
export async function acquireLock(kube: KubeClient, env: string, identity: string, clock: Clock = systemClock, options: Partial<LockOptions> = {}): Promise<Lock> {
  const opts = { ...defaultLockOptions(), ...options };
  const name = leaseName(env);
  const ref = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: SYSTEM_NAMESPACE, name };
  const started = clock.now().getTime();
  let current: KubeObject;
  for (;;) {
    const live = await kube.get(ref);
    const now = clock.now();
    const held = holderOf(live, now);
    if (held && held.holder !== identity) {
      if (!opts.wait) {
        throw new LockHeldError(
          `environment ${env} is locked by ${held.holder}${held.since ? ` since ${held.since}` : ""} (Lease ${SYSTEM_NAMESPACE}/${name}, expires in ${held.expiresInS}s unless renewed): another apply is running; retry later or pass --wait-lock`,
        );
      }
      if (now.getTime() - started > opts.waitTimeoutMs) throw new LockHeldError(`environment ${env}: gave up waiting for the lock held by ${held.holder} after ${opts.waitTimeoutMs} ms`);
      await clock.sleep(opts.pollMs);
      continue;
    }
    const spec = { holderIdentity: identity, leaseDurationSeconds: opts.ttlSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: (((live?.spec ?? {}) as { leaseTransitions?: number }).leaseTransitions ?? 0) + (live ? 1 : 0) };
    const body: KubeObject = { ...ref, metadata: { name, namespace: SYSTEM_NAMESPACE, labels: { "app.kubernetes.io/managed-by": "meshops", "meshops.dev/environment": env }, ...(live?.metadata?.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}) }, spec };
    try {
      current = live ? await kube.replace(body) : await kube.create(body);
      break;
    } catch (e) {
      // lost a race with another acquirer: look again
      if (e instanceof KubeError && (e.code === "conflict" || e.code === "already_exists")) continue;
      throw e;
    }
  }
  let stopped = false;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async (): Promise<void> => {
    const spec = { ...(current.spec as Record<string, unknown>), renewTime: microTime(clock.now()) };
    current = await kube.replace({ ...current, spec });
  };
  const timer = setInterval(() => {
    if (!stopped) renewing = renew().catch(() => undefined);
  }, (opts.ttlSeconds * 1000) / 3);
  timer.unref();
  return {
    name,
    async release() {
      stopped = true;
      clearInterval(timer);
      await renewing;
      const spec = { ...(current.spec as Record<string, unknown>) };
      delete spec.holderIdentity;
      delete spec.renewTime;
      try {
        await kube.replace({ ...current, spec });
      } catch {
        // best effort: the lease expires by itself after its TTL
      }
    },
  };
}
