/**
 * The GitLab CI/CD components in templates/, the example pipeline in examples/gitlab-ci/, the project's own
 * .gitlab-ci.yml (self-test and release) and the Dockerfile. There is no GitLab here, so the test mirrors what
 * GitLab does at pipeline creation: split the `spec:` header from the jobs, check and interpolate
 * `$[[ inputs.x ]]`, evaluate `rules:if`, and compares the resulting jobs with the `meshops ci` contract
 * (modes, reports directory and file names).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { repoRoot } from "./helpers.js";

// ---------------------------------------------------------------------------------------------------------------
// A small model of GitLab's component handling

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

interface InputSpec {
  description?: string;
  default?: Json;
  type?: "string" | "number" | "boolean" | "array";
  options?: Json[];
  regex?: string;
}

interface Component {
  name: string;
  file: string;
  inputs: Record<string, InputSpec>;
  /** The text after the `---` separator, before interpolation. */
  body: string;
}

const INPUT_REF = /\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]/g;
const INPUT_KEYS = new Set(["description", "default", "type", "options", "regex"]);
/** Keywords that configure the whole pipeline: a component must not set them (GitLab's advice). */
const GLOBAL_KEYWORDS = new Set(["default", "include", "stages", "variables", "workflow", "image", "services", "cache", "before_script", "after_script", "spec"]);

const templatesDir = join(repoRoot, "templates");
const componentNames = readdirSync(templatesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(templatesDir, d.name, "template.yml")))
  .map((d) => d.name)
  .sort();

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function loadComponent(name: string): Component {
  const file = join(templatesDir, name, "template.yml");
  const text = readFileSync(file, "utf8");
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.length !== 2) throw new Error(`${file}: expected a spec header, '---' and the jobs`);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
  const header = docs[0]!.toJS() as unknown;
  if (!isObj(header) || Object.keys(header).join() !== "spec" || !isObj(header.spec)) throw new Error(`${file}: the header holds only spec:`);
  const inputs = header.spec.inputs;
  if (!isObj(inputs)) throw new Error(`${file}: spec:inputs missing`);
  // The body is the text after the separator line (GitLab interpolates the parsed body; see interpolate()).
  const sep = text.search(/^---[ \t]*$/m);
  return { name, file, inputs: inputs as unknown as Record<string, InputSpec>, body: text.slice(sep).replace(/^---[^\n]*\n/, "") };
}

/** The value of one input, validated as GitLab validates it (type, options, regex); a missing mandatory input throws. */
function inputValue(c: Component, id: string, given: Record<string, Json>): Json {
  const spec = c.inputs[id]!;
  const has = Object.prototype.hasOwnProperty.call(given, id);
  if (!has && spec.default === undefined) throw new Error(`${c.name}: \`${id}\` input: required value has not been provided`);
  const v = has ? given[id]! : spec.default!;
  const type = spec.type ?? "string";
  const actual = Array.isArray(v) ? "array" : typeof v;
  if (actual !== type) throw new Error(`${c.name}: \`${id}\` input: provided value is not a ${type}`);
  if (spec.options && !spec.options.includes(v)) throw new Error(`${c.name}: \`${id}\` input: \`${String(v)}\` cannot be used because it is not in the list of allowed options`);
  if (spec.regex !== undefined && !new RegExp(spec.regex).test(String(v))) throw new Error(`${c.name}: \`${id}\` input: provided value does not match required RegEx pattern`);
  return v;
}

function substitute(s: string, values: Record<string, Json>): Json {
  const whole = /^\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]$/.exec(s);
  if (whole) return values[whole[1]!]!; // a whole-value reference keeps the input's type
  const out = s.replace(INPUT_REF, (_m, id: string) => {
    const v = values[id]!;
    if (typeof v === "object" && v !== null) throw new Error(`input ${id}: an array cannot be part of a string`);
    return String(v);
  });
  if (out.includes("$[[")) throw new Error(`unsupported interpolation in ${JSON.stringify(s)}`);
  return out;
}

function walk(node: Json, values: Record<string, Json>): Json {
  if (typeof node === "string") return substitute(node, values);
  if (Array.isArray(node)) return node.map((n) => walk(n, values));
  if (isObj(node)) {
    const out: Obj = {};
    for (const [k, v] of Object.entries(node)) out[String(substitute(k, values))] = walk(v, values);
    return out;
  }
  return node;
}

/** `include: component:` with `inputs:`: the jobs the component adds to a pipeline. Unknown inputs throw, as in GitLab. */
function interpolate(c: Component, given: Record<string, Json> = {}): Obj {
  for (const id of Object.keys(given)) if (!(id in c.inputs)) throw new Error(`${c.name}: unknown input arguments: ${id}`);
  const values: Record<string, Json> = {};
  for (const id of Object.keys(c.inputs)) values[id] = inputValue(c, id, given);
  const body = parse(c.body) as Json;
  if (!isObj(body)) throw new Error(`${c.name}: the body is not a mapping of jobs`);
  return walk(body, values) as Obj;
}

// --- rules:if ---------------------------------------------------------------------------------------------------

type Vars = Record<string, string | undefined>;

/** GitLab's `rules:if` expressions as far as these files use them: $VAR, "str", 'str', null, /re/, ==, !=, =~, &&, ||. */
function evalIf(expr: string, vars: Vars): boolean {
  const tokens = expr.match(/\$[A-Za-z_][A-Za-z0-9_]*|"[^"]*"|'[^']*'|\/(?:\\.|[^/])*\/|==|!=|=~|&&|\|\||null|\S+/g) ?? [];
  let i = 0;
  const operand = (): string | null => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`incomplete expression: ${expr}`);
    if (t.startsWith("$")) return vars[t.slice(1)] ?? null;
    if (t.startsWith('"') || t.startsWith("'")) return t.slice(1, -1);
    if (t === "null") return null;
    if (t.startsWith("/")) return t;
    throw new Error(`unexpected ${t} in ${expr}`);
  };
  const comparison = (): boolean => {
    const left = operand();
    const op = tokens[i];
    if (op === "==" || op === "!=" || op === "=~") {
      i++;
      const right = operand();
      if (op === "=~") return left !== null && right !== null && new RegExp(right.slice(1, -1)).test(left);
      return op === "==" ? left === right : left !== right;
    }
    return left !== null && left !== "";
  };
  const and = (): boolean => {
    let v = comparison();
    while (tokens[i] === "&&") {
      i++;
      v = comparison() && v;
    }
    return v;
  };
  let v = and();
  while (tokens[i] === "||") {
    i++;
    v = and() || v;
  }
  if (i !== tokens.length) throw new Error(`could not parse ${expr}`);
  return v;
}

/** The job's `when` in a pipeline with these variables, or undefined when its rules leave it out. */
function ruleOutcome(job: Obj, vars: Vars): string | undefined {
  const rules = job.rules;
  if (!Array.isArray(rules)) return typeof job.when === "string" ? job.when : "on_success";
  for (const r of rules) {
    if (!isObj(r)) throw new Error("a rule is not a mapping");
    if (r.if !== undefined && !evalIf(String(r.if), vars)) continue;
    const when = typeof r.when === "string" ? r.when : "on_success";
    return when === "never" ? undefined : when;
  }
  return undefined;
}

const MR_PIPELINE: Vars = { CI_PIPELINE_SOURCE: "merge_request_event", CI_DEFAULT_BRANCH: "main", CI_MERGE_REQUEST_IID: "7" };
const DEFAULT_BRANCH_PIPELINE: Vars = { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" };
const OTHER_BRANCH_PIPELINE: Vars = { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "feature", CI_DEFAULT_BRANCH: "main" };
const TAG_PIPELINE: Vars = { CI_PIPELINE_SOURCE: "push", CI_COMMIT_TAG: "0.1.0", CI_DEFAULT_BRANCH: "main" };

// --- the job script, run with a stand-in meshops ------------------------------------------------------------------

/**
 * Runs the job's `script` with sh as a runner would: the job's variables in the environment (CI variables in their
 * values are expanded first, from `env`), `meshops` on PATH replaced by a stub that prints its arguments and KUBE_CONTEXT.
 */
function runScript(job: Obj, env: Record<string, string> = {}): { args: string[]; kubeContext: string } {
  const dir = mkdtempSync(join(tmpdir(), "meshops-component-"));
  const stub = join(dir, "meshops");
  writeFileSync(stub, '#!/bin/sh\nprintf "KUBE_CONTEXT=%s\\n" "${KUBE_CONTEXT-<unset>}"\nfor a in "$@"; do printf "ARG=%s\\n" "$a"; done\n');
  chmodSync(stub, 0o755);
  const vars: Record<string, string> = { ...env };
  for (const [k, v] of Object.entries((job.variables ?? {}) as Obj)) vars[k] = String(v).replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, n: string) => env[n] ?? "");
  const script = (job.script as string[]).join("\n");
  const r = spawnSync("sh", ["-eu", "-c", script], { env: { PATH: `${dir}:/usr/bin:/bin`, ...vars }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`script failed: ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return {
    kubeContext: lines[0]!.replace(/^KUBE_CONTEXT=/, ""),
    args: lines.slice(1).map((l) => l.replace(/^ARG=/, "")),
  };
}

// --- the contract with `meshops ci` -------------------------------------------------------------------------------

const REPORTS_DIR = "meshops-reports";
function contractReports(planEnv: string): Obj {
  return {
    codequality: `${REPORTS_DIR}/gl-code-quality-report.json`,
    junit: `${REPORTS_DIR}/junit.xml`,
    terraform: `${REPORTS_DIR}/plan-${planEnv}.json`,
    metrics: `${REPORTS_DIR}/metrics.txt`,
    dotenv: `${REPORTS_DIR}/deploy.env`,
  };
}

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };

function onlyJob(jobs: Obj): [string, Obj] {
  const entries = Object.entries(jobs);
  expect(entries).toHaveLength(1);
  const [name, job] = entries[0]!;
  if (!isObj(job)) throw new Error(`${name} is not a job`);
  return [name, job];
}

// ---------------------------------------------------------------------------------------------------------------

describe("CI/CD component files", () => {
  it("has the review and deploy components", () => {
    expect(componentNames).toEqual(["deploy", "review"]);
  });

  for (const name of componentNames) {
    describe(name, () => {
      const c = loadComponent(name);

      it("declares every input it uses and uses every input it declares, each with a description", () => {
        const used = new Set([...c.body.matchAll(INPUT_REF)].map((m) => m[1]!));
        const declared = new Set(Object.keys(c.inputs));
        expect([...used].filter((u) => !declared.has(u))).toEqual([]);
        expect([...declared].filter((d) => !used.has(d))).toEqual([]);
        for (const [id, spec] of Object.entries(c.inputs)) {
          expect(Object.keys(spec ?? {}).filter((k) => !INPUT_KEYS.has(k)), `${id}: unknown keys`).toEqual([]);
          expect(typeof spec.description === "string" && spec.description.length > 10, `${id} has a description`).toBe(true);
          expect(spec.description!.length, `${id}: description too long for the catalog`).toBeLessThan(1024);
        }
        // no other interpolation syntax (functions such as `| expand_vars` are not used, and the model does not know them)
        expect(c.body.replace(INPUT_REF, "")).not.toContain("$[[");
      });

      it("has defaults that pass their own validation, and sets no global keyword", () => {
        for (const [id, spec] of Object.entries(c.inputs)) if (spec.default !== undefined) expect(() => inputValue(c, id, {})).not.toThrow();
        const jobs = interpolate(c, name === "deploy" ? { environment: "staging" } : {});
        for (const key of Object.keys(jobs)) expect(GLOBAL_KEYWORDS.has(key), `${key} is a global keyword`).toBe(false);
      });

      it("runs the image built from this repository at this version by default", () => {
        expect(c.inputs.image!.default).toBe("registry.gitlab.com/meshops/meshops");
        expect(c.inputs.version!.default).toBe(pkg.version);
      });

      it("rejects unknown inputs and values outside the options and patterns", () => {
        const base: Record<string, Json> = name === "deploy" ? { environment: "staging" } : {};
        expect(() => interpolate(c, { ...base, stages: "x" })).toThrow(/unknown input/);
        expect(() => interpolate(c, { ...base, agent: "no-colon" })).toThrow(/RegEx/);
        expect(() => interpolate(c, { ...base, fail_on: "fatal" })).toThrow(/RegEx/);
        expect(() => interpolate(c, { ...base, gitlab_retries: "3" })).toThrow(/not a number/);
        expect(() => interpolate(c, { ...base, version: "1.0; rm -rf /" })).toThrow(/RegEx/);
      });
    });
  }
});

describe("review component", () => {
  const c = loadComponent("review");

  it("is one merge-request job that runs meshops ci and publishes every report of the contract", () => {
    const [name, job] = onlyJob(interpolate(c));
    expect(name).toBe("meshops-review");
    expect(job.stage).toBe("test");
    expect(job.image).toBe(`registry.gitlab.com/meshops/meshops:${pkg.version}`);
    expect(job.interruptible).toBe(true);
    // with an environment (CI_ENVIRONMENT_NAME set) meshops ci would apply instead of review
    expect(job).not.toHaveProperty("environment");
    expect(job).not.toHaveProperty("resource_group");
    const artifacts = job.artifacts as Obj;
    expect(artifacts.when).toBe("always");
    expect(artifacts.reports).toEqual(contractReports("production"));
    // expose_as: one path, no glob, no variable, no leading ./
    expect(artifacts.expose_as).toBe("meshops review");
    expect(artifacts.paths).toEqual([`${REPORTS_DIR}/note.md`]);
    expect((job.script as string[]).some((l) => /^meshops ci /.test(l))).toBe(true);
  });

  it("runs only in merge request pipelines", () => {
    const [, job] = onlyJob(interpolate(c));
    expect(ruleOutcome(job, MR_PIPELINE)).toBe("on_success");
    expect(ruleOutcome(job, DEFAULT_BRANCH_PIPELINE)).toBeUndefined();
    expect(ruleOutcome(job, OTHER_BRANCH_PIPELINE)).toBeUndefined();
    expect(ruleOutcome(job, TAG_PIPELINE)).toBeUndefined();
  });

  it("passes the inputs to meshops ci, quoting intact", () => {
    const [name, job] = onlyJob(
      interpolate(c, { job_name: "mesh review", stage: "review", path: "mesh dir", fail_on: "warning", gitlab_retries: 5, args: "--dry-run", plan_environment: "staging" }),
    );
    expect(name).toBe("mesh review");
    expect(job.stage).toBe("review");
    expect((job.artifacts as Obj).reports).toEqual(contractReports("staging"));
    const r = runScript(job);
    expect(r.args).toEqual(["ci", "mesh dir", "--reports-dir", REPORTS_DIR, "--fail-on", "warning", "--gitlab-retries", "5", "--dry-run"]);
    expect(r.kubeContext).toBe("<unset>");
  });

  it("leaves the failure threshold to meshops.yaml when fail_on is empty, and sets KUBE_CONTEXT only from a given agent", () => {
    const [, job] = onlyJob(interpolate(c));
    expect(runScript(job)).toEqual({ args: ["ci", ".", "--reports-dir", REPORTS_DIR, "--gitlab-retries", "3"], kubeContext: "<unset>" });
    const [, withAgent] = onlyJob(interpolate(c, { agent: "my-org/agents:prod" }));
    expect(runScript(withAgent).kubeContext).toBe("my-org/agents:prod");
  });
});

describe("deploy component", () => {
  const c = loadComponent("deploy");

  it("needs the environment", () => {
    expect(() => interpolate(c)).toThrow(/environment.*required/);
    expect(() => interpolate(c, { environment: "Prod" })).toThrow(/RegEx/);
  });

  it("renders and applies one environment in one job: environment, resource group, reports", () => {
    const [name, job] = onlyJob(interpolate(c, { environment: "staging", deployment_tier: "staging", stage: "deploy-staging", agent: "my-org/agents:staging" }));
    expect(name).toBe("meshops-deploy-staging");
    expect(job.stage).toBe("deploy-staging");
    expect(job.image).toBe(`registry.gitlab.com/meshops/meshops:${pkg.version}`);
    expect(job.interruptible).toBe(false);
    expect(job.resource_group).toBe("meshops-staging");
    expect(job.environment).toEqual({
      name: "staging",
      action: "start",
      deployment_tier: "staging",
      url: "$MESHOPS_ENVIRONMENT_URL",
      kubernetes: { agent: "my-org/agents:staging" },
    });
    // never an empty URL: without meshops ci's dotenv value, the job variable's fallback (the dotenv wins when present)
    expect((job.variables as Obj).MESHOPS_ENVIRONMENT_URL).toBe("$CI_PROJECT_URL/-/environments");
    expect(job).not.toHaveProperty("needs"); // promotion is by stage: `needs: []` would start at once
    const artifacts = job.artifacts as Obj;
    expect(artifacts.when).toBe("always");
    expect(artifacts.reports).toEqual(contractReports("staging"));
    const r = runScript(job);
    expect(r.args).toEqual(["ci", ".", "--reports-dir", REPORTS_DIR, "--gitlab-retries", "3"]);
    expect(r.kubeContext).toBe("my-org/agents:staging");
  });

  it("runs on the default branch only, never in merge request pipelines, gated as asked", () => {
    const [, staging] = onlyJob(interpolate(c, { environment: "staging" }));
    expect(ruleOutcome(staging, DEFAULT_BRANCH_PIPELINE)).toBe("on_success");
    expect(ruleOutcome(staging, MR_PIPELINE)).toBeUndefined();
    expect(ruleOutcome(staging, OTHER_BRANCH_PIPELINE)).toBeUndefined();
    expect(ruleOutcome(staging, TAG_PIPELINE)).toBeUndefined();
    // an MR pipeline on the default branch's own commits (merged results) still gets no deploy
    expect(ruleOutcome(staging, { ...MR_PIPELINE, CI_COMMIT_BRANCH: "main" })).toBeUndefined();

    const [, production] = onlyJob(interpolate(c, { environment: "production", when: "manual" }));
    expect(ruleOutcome(production, DEFAULT_BRANCH_PIPELINE)).toBe("manual");
    expect(() => interpolate(c, { environment: "production", when: "always" })).toThrow(/allowed options/);

    const [, fromTags] = onlyJob(interpolate(c, { environment: "production", deploy_if: "$CI_COMMIT_TAG" }));
    expect(ruleOutcome(fromTags, TAG_PIPELINE)).toBe("on_success");
    expect(ruleOutcome(fromTags, DEFAULT_BRANCH_PIPELINE)).toBeUndefined();
  });

  it("keeps an empty agent valid: no KUBE_CONTEXT, and an empty environment:kubernetes:agent", () => {
    const [, job] = onlyJob(interpolate(c, { environment: "production", environment_url: "https://kiali.example.com/", resource_group_prefix: "mesh/" }));
    expect(job.environment).toMatchObject({ url: "https://kiali.example.com/", kubernetes: { agent: "" } });
    expect(job.resource_group).toBe("mesh/production");
    expect(runScript(job).kubeContext).toBe("<unset>");
    // a KUBE_CONTEXT the project sets (e.g. environment-scoped) is left alone
    expect(runScript(job, { KUBE_CONTEXT: "my-org/agents:prod" }).kubeContext).toBe("my-org/agents:prod");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Pipelines that include the components

interface Pipeline {
  file: string;
  config: Obj;
  stages: string[];
  /** Jobs of the file itself and of every included component, by name. */
  jobs: Record<string, Obj>;
  components: { ref: string; name: string; inputs: Record<string, Json> }[];
}

function loadPipeline(file: string, componentRef: RegExp): Pipeline {
  const config = parse(readFileSync(file, "utf8")) as Obj;
  const stages = (config.stages ?? ["build", "test", "deploy"]) as string[];
  const jobs: Record<string, Obj> = {};
  const components: Pipeline["components"] = [];
  for (const inc of (config.include ?? []) as Obj[]) {
    const ref = String(inc.component);
    const m = componentRef.exec(ref);
    if (!m) throw new Error(`${file}: include ${ref} does not match ${componentRef}`);
    const name = m[1]!;
    if (!componentNames.includes(name)) throw new Error(`${file}: no component ${name} in templates/`);
    const inputs = (inc.inputs ?? {}) as Record<string, Json>;
    components.push({ ref, name, inputs });
    for (const [jobName, job] of Object.entries(interpolate(loadComponent(name), inputs))) {
      if (jobName in jobs) throw new Error(`${file}: job ${jobName} defined twice`);
      jobs[jobName] = job as Obj;
    }
  }
  for (const [k, v] of Object.entries(config)) if (!GLOBAL_KEYWORDS.has(k) && isObj(v)) jobs[k] = v;
  return { file, config, stages, jobs, components };
}

/** Names of the jobs a pipeline with these variables gets (workflow:rules first). */
function jobsIn(p: Pipeline, vars: Vars): Record<string, string> {
  const workflow = p.config.workflow as Obj | undefined;
  if (workflow && ruleOutcome(workflow, vars) === undefined) return {};
  const out: Record<string, string> = {};
  for (const [name, job] of Object.entries(p.jobs)) {
    const when = ruleOutcome(job, vars);
    if (when !== undefined) out[name] = when;
  }
  return out;
}

describe("examples/gitlab-ci/.gitlab-ci.yml", () => {
  const p = loadPipeline(join(repoRoot, "examples", "gitlab-ci", ".gitlab-ci.yml"), /^\$CI_SERVER_FQDN\/meshops\/meshops\/([a-z-]+)@(\d+\.\d+\.\d+)$/);

  it("includes released components at the package version, every job in a declared stage", () => {
    expect(p.components.map((x) => x.name)).toEqual(["review", "deploy", "deploy"]);
    for (const x of p.components) expect(x.ref.endsWith(`@${pkg.version}`)).toBe(true);
    for (const [name, job] of Object.entries(p.jobs)) expect(p.stages, `stage of ${name}`).toContain(job.stage);
  });

  it("reviews merge requests and promotes staging then production (manual) on the default branch", () => {
    expect(jobsIn(p, MR_PIPELINE)).toEqual({ "meshops-review": "on_success" });
    expect(jobsIn(p, DEFAULT_BRANCH_PIPELINE)).toEqual({ "meshops-deploy-staging": "on_success", "meshops-deploy-production": "manual" });
    expect(jobsIn(p, OTHER_BRANCH_PIPELINE)).toEqual({});
    const stageOf = (job: string) => p.stages.indexOf(String(p.jobs[job]!.stage));
    expect(stageOf("meshops-deploy-staging")).toBeGreaterThan(stageOf("meshops-review"));
    expect(stageOf("meshops-deploy-production")).toBeGreaterThan(stageOf("meshops-deploy-staging"));
    expect(p.jobs["meshops-deploy-production"]!.environment).toMatchObject({ name: "production", deployment_tier: "production", kubernetes: { agent: "my-org/platform/agents:production" } });
    expect(p.jobs["meshops-deploy-staging"]!.resource_group).not.toBe(p.jobs["meshops-deploy-production"]!.resource_group);
  });

  it("deploys the environments of the bookinfo example in its promotion order", () => {
    const mesh = parse(readFileSync(join(repoRoot, "examples", "bookinfo", "meshops.yaml"), "utf8")) as { environments: Record<string, { after?: string }> };
    const deployed = p.components.filter((x) => x.name === "deploy").map((x) => String(x.inputs.environment));
    expect(new Set(deployed)).toEqual(new Set(Object.keys(mesh.environments)));
    for (const [env, e] of Object.entries(mesh.environments)) if (e.after) expect(deployed.indexOf(env)).toBeGreaterThan(deployed.indexOf(e.after));
  });
});

describe(".gitlab-ci.yml (meshops' own pipeline)", () => {
  const p = loadPipeline(join(repoRoot, ".gitlab-ci.yml"), /^\$CI_SERVER_FQDN\/\$CI_PROJECT_PATH\/([a-z-]+)@\$CI_COMMIT_SHA$/);

  it("self-tests this commit's components against examples/bookinfo, every job in a declared stage", () => {
    expect(new Set(p.components.map((x) => x.name))).toEqual(new Set(componentNames));
    for (const x of p.components) expect(x.inputs.path).toBe("examples/bookinfo");
    for (const [name, job] of Object.entries(p.jobs)) expect(p.stages, `stage of ${name}`).toContain(job.stage);
    expect(existsSync(join(repoRoot, "examples", "bookinfo", "meshops.yaml"))).toBe(true);
  });

  it("creates the right jobs per pipeline kind; manual self-test deploys come after the release", () => {
    const mr = jobsIn(p, MR_PIPELINE);
    expect(Object.keys(mr).sort()).toEqual(["image-build", "meshops-review", "self-test-jobs", "test"]);
    const main = jobsIn(p, DEFAULT_BRANCH_PIPELINE);
    expect(main).toMatchObject({ "meshops-deploy-staging": "manual", "meshops-deploy-production": "manual" });
    expect(main).not.toHaveProperty("release");
    expect(main).not.toHaveProperty("meshops-review");
    expect(jobsIn(p, TAG_PIPELINE)).toMatchObject({ release: "on_success" });
    expect(jobsIn(p, { ...TAG_PIPELINE, CI_COMMIT_TAG: "v0.1.0" })).not.toHaveProperty("release");
    // a branch with an open MR gets the MR pipeline only
    expect(jobsIn(p, { ...OTHER_BRANCH_PIPELINE, CI_OPEN_MERGE_REQUESTS: "meshops/meshops!7" })).toEqual({});
    const stage = (job: string) => p.stages.indexOf(String(p.jobs[job]!.stage));
    expect(stage("meshops-deploy-staging")).toBeGreaterThan(stage("release"));
  });

  it("releases with the release keyword on a semantic-version tag", () => {
    const release = p.jobs.release!;
    expect(release.release).toMatchObject({ tag_name: "$CI_COMMIT_TAG" });
  });

  // The self-test job's script, run against a stand-in for GET /projects/:id/pipelines/:pid/jobs that answers with
  // the jobs this model of GitLab creates: it passes for them, and fails when one is missing or in the wrong stage.
  async function selfTest(vars: Vars, mutate: (jobs: { name: string; stage: string; status: string }[]) => void = () => {}): Promise<{ code: number; output: string }> {
    const list = Object.entries(jobsIn(p, vars)).map(([name, when]) => ({ name, stage: String(p.jobs[name]!.stage), status: when === "manual" ? "manual" : "created" }));
    mutate(list);
    let seenPath = "";
    let seenToken = "";
    const server = createServer((req, res) => {
      seenPath = req.url ?? "";
      seenToken = String(req.headers["private-token"] ?? "");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(list));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const port = (server.address() as AddressInfo).port;
      const script = (p.jobs["self-test-jobs"]!.script as string[]).join("\n");
      const env = { PATH: process.env.PATH, CI_API_V4_URL: `http://127.0.0.1:${port}/api/v4`, CI_PROJECT_ID: "42", CI_PIPELINE_ID: "1001", GITLAB_TOKEN: "glpat-test", ...vars };
      const child = spawn("sh", ["-eu", "-c", script], { env });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number>((ok) => child.on("close", (c) => ok(c ?? -1)));
      expect(seenPath).toBe("/api/v4/projects/42/pipelines/1001/jobs?per_page=100");
      expect(seenToken).toBe("glpat-test");
      return { code, output };
    } finally {
      server.close();
    }
  }

  it("self-test job: passes on the jobs the components create, in MR and default-branch pipelines", async () => {
    expect(await selfTest(MR_PIPELINE)).toMatchObject({ code: 0, output: expect.stringContaining("meshops-review created as expected") });
    expect(await selfTest(DEFAULT_BRANCH_PIPELINE)).toMatchObject({ code: 0 });
  });

  it("self-test job: fails when a job is missing, misplaced or not gated", async () => {
    const missing = await selfTest(DEFAULT_BRANCH_PIPELINE, (jobs) => jobs.splice(jobs.findIndex((j) => j.name === "meshops-deploy-production"), 1));
    expect(missing).toMatchObject({ code: 1, output: expect.stringContaining("job meshops-deploy-production is missing") });
    const wrongStage = await selfTest(MR_PIPELINE, (jobs) => (jobs.find((j) => j.name === "meshops-review")!.stage = "test"));
    expect(wrongStage).toMatchObject({ code: 1, output: expect.stringContaining("in stage test, expected self-test") });
    const notManual = await selfTest(DEFAULT_BRANCH_PIPELINE, (jobs) => (jobs.find((j) => j.name === "meshops-deploy-staging")!.status = "created"));
    expect(notManual).toMatchObject({ code: 1, output: expect.stringContaining("is created, expected manual") });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The image

/** Whether .dockerignore keeps `path` in the build context (last matching pattern wins; a match on a parent counts). */
function inBuildContext(path: string, patterns: string[]): boolean {
  const toRegExp = (glob: string) => {
    const body = glob
      .replace(/\/+$/, "")
      .split("**/")
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]"))
      .join("(?:.*/)?");
    return new RegExp(`^${body}$`);
  };
  const parts = path.replace(/\/+$/, "").split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let included = true;
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const re = toRegExp(negate ? raw.slice(1) : raw);
    if (prefixes.some((x) => re.test(x))) included = negate;
  }
  return included;
}

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const ignore = readFileSync(join(repoRoot, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const args = (name: string) => [...dockerfile.matchAll(new RegExp(`^ARG ${name}=(\\S+)$`, "gm"))].map((m) => m[1]);

  it("pins helm to scripts/setup-tools.sh's version and kubectl to the Kubernetes version the tests run", () => {
    const setupTools = readFileSync(join(repoRoot, "scripts", "setup-tools.sh"), "utf8");
    const helm = /^HELM_VERSION="(v[0-9.]+)"/m.exec(setupTools)![1];
    expect(args("HELM_VERSION").length).toBeGreaterThan(0);
    for (const v of args("HELM_VERSION")) expect(v).toBe(helm);

    const kube = /^require k8s\.io\/kubernetes (v[0-9.]+)$/m.exec(readFileSync(join(repoRoot, "tools", "testenv", "go.mod"), "utf8"))![1];
    expect(/^KUBE_VERSION="(v[0-9.]+)"/m.exec(readFileSync(join(repoRoot, "scripts", "testenv.sh"), "utf8"))![1]).toBe(kube);
    expect(args("KUBECTL_VERSION").length).toBeGreaterThan(0);
    for (const v of args("KUBECTL_VERSION")) expect(v).toBe(kube);
  });

  it("copies only files that exist and that .dockerignore keeps in the build context", () => {
    const copies = lines.filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l));
    expect(copies.length).toBeGreaterThan(3);
    for (const l of copies) {
      const words = l.split(/\s+/).slice(1).filter((w) => !w.startsWith("--"));
      for (const src of words.slice(0, -1)) {
        expect(existsSync(join(repoRoot, src)), `${src} exists`).toBe(true);
        expect(inBuildContext(src, ignore), `${src} is in the build context`).toBe(true);
      }
    }
    expect(inBuildContext("node_modules", ignore)).toBe(false);
    expect(inBuildContext("dist/cli/main.js", ignore)).toBe(false);
    expect(inBuildContext("src/cli/main.ts", ignore)).toBe(true);
  });

  it("builds on node:20-bookworm-slim and runs as a non-root user, with a shell GitLab can use", () => {
    expect(lines.filter((l) => l.startsWith("FROM ")).length).toBeGreaterThanOrEqual(3);
    expect(args("NODE_IMAGE")).toEqual(["node:20-bookworm-slim"]);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    expect(runtime).toMatch(/^USER (?!0\b|root\b)\S+/m);
    expect(runtime).toMatch(/^ENTRYPOINT \[\]$/m);
    expect(runtime).toMatch(/apt-get install[^\n]*\bgit\b[^\n]*\bca-certificates\b/);
    expect(runtime).toMatch(/COPY --from=tools \/opt\/tools\/bin\/helm \/opt\/tools\/bin\/kubectl /);
  });
});
