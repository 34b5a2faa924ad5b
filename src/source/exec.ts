/** Running external tools (git, kubectl, helm) with clear errors when they are missing or fail. */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** A tool failed or is missing; mapped to exit 2 with the tool's own message. */
export class ToolError extends Error {
  constructor(
    readonly code: "tool_missing" | "tool_failed",
    message: string,
  ) {
    super(message);
  }
}

const installHints: Record<string, string> = {
  kubectl: "install kubectl (it bundles kustomize): https://kubernetes.io/docs/tasks/tools/",
  helm: "run `npm run setup-tools` (builds helm with `go install` into ~/.cache/meshops/tools/bin) or install Helm 3 and put it on PATH, or set MESHOPS_HELM",
  git: "install git",
};

/** Where meshops looks for a tool: $MESHOPS_<TOOL>, then the setup-tools cache, then PATH. */
export function toolPath(tool: string): string {
  const env = process.env[`MESHOPS_${tool.toUpperCase()}`];
  if (env) return env;
  const cacheDir = process.env.MESHOPS_TOOLS_DIR ?? join(homedir(), ".cache", "meshops", "tools");
  const cached = join(cacheDir, "bin", tool);
  if (existsSync(cached)) return cached;
  return tool;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a tool; throws ToolError(tool_missing) when the binary cannot be found. Never throws on non-zero exit. */
export function run(tool: string, args: readonly string[], opts: { cwd?: string; input?: string; binary?: string } = {}): Promise<RunResult> {
  const bin = opts.binary ?? toolPath(tool);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") reject(new ToolError("tool_missing", `${tool} not found (looked for "${bin}"): ${installHints[tool] ?? `install ${tool}`}`));
      else reject(new ToolError("tool_failed", `${tool}: ${e.message}`));
    });
    child.on("close", (code) => resolvePromise({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), code: code ?? 1 }));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
