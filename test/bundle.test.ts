/**
 * The bundle (scripts/bundle.mjs → dist/bundle/) that bin/meshops.js runs: built by `npm run build`, it answers
 * exactly as tsc's output does — the same report, exit code and schema sources for the bundled example and the
 * real-world corpus, with check's worker thread — and finds the files it reads relative to itself
 * (package.json's version, the bundled core schemas).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { corpusDir, crdsDir, repoRoot } from "./helpers.js";

/** A launcher like bin/meshops.js for tsc's output (dist/cli/), the way it ran before the bundle. */
const unbundled = join(mkdtempSync(join(tmpdir(), "meshops-bundle-test-")), "unbundled.mjs");
writeFileSync(unbundled, `const { main } = await import(${JSON.stringify(join(repoRoot, "dist", "cli", "main.js"))});\nprocess.exitCode = await main(process.argv.slice(2));\n`);

function run(bundle: boolean, args: string[]): { code: number; stdout: string; stderr: string } {
  const launcher = bundle ? join(repoRoot, "bin", "meshops.js") : unbundled;
  const r = spawnSync(process.execPath, [launcher, ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("the bundle bin/meshops.js runs", () => {
  it("is built, and is what bin/meshops.js loads", () => {
    expect(existsSync(join(repoRoot, "dist", "bundle", "main.js"))).toBe(true);
    expect(existsSync(join(repoRoot, "dist", "bundle", "check-worker.js"))).toBe(true);
    const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
    expect(run(true, ["--version"]).stdout.trim()).toBe(version);
  });

  it("reports exactly what tsc's output reports: the example repository and the corpus, with the worker thread", () => {
    for (const args of [
      ["check", join(repoRoot, "examples", "bookinfo"), "--format", "json"],
      ["check", corpusDir, "--crds", crdsDir, "--format", "json"],
      ["render", join(repoRoot, "examples", "bookinfo"), "--env", "staging"],
      ["check", join(repoRoot, "examples", "bookinfo"), "--format", "sarif"],
      // commands that load their modules lazily (a dynamic import of a package once broke only in the bundle)
      ["prometheus", "rules", "--mesh", "istio", "--window", "1m,5m"],
      ["grafana", "dashboard", join(repoRoot, "examples", "bookinfo"), "--env", "staging"],
      ["explain", "MSH2003"],
      ["diff", "--help"],
    ]) {
      const a = run(true, args);
      const b = run(false, args);
      expect(a.stderr, args.join(" ")).toBe(b.stderr);
      expect(a.code, args.join(" ")).toBe(b.code);
      expect(a.stdout, args.join(" ")).toBe(b.stdout);
      expect(a.stdout.length).toBeGreaterThan(100);
    }
  }, 120_000);
});
