/**
 * A coordination.k8s.io Lease per environment serialises applies (the CLI and a later controller use the
 * same lock). A lease whose renewTime + leaseDurationSeconds has passed is stale and is taken over.
 *
 * So is a lease whose holder is provably dead: an apply killed (or cut off from its API server, which then
 * could not take the release) leaves its lease held for up to the TTL, and re-running it on the same machine
 * should not have to wait for that. The holder writes its process stamp (kernel boot id, pid namespace, pid,
 * start time from /proc) in an annotation; another apply with the same `user@host` in its identity, on the
 * same boot and in the same pid namespace, takes the lease over when no process with that pid and start time
 * exists any more. Anything it cannot prove (another host or container, another user, no /proc) still waits
 * for the TTL.
 */
import { readFileSync, readlinkSync } from "node:fs";
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
  /** This process's stamp, written on the lease (default: read from /proc; undefined where there is none). */
  self?: ProcessStamp | undefined;
  /** A process's start time, undefined when no such process runs (default: read from /proc). */
  startTimeOf?: (pid: number) => string | undefined;
}

/** Annotation on the Lease: the holder's process stamp. */
export const HOLDER_PROCESS_ANNOTATION = "meshops.dev/holder-process";

/** Identifies a process beyond its pid (which is reused): the kernel boot, the pid namespace, the start time. */
export interface ProcessStamp {
  bootId: string;
  pidNamespace: string;
  pid: number;
  /** Clock ticks after boot (/proc/PID/stat field 22). */
  startTime: string;
}

export function formatStamp(s: ProcessStamp): string {
  return `${s.bootId}/${s.pidNamespace}/${s.pid}/${s.startTime}`;
}

export function parseStamp(v: string | undefined): ProcessStamp | undefined {
  const m = /^([0-9a-f-]+)\/(\d+)\/(\d+)\/(\d+)$/.exec(v ?? "");
  return m ? { bootId: m[1]!, pidNamespace: m[2]!, pid: Number(m[3]), startTime: m[4]! } : undefined;
}

/** The start time of a running process, undefined when there is none (or it is a zombie). */
export function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

/** This process's stamp; undefined without Linux's /proc. */
export function selfStamp(): ProcessStamp | undefined {
  try {
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const ns = /^pid:\[(\d+)\]$/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
    const startTime = procStartTime(process.pid);
    return ns && startTime && /^[0-9a-f-]+$/.test(bootId) ? { bootId, pidNamespace: ns, pid: process.pid, startTime } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the lease's holder is certainly not running: it was started by the same `user@host` as `identity`
 * (the part before the last "/"), on this kernel boot and in this pid namespace, and no process with its pid
 * and start time exists now. False whenever that cannot be told.
 */
export function holderGone(holder: string, identity: string, stamp: ProcessStamp | undefined, self: ProcessStamp | undefined, startTimeOf: (pid: number) => string | undefined): boolean {
  const userHost = (id: string): string => id.slice(0, id.lastIndexOf("/"));
  if (!stamp || !self || !holder.includes("/") || userHost(holder) !== userHost(identity)) return false;
  if (stamp.bootId !== self.bootId || stamp.pidNamespace !== self.pidNamespace) return false;
  if (stamp.pid === self.pid && stamp.startTime === self.startTime) return false;
  return startTimeOf(stamp.pid) !== stamp.startTime;
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
  /** The holder whose lease was taken over because its process is gone (see the file comment). */
  readonly tookOverFrom?: string;
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

/** The environment's Lease as another process sees it: no holder, or who holds it and whether that process is provably gone. */
export interface LeaseHolder {
  holder: string;
  expiresInS: number;
  since?: string;
  /** The holder died without releasing (same user, host, boot and pid namespace, and no such process; see holderGone). */
  gone: boolean;
}

/** The live Lease's unexpired holder as `identity` sees it, with whether its process is provably gone. */
function leaseHolderOf(live: KubeObject | undefined, now: Date, identity: string, self: ProcessStamp | undefined, startTimeOf: (pid: number) => string | undefined): LeaseHolder | undefined {
  const held = holderOf(live, now);
  if (!held) return undefined;
  return { ...held, gone: holderGone(held.holder, identity, parseStamp(live?.metadata?.annotations?.[HOLDER_PROCESS_ANNOTATION]), self, startTimeOf) };
}

/** Reads the environment's Lease (nothing is changed); `identity` is the reader's `user@host/pid`. */
export async function readLeaseHolder(kube: KubeClient, env: string, identity: string, clock: Clock = systemClock, self: ProcessStamp | undefined = selfStamp(), startTimeOf: (pid: number) => string | undefined = procStartTime): Promise<LeaseHolder | undefined> {
  const live = await kube.get({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: SYSTEM_NAMESPACE, name: leaseName(env) });
  return leaseHolderOf(live, clock.now(), identity, self, startTimeOf);
}

/** Acquires the environment's Lease as `identity`, renewing it until released. */
export async function acquireLock(kube: KubeClient, env: string, identity: string, clock: Clock = systemClock, options: Partial<LockOptions> = {}): Promise<Lock> {
  const opts = { ...defaultLockOptions(), ...options };
  const self = "self" in options ? options.self : selfStamp();
  const startTimeOf = opts.startTimeOf ?? procStartTime;
  const name = leaseName(env);
  let tookOverFrom: string | undefined;
  const ref = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: SYSTEM_NAMESPACE, name };
  const started = clock.now().getTime();
  let current: KubeObject;
  for (;;) {
    const live = await kube.get(ref);
    const now = clock.now();
    const held = leaseHolderOf(live, now, identity, self, startTimeOf);
    const gone = held !== undefined && held.holder !== identity && held.gone;
    if (held && held.holder !== identity && !gone) {
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
    const metadata = {
      name,
      namespace: SYSTEM_NAMESPACE,
      labels: { "app.kubernetes.io/managed-by": "meshops", "meshops.dev/environment": env },
      ...(self ? { annotations: { [HOLDER_PROCESS_ANNOTATION]: formatStamp(self) } } : {}),
      ...(live?.metadata?.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
    };
    const body: KubeObject = { ...ref, metadata, spec };
    try {
      current = live ? await kube.replace(body) : await kube.create(body);
      tookOverFrom = gone ? held.holder : undefined;
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
    ...(tookOverFrom ? { tookOverFrom } : {}),
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
