// Compiling and evaluating x-kubernetes-validations rules the way the API server
// does (k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go):
// transition rules (those referring to oldSelf) are skipped when there is no old
// value unless optionalOldSelf is set, a false result is reported with the
// messageExpression result, the message, or "failed rule: <rule>", and runtime
// errors are reported as "<error> evaluating rule: <rule>".
import { isCelError, parse, plan, type CelError, type CelValue } from "@bufbuild/cel";
import { checkExpr, type ParsedExpr } from "./check.js";
import { compileFast, type FastRule } from "./fast.js";
import { parseCel } from "./parser.js";
import { baseBindings, DECLARED_IDENTS, k8sCelEnv } from "./env.js";
import { optionalNone, optionalOf } from "./k8s-library.js";
import type { CelOutcome, CelRule, CelSchema } from "./types.js";

type Program = ReturnType<typeof plan>;

interface CompiledExpression {
  /** Planned on first use: a rule the fast path answers is never run by @bufbuild/cel. */
  readonly program: Program;
  readonly parsed: ParsedExpr;
  readonly usesOldSelf: boolean;
}

const internals = Symbol("compiled CEL rule internals");

interface Internals {
  readonly rule: CompiledExpression;
  readonly message?: CompiledExpression;
}

/** A compiled rule; only `rule` is public, the rest is opaque. */
export interface CompiledCelRule {
  readonly rule: CelRule;
  readonly [internals]: Internals;
}

const MAX_CACHE = 10_000;
const expressionCache = new Map<string, CompiledExpression | { error: string }>();
const ruleCache = new Map<string, CompiledCelRule | { error: string }>();

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= MAX_CACHE) cache.clear();
  cache.set(key, value);
  return value;
}

function compileExpression(source: string): CompiledExpression | { error: string } {
  const hit = expressionCache.get(source);
  if (hit !== undefined) return hit;
  return remember(expressionCache, source, quickCompile(source) ?? fullCompile(source));
}

/** A compiled expression whose program @bufbuild/cel plans, from its own parse, on first use only. */
function compiledExpression(source: string, parsed: ParsedExpr, usesOldSelf: boolean, plannedFrom: ParsedExpr | undefined): CompiledExpression {
  let program: Program | undefined;
  return {
    get program(): Program {
      return (program ??= plan(k8sCelEnv, plannedFrom ?? parse(source)));
    },
    parsed,
    usesOldSelf,
  };
}

/**
 * parser.ts's parse, when it reads the expression and the checks find nothing; undefined otherwise (and the
 * expression is compiled by fullCompile, whose parse and messages are @bufbuild/cel's).
 */
function quickCompile(source: string): CompiledExpression | undefined {
  const parsed = parseCel(source);
  if (parsed === undefined) return undefined;
  let checked: ReturnType<typeof checkExpr>;
  try {
    checked = checkExpr(k8sCelEnv, parsed, DECLARED_IDENTS);
  } catch {
    return undefined;
  }
  const { errors, usesOldSelf } = checked;
  return errors.length > 0 ? undefined : compiledExpression(source, parsed, usesOldSelf, undefined);
}

function fullCompile(source: string): CompiledExpression | { error: string } {
  try {
    const parsed = parse(source);
    const { errors, usesOldSelf } = checkExpr(k8sCelEnv, parsed, DECLARED_IDENTS);
    return errors.length > 0 ? { error: errors.join("\n") } : compiledExpression(source, parsed, usesOldSelf, parsed);
  } catch (e) {
    const hint = /\.\?|\[\?/.test(source) ? " (optional field selection `.?` / `[?` is not supported)" : "";
    return { error: `ERROR: ${(e as Error).message}${hint}` };
  }
}

function ruleKey(rule: CelRule): string {
  return JSON.stringify([
    rule.rule,
    rule.message ?? null,
    rule.messageExpression ?? null,
    rule.fieldPath ?? null,
    rule.reason ?? null,
    rule.optionalOldSelf ?? false,
  ]);
}

/**
 * Compiles once; returns {error} (a readable parse/check message) when the rule
 * does not compile. Results are memoized by rule text (and message fields).
 */
export function compileCelRule(rule: CelRule): CompiledCelRule | { error: string } {
  const key = ruleKey(rule);
  const hit = ruleCache.get(key);
  if (hit !== undefined) return hit;
  let result: CompiledCelRule | { error: string };
  const compiled = compileExpression(rule.rule.trim() === "" ? "true" : rule.rule);
  if ("error" in compiled) {
    result = { error: `compilation failed: ${compiled.error}` };
  } else {
    let message: CompiledExpression | undefined;
    let error: string | undefined;
    if (rule.messageExpression !== undefined && rule.messageExpression !== "") {
      const m = compileExpression(rule.messageExpression);
      if ("error" in m) error = `messageExpression compilation failed: ${m.error}`;
      else message = m;
    }
    result =
      error !== undefined
        ? { error }
        : { rule: { ...rule }, [internals]: message ? { rule: compiled, message } : { rule: compiled } };
  }
  return remember(ruleCache, key, result);
}

/**
 * The rule compiled by the fast path (fast.ts) for values of this schema node (undefined: values without a
 * schema, converted by kind), or undefined when it uses what the
 * fast path does not model. It answers true or false exactly as evalCelRule would, or BAIL (evaluate with
 * evalCelRule); it says nothing about messages, so a false is reported through evalCelRule too.
 */
export function fastCelRule(c: CompiledCelRule, schema: CelSchema | undefined): FastRule | undefined {
  const impl = c[internals];
  if (impl.rule.usesOldSelf) return undefined;
  return compileFast(impl.rule.parsed.expr, schema);
}

/** True when the rule refers to oldSelf (a transition rule). */
export function isTransitionRule(c: CompiledCelRule): boolean {
  return c[internals].rule.usesOldSelf;
}

function ruleErrorString(rule: CelRule): string {
  return rule.message !== undefined && rule.message.length > 0 ? rule.message.trim() : rule.rule.trim();
}

function ruleMessageOrDefault(rule: CelRule): string {
  return rule.message !== undefined && rule.message.length > 0 ? rule.message.trim() : `failed rule: ${ruleErrorString(rule)}`;
}

/** Rewrites @bufbuild/cel runtime errors into the wording cel-go/Kubernetes use. */
function errorText(err: CelError): string {
  const msg = err.message;
  let m = /^field not found: (.*)$/.exec(msg);
  if (m) return `no such key: ${m[1]}`;
  m = /^index (-?\d+) out of bounds/.exec(msg);
  if (m) return `index out of bounds: ${m[1]}`;
  if (/^u?int overflow/.test(msg)) return "integer overflow";
  if (/divide by zero$/.test(msg)) return "division by zero";
  if (/modulus by zero$/.test(msg)) return "modulus by zero";
  return msg;
}

function isNoSuchOverload(err: CelError): boolean {
  return /^(found no matching overload|no such overload|unbound function)/.test(err.message);
}

function runtimeError(rule: CelRule, err: CelError): CelOutcome {
  if (isNoSuchOverload(err)) {
    return {
      ok: false,
      evalError: `'no such overload': call arguments did not match a supported operator, function or macro signature for rule: ${ruleErrorString(rule)} (${err.message})`,
    };
  }
  return { ok: false, evalError: `${errorText(err)} evaluating rule: ${ruleErrorString(rule)}` };
}

function evalMessage(expr: CompiledExpression, bindings: Record<string, unknown>): string | undefined {
  const r = expr.program(bindings as never);
  if (isCelError(r) || typeof r !== "string") return undefined;
  const trimmed = r.trim();
  if (trimmed === "" || trimmed.includes("\n")) return undefined;
  return trimmed;
}

/**
 * Evaluates with `self` bound (already converted with toCelValue). A transition
 * rule without an old value is skipped ({ok: true}) unless optionalOldSelf is set,
 * in which case oldSelf is an optional value.
 */
export function evalCelRule(c: CompiledCelRule, self: unknown, oldSelf?: unknown): CelOutcome {
  const { rule } = c;
  const impl = c[internals];
  const optionalOld = rule.optionalOldSelf === true;
  if (impl.rule.usesOldSelf && oldSelf === undefined && !optionalOld) return { ok: true };
  const bindings: Record<string, unknown> = { ...baseBindings, self };
  if (oldSelf !== undefined) bindings["oldSelf"] = oldSelf;
  const ruleBindings = optionalOld
    ? { ...bindings, oldSelf: oldSelf === undefined ? optionalNone() : optionalOf(oldSelf as CelValue) }
    : bindings;
  const result = impl.rule.program(ruleBindings as never);
  if (isCelError(result)) return runtimeError(rule, result);
  if (result === true) return { ok: true };
  if (result !== false) {
    return { ok: false, evalError: `rule did not evaluate to a bool (got ${typeof result}) evaluating rule: ${ruleErrorString(rule)}` };
  }
  const message = (impl.message && evalMessage(impl.message, bindings)) ?? ruleMessageOrDefault(rule);
  const outcome: { ok: false; message: string; fieldPath?: string; reason?: string } = { ok: false, message };
  if (rule.fieldPath !== undefined && rule.fieldPath !== "") outcome.fieldPath = rule.fieldPath;
  if (rule.reason !== undefined && rule.reason !== "") outcome.reason = rule.reason;
  return outcome;
}
