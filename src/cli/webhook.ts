/**
 * `meshops webhook serve`: receives a GitLab project's push and merge request webhooks and, for each push to the
 * tracked branch, runs a reconcile command (`--exec`, through `sh -c`, with the push in MESHOPS_* variables).
 * The secret token comes from MESHOPS_WEBHOOK_TOKEN only: a flag would show in `ps`.
 */
import type { Command } from "commander";
import { spawn } from "node:child_process";
import { createWebhookServer, defaultMaxBodyBytes, signingKey, type PushEvent } from "../gitlab/webhook.js";
import { parseDurationS } from "./duration.js";
import { UsageError } from "./errors.js";
import type { Io } from "./main.js";

interface ServeFlags {
  listen: string;
  branch: string;
  exec?: string;
  execTimeout: string;
  maxBody: string;
  path: string;
}

export const tokenVariable = "MESHOPS_WEBHOOK_TOKEN";
export const signingTokenVariable = "MESHOPS_WEBHOOK_SIGNING_TOKEN";

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen ${value}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

function jsonLine(level: string, msg: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
}

/** Milliseconds between SIGTERM and SIGKILL for a reconcile command past its timeout. */
const KILL_GRACE_MS = 10_000;

/**
 * Runs the reconcile command for a push; resolves when it has exited (never rejects). Past `timeoutMs` its
 * whole process group (sh and what it started) gets SIGTERM, and SIGKILL 10 s later.
 */
function runReconcile(cmd: string, event: PushEvent, io: Io, log: (line: string) => void, timeoutMs: number): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...io.env };
  // The reconcile command has no use for the hook's secrets.
  delete env[tokenVariable];
  delete env[signingTokenVariable];
  Object.assign(env, {
    MESHOPS_EVENT: "push",
    MESHOPS_REF: event.ref,
    MESHOPS_BEFORE: event.before,
    MESHOPS_AFTER: event.after,
    MESHOPS_PROJECT: event.project.path_with_namespace,
    MESHOPS_USER: event.user_username ?? "",
  });
  const started = Date.now();
  log(jsonLine("info", `reconcile started for ${event.after}`, { after: event.after, project: event.project.path_with_namespace }));
  return new Promise((resolve) => {
    // its own process group, so a timeout reaches every process the command started
    const child = spawn("sh", ["-c", cmd], { cwd: io.cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      log(jsonLine("error", `reconcile timed out for ${event.after} after ${timeoutMs} ms: stopping it`, { after: event.after, timeoutMs }));
      signalGroup("SIGTERM");
      killer = setTimeout(() => signalGroup("SIGKILL"), KILL_GRACE_MS);
    }, timeoutMs);
    // The command's output goes to stderr: stdout carries only the listening line.
    child.stdout.on("data", (d: Buffer) => io.stderr(d.toString()));
    child.stderr.on("data", (d: Buffer) => io.stderr(d.toString()));
    child.on("error", (e) => {
      clearTimeout(timer);
      log(jsonLine("error", "reconcile could not start", { after: event.after, error: e.message }));
      resolve();
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      const ok = code === 0 && !timedOut;
      log(jsonLine(ok ? "info" : "error", `reconcile ${ok ? "succeeded" : timedOut ? "timed out" : "failed"} for ${event.after}`, { after: event.after, exit: code, signal: signal ?? undefined, durationMs: Date.now() - started }));
      resolve();
    });
  });
}

export function registerWebhook(program: Command, io: Io, _setExit: (code: number) => void): void {
  const webhook = program.command("webhook").description("receive GitLab webhooks");
  webhook
    .command("serve")
    .description("receive a GitLab project's push and merge request webhooks; a push to the tracked branch runs the reconcile command")
    .option("--listen <host:port>", "address to listen on (port 0 picks a free port)", "127.0.0.1:8080")
    .option("--branch <branch>", "tracked branch: only pushes to it trigger a reconcile", "main")
    .option("--exec <cmd>", "reconcile command, run with sh -c and MESHOPS_EVENT, MESHOPS_REF, MESHOPS_BEFORE, MESHOPS_AFTER, MESHOPS_PROJECT, MESHOPS_USER")
    .option("--exec-timeout <duration>", "stop the reconcile command (SIGTERM to its process group, SIGKILL 10 s later) when it runs longer", "15m")
    .option("--max-body <bytes>", "largest accepted request body", String(defaultMaxBodyBytes))
    .option("--path <path>", "URL path GitLab posts to", "/")
    .addHelpText(
      "after",
      `\nEnvironment:\n  ${tokenVariable}          the hook's secret token (required; GitLab sends it in X-Gitlab-Token)\n  ${signingTokenVariable}  optional signing token whsec_<base64>: also require a valid webhook-signature\n`,
    )
    .action(async (flags: ServeFlags) => {
      const secret = io.env[tokenVariable];
      if (!secret) throw new UsageError(`${tokenVariable} is not set: export the GitLab hook's secret token in ${tokenVariable} (never pass it as a flag)`);
      const signingToken = io.env[signingTokenVariable] || undefined;
      if (signingToken) {
        try {
          signingKey(signingToken);
        } catch {
          throw new UsageError(`${signingTokenVariable} must look like whsec_<base64 key>`);
        }
      }
      const { host, port } = parseListen(flags.listen);
      const execTimeoutMs = parseDurationS(flags.execTimeout, "--exec-timeout") * 1000;
      if (!/^\d+$/.test(flags.maxBody) || Number(flags.maxBody) < 1) throw new UsageError(`--max-body ${flags.maxBody}: expected a positive number of bytes`);
      if (!flags.path.startsWith("/")) throw new UsageError(`--path ${flags.path}: must start with /`);
      if (!flags.branch || flags.branch.startsWith("refs/")) throw new UsageError(`--branch ${flags.branch}: give the branch name, e.g. main`);

      const log = (line: string): void => io.stderr(`${line}\n`);
      const hook = createWebhookServer({
        secret,
        branch: flags.branch,
        ...(signingToken ? { signingToken } : {}),
        maxBodyBytes: Number(flags.maxBody),
        path: flags.path,
        log,
        onPush: (event) => {
          if (flags.exec) return runReconcile(flags.exec, event, io, log, execTimeoutMs);
          log(jsonLine("info", `reconcile requested for ${event.after}`, { after: event.after, project: event.project.path_with_namespace }));
        },
      });
      let addr;
      try {
        addr = await hook.listen(port, host);
      } catch (e) {
        throw new UsageError(`cannot listen on ${flags.listen}: ${(e as Error).message}`);
      }
      const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      io.stdout(`meshops webhook: listening on http://${shown}:${addr.port}${flags.path === "/" ? "" : flags.path}\n`);

      // Until SIGINT or SIGTERM: stop accepting, let a running reconcile finish, exit 0.
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          log(jsonLine("info", `${signal}: shutting down`));
          hook.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      log(jsonLine("info", "stopped"));
    });
}
