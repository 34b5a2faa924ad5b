import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createWebhookServer, signBody, signingKey, tokensEqual, type MergeRequestEvent, type PushEvent, type WebhookServer, type WebhookServerOptions } from "./webhook.js";
import { pushPayload } from "../../test/gitlab-payloads.js";

const secret = "s3cr3t-hook-token-7f1c";

/** GitLab's documented Merge Request Hook example, trimmed. */
const mrPayload = {
  object_kind: "merge_request",
  event_type: "merge_request",
  user: { id: 1, name: "Administrator", username: "root", email: "admin@example.com" },
  project: { id: 1, name: "Gitlab Test", path_with_namespace: "gitlabhq/gitlab-test", default_branch: "master" },
  object_attributes: {
    id: 99,
    iid: 1,
    target_branch: "master",
    source_branch: "ms-viewport",
    source_project_id: 14,
    title: "MS-Viewport",
    state: "opened",
    draft: false,
    target_project_id: 14,
    url: "http://example.com/diaspora/merge_requests/1",
    last_commit: { id: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", message: "fixed readme", title: "Update file README.md" },
    action: "open",
    detailed_merge_status: "mergeable",
  },
  labels: [],
  changes: {},
};

let current: WebhookServer | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

interface Harness {
  url: string;
  hook: WebhookServer;
  pushes: PushEvent[];
  mrs: MergeRequestEvent[];
  logs: string[];
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
}

async function start(over: Partial<WebhookServerOptions> = {}): Promise<Harness> {
  const pushes: PushEvent[] = [];
  const mrs: MergeRequestEvent[] = [];
  const logs: string[] = [];
  const hook = createWebhookServer({
    secret,
    branch: "main",
    onPush: (e) => {
      pushes.push(e);
    },
    onMergeRequest: (e) => {
      mrs.push(e);
    },
    log: (l) => logs.push(l),
    ...over,
  });
  current = hook;
  const addr = await hook.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    url,
    hook,
    pushes,
    mrs,
    logs,
    async post(body, headers = {}) {
      const res = await fetch(`${url}/`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-gitlab-event": "Push Hook", "x-gitlab-token": secret, ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
  };
}

describe("tokensEqual", () => {
  it("compares content of any length", () => {
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abd")).toBe(false);
    expect(tokensEqual("abc", "abcd")).toBe(false);
    expect(tokensEqual("", "abc")).toBe(false);
  });
});

describe("webhook server", () => {
  it("answers GET /healthz", async () => {
    const h = await start();
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
  });

  it("accepts a push to the tracked branch with the right token and calls onPush with the event", async () => {
    const h = await start();
    const r = await h.post(pushPayload(), { "idempotency-key": "a7c0d3f2-1" });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ status: "accepted" });
    await h.hook.idle();
    expect(h.pushes).toHaveLength(1);
    const e = h.pushes[0]!;
    expect(e.after).toBe("da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    expect(e.ref).toBe("refs/heads/main");
    expect(e.user_username).toBe("jsmith");
    expect(e.project).toEqual({ id: 15, path_with_namespace: "mike/diaspora", default_branch: "main" });
    expect(e.commits[0]?.author.name).toBe("GitLab dev user");
    expect(e.total_commits_count).toBe(4);
  });

  it.each([
    ["wrong", { "x-gitlab-token": "wrong-token-value-91ab" }],
    ["missing", { "x-gitlab-token": "" }],
  ])("rejects a %s token with 401 and never logs the submitted token", async (_kind, headers) => {
    const h = await start();
    const init: Record<string, string> = { "content-type": "application/json", "x-gitlab-event": "Push Hook", ...headers };
    if (init["x-gitlab-token"] === "") delete init["x-gitlab-token"];
    const res = await fetch(`${h.url}/`, { method: "POST", headers: init, body: JSON.stringify(pushPayload()) });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "unauthorized" });
    await h.hook.idle();
    expect(h.pushes).toHaveLength(0);
    expect(h.logs.some((l) => l.includes("unauthorized"))).toBe(true);
    for (const l of h.logs) {
      expect(l).not.toContain("wrong-token-value-91ab");
      expect(l).not.toContain(secret);
    }
  });

  it("rejects a body over the limit with 413 without calling back (declared and streamed)", async () => {
    const h = await start({ maxBodyBytes: 2048 });
    const big = pushPayload({ padding: "x".repeat(10_000) });
    const r = await h.post(big);
    expect(r.status).toBe(413);
    // Chunked, without Content-Length: the limit applies while reading.
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.slice(i, i + 1000));
        c.close();
      },
    });
    const res = await fetch(`${h.url}/`, {
      method: "POST",
      headers: { "x-gitlab-event": "Push Hook", "x-gitlab-token": secret },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    await h.hook.idle();
    expect(h.pushes).toHaveLength(0);
    expect(h.logs.filter((l) => l.includes("body too large"))).toHaveLength(2);
  });

  it("does not reconcile tag pushes, other branches or a deleted branch", async () => {
    const h = await start();
    const tag = { ...pushPayload({ object_kind: "tag_push", ref: "refs/tags/v1.0.0", before: "0".repeat(40) }) };
    expect((await h.post(tag, { "x-gitlab-event": "Tag Push Hook" })).json).toEqual({ status: "ignored", reason: "event not handled" });
    expect((await h.post(pushPayload({ ref: "refs/tags/v1.0.0" }))).json).toEqual({ status: "ignored", reason: "tag push" });
    expect((await h.post(pushPayload({ ref: "refs/heads/feature" }))).json).toEqual({ status: "ignored", reason: "not the tracked branch main" });
    expect((await h.post(pushPayload({ ref: "refs/heads/main-2" }))).status).toBe(202);
    const deleted = await h.post(pushPayload({ after: "0".repeat(40), checkout_sha: null, commits: [], total_commits_count: 0 }));
    expect(deleted).toEqual({ status: 202, json: { status: "ignored", reason: "branch deleted" } });
    await h.hook.idle();
    expect(h.pushes).toHaveLength(0);
  });

  it("passes merge request events to onMergeRequest", async () => {
    const h = await start();
    const r = await h.post(mrPayload, { "x-gitlab-event": "Merge Request Hook" });
    expect(r.status).toBe(202);
    await h.hook.idle();
    expect(h.pushes).toHaveLength(0);
    expect(h.mrs).toHaveLength(1);
    expect(h.mrs[0]!.object_attributes).toMatchObject({ iid: 1, action: "open", state: "opened", source_branch: "ms-viewport", target_branch: "master" });
    expect(h.mrs[0]!.object_attributes.last_commit?.id).toBe("da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    expect(h.mrs[0]!.user.username).toBe("root");
  });

  it("calls back once for a delivery GitLab retries with the same Idempotency-Key", async () => {
    const h = await start();
    const a = await h.post(pushPayload(), { "idempotency-key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd" });
    const b = await h.post(pushPayload(), { "idempotency-key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd" });
    const c = await h.post(pushPayload(), { "x-gitlab-event-uuid": "e1" });
    const d = await h.post(pushPayload(), { "x-gitlab-event-uuid": "e1" });
    expect([a.json.status, b.json.status, c.json.status, d.json.status]).toEqual(["accepted", "duplicate", "accepted", "duplicate"]);
    await h.hook.idle();
    expect(h.pushes).toHaveLength(2);
  });

  it("coalesces pushes that arrive during a slow reconcile into one follow-up with the newest commit", async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const h = await start({
      onPush: async (e) => {
        seen.push(e.after);
        if (seen.length === 1) await gate;
      },
    });
    const sha = (n: number): string => n.toString(16).padStart(40, "a");
    expect((await h.post(pushPayload({ after: sha(1) }))).status).toBe(202);
    // The first reconcile is running (blocked on the gate) when the next three arrive.
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([sha(1)]);
    for (const n of [2, 3, 4]) expect((await h.post(pushPayload({ after: sha(n) }))).status).toBe(202);
    release();
    await h.hook.idle();
    expect(seen).toEqual([sha(1), sha(4)]);
    expect(h.logs.filter((l) => l.includes("coalesced"))).toHaveLength(2);
  });

  it("answers quickly even when the callback is slow, and runs callbacks one at a time", async () => {
    let active = 0;
    let maxActive = 0;
    const h = await start({
      onPush: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 300));
        active--;
      },
      onMergeRequest: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 50));
        active--;
      },
    });
    const t0 = Date.now();
    expect((await h.post(pushPayload())).status).toBe(202);
    expect((await h.post(mrPayload, { "x-gitlab-event": "Merge Request Hook" })).status).toBe(202);
    expect(Date.now() - t0).toBeLessThan(250);
    await h.hook.idle();
    expect(maxActive).toBe(1);
  });

  it("logs a failing callback and keeps serving", async () => {
    let calls = 0;
    const h = await start({
      onPush: () => {
        calls++;
        if (calls === 1) throw new Error("apply failed");
      },
    });
    await h.post(pushPayload());
    await h.hook.idle();
    await h.post(pushPayload({ after: "b".repeat(40) }));
    await h.hook.idle();
    expect(calls).toBe(2);
    expect(h.logs.some((l) => l.includes('"callback failed"') && l.includes("apply failed"))).toBe(true);
  });

  it("answers 400 for malformed JSON and for a payload missing required fields, 202 for unknown events", async () => {
    const h = await start();
    const bad = await h.post("{not json");
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toMatch(/^malformed JSON/);
    const noAfter = pushPayload();
    delete noAfter.after;
    const invalid = await h.post(noAfter);
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toBe("invalid Push Hook payload: after: Invalid input: expected string, received undefined");
    const notSha = await h.post(pushPayload({ after: "$(touch /tmp/pwned)" }));
    expect(notSha).toEqual({ status: 400, json: { error: "invalid Push Hook payload: after: expected a 40- or 64-digit hex commit SHA" } });
    const wrongKind = await h.post(mrPayload);
    expect(wrongKind.status).toBe(400);
    expect(String(wrongKind.json.error)).toContain("object_kind");
    const unknown = await h.post({ object_kind: "pipeline" }, { "x-gitlab-event": "Pipeline Hook" });
    expect(unknown).toEqual({ status: 202, json: { status: "ignored", reason: "event not handled" } });
    expect(h.logs.some((l) => l.includes('"ignored event"') && l.includes("Pipeline Hook"))).toBe(true);
    await h.hook.idle();
    expect(h.pushes).toHaveLength(0);
  });

  it("answers 405 for other methods on the hook path and 404 elsewhere", async () => {
    const h = await start({ path: "/hooks/gitlab" });
    const get = await fetch(`${h.url}/hooks/gitlab`, { headers: { "x-gitlab-token": secret } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await fetch(`${h.url}/`, { method: "POST", body: "{}" })).status).toBe(404);
    const ok = await fetch(`${h.url}/hooks/gitlab`, {
      method: "POST",
      headers: { "x-gitlab-event": "Push Hook", "x-gitlab-token": secret },
      body: JSON.stringify(pushPayload()),
    });
    expect(ok.status).toBe(202);
  });

  describe("signing token (Standard Webhooks)", () => {
    const keyBytes = randomBytes(32);
    const signingToken = `whsec_${keyBytes.toString("base64")}`;
    const nowSec = 1_760_000_000;

    function signed(body: string, opts: { id?: string; ts?: number; key?: Buffer } = {}): Record<string, string> {
      const id = opts.id ?? "0f8c7a2e-6b1d-4c3e-9a55-1d2e3f4a5b6c";
      const ts = String(opts.ts ?? nowSec);
      return { "idempotency-key": id, "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": signBody(opts.key ?? keyBytes, id, ts, body) };
    }

    it("accepts a valid signature (also among several) and rejects a bad one, a stale timestamp or none", async () => {
      const h = await start({ signingToken, now: () => nowSec * 1000 });
      const body = JSON.stringify(pushPayload());
      expect((await h.post(body, signed(body))).status).toBe(202);
      const other = signed(body, { id: "id-2", key: randomBytes(32) });
      const good = signed(body, { id: "id-2" });
      expect((await h.post(body, { ...good, "webhook-signature": `${other["webhook-signature"]} ${good["webhook-signature"]}` })).status).toBe(202);
      // Tampered body, wrong key, stale timestamp (5 min + 1 s), future timestamp, missing headers.
      expect((await h.post(body.replace("jsmith", "mallory"), signed(body, { id: "id-3" }))).status).toBe(401);
      expect((await h.post(body, signed(body, { id: "id-4", key: randomBytes(32) }))).status).toBe(401);
      expect((await h.post(body, signed(body, { id: "id-5", ts: nowSec - 301 }))).status).toBe(401);
      expect((await h.post(body, signed(body, { id: "id-6", ts: nowSec + 301 }))).status).toBe(401);
      expect((await h.post(body, { "idempotency-key": "id-7" })).status).toBe(401);
      expect((await h.post(body, signed(body, { id: "id-8", ts: nowSec - 299 }))).status).toBe(202);
      await h.hook.idle();
      expect(h.pushes.length).toBe(3);
      expect(h.logs.some((l) => l.includes("more than 5 minutes"))).toBe(true);
      for (const l of h.logs) expect(l).not.toContain(keyBytes.toString("base64"));
    });

    it("still requires the secret token", async () => {
      const h = await start({ signingToken, now: () => nowSec * 1000 });
      const body = JSON.stringify(pushPayload());
      expect((await h.post(body, { ...signed(body), "x-gitlab-token": "nope" })).status).toBe(401);
    });

    it("refuses a signing token that is not whsec_<base64>", () => {
      expect(() => signingKey("not-a-token")).toThrow(/whsec_/);
      expect(() => createWebhookServer({ secret, branch: "main", signingToken: "whsec_", onPush: () => {} })).toThrow(/whsec_/);
      expect(signingKey(signingToken).equals(keyBytes)).toBe(true);
    });
  });

  it("close() lets a running reconcile finish, drops the queued one and refuses new requests", async () => {
    const done: string[] = [];
    const h = await start({
      onPush: async (e) => {
        await new Promise((r) => setTimeout(r, 200));
        done.push(e.after);
      },
    });
    await h.post(pushPayload({ after: "1".repeat(40) }));
    await new Promise((r) => setTimeout(r, 30));
    await h.post(pushPayload({ after: "2".repeat(40) }));
    await h.hook.close();
    current = undefined;
    expect(done).toEqual(["1".repeat(40)]);
    expect(h.logs.some((l) => l.includes("dropped queued events"))).toBe(true);
    await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
  });
});
