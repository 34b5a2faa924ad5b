#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script): the bundle
// (dist/bundle/, scripts/bundle.mjs) when it was built, else tsc's output.
import { existsSync } from "node:fs";
import module from "node:module";

// Node.js 22.1+ can cache compiled modules on disk (startup is a large share of a small check); 20 has no such API.
module.enableCompileCache?.();

const bundled = new URL("../dist/bundle/main.js", import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : "../dist/cli/main.js");
process.exitCode = await main(process.argv.slice(2));
