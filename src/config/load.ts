/** Loading meshops.yaml into resolved environments, with file:line errors for every problem. */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import type { z } from "zod";
import { configSchema, type EnvironmentConfig, type EnvironmentPolicyConfig, type HelmConfig, type MeshopsConfig, type PolicyConfig, type ZeroTrustConfig } from "./schema.js";
import type { Finding } from "../report/finding.js";
import { parsePositioned } from "./positions.js";

export const CONFIG_FILE = "meshops.yaml";

/** One environment with everything resolved and defaulted. */
export interface Environment {
  name: string;
  renderer: "plain" | "kustomize" | "helm";
  /** Repository-relative path of the folder, chart or file ("." for the root). */
  path: string;
  helm?: HelmConfig;
  cluster: { context?: string; kubeconfig?: string; inCluster?: boolean };
  namespace?: string;
  prometheusUrl?: string;
  /** The environment's page (dashboard, Grafana, Kiali): GitLab's environment URL. */
  url?: string;
  /** Grafana annotated with every applied revision. */
  grafana?: { url: string; dashboardUid?: string };
  /** Jaeger-compatible query API for traces. */
  tracingUrl?: string;
  after?: string;
  policy: PolicyConfig;
  /** True for the implicit environment of a path given without meshops.yaml. */
  implicit: boolean;
  /** Where meshops.yaml defines the environment (findings about something missing in it point here). */
  origin?: { file: string; line: number; column: number };
}

export interface LoadedConfig {
  /** Absolute repository root. */
  root: string;
  /** Repository-relative config file, or undefined for an implicit configuration. */
  file?: string;
  config?: MeshopsConfig;
  /** Environments in promotion order (an environment comes after the one it names in `after`). */
  environments: Environment[];
}

/** Thrown (and mapped to exit 2) when the configuration is unusable; carries findings with file and line. */
export class ConfigError extends Error {
  readonly code = "config_invalid";
  constructor(readonly findings: Finding[]) {
    super(findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message}`).join("\n"));
  }
}

function cfgFinding(file: string, line: number, column: number, message: string): Finding {
  return { code: "MSH0010", category: "input", severity: "error", message, file, line, column };
}

/** Is `p` (relative to root) inside the repository? Rejects absolute paths and `..` escapes. */
export function insideRepo(root: string, p: string): boolean {
  if (isAbsolute(p)) return false;
  if (!within(root, resolve(root, p))) return false;
  // a symlink inside the repository must not lead out of it either
  try {
    return within(realpathSync(root), realpathSync(resolve(root, p)));
  } catch {
    return true; // does not exist (yet): reported where it is used
  }
}

/** Is `abs` the folder `root` or below it? */
export function within(root: string, abs: string): boolean {
  const rel = relative(root, abs);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Infers the renderer of a folder: kustomization file → kustomize, Chart.yaml → helm, else plain. */
export function inferRenderer(absPath: string): Environment["renderer"] {
  if (existsSync(absPath) && statSync(absPath).isDirectory()) {
    if (["kustomization.yaml", "kustomization.yml", "Kustomization"].some((f) => existsSync(join(absPath, f)))) return "kustomize";
    if (existsSync(join(absPath, "Chart.yaml"))) return "helm";
  }
  return "plain";
}

/**
 * An environment's policy over the repository-wide one: scalars override, rules merge by code, suppressions,
 * policy files and sensitive namespaces add up, zero-trust settings merge field by field.
 */
export function mergePolicy(base: PolicyConfig, over: EnvironmentPolicyConfig | undefined): PolicyConfig {
  if (!over) return base;
  const references = over.references ?? base.references;
  const policies = [...(base.policies ?? []), ...(over.policies ?? [])];
  const zeroTrust = mergeZeroTrust(base.zeroTrust, over.zeroTrust);
  return {
    failOn: over.failOn ?? base.failOn,
    rules: { ...base.rules, ...(over.rules ?? {}) },
    suppress: [...base.suppress, ...(over.suppress ?? [])],
    ...(references ? { references } : {}),
    ...(zeroTrust ? { zeroTrust } : {}),
    ...(base.policies || over.policies ? { policies: [...new Set(policies)] } : {}),
  };
}

function mergeZeroTrust(base: ZeroTrustConfig | undefined, over: ZeroTrustConfig | undefined): ZeroTrustConfig | undefined {
  if (!base || !over) return over ?? base;
  const sensitive = [...(base.sensitiveNamespaces ?? []), ...(over.sensitiveNamespaces ?? [])];
  return { ...base, ...over, ...(base.sensitiveNamespaces || over.sensitiveNamespaces ? { sensitiveNamespaces: [...new Set(sensitive)] } : {}) };
}

/** Parses and validates meshops.yaml text. Throws ConfigError with positions on any problem. */
export function parseConfig(text: string, root: string, file = CONFIG_FILE): LoadedConfig {
  const { doc, errors, pos: at } = parsePositioned(text);
  if (errors.length > 0) throw new ConfigError(errors.map((e) => cfgFinding(file, e.line, e.col, e.message)));
  // for unknown keys, the key itself
  const pos = (path: readonly PropertyKey[], key?: string): { line: number; col: number } => at(key === undefined ? path : [...path, key]);
  const raw: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((iss: z.core.$ZodIssue) => {
        const where = iss.path.map(String).join(".") || "(top level)";
        if (iss.code === "unrecognized_keys") {
          const keys = iss.keys;
          const p = pos(iss.path, keys[0]);
          return cfgFinding(file, p.line, p.col, `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")} in ${where}`);
        }
        const p = pos(iss.path);
        return cfgFinding(file, p.line, p.col, `${where}: ${iss.message}`);
      }),
    );
  }
  const config = parsed.data;
  const findings: Finding[] = [];
  const environments: Environment[] = [];
  for (const [name, env] of Object.entries(config.environments)) {
    const e = resolveEnvironment(root, name, env, config, (msg, sub) => {
      const p = pos(["environments", name, ...sub]);
      findings.push(cfgFinding(file, p.line, p.col, `environments.${name}: ${msg}`));
    });
    if (e) {
      const p = pos(["environments", name]);
      environments.push({ ...e, origin: { file, line: p.line, column: p.col } });
    }
  }
  const policyPaths: { path: string; at: (string | number)[] }[] = [
    ...(config.policy.policies ?? []).map((path, i) => ({ path, at: ["policy", "policies", i] })),
    ...Object.entries(config.environments).flatMap(([name, env]) => (env.policy?.policies ?? []).map((path, i) => ({ path, at: ["environments", name, "policy", "policies", i] }))),
  ];
  for (const { path, at } of policyPaths) {
    if (insideRepo(root, path)) continue;
    const p = pos(at);
    findings.push(cfgFinding(file, p.line, p.col, `${at.join(".")}: path "${path}" is outside the repository`));
  }
  for (const c of config.crds) {
    if (!insideRepo(root, c)) {
      const p = pos(["crds"]);
      findings.push(cfgFinding(file, p.line, p.col, `crds: path "${c}" is outside the repository`));
    }
  }
  const names = new Set(environments.map((e) => e.name));
  for (const e of environments) {
    if (e.after && !names.has(e.after)) {
      const p = pos(["environments", e.name, "after"]);
      findings.push(cfgFinding(file, p.line, p.col, `environments.${e.name}.after: no environment named "${e.after}"`));
    }
  }
  if (findings.length > 0) throw new ConfigError(findings);
  const ordered = promotionOrder(environments);
  if ("cycle" in ordered) {
    const p = pos(["environments"]);
    throw new ConfigError([cfgFinding(file, p.line, p.col, `environments: promotion order has a cycle: ${ordered.cycle.join(" → ")}`)]);
  }
  return { root, file, config, environments: ordered.order };
}

function resolveEnvironment(
  root: string,
  name: string,
  env: EnvironmentConfig,
  config: MeshopsConfig,
  report: (msg: string, path: string[]) => void,
): Environment | undefined {
  const path = env.path ?? env.helm?.chart;
  if (!path) {
    report("needs a path (or helm.chart)", []);
    return undefined;
  }
  if (!insideRepo(root, path)) {
    report(`path "${path}" is outside the repository`, ["path"]);
    return undefined;
  }
  for (const v of env.helm?.values ?? []) {
    if (!insideRepo(root, v)) report(`helm values file "${v}" is outside the repository`, ["helm", "values"]);
  }
  if (env.helm?.chart && !insideRepo(root, env.helm.chart)) report(`helm chart "${env.helm.chart}" is outside the repository`, ["helm", "chart"]);
  const renderer = env.renderer ?? (env.helm ? "helm" : inferRenderer(resolve(root, path)));
  if (renderer === "helm" && !env.helm && inferRenderer(resolve(root, path)) !== "helm") {
    report(`renderer helm needs a chart: set helm.chart or point path at a folder with Chart.yaml`, ["renderer"]);
  }
  const prom = env.prometheus?.url ?? config.defaults.prometheus?.url;
  const ns = env.namespace ?? config.defaults.namespace;
  const cluster = env.cluster ?? { context: name };
  return {
    name,
    renderer,
    path: normalize(path).split(sep).join("/"),
    ...(env.helm ? { helm: env.helm } : renderer === "helm" ? { helm: { chart: path, values: [], set: {}, apiVersions: [] } } : {}),
    cluster: "inCluster" in cluster ? { inCluster: true } : { context: cluster.context, ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}) },
    ...(ns ? { namespace: ns } : {}),
    ...(prom ? { prometheusUrl: prom } : {}),
    ...(env.url ? { url: env.url } : {}),
    ...(env.grafana ? { grafana: env.grafana } : {}),
    ...(env.tracing ? { tracingUrl: env.tracing.url } : {}),
    ...(env.after ? { after: env.after } : {}),
    policy: mergePolicy(config.policy, env.policy),
    implicit: false,
  };
}

/** Orders environments so each comes after the one it names (stable otherwise); reports a cycle. */
export function promotionOrder(envs: Environment[]): { order: Environment[] } | { cycle: string[] } {
  const byName = new Map(envs.map((e) => [e.name, e]));
  const order: Environment[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (e: Environment, stack: string[]): string[] | undefined => {
    if (state.get(e.name) === "done") return undefined;
    if (state.get(e.name) === "visiting") return [...stack.slice(stack.indexOf(e.name)), e.name];
    state.set(e.name, "visiting");
    const dep = e.after ? byName.get(e.after) : undefined;
    if (dep) {
      const c = visit(dep, [...stack, e.name]);
      if (c) return c;
    }
    state.set(e.name, "done");
    order.push(e);
    return undefined;
  };
  for (const e of envs) {
    const c = visit(e, []);
    if (c) return { cycle: c };
  }
  return { order };
}

/** Reads meshops.yaml from the repository root, if present. */
export function loadConfig(root: string): LoadedConfig | undefined {
  const abs = join(root, CONFIG_FILE);
  if (!existsSync(abs)) return undefined;
  return parseConfig(readFileSync(abs, "utf8"), root);
}

/** The implicit environment "default" for a directory or file given without meshops.yaml. */
export function implicitEnvironment(root: string, target: string): LoadedConfig {
  const rel = relative(root, resolve(root, target)).split(sep).join("/") || ".";
  return {
    root,
    environments: [
      {
        name: "default",
        renderer: inferRenderer(resolve(root, target)),
        path: rel,
        cluster: {},
        policy: { failOn: "error", rules: {}, suppress: [] },
        implicit: true,
      },
    ],
  };
}
