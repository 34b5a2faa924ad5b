/**
 * User policies as Kubernetes ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding objects, evaluated
 * offline against an environment's rendered objects the way kube-apiserver evaluates them at admission
 * (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/): matchConstraints and
 * the binding's matchResources, matchConditions, variables, validations (message, messageExpression, reason),
 * paramKind/paramRef, failurePolicy and validationActions (Deny → error, Warn → warning, Audit → info).
 * Each object is evaluated as a CREATE: oldObject is null, request.userInfo is a placeholder, and expressions
 * that use `authorizer` (which needs the API server) are reported as not evaluable offline.
 */
import { celMap, isCelError, parse, plan, type CelValue } from "@bufbuild/cel";
import { asArr, asObj, asStr, asStrMap, type Obj } from "../model/core.js";
import { splitApiVersion, subjectOf, type FieldPath, type Manifest } from "../model/resource.js";
import type { Finding, Severity } from "../report/finding.js";
import { checkExpr } from "../validate/cel/check.js";
import { toCelValue } from "../validate/cel/convert.js";
import { BAIL, compileFast, type FastRule } from "../validate/cel/fast.js";
import { baseBindings, DECLARED_IDENTS, k8sCelEnv } from "../validate/cel/env.js";
import type { CelSchema } from "../validate/cel/types.js";
import { policyFindingAt, type PolicyRule } from "./rule.js";
import { labelSelectorMatches, matchResourcesMatches, type AdmissionTarget, type ResourceInfo } from "./vap-match.js";

export const ADMISSION_GROUP = "admissionregistration.k8s.io";

export const userPolicyViolation: PolicyRule = {
  code: "MSH6100",
  severity: "error",
  title: "A ValidatingAdmissionPolicy of the repository rejects the object",
  explanation:
    "The repository's ValidatingAdmissionPolicies (meshops.yaml policy.policies, and those among an environment's rendered objects) are evaluated against every rendered object the way kube-apiserver evaluates them at admission, so a merge request fails for the same reason the cluster would reject the apply. The severity follows the binding's validationActions: Deny is an error, Warn a warning, Audit an info. The message is the validation's messageExpression, message, or the failed expression, and names the policy and the binding. Objects are evaluated as a CREATE (oldObject is null).",
};

export const invalidUserPolicy: PolicyRule = {
  code: "MSH6101",
  severity: "error",
  title: "Invalid ValidatingAdmissionPolicy or binding",
  explanation:
    "A CEL expression of a ValidatingAdmissionPolicy (validation, messageExpression, matchCondition, variable or auditAnnotation) does not compile; the policy has no matchConstraints.resourceRules; a binding has no validationActions, a paramRef with both or neither of name and selector, or no paramRef for a policy with paramKind; or a binding names a policy the repository does not hold (a warning: it may be installed otherwise). The finding points at the expression or field in the policy file; the policy or binding is not evaluated until it is fixed.",
};

export const unevaluableUserPolicy: PolicyRule = {
  code: "MSH6102",
  severity: "warning",
  title: "A ValidatingAdmissionPolicy expression could not be evaluated",
  explanation:
    "An expression uses `authorizer` (an authorization check against the cluster, not available offline), or failed at run time for an object (for example a missing field without has()). At admission the failurePolicy decides: Fail (the default) rejects the object, so a run-time error under Fail is an error here too; under Ignore it is a warning. Expressions that need the authorizer are warnings, naming the expression, and are skipped.",
};

/** The user-policy rules, by code. */
export const userPolicyRules: readonly PolicyRule[] = [userPolicyViolation, invalidUserPolicy, unevaluableUserPolicy];

type Program = ReturnType<typeof plan>;
interface Compiled {
  program?: Program;
  error?: string;
  usesAuthorizer: boolean;
  /** The parse, for the fast path (compiled per object schema by fastOf). */
  parsed?: ReturnType<typeof parse>;
}

const DECLARED = new Set([...[...DECLARED_IDENTS].filter((x) => x !== "self" && x !== "oldSelf"), "object", "oldObject", "request", "params", "namespaceObject", "variables", "authorizer"]);
const compileCache = new Map<string, Compiled>();

/** Compiles an admission-policy CEL expression (memoized by text). */
export function compileAdmissionExpression(source: string): Compiled {
  const hit = compileCache.get(source);
  if (hit) return hit;
  let c: Compiled;
  try {
    const parsed = parse(source);
    const { errors } = checkExpr(k8sCelEnv, parsed, DECLARED);
    const usesAuthorizer = /\bauthorizer\b/.test(source.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ""));
    // The authorizer's methods are not in the offline environment: such an expression is reported as not evaluable, not as broken.
    c = usesAuthorizer ? { usesAuthorizer } : errors.length ? { error: errors.join("; "), usesAuthorizer } : { program: plan(k8sCelEnv, parsed), usesAuthorizer, parsed };
  } catch (e) {
    c = { error: (e as Error).message.split("\n")[0] ?? String(e), usesAuthorizer: false };
  }
  if (compileCache.size > 10_000) compileCache.clear();
  compileCache.set(source, c);
  return c;
}

type Outcome = { value: unknown } | { error: string };

const UNTYPED = {};
const fastCache = new WeakMap<Compiled, WeakMap<object, FastRule | null>>();

/**
 * The expression compiled by the CEL fast path (validate/cel/fast.ts) for objects of this schema (undefined:
 * a kind without a CRD schema, whose values are typed at run time), when it reads only `object` and stays in the
 * CEL the fast path models. Its true or false is what @bufbuild/cel answers; BAIL means: evaluate it there.
 */
function fastOf(c: Compiled, schema: CelSchema | undefined): FastRule | undefined {
  if (!c.parsed) return undefined;
  let bySchema = fastCache.get(c);
  if (!bySchema) {
    bySchema = new WeakMap();
    fastCache.set(c, bySchema);
  }
  const key = schema ?? UNTYPED;
  let f = bySchema.get(key);
  if (f === undefined) {
    f = compileFast(c.parsed.expr, schema, "object") ?? null;
    bySchema.set(key, f);
  }
  return f ?? undefined;
}

function run(c: Compiled, bindings: Record<string, unknown>): Outcome {
  if (!c.program) return { error: c.error ?? "not compiled" };
  const r = c.program({ ...baseBindings, ...bindings } as never);
  // cel-go's (and so the API server's) wording for a missing field.
  return isCelError(r) ? { error: r.message.replace(/^field not found: /, "no such key: ") } : { value: r };
}

interface Expression {
  source: string;
  path: FieldPath;
  compiled: Compiled;
}

interface Validation {
  expression: Expression;
  message?: string;
  messageExpression?: Expression;
  reason?: string;
  fieldPath?: string;
}

/** A policy with its expressions compiled once. */
interface LoadedPolicy {
  manifest: Manifest;
  name: string;
  failurePolicy: "Fail" | "Ignore";
  matchConstraints: Obj;
  paramKind?: { apiVersion: string; kind: string };
  matchConditions: { name: string; expression: Expression }[];
  variables: { name: string; expression: Expression }[];
  validations: Validation[];
  /** Findings about the policy itself (compile errors, authorizer use). */
  problems: Finding[];
  /** True when an expression does not compile: the policy is not evaluated. */
  broken: boolean;
  /** True when a matchCondition or variable needs the authorizer: nothing can be decided offline. */
  needsAuthorizer: boolean;
}

function loadPolicy(m: Manifest): LoadedPolicy {
  const spec = asObj(m.object.spec);
  const problems: Finding[] = [];
  let broken = false;
  let needsAuthorizer = false;
  const expr = (source: unknown, path: FieldPath, what: string): Expression | undefined => {
    if (typeof source !== "string") return undefined;
    const compiled = compileAdmissionExpression(source);
    if (compiled.error) {
      broken = true;
      problems.push(policyFindingAt(invalidUserPolicy, m, `ValidatingAdmissionPolicy ${m.ref.name}: ${what} does not compile: ${compiled.error} (expression: ${source.trim()})`, path));
    } else if (compiled.usesAuthorizer) {
      problems.push(policyFindingAt(unevaluableUserPolicy, m, `ValidatingAdmissionPolicy ${m.ref.name}: ${what} uses authorizer, which needs the API server: not evaluated offline (expression: ${source.trim()})`, path));
    }
    return { source, path, compiled };
  };
  const matchConditions = asArr(spec.matchConditions).flatMap((c, i) => {
    const e = expr(asObj(c).expression, ["spec", "matchConditions", i, "expression"], `matchCondition ${asStr(asObj(c).name) ?? i}`);
    if (e?.compiled.usesAuthorizer) needsAuthorizer = true;
    return e ? [{ name: asStr(asObj(c).name) ?? String(i), expression: e }] : [];
  });
  const variables = asArr(spec.variables).flatMap((v, i) => {
    const e = expr(asObj(v).expression, ["spec", "variables", i, "expression"], `variable ${asStr(asObj(v).name) ?? i}`);
    if (e?.compiled.usesAuthorizer) needsAuthorizer = true;
    return e ? [{ name: asStr(asObj(v).name) ?? String(i), expression: e }] : [];
  });
  const validations = asArr(spec.validations).flatMap((raw, i): Validation[] => {
    const v = asObj(raw);
    const e = expr(v.expression, ["spec", "validations", i, "expression"], `validation ${i}`);
    if (!e) return [];
    const me = v.messageExpression !== undefined && v.messageExpression !== "" ? expr(v.messageExpression, ["spec", "validations", i, "messageExpression"], `messageExpression of validation ${i}`) : undefined;
    const message = asStr(v.message);
    const reason = asStr(v.reason);
    const fieldPath = asStr(v.fieldPath);
    return [{ expression: e, ...(message ? { message } : {}), ...(me ? { messageExpression: me } : {}), ...(reason ? { reason } : {}), ...(fieldPath ? { fieldPath } : {}) }];
  });
  // auditAnnotations only annotate audit events (nothing offline to report), but the API server compiles them too.
  asArr(spec.auditAnnotations).forEach((a, i) => expr(asObj(a).valueExpression, ["spec", "auditAnnotations", i, "valueExpression"], `auditAnnotation ${asStr(asObj(a).key) ?? i}`));
  const pk = asObj(spec.paramKind);
  const pkApi = asStr(pk.apiVersion);
  const pkKind = asStr(pk.kind);
  return {
    manifest: m,
    name: m.ref.name,
    failurePolicy: asStr(spec.failurePolicy) === "Ignore" ? "Ignore" : "Fail",
    matchConstraints: asObj(spec.matchConstraints),
    ...(pkApi && pkKind ? { paramKind: { apiVersion: pkApi, kind: pkKind } } : {}),
    matchConditions,
    variables,
    validations,
    problems,
    broken,
    needsAuthorizer,
  };
}

/** What evaluateAdmissionPolicies reads. */
export interface AdmissionInput {
  /** ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding objects (from policy files and the render). */
  policies: readonly Manifest[];
  /** The environment's rendered objects. */
  objects: readonly Manifest[];
  /** Objects params may come from (the render and the policy files). */
  paramSources?: readonly Manifest[];
  resourceOf: (apiVersion: string, kind: string) => ResourceInfo;
  /**
   * The CRD schema of a kind, when there is one: objects are converted and defaulted with it, as the API server
   * admits a custom resource after defaulting and types CEL values by its schema. Other kinds are converted untyped.
   */
  schemaOf?: (apiVersion: string, kind: string) => CelSchema | undefined;
}

const isKind = (m: Manifest, kind: string): boolean => m.ref.kind === kind && splitApiVersion(m.ref.apiVersion).group === ADMISSION_GROUP;

/** Position of a validation's fieldPath (".spec.rules[0].from") in the object, when it is a plain path. */
function fieldPathOf(fp: string | undefined): FieldPath {
  if (!fp) return [];
  const out: (string | number)[] = [];
  for (const m of fp.matchAll(/\.([A-Za-z0-9_-]+)|\[(\d+)\]|\['([^']+)'\]/g)) out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (m[3] ?? "")));
  return out;
}

const severityOf = (actions: string[]): Severity | undefined => (actions.includes("Deny") ? "error" : actions.includes("Warn") ? "warning" : actions.includes("Audit") ? "info" : undefined);

/** Evaluates every binding's policy against every matching object; returns the findings. */
export function evaluateAdmissionPolicies(input: AdmissionInput): Finding[] {
  const out: Finding[] = [];
  const policies = new Map<string, LoadedPolicy>();
  for (const m of input.policies) if (isKind(m, "ValidatingAdmissionPolicy") && !policies.has(m.ref.name)) policies.set(m.ref.name, loadPolicy(m));
  for (const p of policies.values()) {
    out.push(...p.problems);
    if (asArr(p.matchConstraints.resourceRules).length === 0) {
      p.broken = true;
      out.push(policyFindingAt(invalidUserPolicy, p.manifest, `ValidatingAdmissionPolicy ${p.name}: spec.matchConstraints.resourceRules is required`, ["spec"]));
    }
  }
  const bindings = input.policies.filter((m) => isKind(m, "ValidatingAdmissionPolicyBinding"));
  if (bindings.length === 0) return out;

  // Per object, once: its resource, labels and namespace labels.
  const namespaces = new Map<string, Manifest>();
  for (const m of input.objects) if (m.ref.kind === "Namespace" && m.ref.apiVersion === "v1") namespaces.set(m.ref.name, m);
  const targets: AdmissionTarget[] = input.objects.map((m) => {
    const { group, version } = splitApiVersion(m.ref.apiVersion);
    const info = input.resourceOf(m.ref.apiVersion, m.ref.kind);
    const ns = info.namespaced ? (m.ref.namespace ?? "default") : undefined;
    const nsObj = ns !== undefined ? namespaces.get(ns) : undefined;
    const namespaceLabels = ns !== undefined ? { ...asStrMap(asObj(nsObj?.object.metadata).labels), "kubernetes.io/metadata.name": ns } : undefined;
    return { manifest: m, group, version, info, labels: asStrMap(asObj(m.object.metadata).labels), ...(namespaceLabels ? { namespaceLabels } : {}) };
  });

  const params = new Map<string, Manifest[]>();
  for (const m of input.paramSources ?? input.objects) {
    const k = `${m.ref.apiVersion}|${m.ref.kind}`;
    const list = params.get(k);
    if (list) list.push(m);
    else params.set(k, [m]);
  }
  const active: { ctx: BindingContext; bindingMatch: Obj | undefined }[] = [];
  for (const b of bindings) {
    const spec = asObj(b.object.spec);
    const policyName = asStr(spec.policyName) ?? "";
    const p = policies.get(policyName);
    if (!p) {
      out.push(policyFindingAt(invalidUserPolicy, b, `ValidatingAdmissionPolicyBinding ${b.ref.name} names ValidatingAdmissionPolicy ${policyName}, which the repository does not hold: not evaluated`, ["spec", "policyName"], "warning"));
      continue;
    }
    const actions = asArr(spec.validationActions).filter((x): x is string => typeof x === "string");
    const severity = severityOf(actions);
    const paramRef = spec.paramRef === undefined ? undefined : asObj(spec.paramRef);
    // What kube-apiserver's validation of the binding rejects (not expressed in its OpenAPI schema).
    const invalid: { path: FieldPath; message: string } | undefined = !severity
      ? { path: ["spec", "validationActions"], message: "spec.validationActions must name Deny, Warn or Audit" }
      : paramRef && (paramRef.name === undefined) === (paramRef.selector === undefined)
        ? { path: ["spec", "paramRef"], message: "spec.paramRef needs exactly one of name and selector" }
        : undefined;
    if (invalid) {
      out.push(policyFindingAt(invalidUserPolicy, b, `ValidatingAdmissionPolicyBinding ${b.ref.name}: ${invalid.message}`, invalid.path));
      continue;
    }
    if (p.broken || p.needsAuthorizer || !severity) continue;
    if (p.paramKind && !paramRef) {
      out.push(policyFindingAt(invalidUserPolicy, b, `ValidatingAdmissionPolicyBinding ${b.ref.name}: policy ${p.name} has paramKind ${p.paramKind.kind} but the binding has no paramRef`, ["spec"]));
      continue;
    }
    const bindingMatch = spec.matchResources === undefined ? undefined : asObj(spec.matchResources);
    active.push({ ctx: { policy: p, binding: b, severity, paramRef, input, params }, bindingMatch });
  }
  // Object by object, so that each is converted to CEL once for all the bindings that match it, and then dropped.
  const nsCache = new Map<string, unknown>();
  for (const t of targets) {
    let values: CelInputs | undefined;
    for (const { ctx, bindingMatch } of active) {
      if (!matchResourcesMatches(ctx.policy.matchConstraints, t)) continue;
      if (bindingMatch && !matchResourcesMatches(bindingMatch, t)) continue;
      // converted to CEL values only when an expression is not answered by the fast path
      out.push(...evaluateOne(ctx, t, () => (values ??= celInputs(ctx.input, t, namespaces, nsCache))));
    }
  }
  return out;
}

interface BindingContext {
  policy: LoadedPolicy;
  binding: Manifest;
  severity: Severity;
  paramRef: Obj | undefined;
  input: AdmissionInput;
  /** Param candidates by "apiVersion|kind" (indexed once: no scan of every object per evaluation). */
  params: Map<string, Manifest[]>;
}

/** The params objects a binding's paramRef selects for the target; undefined when the policy takes none. */
function paramsFor(ctx: BindingContext, t: AdmissionTarget): Manifest[] | undefined {
  const pk = ctx.policy.paramKind;
  if (!pk || !ctx.paramRef) return undefined;
  const ref = ctx.paramRef;
  const paramNamespaced = ctx.input.resourceOf(pk.apiVersion, pk.kind).namespaced;
  // An unset paramRef.namespace means the namespace of the object being admitted (for namespaced param kinds).
  const ns = paramNamespaced ? (asStr(ref.namespace) ?? (t.info.namespaced ? (t.manifest.ref.namespace ?? "default") : undefined)) : undefined;
  const name = asStr(ref.name);
  const selector = ref.selector === undefined ? undefined : asObj(ref.selector);
  return (ctx.params.get(`${pk.apiVersion}|${pk.kind}`) ?? []).filter((m) => {
    if (paramNamespaced && (m.ref.namespace ?? "default") !== ns) return false;
    if (name !== undefined) return m.ref.name === name;
    return labelSelectorMatches(selector, asStrMap(asObj(m.object.metadata).labels));
  });
}

/** The CEL values of one object (its namespace's converted once per namespace). */
interface CelInputs {
  object: unknown;
  namespaceObject: unknown;
  request: unknown;
}

function celInputs(input: AdmissionInput, t: AdmissionTarget, namespaces: Map<string, Manifest>, nsCache: Map<string, unknown>): CelInputs {
  const m = t.manifest;
  const ns = t.info.namespaced ? (m.ref.namespace ?? "default") : undefined;
  let namespaceObject: unknown = null;
  if (ns !== undefined) {
    namespaceObject = nsCache.get(ns);
    if (namespaceObject === undefined) {
      namespaceObject = toCelValue(namespaces.get(ns)?.object ?? { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { "kubernetes.io/metadata.name": ns } } }, undefined);
      nsCache.set(ns, namespaceObject);
    }
  }
  const request = toCelValue(
    {
      uid: "00000000-0000-0000-0000-000000000000",
      kind: { group: t.group, version: t.version, kind: m.ref.kind },
      resource: { group: t.group, version: t.version, resource: t.info.resource },
      requestKind: { group: t.group, version: t.version, kind: m.ref.kind },
      requestResource: { group: t.group, version: t.version, resource: t.info.resource },
      name: m.ref.name,
      // The API server sends "" for cluster-scoped objects.
      namespace: ns ?? "",
      operation: "CREATE",
      userInfo: { username: "meshops:offline", groups: ["system:authenticated"] },
      dryRun: false,
    },
    undefined,
  );
  return { object: toCelValue(m.object, input.schemaOf?.(m.ref.apiVersion, m.ref.kind)), namespaceObject, request };
}

/** Params objects are few and shared by every object a binding matches: converted once. */
const paramValues = new WeakMap<Manifest, unknown>();
function paramValue(ctx: BindingContext, m: Manifest): unknown {
  let v = paramValues.get(m);
  if (v === undefined) paramValues.set(m, (v = toCelValue(m.object, ctx.input.schemaOf?.(m.ref.apiVersion, m.ref.kind))));
  return v;
}

function evaluateOne(ctx: BindingContext, t: AdmissionTarget, values: () => CelInputs): Finding[] {
  const { policy: p, binding: b } = ctx;
  const m = t.manifest;
  const who = `ValidatingAdmissionPolicy ${p.name} (binding ${b.ref.name})`;
  const params = paramsFor(ctx, t);
  if (params !== undefined && params.length === 0) {
    const action = asStr(ctx.paramRef?.parameterNotFoundAction) ?? "Deny";
    if (action === "Allow") return [];
    return [policyFindingAt(userPolicyViolation, m, `${who} denies ${subjectOf(m.ref)}: no params found for policy binding with Deny parameterNotFoundAction (paramRef ${JSON.stringify(ctx.paramRef)})`, [], ctx.severity)];
  }
  const schema = ctx.input.schemaOf?.(m.ref.apiVersion, m.ref.kind);
  /** True or false from the fast path, else undefined (evaluate with @bufbuild/cel). */
  const quick = (e: Expression): boolean | undefined => {
    const f = fastOf(e.compiled, schema);
    const r = f?.(m.object);
    return r === undefined || r === BAIL ? undefined : r;
  };
  const out: Finding[] = [];
  for (const param of params ?? [null]) {
    // the CEL values are built on the first expression the fast path does not answer; variables (which only
    // validations see) on the first such validation
    let bindings: Record<string, unknown> | undefined;
    let withVariables = false;
    const base = (): Record<string, unknown> => {
      if (!bindings) {
        const { object, namespaceObject, request } = values();
        bindings = { object, oldObject: null, request, namespaceObject, params: param ? paramValue(ctx, param) : null };
      }
      return bindings;
    };
    const full = (): Record<string, unknown> => {
      const bs = base();
      if (!withVariables) {
        withVariables = true;
        const vars = new Map<string, CelValue>();
        bs.variables = celMap(vars);
        for (const v of p.variables) {
          const r = run(v.expression.compiled, bs);
          if (!("error" in r)) vars.set(v.name, r.value as CelValue);
          bs.variables = celMap(vars);
        }
      }
      return bs;
    };
    const failed = (e: Expression, error: string): Finding => {
      const sev: Severity = p.failurePolicy === "Fail" ? ctx.severity : "warning";
      return policyFindingAt(unevaluableUserPolicy, m, `${who}: ${error} evaluating ${e.source.trim()} for ${subjectOf(m.ref)} (failurePolicy ${p.failurePolicy}${p.failurePolicy === "Fail" ? ": the API server rejects the object" : ""})`, [], sev);
    };
    let skip = false;
    for (const c of p.matchConditions) {
      const q = quick(c.expression);
      if (q === true) continue;
      if (q === false) {
        skip = true;
        break;
      }
      const r = run(c.expression.compiled, base());
      if ("error" in r) {
        out.push(failed(c.expression, r.error));
        skip = true;
        break;
      }
      if (r.value !== true) {
        skip = true;
        break;
      }
    }
    if (skip) continue;
    for (const v of p.validations) {
      if (v.expression.compiled.usesAuthorizer) continue;
      if (quick(v.expression) === true) continue;
      const bs = full();
      const r = run(v.expression.compiled, bs);
      if ("error" in r) {
        out.push(failed(v.expression, r.error));
        continue;
      }
      if (r.value === true) continue;
      if (r.value !== false) {
        out.push(failed(v.expression, `expression returned ${typeof r.value}, not bool`));
        continue;
      }
      let message = v.message?.trim() || `failed expression: ${v.expression.source.trim()}`;
      if (v.messageExpression) {
        const mr = run(v.messageExpression.compiled, bs);
        if (!("error" in mr) && typeof mr.value === "string" && mr.value.trim() !== "" && !mr.value.includes("\n")) message = mr.value.trim();
      }
      const paramNote = param ? ` (params ${subjectOf(param.ref)})` : "";
      const verb = ctx.severity === "error" ? "denies" : ctx.severity === "warning" ? "warns about" : "audits";
      out.push(policyFindingAt(userPolicyViolation, m, `${who} ${verb} ${subjectOf(m.ref)}${paramNote}: ${message}${v.reason ? ` (reason ${v.reason})` : ""}`, fieldPathOf(v.fieldPath), ctx.severity));
    }
  }
  return out;
}
