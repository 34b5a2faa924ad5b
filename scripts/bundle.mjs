#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js, and check's worker thread dist/cli/check-worker.js) with its
 * runtime dependencies into dist/bundle/: the entry points plus shared chunks, ES modules, code splitting so a
 * command still loads only its own code. `bin/meshops.js` runs the bundle when it exists.
 *
 * Why: on Node 20 (no compile cache) loading ~300 module files (the CLI's, @bufbuild/cel's and protobuf's, zod's)
 * is a large share of a small check; a bundle reads a few dozen files. Measured in bench/check (see its README).
 * The bundle sits two folders below the package root like dist/cli/, so `new URL("../../package.json",
 * import.meta.url)` and `../../schemas/` resolve the same; the worker is looked up beside the code that starts it.
 *
 * Usage: node scripts/bundle.mjs (after tsc; `npm run build` runs both).
 */
import { build } from "esbuild";
import { existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const out = join(dist, "bundle");
const entries = [join(dist, "cli", "main.js"), join(dist, "cli", "check-worker.js")];
for (const e of entries) {
  if (!existsSync(e)) {
    console.error(`bundle: ${e} is missing: run tsc -p tsconfig.build.json first`);
    process.exit(1);
  }
}
rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: entries,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outdir: out,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  // CommonJS dependencies that require() Node's built-ins need a real require in an ES module
  banner: { js: 'import { createRequire as __meshopsCreateRequire } from "node:module"; const require = __meshopsCreateRequire(import.meta.url);' },
  logLevel: "warning",
  metafile: true,
});
const files = Object.keys(result.metafile.outputs).length;
const inputs = Object.keys(result.metafile.inputs).length;
console.error(`bundle: ${inputs} modules into ${files} files in ${out}`);
