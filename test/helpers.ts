/** Shared helpers for integration and end-to-end tests: the built CLI, temporary git repositories. */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** ../shared beside the repository (CRDs and the real-world corpus); MESHOPS_SHARED_DIR overrides. */
export const sharedDir = process.env.MESHOPS_SHARED_DIR ?? resolve(repoRoot, "..", "shared");
export const crdsDir = join(sharedDir, "crds");
export const corpusDir = join(sharedDir, "corpus");
const bin = join(repoRoot, "bin", "meshops.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would (a separate node process). */
export function meshops(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Writes files (path → content) under a new temporary folder and returns it. */
export function writeTree(files: Record<string, string | Buffer>, dir = mkdtempSync(join(tmpdir(), "meshops-test-"))): string {
  for (const [p, content] of Object.entries(files)) {
    const abs = join(dir, p);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  return dir;
}

/** Runs git in a folder with a fixed identity. */
export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, GIT_AUTHOR_NAME: "Test", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "Test", GIT_COMMITTER_EMAIL: "t@example.com" },
  }).trim();
}

/** A new git repository with the files committed; returns its folder. */
export function gitRepo(files: Record<string, string>, message = "initial"): string {
  const dir = writeTree(files);
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
  return dir;
}

/** Commits the given files on top of the repository's HEAD; returns the new commit id. */
export function commit(dir: string, files: Record<string, string>, message: string): string {
  writeTree(files, dir);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

/** Every file below a folder, recursively, in sorted order. */
export function walkFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walkFiles(p) : [p];
    });
}

/** A name no other test (or earlier run against the same cluster) uses: prefix plus 6 hex digits. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/**
 * For `afterEach` in files whose tests block on spawnSync: gives the worker's event loop a turn between tests,
 * or vitest's 60 s RPC timeout can fire for reports sent before a long synchronous stretch on a loaded machine.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

/** A finding as `meshops check --format json` prints it. */
export interface JsonFinding {
  code: string;
  category: string;
  severity: string;
  message: string;
  file: string;
  line: number;
  column: number;
  resource?: { kind: string; name: string; namespace: string | null };
  env?: string;
  schema?: string;
  istio?: string;
  suppressed?: boolean;
}

/** The report `meshops check --format json` prints. */
export interface JsonReport {
  findings: JsonFinding[];
  summary: { errors: number; warnings: number; objects: number; environments: string[]; schemas: Record<string, number>; unvalidated: number };
  objects: { env: string; file: string; line: number; schema?: string; resource: { kind: string; name: string } }[];
}

/** A VirtualService splitting `reviews` between subsets v1 and v2 (the weight-shift fixture of the e2e tests). */
export function reviewsVirtualService(ns: string, w1: number, w2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${ns}}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: ${w1}
    - destination: {host: reviews, subset: v2}
      weight: ${w2}
`;
}

/** A kubeconfig file whose only context, "gone", points at a port nothing listens on (an unreachable cluster). */
export function unreachableKubeconfig(): string {
  const dir = writeTree({
    kubeconfig: [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{ name: gone, cluster: { server: 'https://127.0.0.1:1' } }]",
      "users: [{ name: u, user: { token: t } }]",
      "contexts: [{ name: gone, context: { cluster: gone, user: u } }]",
      "current-context: gone",
      "",
    ].join("\n"),
  });
  return join(dir, "kubeconfig");
}

/** A seeded pseudo-random generator (mulberry32) in [0, 1): the same values on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
