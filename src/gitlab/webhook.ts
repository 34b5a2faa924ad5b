/**
 * A GitLab webhook receiver on node:http: push and merge request events, authenticated by the project hook's
 * secret token (`X-Gitlab-Token`, compared in constant time) and, when a signing token is configured, by the
 * Standard Webhooks signature GitLab sends behind the `webhook_signing_token` flag (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`).
 *
 * GitLab gives a hook 10 s to answer and disables hooks that keep failing (4xx permanently), so every accepted
 * delivery is answered 202 before its callback runs. Callbacks run one at a time; pushes that arrive while a
 * reconcile runs collapse into one follow-up reconcile of the newest commit; retried deliveries (same
 * `Idempotency-Key`) are acknowledged and dropped. Tokens never reach the log, not even a wrong one.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

/** A commit SHA: 40 hex digits (SHA-1 repositories) or 64 (SHA-256); `before`/`after` reach a shell's environment. */
const shaSchema = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/, "expected a 40- or 64-digit hex commit SHA");

const commitSchema = z.object({
  id: z.string(),
  message: z.string(),
  timestamp: z.string(),
  author: z.object({ name: z.string(), email: z.string() }),
});

/** `X-Gitlab-Event: Push Hook`: the fields meshops reads (others are dropped). */
export const pushEventSchema = z.object({
  object_kind: z.literal("push"),
  before: shaSchema,
  after: shaSchema,
  ref: z.string(),
  checkout_sha: z.string().nullable().optional(),
  user_username: z.string().optional(),
  project: z.object({
    id: z.number(),
    path_with_namespace: z.string(),
    default_branch: z.string().nullable().optional(),
  }),
  commits: z.array(commitSchema).default([]),
  total_commits_count: z.number().default(0),
});

/** `X-Gitlab-Event: Merge Request Hook`: the fields meshops reads (others are dropped). */
export const mergeRequestEventSchema = z.object({
  object_kind: z.literal("merge_request"),
  user: z.object({ username: z.string() }),
  project: z.object({ id: z.number(), path_with_namespace: z.string() }),
  object_attributes: z.object({
    iid: z.number(),
    action: z.string().optional(),
    state: z.string(),
    source_branch: z.string(),
    target_branch: z.string(),
    last_commit: z.object({ id: z.string() }).nullable().optional(),
    url: z.string().optional(),
    merge_commit_sha: z.string().nullable().optional(),
  }),
});

export type PushEvent = z.infer<typeof pushEventSchema>;
export type MergeRequestEvent = z.infer<typeof mergeRequestEventSchema>;

/** About the delivery that carried an event. */
export interface Delivery {
  /** `Idempotency-Key` (the same on GitLab's retries), else `webhook-id`, else `X-Gitlab-Event-UUID`. */
  id?: string;
  receivedAt: Date;
}

export interface WebhookServerOptions {
  /** The hook's secret token: every request must carry it in `X-Gitlab-Token`. */
  secret: string;
  /** The tracked branch: only a push to `refs/heads/<branch>` triggers `onPush`. */
  branch: string;
  /** Optional signing token `whsec_<base64 key>`: when set, every request must also carry a valid signature. */
  signingToken?: string;
  /** Largest accepted body in bytes (default 1 MiB); larger requests get 413. */
  maxBodyBytes?: number;
  /** The path GitLab posts to (default "/"). `GET /healthz` answers 200 regardless. */
  path?: string;
  /** The reconcile callback: a push to the tracked branch (not a tag, not a deletion). */
  onPush: (event: PushEvent, delivery: Delivery) => void | Promise<void>;
  /** Called for every merge request event. */
  onMergeRequest?: (event: MergeRequestEvent, delivery: Delivery) => void | Promise<void>;
  /** One structured (JSON) line per call; never contains a token. */
  log?: (line: string) => void;
  /** Clock for the signature timestamp check (tests). */
  now?: () => number;
}

export interface WebhookServer {
  server: Server;
  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Resolves when no callback is running or queued. */
  idle(): Promise<void>;
  /** Stops accepting requests, lets a running callback finish, drops queued ones; resolves when closed. */
  close(): Promise<void>;
}

export const defaultMaxBodyBytes = 1024 * 1024;
/** Standard Webhooks: reject a `webhook-timestamp` further than this from now (replay window). */
export const signatureToleranceSeconds = 5 * 60;
/** Delivery ids remembered for de-duplication. */
const maxRememberedDeliveries = 1000;
/** Queued merge request events kept while a callback runs (the oldest is dropped beyond it). */
const maxQueuedEvents = 100;

/** Constant-time string equality that leaks neither content nor length: both sides are hashed first. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** The HMAC key of a `whsec_<base64>` signing token; throws on anything else. */
export function signingKey(token: string): Buffer {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(token.trim());
  const key = m ? Buffer.from(m[1]!, "base64") : Buffer.alloc(0);
  if (key.length === 0) throw new Error("the signing token must look like whsec_<base64 key>");
  return key;
}

/** The `webhook-signature` value (`v1,<base64>`) for a body, as GitLab computes it. */
export function signBody(key: Buffer, id: string, timestamp: string, body: Buffer | string): string {
  const mac = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return `v1,${mac}`;
}

/** Why a Standard Webhooks signature does not verify, or undefined when it does. */
export function signatureProblem(key: Buffer, headers: IncomingMessage["headers"], body: Buffer, nowMs: number): string | undefined {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signature = header(headers, "webhook-signature");
  if (id === undefined || timestamp === undefined || signature === undefined) return "missing webhook-id, webhook-timestamp or webhook-signature";
  if (!/^\d{1,12}$/.test(timestamp)) return "webhook-timestamp is not a Unix time in seconds";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > signatureToleranceSeconds) return "webhook-timestamp is more than 5 minutes from now";
  const expected = Buffer.from(signBody(key, id, timestamp, body).slice(3), "base64");
  // The header may hold several space-separated signatures (key rotation); one match suffices.
  let ok = false;
  for (const entry of signature.split(" ")) {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) continue;
    const given = Buffer.from(value, "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
  }
  return ok ? undefined : "no webhook-signature matches";
}

function header(headers: IncomingMessage["headers"], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Clips a value that came from the request before it is logged. */
function clip(s: string | undefined, n = 120): string | undefined {
  return s === undefined ? undefined : s.length > n ? `${s.slice(0, n)}…` : s;
}

/** A deleted ref has an all-zero `after` (40 digits for SHA-1 repositories, 64 for SHA-256). */
function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}

function zodMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`)
    .join("; ");
}

type Task = { kind: "push"; event: PushEvent; delivery: Delivery } | { kind: "merge_request"; event: MergeRequestEvent; delivery: Delivery };

type BodyResult = { body: Buffer } | { tooLarge: true } | { aborted: true };

/** Reads the body up to `max` bytes; beyond it stops reading and reports too large. */
function readBody(req: IncomingMessage, max: number): Promise<BodyResult> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ tooLarge: true });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        req.pause();
        finish({ tooLarge: true });
      } else chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => finish({ body: Buffer.concat(chunks) }));
    req.on("error", () => finish({ aborted: true }));
    req.on("close", () => finish({ aborted: true }));
  });
}

export function createWebhookServer(opts: WebhookServerOptions): WebhookServer {
  if (!opts.secret) throw new Error("a webhook secret token is required");
  const key = opts.signingToken ? signingKey(opts.signingToken) : undefined;
  const maxBody = opts.maxBodyBytes ?? defaultMaxBodyBytes;
  const hookPath = opts.path ?? "/";
  const now = opts.now ?? Date.now;
  const trackedRef = `refs/heads/${opts.branch}`;
  const log = (level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}): void => {
    opts.log?.(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  };

  const seen = new Set<string>();
  const remember = (id: string): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    // A Set iterates in insertion order: the first entry is the oldest.
    if (seen.size > maxRememberedDeliveries) seen.delete(seen.values().next().value!);
    return true;
  };

  const queue: Task[] = [];
  let running: Promise<void> | undefined;
  let closing = false;

  const runTask = async (t: Task): Promise<void> => {
    const started = Date.now();
    try {
      if (t.kind === "push") await opts.onPush(t.event, t.delivery);
      else await opts.onMergeRequest?.(t.event, t.delivery);
    } catch (e) {
      log("error", "callback failed", { event: t.kind, delivery: t.delivery.id, error: (e as Error)?.message ?? String(e), durationMs: Date.now() - started });
    }
  };
  const pump = (): void => {
    if (running || closing || queue.length === 0) return;
    running = (async () => {
      while (queue.length > 0 && !closing) await runTask(queue.shift()!);
    })().finally(() => {
      running = undefined;
    });
  };
  const enqueue = (t: Task): void => {
    if (t.kind === "push") {
      // Pushes waiting behind a running reconcile collapse into one: the newest commit wins.
      const waiting = queue.find((q): q is Extract<Task, { kind: "push" }> => q.kind === "push");
      if (waiting) {
        log("info", "push coalesced into the pending reconcile", { replaced: waiting.event.after, after: t.event.after, delivery: t.delivery.id });
        waiting.event = t.event;
        waiting.delivery = t.delivery;
        return;
      }
    } else if (queue.length >= maxQueuedEvents) {
      const i = queue.findIndex((q) => q.kind === "merge_request");
      if (i >= 0) {
        log("warn", "queue full: dropped the oldest queued merge request event", { delivery: queue[i]!.delivery.id });
        queue.splice(i, 1);
      }
    }
    queue.push(t);
    // After the 202 has been written: the callback never delays GitLab's answer.
    setImmediate(pump);
  };

  const reply = (res: ServerResponse, status: number, body: Record<string, unknown>, extra: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...extra });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const remote = req.socket.remoteAddress;
    if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return reply(res, 200, { status: "ok" });
    if (url.pathname !== hookPath) return reply(res, 404, { error: "not found" });
    if (req.method !== "POST") return reply(res, 405, { error: "method not allowed: POST only" }, { allow: "POST" });
    if (closing) return reply(res, 503, { error: "shutting down" }, { connection: "close" });
    const event = header(req.headers, "x-gitlab-event");
    const deliveryId = clip(header(req.headers, "idempotency-key") ?? header(req.headers, "webhook-id") ?? header(req.headers, "x-gitlab-event-uuid"), 200);
    const ctx = { remote, event: clip(event), delivery: deliveryId };

    // The token is a header: check it before reading a byte of an unauthenticated body.
    const token = header(req.headers, "x-gitlab-token");
    if (token === undefined || !tokensEqual(token, opts.secret)) {
      log("warn", "rejected: unauthorized", { ...ctx, reason: token === undefined ? "missing X-Gitlab-Token" : "wrong X-Gitlab-Token" });
      return reply(res, 401, { error: "unauthorized" }, { connection: "close" });
    }

    const read = await readBody(req, maxBody);
    if ("aborted" in read) return;
    if ("tooLarge" in read) {
      log("warn", "rejected: body too large", { ...ctx, maxBodyBytes: maxBody, contentLength: clip(header(req.headers, "content-length"), 20) });
      // Stop reading: answer, then drop the connection instead of draining the rest.
      res.once("finish", () => req.destroy());
      return reply(res, 413, { error: `body larger than ${maxBody} bytes` }, { connection: "close" });
    }
    const body = read.body;

    if (key) {
      const problem = signatureProblem(key, req.headers, body, now());
      if (problem) {
        log("warn", "rejected: bad signature", { ...ctx, reason: problem });
        return reply(res, 401, { error: "unauthorized" });
      }
    }

    if (event === undefined) {
      log("warn", "rejected: no X-Gitlab-Event header", ctx);
      return reply(res, 400, { error: "missing X-Gitlab-Event header" });
    }
    if (event !== "Push Hook" && event !== "Merge Request Hook") {
      log("info", "ignored event", ctx);
      return reply(res, 202, { status: "ignored", reason: "event not handled" });
    }

    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch (e) {
      log("warn", "rejected: malformed JSON", { ...ctx, error: (e as Error).message });
      return reply(res, 400, { error: `malformed JSON: ${(e as Error).message}` });
    }
    const parsed = event === "Push Hook" ? pushEventSchema.safeParse(json) : mergeRequestEventSchema.safeParse(json);
    if (!parsed.success) {
      const message = zodMessage(parsed.error);
      log("warn", "rejected: invalid payload", { ...ctx, error: message });
      return reply(res, 400, { error: `invalid ${event} payload: ${message}` });
    }

    if (deliveryId !== undefined && !remember(deliveryId)) {
      log("info", "duplicate delivery ignored", ctx);
      return reply(res, 202, { status: "duplicate" });
    }
    const delivery: Delivery = { receivedAt: new Date(now()), ...(deliveryId !== undefined ? { id: deliveryId } : {}) };

    if (parsed.data.object_kind === "merge_request") {
      const mr = parsed.data;
      log("info", "merge request event accepted", { ...ctx, project: mr.project.path_with_namespace, iid: mr.object_attributes.iid, action: mr.object_attributes.action });
      reply(res, 202, { status: "accepted" });
      if (opts.onMergeRequest) enqueue({ kind: "merge_request", event: mr, delivery });
      return;
    }
    const push = parsed.data;
    const pushCtx = { ...ctx, project: push.project.path_with_namespace, ref: clip(push.ref), after: clip(push.after, 64) };
    let skip: string | undefined;
    if (push.ref !== trackedRef) skip = push.ref.startsWith("refs/tags/") ? "tag push" : `not the tracked branch ${opts.branch}`;
    else if (isZeroSha(push.after)) skip = "branch deleted";
    if (skip) {
      log("info", `push ignored: ${skip}`, pushCtx);
      return reply(res, 202, { status: "ignored", reason: skip });
    }
    log("info", "push accepted", pushCtx);
    reply(res, 202, { status: "accepted" });
    enqueue({ kind: "push", event: push, delivery });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log("error", "request failed", { error: (e as Error)?.message ?? String(e) });
      if (!res.headersSent) reply(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
  // A slow sender cannot hold a connection for long: GitLab itself gives up after 10 s.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async idle() {
      while (running || (queue.length > 0 && !closing)) {
        if (running) await running;
        else await new Promise((r) => setImmediate(r));
      }
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (running) await running;
      if (queue.length > 0) log("warn", "shutdown: dropped queued events", { dropped: queue.length });
      queue.length = 0;
      server.closeAllConnections();
      await closed;
    },
  };
}
