/** `meshops webhook serve` end to end: the built CLI in its own process, GitLab-shaped deliveries over HTTP. */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { meshops, repoRoot } from "./helpers.js";
import { pushPayload } from "./gitlab-payloads.js";

const token = "e2e-hook-secret-4b9d0c";
const bin = join(repoRoot, "bin", "meshops.js");

/** GitLab's documented Push Hook example, on branch main. */
const push = pushPayload() as { after: string } & Record<string, unknown>;

/** The headers GitLab sends with a Push Hook delivery. */
function gitlabHeaders(over: Record<string, string> = {}): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "GitLab/17.6.0",
    "x-gitlab-event": "Push Hook",
    "x-gitlab-token": token,
    "x-gitlab-instance": "https://gitlab.example.com",
    "x-gitlab-webhook-uuid": "6c2ad3f0-1b1e-4f3e-8a4b-0e7e8f2f6a11",
    "x-gitlab-event-uuid": "b1c6f8a2-9d3e-4a57-8c1f-2e4d6a8b0c13",
    "idempotency-key": "f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f",
    ...over,
  };
}

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

let running: Served | undefined;
afterEach(() => {
  if (running && running.child.exitCode === null) running.child.kill("SIGKILL");
  running = undefined;
});

async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [bin, "webhook", "serve", "--listen", "127.0.0.1:0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", MESHOPS_WEBHOOK_TOKEN: token },
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${err}`)), 20_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /meshops webhook: listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening; stderr: ${err}`)));
  });
  running = { child, url, stderr: () => err, exited };
  return running;
}

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("meshops webhook serve", () => {
  it("runs --exec with the push in MESHOPS_* variables and exits 0 on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meshops-webhook-"));
    const out = join(dir, "reconciled");
    const s = await serve(["--branch", "main", "--exec", `printf '%s %s %s %s %s %s' "$MESHOPS_EVENT" "$MESHOPS_AFTER" "$MESHOPS_REF" "$MESHOPS_PROJECT" "$MESHOPS_USER" "\${MESHOPS_WEBHOOK_TOKEN:-unset}" > ${out}`]);

    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);

    const wrong = await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders({ "x-gitlab-token": "guess-0001" }), body: JSON.stringify(push) });
    expect(wrong.status).toBe(401);

    const res = await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders(), body: JSON.stringify(push) });
    expect(res.status).toBe(202);
    await waitFor(() => existsSync(out) && readFileSync(out, "utf8").length > 0, "the reconcile command");
    expect(readFileSync(out, "utf8")).toBe("push da1560886d4f094c3e6c9ef40349f7d38b5d27d7 refs/heads/main mike/diaspora jsmith unset");
    await waitFor(() => s.stderr().includes("reconcile succeeded"), "the reconcile log line");

    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    const log = s.stderr();
    expect(log).toMatch(/"msg":"reconcile succeeded for da1560886d4f094c3e6c9ef40349f7d38b5d27d7".*"exit":0,"durationMs":\d+/);
    expect(log).toContain("wrong X-Gitlab-Token");
    expect(log).not.toContain("guess-0001");
    expect(log).not.toContain(token);
  });

  it("lets a running reconcile finish on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meshops-webhook-"));
    const out = join(dir, "done");
    const s = await serve(["--exec", `sleep 1; printf '%s' "$MESHOPS_AFTER" > ${out}`]);
    expect((await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders(), body: JSON.stringify(push) })).status).toBe(202);
    await waitFor(() => s.stderr().includes("reconcile started"), "the reconcile to start");
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(push.after);
  });

  it("stops a reconcile command that outlives --exec-timeout, with everything it started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meshops-webhook-"));
    const pidFile = join(dir, "pid");
    const s = await serve(["--exec-timeout", "1s", "--exec", `sleep 60 & echo $! > ${pidFile}; wait`]);
    expect((await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders(), body: JSON.stringify(push) })).status).toBe(202);
    await waitFor(() => s.stderr().includes(`"msg":"reconcile timed out for ${push.after}"`), "the timed-out reconcile", 15_000);
    expect(s.stderr()).toContain(`reconcile timed out for ${push.after} after 1000 ms: stopping it`);
    // the grandchild (sleep) went with the shell: the whole process group was signalled
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    expect(pid).toBeGreaterThan(0);
    // (gone, or a zombie waiting for init to reap it: /proc/PID/stat state Z)
    await waitFor(() => !existsSync(`/proc/${pid}/stat`) || /^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8")), `sleep (pid ${pid}) to end`, 5_000);
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    const bad = meshops(["webhook", "serve", "--listen", "127.0.0.1:0", "--exec-timeout", "soon"], { env: { MESHOPS_WEBHOOK_TOKEN: token } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--exec-timeout "soon" is not a duration');
  });

  it("without --exec only logs the request; other branches are ignored", async () => {
    const s = await serve([]);
    const other = await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders({ "idempotency-key": "k-1" }), body: JSON.stringify({ ...push, ref: "refs/heads/feature" }) });
    expect(await other.json()).toEqual({ status: "ignored", reason: "not the tracked branch main" });
    await fetch(`${s.url}/`, { method: "POST", headers: gitlabHeaders({ "idempotency-key": "k-2" }), body: JSON.stringify(push) });
    await waitFor(() => s.stderr().includes(`reconcile requested for ${push.after}`), "the reconcile request line");
    s.child.kill("SIGINT");
    expect(await s.exited).toBe(0);
  });

  it("refuses to start without MESHOPS_WEBHOOK_TOKEN, and with a bad --listen", () => {
    const r = meshops(["webhook", "serve", "--listen", "127.0.0.1:0"], { env: { MESHOPS_WEBHOOK_TOKEN: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("MESHOPS_WEBHOOK_TOKEN");
    const bad = meshops(["webhook", "serve", "--listen", "localhost"], { env: { MESHOPS_WEBHOOK_TOKEN: token } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--listen localhost");
  });
});
