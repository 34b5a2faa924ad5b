// Static checks run when a rule is compiled. @bufbuild/cel has no public type
// checker, so these catch what can be caught without types, the way the API
// server rejects a CRD: unknown identifiers and functions, wrong argument counts
// for every known overload, and invalid constant arguments to duration(),
// timestamp() and the regex functions.
import { isCelError, parse, plan, type CelEnv } from "@bufbuild/cel";
import { compileRe2 } from "./regex-lib.js";

export type ParsedExpr = ReturnType<typeof parse>;
export type Expr = ParsedExpr["expr"];

function qualifiedName(e: Expr | undefined): string | undefined {
  if (e === undefined) return undefined;
  switch (e.exprKind.case) {
    case "identExpr":
      return e.exprKind.value.name;
    case "selectExpr": {
      if (e.exprKind.value.testOnly) return undefined;
      const parent = qualifiedName(e.exprKind.value.operand);
      return parent === undefined ? undefined : `${parent}.${e.exprKind.value.field}`;
    }
    default:
      return undefined;
  }
}

// Macros of cel-go's TwoVarComprehensions extension; @bufbuild/cel's parser does not
// expand them (and its planner has no second iteration variable).
const TWO_VAR_MACROS = new Set(["all", "exists", "exists_one", "existsOne", "transformList", "transformMap", "transformMapEntry"]);

function isOperator(name: string): boolean {
  return /^[_!@-]/.test(name);
}

function stringConst(e: Expr | undefined): string | undefined {
  if (e?.exprKind.case !== "constExpr") return undefined;
  const c = e.exprKind.value.constantKind;
  return c.case === "stringValue" ? c.value : undefined;
}

function intConst(e: Expr | undefined): bigint | undefined {
  if (e?.exprKind.case !== "constExpr") return undefined;
  const c = e.exprKind.value.constantKind;
  return c.case === "int64Value" ? c.value : undefined;
}

export interface CheckResult {
  errors: string[];
  /** True when the expression refers to the root variable oldSelf. */
  usesOldSelf: boolean;
}

/** Checks a parsed expression; `declared` are the root identifiers in scope. */
const programsByEnv = new WeakMap<CelEnv, { durationProgram: Program; timestampProgram: Program }>();

type Program = ReturnType<typeof plan>;

function literalPrograms(env: CelEnv): { durationProgram: Program; timestampProgram: Program } {
  let p = programsByEnv.get(env);
  if (p === undefined) {
    p = { durationProgram: plan(env, parse("duration(x)")), timestampProgram: plan(env, parse("timestamp(x)")) };
    programsByEnv.set(env, p);
  }
  return p;
}

export function checkExpr(env: CelEnv, parsed: ParsedExpr, declared: ReadonlySet<string>): CheckResult {
  const errors: string[] = [];
  let usesOldSelf = false;
  const positions = parsed.sourceInfo?.positions ?? {};
  const lineOffsets = parsed.sourceInfo?.lineOffsets ?? [];

  const where = (e: Expr): string => {
    const offset = positions[String(e.id)] ?? 0;
    let line = 1;
    let lineStart = 0;
    for (const lo of lineOffsets) {
      if (lo <= offset) {
        line++;
        lineStart = lo;
      }
    }
    return `<input>:${line}:${offset - lineStart + 1}`;
  };
  const fail = (e: Expr, msg: string): void => {
    errors.push(`ERROR: ${where(e)}: ${msg}`);
  };

  const checkLiteralArgs = (fn: string, target: Expr | undefined, args: Expr[]): void => {
    const a0 = args[0];
    if (target === undefined && args.length === 1 && (fn === "duration" || fn === "timestamp")) {
      const lit: string | bigint | undefined = stringConst(a0) ?? (fn === "timestamp" ? intConst(a0) : undefined);
      if (lit === undefined) return;
      // planned on the first literal only: most rules have none
      const { durationProgram, timestampProgram } = literalPrograms(env);
      const r = (fn === "duration" ? durationProgram : timestampProgram)({ x: lit });
      if (isCelError(r) && a0 !== undefined) fail(a0, fn === "duration" ? "invalid duration argument" : "invalid timestamp");
      return;
    }
    if (target !== undefined && (fn === "matches" || fn === "find" || fn === "findAll")) {
      const pattern = stringConst(a0);
      if (pattern === undefined || a0 === undefined) return;
      try {
        compileRe2(pattern);
      } catch (err) {
        fail(a0, fn === "matches" ? "invalid matches argument" : (err as Error).message);
      }
    }
  };

  const checkOverload = (e: Expr, fn: string, member: boolean, argc: number): void => {
    const group = env.funcs.find(fn);
    if (group === undefined) {
      fail(e, `undeclared reference to '${fn}' (in container '')`);
      return;
    }
    for (const f of group) {
      if ((f.target !== undefined) === member && f.arguments.length === argc) return;
    }
    fail(e, `found no matching overload for '${fn}' applied to ${member ? "a receiver and " : ""}${argc} argument(s)`);
  };

  const visit = (e: Expr | undefined, scope: ReadonlySet<string>): void => {
    if (e === undefined) return;
    switch (e.exprKind.case) {
      case "constExpr":
        return;
      case "identExpr": {
        const name = e.exprKind.value.name;
        if (scope.has(name)) return;
        if (name === "oldSelf") usesOldSelf = true;
        if (!declared.has(name)) fail(e, `undeclared reference to '${name}' (in container '')`);
        return;
      }
      case "selectExpr": {
        const qn = qualifiedName(e);
        if (qn !== undefined && declared.has(qn)) {
          const root = qn.split(".")[0] ?? "";
          if (!scope.has(root)) return;
        }
        visit(e.exprKind.value.operand, scope);
        return;
      }
      case "callExpr": {
        const { target, args } = e.exprKind.value;
        const fn = e.exprKind.value.function;
        if (isOperator(fn)) {
          visit(target, scope);
          for (const a of args) visit(a, scope);
          return;
        }
        if (target !== undefined && TWO_VAR_MACROS.has(fn) && args[0]?.exprKind.case === "identExpr" && args[1]?.exprKind.case === "identExpr" && args.length >= 3) {
          fail(e, `two-variable comprehension '${fn}' (Kubernetes 1.32+) is not supported by this evaluator`);
          visit(target, scope);
          return;
        }
        const qn = qualifiedName(target);
        if (qn !== undefined && !scope.has(qn.split(".")[0] ?? "") && env.funcs.find(`${qn}.${fn}`) !== undefined) {
          checkOverload(e, `${qn}.${fn}`, false, args.length);
        } else {
          visit(target, scope);
          checkOverload(e, fn, target !== undefined, args.length);
          checkLiteralArgs(fn, target, args);
        }
        for (const a of args) visit(a, scope);
        return;
      }
      case "listExpr":
        for (const el of e.exprKind.value.elements) visit(el, scope);
        return;
      case "structExpr":
        for (const entry of e.exprKind.value.entries) {
          if (entry.keyKind.case === "mapKey") visit(entry.keyKind.value, scope);
          visit(entry.value, scope);
        }
        return;
      case "comprehensionExpr": {
        const c = e.exprKind.value;
        visit(c.iterRange, scope);
        visit(c.accuInit, scope);
        const inner = new Set(scope);
        inner.add(c.iterVar);
        if (c.iterVar2) inner.add(c.iterVar2);
        inner.add(c.accuVar);
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        const resultScope = new Set(scope);
        resultScope.add(c.accuVar);
        visit(c.result, resultScope);
        return;
      }
      default:
        fail(e, "unsupported expression");
    }
  };

  visit(parsed.expr, new Set());
  return { errors, usesOldSelf };
}
