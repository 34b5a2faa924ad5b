/**
 * A small Kubernetes client over raw HTTPS: GET, LIST, server-side apply, create/replace and DELETE with
 * bounded concurrency, retries on 429/5xx, API discovery cached per run, and errors that name the verb and
 * resource. Raw requests (not the generated client) because server-side apply needs the
 * `application/apply-patch+yaml` content type with fieldManager/force/dryRun query parameters.
 */
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { UnreachableError, UsageError } from "../errors.js";
import { splitApiVersion, subjectOf, type ResourceRef } from "../model/resource.js";
import { codeForStatus, KubeError, parseConflicts, type KubeStatus } from "./errors.js";
import type { KubeTarget } from "./kubeconfig.js";

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: ObjectMeta };

/** The metadata fields meshops reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  deletionTimestamp?: string;
  managedFields?: { manager?: string; operation?: string; apiVersion?: string; time?: string; fieldsType?: string; fieldsV1?: unknown; subresource?: string }[];
  [k: string]: unknown;
}

/** What discovery says about a kind. */
export interface ResourceInfo {
  /** Plural resource name (`virtualservices`). */
  plural: string;
  namespaced: boolean;
  group: string;
  version: string;
  kind: string;
}

/** Sleeps; injected so retry timing is testable without waiting. */
export type Sleep = (ms: number) => Promise<void>;

export interface ClientOptions {
  /** Field manager for server-side apply. */
  fieldManager: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Retries of a 429/5xx answer before giving up. */
  maxRetries: number;
  /** First backoff; doubles per retry. */
  backoffMs: number;
  /** Upper bound of one backoff (also caps Retry-After). */
  maxBackoffMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
  sleep: Sleep;
}

/** Defaults: field manager "meshops", 32 requests in flight (dry-run applies are server-CPU bound: more gains little). */
export function defaultClientOptions(): ClientOptions {
  return { fieldManager: "meshops", concurrency: 32, maxRetries: 5, backoffMs: 200, maxBackoffMs: 5_000, timeoutMs: 30_000, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
}

export interface ApplyOptions {
  dryRun?: boolean;
  /** Take ownership of fields other managers own (`--force-conflicts`). */
  force?: boolean;
}

/** The Kubernetes operations meshops needs, for one cluster. */
export interface KubeClient {
  /** Context name and server URL, for messages. */
  readonly context: string;
  readonly server: string;
  /** Namespace of the kubeconfig context, for namespaced objects that name none. */
  readonly defaultNamespace: string;
  /** Discovery: the resource serving apiVersion+kind (cached per client). */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo>;
  /** The live object, or undefined when it does not exist. */
  get(ref: ResourceRef): Promise<KubeObject | undefined>;
  list(apiVersion: string, kind: string, opts?: { namespace?: string; labelSelector?: string }): Promise<KubeObject[]>;
  /** Server-side apply (PATCH application/apply-patch+yaml); returns the resulting object. */
  apply(obj: KubeObject, opts?: ApplyOptions): Promise<KubeObject>;
  /** Create; a 409 AlreadyExists becomes code "already_exists". */
  create(obj: KubeObject): Promise<KubeObject>;
  /** Replace (PUT) with the object's resourceVersion: optimistic concurrency, 409 on a lost race. */
  replace(obj: KubeObject): Promise<KubeObject>;
  /** Delete with background propagation; false when it was already gone. */
  delete(ref: ResourceRef, opts?: { dryRun?: boolean; resourceVersion?: string }): Promise<boolean>;
  /** PATCH with a JSON Patch (RFC 6902), e.g. to rewrite managedFields under a resourceVersion test. */
  jsonPatch(ref: ResourceRef, ops: unknown[]): Promise<KubeObject>;
  /**
   * Watches one kind (cluster-wide, or in one namespace): `onEvent` gets each event until the server ends the
   * stream (after `timeoutSeconds`), `stop()` is called, or an error occurs (the promise rejects: an
   * unreachable server, 403, 410 Gone as code "expired"). Not limited by the request concurrency.
   */
  watch(apiVersion: string, kind: string, opts: WatchOptions, onEvent: (e: WatchEvent) => void): { done: Promise<void>; stop(): void };
  /** Forgets discovery (after CRDs were created). */
  resetDiscovery(): void;
  /** Frees sockets. */
  close(): void;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Resume after this resourceVersion; unset: the current objects arrive first as ADDED events. */
  resourceVersion?: string;
  /** The server ends the stream after this long (default 300). */
  timeoutSeconds?: number;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

interface RawResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Limits concurrent work to `n` at a time. */
export function createLimiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/** Creates a client for the kubeconfig's current context. */
export function createKubeClient(kc: KubeTarget, options: Partial<ClientOptions> = {}): KubeClient {
  const opts = { ...defaultClientOptions(), ...options };
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new UsageError("kubeconfig has no current cluster");
  const contextName = kc.getCurrentContext();
  const defaultNamespace = kc.getContextObject(contextName)?.namespace ?? "default";
  const base = new URL(cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
  const isHttp = base.protocol === "http:";
  const limit = createLimiter(opts.concurrency);
  let agent: HttpsAgent | HttpAgent | undefined;
  const discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();

  function pickTls(ro: RequestOptions): Record<string, unknown> {
    return {
      ...(ro.ca ? { ca: ro.ca } : {}),
      ...(ro.cert ? { cert: ro.cert } : {}),
      ...(ro.key ? { key: ro.key } : {}),
      ...(ro.rejectUnauthorized !== undefined ? { rejectUnauthorized: ro.rejectUnauthorized } : {}),
      ...(ro.servername ? { servername: ro.servername } : {}),
    };
  }

  async function requestOptions(method: string, headers: Record<string, string>): Promise<RequestOptions> {
    const ro: RequestOptions = { method, headers: { Accept: "application/json", ...headers }, timeout: opts.timeoutMs };
    await kc.applyToHTTPSOptions(ro);
    if (!agent) {
      // one keep-alive agent per client: the kubeconfig's agent is created per call and never reuses sockets
      agent = isHttp
        ? new HttpAgent({ keepAlive: true, maxSockets: opts.concurrency })
        : new HttpsAgent({
            keepAlive: true,
            maxSockets: opts.concurrency,
            ...(ro.ca ? { ca: ro.ca } : {}),
            ...(ro.cert ? { cert: ro.cert } : {}),
            ...(ro.key ? { key: ro.key } : {}),
            ...(ro.rejectUnauthorized !== undefined ? { rejectUnauthorized: ro.rejectUnauthorized } : {}),
            ...(ro.servername ? { servername: ro.servername } : {}),
          });
    }
    ro.agent = agent;
    return ro;
  }

  function once(method: string, url: URL, body: string | undefined, contentType: string | undefined): Promise<RawResponse> {
    return limit(async () => {
      // an explicit Content-Length: a chunked DELETE body leaves the keep-alive socket unusable (the next request gets 400)
      const ro = await requestOptions(method, body !== undefined ? { "Content-Type": contentType ?? "application/json", "Content-Length": String(Buffer.byteLength(body)) } : {});
      return new Promise<RawResponse>((resolve, reject) => {
        const req = (isHttp ? httpRequest : httpsRequest)(url, ro, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: "ETIMEDOUT" })));
        req.on("error", reject);
        if (body !== undefined) req.write(body);
        req.end();
      });
    });
  }

  /** One API call with retries on 429/5xx and on a reset keep-alive socket; unreachable → UnreachableError. */
  async function call(method: string, path: string, ctx: { verb: string; resource: string; subject?: string }, query: Record<string, string | undefined> = {}, body?: unknown, contentType?: string): Promise<RawResponse> {
    const url = new URL(path.replace(/^\//, ""), base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let res: RawResponse;
      try {
        res = await once(method, url, payload, contentType ?? (payload ? "application/json" : undefined));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // a keep-alive socket the server closed: retry once quietly; anything else means the server is not there
        if ((code === "ECONNRESET" || code === "EPIPE") && attempt < 1) continue;
        throw new UnreachableError(`cluster ${contextName} at ${cluster!.server} is unreachable: ${(e as Error).message}`);
      }
      if ((res.status === 429 || (res.status >= 500 && !isPermanent(res))) && attempt < opts.maxRetries) {
        const retryAfter = Number(res.headers["retry-after"]);
        const backoff = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : opts.backoffMs * 2 ** attempt;
        await opts.sleep(Math.min(backoff, opts.maxBackoffMs));
        continue;
      }
      if (res.status >= 400) throw toError(res, ctx);
      return res;
    }
  }

  function toError(res: RawResponse, ctx: { verb: string; resource: string; subject?: string }): KubeError {
    let status: KubeStatus = {};
    try {
      status = JSON.parse(res.body) as KubeStatus;
    } catch {
      status = { message: res.body.slice(0, 300) };
    }
    const code = res.status === 409 && status.reason === "AlreadyExists" ? "already_exists" : isPermanent(res) ? "invalid" : codeForStatus(res.status);
    const who = ctx.subject ? `${ctx.subject}: ` : "";
    const conflicts = res.status === 409 ? parseConflicts(status) : [];
    let message: string;
    if (code === "forbidden") message = `${who}forbidden: cannot ${ctx.verb} ${ctx.resource} (${status.message ?? "403"})`;
    else if (conflicts.length > 0) message = `${who}conflict: ${conflicts.map((c) => `${c.field} is owned by "${c.manager}"`).join(", ")} (use --force-conflicts to take ownership)`;
    else if (code === "invalid") message = `${who}invalid: ${status.message ?? res.status}`;
    else message = `${who}${ctx.verb} ${ctx.resource} failed: ${res.status} ${status.message ?? ""}`.trim();
    const fields = [...(status.details?.causes ?? []).map((c) => c.field).filter((f): f is string => Boolean(f)), ...[...(status.message ?? "").matchAll(/(?:^|[\s(:])(\.?(?:spec|metadata|data|stringData)(?:\.[\w-]+|\[\d+\])*)/g)].map((m) => m[1]!)];
    return new KubeError(code, message, { status: res.status, verb: ctx.verb, resource: ctx.resource, ...(ctx.subject ? { subject: ctx.subject } : {}), ...(conflicts.length ? { conflicts } : {}), ...(fields.length ? { fields } : {}) });
  }

  /** A 500 that retrying cannot fix: server-side apply answers a wrongly typed field with 500 "failed to create typed patch object". */
  function isPermanent(res: RawResponse): boolean {
    return res.status === 500 && /failed to create typed patch object|failed to convert/.test(res.body);
  }

  function groupVersionPath(apiVersion: string): string {
    const { group, version } = splitApiVersion(apiVersion);
    return group ? `/apis/${group}/${version}` : `/api/${version}`;
  }

  async function resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let p = discovery.get(apiVersion);
    if (!p) {
      const { group, version } = splitApiVersion(apiVersion);
      p = call("GET", groupVersionPath(apiVersion), { verb: "discover", resource: apiVersion })
        .then((res) => {
          const list = JSON.parse(res.body) as { resources?: { name: string; kind: string; namespaced: boolean }[] };
          const byKind = new Map<string, ResourceInfo>();
          for (const r of list.resources ?? []) if (!r.name.includes("/")) byKind.set(r.kind, { plural: r.name, namespaced: r.namespaced, group, version, kind: r.kind });
          return byKind;
        })
        .catch((e: unknown) => {
          if (e instanceof KubeError && e.code === "not_found") return new Map<string, ResourceInfo>();
          discovery.delete(apiVersion);
          throw e;
        });
      discovery.set(apiVersion, p);
    }
    const info = (await p).get(kind);
    if (!info) throw new KubeError("unknown_kind", `the server has no kind ${kind} in ${apiVersion} (is its CRD installed?)`, { verb: "discover", resource: `${apiVersion}/${kind}` });
    return info;
  }

  function collectionPath(info: ResourceInfo, apiVersion: string, namespace: string | undefined): string {
    const ns = info.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? defaultNamespace)}` : "";
    return `${groupVersionPath(apiVersion)}${ns}/${info.plural}`;
  }

  async function objectPath(ref: ResourceRef): Promise<{ path: string; info: ResourceInfo }> {
    const info = await resource(ref.apiVersion, ref.kind);
    return { path: `${collectionPath(info, ref.apiVersion, ref.namespace)}/${encodeURIComponent(ref.name)}`, info };
  }

  function refOf(obj: KubeObject): ResourceRef {
    const meta = obj.metadata ?? {};
    return { apiVersion: String(obj.apiVersion ?? ""), kind: String(obj.kind ?? ""), name: String(meta.name ?? ""), ...(meta.namespace ? { namespace: meta.namespace } : {}) };
  }

  function resourceName(info: ResourceInfo): string {
    return info.group ? `${info.plural}.${info.group}` : info.plural;
  }

  return {
    context: contextName,
    server: cluster.server,
    defaultNamespace,
    resource,
    async get(ref) {
      const { path, info } = await objectPath(ref);
      try {
        const res = await call("GET", path, { verb: "get", resource: resourceName(info), subject: subjectOf(ref) });
        return JSON.parse(res.body) as KubeObject;
      } catch (e) {
        if (e instanceof KubeError && e.code === "not_found") return undefined;
        throw e;
      }
    },
    async list(apiVersion, kind, o = {}) {
      const info = await resource(apiVersion, kind);
      const path = info.namespaced && !o.namespace ? `${groupVersionPath(apiVersion)}/${info.plural}` : collectionPath(info, apiVersion, o.namespace);
      const items: KubeObject[] = [];
      let cont: string | undefined;
      do {
        const res = await call("GET", path, { verb: "list", resource: resourceName(info) }, { labelSelector: o.labelSelector, limit: "500", continue: cont });
        const l = JSON.parse(res.body) as { items?: KubeObject[]; metadata?: { continue?: string } };
        // list items carry no apiVersion/kind
        for (const it of l.items ?? []) items.push({ apiVersion, kind, ...it });
        cont = l.metadata?.continue || undefined;
      } while (cont);
      return items;
    },
    async apply(obj, o = {}) {
      const ref = refOf(obj);
      const { path, info } = await objectPath(ref);
      const res = await call(
        "PATCH",
        path,
        { verb: "patch", resource: resourceName(info), subject: subjectOf(ref) },
        { fieldManager: opts.fieldManager, fieldValidation: "Strict", ...(o.force ? { force: "true" } : {}), ...(o.dryRun ? { dryRun: "All" } : {}) },
        obj,
        "application/apply-patch+yaml",
      );
      return JSON.parse(res.body) as KubeObject;
    },
    async create(obj) {
      const ref = refOf(obj);
      const info = await resource(ref.apiVersion, ref.kind);
      const res = await call("POST", collectionPath(info, ref.apiVersion, ref.namespace), { verb: "create", resource: resourceName(info), subject: subjectOf(ref) }, { fieldManager: opts.fieldManager }, obj);
      return JSON.parse(res.body) as KubeObject;
    },
    async replace(obj) {
      const ref = refOf(obj);
      const { path, info } = await objectPath(ref);
      const res = await call("PUT", path, { verb: "update", resource: resourceName(info), subject: subjectOf(ref) }, { fieldManager: opts.fieldManager }, obj);
      return JSON.parse(res.body) as KubeObject;
    },
    async delete(ref, o = {}) {
      const { path, info } = await objectPath(ref);
      const body = { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background", ...(o.resourceVersion ? { preconditions: { resourceVersion: o.resourceVersion } } : {}) };
      try {
        await call("DELETE", path, { verb: "delete", resource: resourceName(info), subject: subjectOf(ref) }, o.dryRun ? { dryRun: "All" } : {}, body);
        return true;
      } catch (e) {
        if (e instanceof KubeError && e.code === "not_found") return false;
        throw e;
      }
    },
    async jsonPatch(ref, ops) {
      const { path, info } = await objectPath(ref);
      const res = await call("PATCH", path, { verb: "patch", resource: resourceName(info), subject: subjectOf(ref) }, { fieldManager: opts.fieldManager }, ops, "application/json-patch+json");
      return JSON.parse(res.body) as KubeObject;
    },
    watch(apiVersion, kind, o, onEvent) {
      let stopped = false;
      let req: ReturnType<typeof httpsRequest> | undefined;
      const done = (async () => {
        const info = await resource(apiVersion, kind);
        const path = info.namespaced && !o.namespace ? `${groupVersionPath(apiVersion)}/${info.plural}` : collectionPath(info, apiVersion, o.namespace);
        const url = new URL(path.replace(/^\//, ""), base);
        const timeoutSeconds = o.timeoutSeconds ?? 300;
        const query: Record<string, string | undefined> = { watch: "1", allowWatchBookmarks: "true", timeoutSeconds: String(timeoutSeconds), labelSelector: o.labelSelector, fieldSelector: o.fieldSelector, resourceVersion: o.resourceVersion };
        for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
        const ro = await requestOptions("GET", {});
        // a watch holds its socket for minutes: its own agent, so it never takes one of the request slots
        ro.agent = isHttp ? new HttpAgent({ keepAlive: false }) : new HttpsAgent({ keepAlive: false, ...pickTls(ro) });
        ro.timeout = (timeoutSeconds + 30) * 1000;
        if (stopped) return;
        await new Promise<void>((resolve, reject) => {
          req = (isHttp ? httpRequest : httpsRequest)(url, ro, (res) => {
            res.setEncoding("utf8");
            if ((res.statusCode ?? 0) >= 400) {
              let body = "";
              res.on("data", (c: string) => (body += c));
              res.on("end", () => reject(toError({ status: res.statusCode ?? 0, body, headers: res.headers }, { verb: "watch", resource: resourceName(info) })));
              return;
            }
            let buf = "";
            res.on("data", (c: string) => {
              buf += c;
              let nl: number;
              while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl).trim();
                buf = buf.slice(nl + 1);
                if (!line) continue;
                const ev = JSON.parse(line) as WatchEvent;
                if (ev.type === "ERROR") {
                  const st = ev.object as { code?: number; message?: string };
                  req?.destroy();
                  reject(new KubeError(st.code === 410 ? "expired" : "api_error", `watch ${resourceName(info)}: ${st.message ?? "error"}`, { status: st.code ?? 500, verb: "watch", resource: resourceName(info) }));
                  return;
                }
                if (ev.object && ev.type !== "BOOKMARK") ev.object = { apiVersion, kind, ...ev.object };
                onEvent(ev);
              }
            });
            res.on("end", () => resolve());
            res.on("error", (e) => (stopped ? resolve() : reject(e)));
          });
          req.on("timeout", () => req?.destroy(Object.assign(new Error("watch stream went silent"), { code: "ETIMEDOUT" })));
          req.on("error", (e) => {
            if (stopped) resolve();
            else reject(new UnreachableError(`cluster ${contextName} at ${cluster!.server} is unreachable: ${e.message}`));
          });
          req.end();
        });
      })();
      return {
        done,
        stop() {
          stopped = true;
          req?.destroy();
        },
      };
    },
    resetDiscovery() {
      discovery.clear();
    },
    close() {
      agent?.destroy();
    },
  };
}
