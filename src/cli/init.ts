/** `meshops init`: write a commented meshops.yaml from what the repository holds. */
import type { Command } from "commander";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { CONFIG_FILE, parseConfig } from "../config/load.js";
import { UsageError } from "./errors.js";
import { addCommonOptions, type Io } from "./main.js";

interface FoundEnv {
  name: string;
  path: string;
  renderer: "plain" | "kustomize" | "helm";
  values?: string[];
}

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "vendor"]);
const ENV_ORDER = ["dev", "development", "test", "qa", "staging", "stage", "preprod", "canary", "prod", "production"];

function posix(p: string): string {
  return p.split(sep).join("/") || ".";
}

function walkDirs(root: string, dir: string, depth: number, out: string[]): void {
  if (depth > 6) return;
  out.push(dir);
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".") || SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walkDirs(root, p, depth + 1, out);
  }
}

const isKustomization = (d: string): boolean => ["kustomization.yaml", "kustomization.yml", "Kustomization"].some((f) => existsSync(join(d, f)));

/** Looks at the repository and proposes environments, meshes and CRD folders. */
export function discover(root: string): { envs: FoundEnv[]; meshes: string[]; crds: string[] } {
  const dirs: string[] = [];
  walkDirs(root, root, 0, dirs);
  const envs: FoundEnv[] = [];
  const meshes = new Set<string>();
  const crds = new Set<string>();
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (!/\.(ya?ml|json)$/.test(f)) continue;
      const p = join(d, f);
      if (!statSync(p).isFile() || statSync(p).size > 4 * 1024 * 1024) continue;
      const text = readFileSync(p, "utf8");
      if (/apiVersion:\s*"?(networking|security)\.istio\.io\//.test(text)) meshes.add("istio");
      if (/apiVersion:\s*"?(policy\.linkerd\.io|linkerd\.io|split\.smi-spec\.io)\//.test(text)) meshes.add("linkerd");
      if (/apiVersion:\s*"?gateway\.networking\.k8s\.io\//.test(text)) meshes.add("gateway-api");
      if (/kind:\s*CustomResourceDefinition/.test(text)) crds.add(posix(relative(root, d)));
    }
  }
  // overlays/<env>, envs/<env>, environments/<env>, clusters/<env>: one environment each
  for (const d of dirs) {
    const rel = posix(relative(root, d));
    const m = /^(?:.*\/)?(overlays|envs|environments|clusters)\/([a-z0-9][-a-z0-9]*)$/.exec(rel);
    if (m?.[2] && (isKustomization(d) || readdirSync(d).some((f) => /\.ya?ml$/.test(f)))) {
      envs.push({ name: m[2], path: rel, renderer: isKustomization(d) ? "kustomize" : "plain" });
    }
  }
  // a chart with values-<env>.yaml files: one environment per values file
  if (envs.length === 0) {
    for (const d of dirs) {
      if (!existsSync(join(d, "Chart.yaml"))) continue;
      const rel = posix(relative(root, d));
      const values = readdirSync(d).filter((f) => /^values-([a-z0-9][-a-z0-9]*)\.ya?ml$/.test(f));
      for (const v of values) {
        const name = /^values-([a-z0-9][-a-z0-9]*)\./.exec(v)?.[1] ?? "default";
        envs.push({ name, path: rel, renderer: "helm", values: [posix(join(rel, v))] });
      }
      if (values.length === 0) envs.push({ name: "default", path: rel, renderer: "helm", values: [] });
      break;
    }
  }
  if (envs.length === 0) envs.push({ name: "default", path: ".", renderer: isKustomization(root) ? "kustomize" : "plain" });
  const rank = (n: string): number => {
    const i = ENV_ORDER.indexOf(n);
    return i < 0 ? ENV_ORDER.indexOf("staging") + 0.5 : i;
  };
  envs.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  return { envs, meshes: [...meshes].sort(), crds: [...crds].sort() };
}

/** The commented meshops.yaml text for what was discovered. */
export function initText(found: ReturnType<typeof discover>): string {
  const lines: string[] = [
    "# meshops.yaml: the repository contract (https://gitlab.com/meshops/meshops#meshopsyaml)",
    "# Written by `meshops init` from what this repository holds: review every line.",
    "version: 1",
    "",
    "# Meshes in use: informs the analyzers.",
    `meshes: [${found.meshes.join(", ")}]`,
    "",
    "# CRD files or folders (inside the repository) to validate objects against, in addition to",
    "# `--crds` and the schemas cached by `meshops schemas pull --context CTX`.",
    `crds: [${found.crds.map((c) => JSON.stringify(c)).join(", ")}]`,
    "",
    "# Environments in promotion order. Each renders one folder: plain YAML, a Kustomize overlay",
    "# (renderer inferred from kustomization.yaml) or a Helm chart (helm: chart + values).",
    "environments:",
  ];
  let prev: string | undefined;
  for (const e of found.envs) {
    lines.push(`  ${e.name}:`);
    if (e.renderer === "helm") {
      lines.push("    helm:", `      chart: ${JSON.stringify(e.path)}`, `      values: [${(e.values ?? []).map((v) => JSON.stringify(v)).join(", ")}]`);
    } else {
      lines.push(`    path: ${JSON.stringify(e.path)}`, `    renderer: ${e.renderer}`);
    }
    lines.push("    # Target cluster: a kubeconfig context (or `inCluster: true` inside a cluster).", `    cluster: { context: ${JSON.stringify(e.name)} }`);
    lines.push("    # Prometheus for observe/deliver, e.g. http://prometheus.istio-system:9090", `    # prometheus: { url: "http://prometheus:9090" }`);
    if (prev) lines.push(`    # Promoted after ${prev} succeeded.`, `    after: ${prev}`);
    prev = e.name;
  }
  lines.push(
    "",
    "# Policy: the severity that fails `check`, per-code overrides, and suppressions (each needs a reason).",
    "policy:",
    "  failOn: error",
    "  rules: {}",
    "  suppress: []",
    "",
  );
  return lines.join("\n");
}

export function registerInit(program: Command, io: Io, _setExit: (code: number) => void): void {
  addCommonOptions(program.command("init").description("write a commented meshops.yaml from what the repository holds").argument("[dir]", "repository folder", "."))
    .option("--force", "overwrite an existing meshops.yaml")
    .option("--stdout", "print instead of writing the file")
    .action((dir: string, flags: { force?: boolean; stdout?: boolean; chdir?: string }) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const root = resolve(cwd, dir);
      if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`"${dir}" is not a folder`);
      const file = join(root, CONFIG_FILE);
      if (existsSync(file) && !flags.force && !flags.stdout) throw new UsageError(`${posix(relative(cwd, file))} already exists: use --force to overwrite`);
      const text = initText(discover(root));
      parseConfig(text, root); // what init writes must load
      if (flags.stdout) io.stdout(text);
      else {
        writeFileSync(file, text);
        io.stdout(`wrote ${posix(relative(cwd, file))}\n`);
      }
    });
}
