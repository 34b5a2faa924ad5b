// A small recursive-descent parser for the CEL that CRD rules are written in. It builds the same syntax tree as
// @bufbuild/cel's parser (operators as calls, balanced && and || trees, the has/all/exists/exists_one/map/filter
// macros expanded the same way, negative number literals folded), several times faster: @bufbuild/cel's generated
// parser was a third of the CEL time of a `meshops check`. It is strict: whatever it is not sure to read exactly
// as @bufbuild/cel does — comments, bytes, struct literals, optional syntax, a leading dot, unusual escapes,
// syntax errors — gives undefined, and the caller parses with @bufbuild/cel, which also words the errors.
import type { Expr, ParsedExpr } from "./check.js";

type Kind = Expr["exprKind"];
type Constant = Extract<Kind, { case: "constExpr" }>["value"]["constantKind"];
type Entry = Extract<Kind, { case: "structExpr" }>["value"]["entries"][number];

class Decline extends Error {}
const decline = (): never => {
  throw new Decline();
};

const RESERVED = new Set(["true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"]);
const ACCU = "@result";

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isHex = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const isIdentStart = (c: number): boolean => c === 95 || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c);

/** Parses a CEL expression into @bufbuild/cel's syntax tree; undefined when @bufbuild/cel should parse it. */
export function parseCel(src: string): ParsedExpr | undefined {
  try {
    return new Parser(src).parse();
  } catch (e) {
    if (e instanceof Decline) return undefined;
    throw e;
  }
}

class Parser {
  private i = 0;
  private id = 0n;
  constructor(private readonly src: string) {}

  parse(): ParsedExpr {
    const expr = this.expr();
    this.ws();
    if (this.i !== this.src.length) decline();
    return {
      $typeName: "cel.expr.ParsedExpr",
      expr,
      sourceInfo: { $typeName: "cel.expr.SourceInfo", syntaxVersion: "", location: "", lineOffsets: [], positions: {}, macroCalls: {}, extensions: [] },
    } as ParsedExpr;
  }

  // ---- the tree, built as @bufbuild/cel's Builder does

  private node(exprKind: Kind): Expr {
    return { $typeName: "cel.expr.Expr", id: ++this.id, exprKind } as Expr;
  }
  private constant(constantKind: Constant): Expr {
    return this.node({ case: "constExpr", value: { $typeName: "cel.expr.Constant", constantKind } } as Kind);
  }
  private ident(name: string): Expr {
    return this.node({ case: "identExpr", value: { $typeName: "cel.expr.Expr.Ident", name } } as Kind);
  }
  private rawCall(fn: string, args: Expr[], target?: Expr): Expr {
    const value = target === undefined ? { $typeName: "cel.expr.Expr.Call", function: fn, args } : { $typeName: "cel.expr.Expr.Call", function: fn, target, args };
    return this.node({ case: "callExpr", value } as Kind);
  }
  private list(elements: Expr[]): Expr {
    return this.node({ case: "listExpr", value: { $typeName: "cel.expr.Expr.CreateList", elements, optionalIndices: [] } } as Kind);
  }
  private select(operand: Expr, field: string, testOnly: boolean): Expr {
    return this.node({ case: "selectExpr", value: { $typeName: "cel.expr.Expr.Select", operand, field, testOnly } } as Kind);
  }

  /** A global call (has() on a field selection is the has macro). */
  private call(fn: string, args: Expr[]): Expr {
    const a0 = args[0];
    if (fn === "has" && args.length === 1 && a0?.exprKind.case === "selectExpr") return this.select(a0.exprKind.value.operand as Expr, a0.exprKind.value.field, true);
    return this.rawCall(fn, args);
  }

  /** && and || chains as a balanced tree (the middle operator at the root), as @bufbuild/cel builds them. */
  private balanced(fn: string, terms: Expr[], lo: number, hi: number): Expr {
    const mid = Math.floor((lo + hi + 1) / 2);
    const left = mid === lo ? (terms[mid] as Expr) : this.balanced(fn, terms, lo, mid - 1);
    const right = mid === hi ? (terms[mid + 1] as Expr) : this.balanced(fn, terms, mid + 1, hi);
    return this.rawCall(fn, [left, right]);
  }
  private logic(fn: string, terms: Expr[]): Expr {
    return terms.length === 1 ? (terms[0] as Expr) : this.balanced(fn, terms, 0, terms.length - 2);
  }

  private comprehension(iterRange: Expr, iterVar: string, accuInit: Expr, loopCondition: Expr, loopStep: Expr, result: Expr): Expr {
    return this.node({
      case: "comprehensionExpr",
      value: { $typeName: "cel.expr.Expr.Comprehension", accuVar: ACCU, accuInit, iterVar, iterVar2: "", iterRange, loopStep, loopCondition, result },
    } as Kind);
  }
  private bool(v: boolean): Expr {
    return this.constant({ case: "boolValue", value: v });
  }

  /** A member call, with the macros expanded (the same comprehensions @bufbuild/cel's Builder makes). */
  private memberCall(target: Expr, fn: string, args: Expr[]): Expr {
    const call = this.rawCall(fn, args, target);
    const v = args[0];
    if (v?.exprKind.case !== "identExpr") return call;
    const x = v.exprKind.value.name;
    const a1 = args[1] as Expr;
    if (args.length === 2) {
      switch (fn) {
        case "exists":
          return this.comprehension(target, x, this.bool(false), this.rawCall("@not_strictly_false", [this.rawCall("!_", [this.ident(ACCU)])]), this.rawCall("_||_", [this.ident(ACCU), a1]), this.ident(ACCU));
        case "all":
          return this.comprehension(target, x, this.bool(true), this.rawCall("@not_strictly_false", [this.ident(ACCU)]), this.rawCall("_&&_", [this.ident(ACCU), a1]), this.ident(ACCU));
        case "map":
          return this.comprehension(target, x, this.list([]), this.bool(true), this.rawCall("_+_", [this.ident(ACCU), this.list([a1])]), this.ident(ACCU));
        case "filter":
          return this.comprehension(target, x, this.list([]), this.bool(true), this.rawCall("_?_:_", [a1, this.rawCall("_+_", [this.ident(ACCU), this.list([this.ident(x)])]), this.ident(ACCU)]), this.ident(ACCU));
        case "exists_one":
        case "existsOne": {
          const one = (): Expr => this.constant({ case: "int64Value", value: 1n });
          return this.comprehension(
            target,
            x,
            this.constant({ case: "int64Value", value: 0n }),
            this.bool(true),
            this.rawCall("_?_:_", [a1, this.rawCall("_+_", [this.ident(ACCU), one()]), this.ident(ACCU)]),
            this.rawCall("_==_", [this.ident(ACCU), one()]),
          );
        }
      }
    }
    if (args.length === 3 && fn === "map") {
      const a2 = args[2] as Expr;
      return this.comprehension(target, x, this.list([]), this.bool(true), this.rawCall("_?_:_", [a1, this.rawCall("_+_", [this.ident(ACCU), this.list([a2])]), this.ident(ACCU)]), this.ident(ACCU));
    }
    return call;
  }

  // ---- the grammar

  private ws(): void {
    const s = this.src;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) this.i++;
      else if (c === 47 && s.charCodeAt(this.i + 1) === 47) decline(); // comments: left to @bufbuild/cel
      else return;
    }
  }
  /** Skips whitespace and consumes `tok` when it comes next. */
  private eat(tok: string): boolean {
    this.ws();
    if (this.src.startsWith(tok, this.i)) {
      this.i += tok.length;
      return true;
    }
    return false;
  }
  private expect(tok: string): void {
    if (!this.eat(tok)) decline();
  }
  private peek(): number {
    this.ws();
    return this.src.charCodeAt(this.i);
  }

  private expr(): Expr {
    const cond = this.or();
    if (!this.eat("?")) return cond;
    const t = this.or();
    this.expect(":");
    const f = this.expr();
    return this.rawCall("_?_:_", [cond, t, f]);
  }

  private or(): Expr {
    const terms = [this.and()];
    while (this.eat("||")) terms.push(this.and());
    return this.logic("_||_", terms);
  }

  private and(): Expr {
    const terms = [this.relation()];
    while (this.eat("&&")) terms.push(this.relation());
    return this.logic("_&&_", terms);
  }

  private relation(): Expr {
    let left = this.addition();
    for (;;) {
      this.ws();
      const s = this.src;
      const c = s.charCodeAt(this.i);
      const c2 = s.charCodeAt(this.i + 1);
      let op: string;
      if (c === 60 /* < */) op = c2 === 61 ? "<=" : "<";
      else if (c === 62 /* > */) op = c2 === 61 ? ">=" : ">";
      else if (c === 61 /* = */ && c2 === 61) op = "==";
      else if (c === 33 /* ! */ && c2 === 61) op = "!=";
      else if (c === 105 /* i */ && c2 === 110 /* n */ && !isIdentPart(s.charCodeAt(this.i + 2))) op = "in";
      else return left;
      this.i += op.length;
      left = this.rawCall(op === "in" ? "@in" : `_${op}_`, [left, this.addition()]);
    }
  }

  private addition(): Expr {
    let left = this.multiplication();
    for (;;) {
      const c = this.peek();
      if (c !== 43 && c !== 45) return left;
      this.i++;
      left = this.rawCall(c === 43 ? "_+_" : "_-_", [left, this.multiplication()]);
    }
  }

  private multiplication(): Expr {
    let left = this.unary();
    for (;;) {
      const c = this.peek();
      if (c !== 42 && c !== 47 && c !== 37) return left;
      this.i++;
      left = this.rawCall(c === 42 ? "_*_" : c === 47 ? "_/_" : "_%_", [left, this.unary()]);
    }
  }

  private unary(): Expr {
    const c = this.peek();
    const negativeNumber = c === 45 && (isDigit(this.src.charCodeAt(this.i + 1)) || (this.src.charCodeAt(this.i + 1) === 46 && isDigit(this.src.charCodeAt(this.i + 2))));
    if ((c !== 33 && c !== 45) || negativeNumber) return this.member();
    // a run of the same operator, then a member (no space inside the run)
    let n = 0;
    while (this.src.charCodeAt(this.i) === c) {
      this.i++;
      n++;
    }
    const next = this.src.charCodeAt(this.i);
    if (next === 33 || next === 45) decline();
    const expr = this.member();
    if (n % 2 === 0) return expr;
    const fn = c === 33 ? "!_" : "-_";
    if (expr.exprKind.case === "callExpr" && expr.exprKind.value.function === fn) return expr.exprKind.value.args[0] as Expr;
    return this.rawCall(fn, [expr]);
  }

  private member(): Expr {
    let e = this.primary();
    for (;;) {
      const c = this.peek();
      if (c === 46 /* . */) {
        this.i++;
        if (this.peek() === 63 /* ? */) decline();
        const field = this.name();
        if (field === "true" || field === "false" || field === "null" || field === "in") decline();
        if (this.peek() === 40 /* ( */) {
          this.i++;
          e = this.memberCall(e, field, this.args());
        } else e = this.select(e, field, false);
      } else if (c === 91 /* [ */) {
        this.i++;
        if (this.peek() === 63) decline();
        const index = this.expr();
        this.expect("]");
        e = this.rawCall("_[_]", [e, index]);
      } else return e;
    }
  }

  /** Call arguments after "(": no trailing comma. */
  private args(): Expr[] {
    const out: Expr[] = [];
    if (this.eat(")")) return out;
    for (;;) {
      out.push(this.expr());
      if (this.eat(")")) return out;
      this.expect(",");
    }
  }

  private name(): string {
    this.ws();
    const s = this.src;
    const start = this.i;
    if (!isIdentStart(s.charCodeAt(start))) decline();
    let j = start + 1;
    while (isIdentPart(s.charCodeAt(j))) j++;
    this.i = j;
    return s.slice(start, j);
  }

  private primary(): Expr {
    const c = this.peek();
    const s = this.src;
    if (isDigit(c) || c === 45 || c === 46) return this.number();
    if (c === 34 || c === 39) return this.string(false);
    if ((c === 114 || c === 82) && (s.charCodeAt(this.i + 1) === 34 || s.charCodeAt(this.i + 1) === 39)) {
      this.i++;
      return this.string(true);
    }
    if ((c === 98 || c === 66) && (s.charCodeAt(this.i + 1) === 34 || s.charCodeAt(this.i + 1) === 39)) decline(); // bytes
    if (c === 40 /* ( */) {
      this.i++;
      const e = this.expr();
      this.expect(")");
      return e;
    }
    if (c === 91 /* [ */) {
      this.i++;
      const elements: Expr[] = [];
      for (;;) {
        if (this.eat("]")) break;
        elements.push(this.expr());
        if (this.eat("]")) break;
        this.expect(",");
      }
      return this.list(elements);
    }
    if (c === 123 /* { */) {
      this.i++;
      const entries: Entry[] = [];
      for (;;) {
        if (this.eat("}")) break;
        if (this.peek() === 63) decline(); // optional entry
        const key = this.expr();
        this.expect(":");
        const value = this.expr();
        entries.push({ $typeName: "cel.expr.Expr.CreateStruct.Entry", id: ++this.id, keyKind: { case: "mapKey", value: key }, value, optionalEntry: false } as Entry);
        if (this.eat("}")) break;
        this.expect(",");
      }
      return this.node({ case: "structExpr", value: { $typeName: "cel.expr.Expr.CreateStruct", entries, messageName: "" } } as Kind);
    }
    if (!isIdentStart(c)) return decline();
    const name = this.name();
    if (name === "null") return this.constant({ case: "nullValue", value: 0 } as Constant);
    if (name === "true" || name === "false") return this.bool(name === "true");
    // @bufbuild/cel reads "trueish" as the literal true followed by garbage: such names are left to it
    if (name.startsWith("true") || name.startsWith("false")) decline();
    if (RESERVED.has(name)) decline();
    const next = this.peek();
    if (next === 123 /* { */) decline(); // message literal
    if (next === 40 /* ( */) {
      this.i++;
      return this.call(name, this.args());
    }
    return this.ident(name);
  }

  private number(): Expr {
    const s = this.src;
    const start = this.i;
    let j = start;
    if (s.charCodeAt(j) === 45) j++;
    if (s.charCodeAt(j) === 48 && (s.charCodeAt(j + 1) === 120 || s.charCodeAt(j + 1) === 88)) {
      if (s.charCodeAt(j + 1) === 88) decline(); // "0X": not in @bufbuild/cel's grammar
      j += 2;
      const h = j;
      while (isHex(s.charCodeAt(j))) j++;
      if (j === h) decline();
      return this.integer(start, j);
    }
    const d = j;
    while (isDigit(s.charCodeAt(j))) j++;
    const intEnd = j;
    let float = false;
    if (s.charCodeAt(j) === 46 && isDigit(s.charCodeAt(j + 1))) {
      j++;
      while (isDigit(s.charCodeAt(j))) j++;
      float = true;
    }
    if ((s.charCodeAt(j) === 101 || s.charCodeAt(j) === 69) && (j > d || float)) {
      let k = j + 1;
      if (s.charCodeAt(k) === 43 || s.charCodeAt(k) === 45) k++;
      if (isDigit(s.charCodeAt(k))) {
        while (isDigit(s.charCodeAt(k))) k++;
        j = k;
        float = true;
      }
    }
    if (float) {
      if (isIdentPart(s.charCodeAt(j)) || s.charCodeAt(j) === 46) decline();
      this.i = j;
      return this.constant({ case: "doubleValue", value: Number.parseFloat(s.slice(start, j)) });
    }
    if (intEnd === d) decline();
    return this.integer(start, intEnd);
  }

  private integer(start: number, end: number): Expr {
    const s = this.src;
    const c = s.charCodeAt(end);
    if (c === 117 || c === 85) {
      // unsigned: no sign allowed
      if (s.charCodeAt(start) === 45 || isIdentPart(s.charCodeAt(end + 1))) decline();
      this.i = end + 1;
      return this.constant({ case: "uint64Value", value: BigInt(s.slice(start, end)) });
    }
    if (isIdentPart(c) || c === 46) decline();
    this.i = end;
    const digits = s.slice(start, end);
    return this.constant({ case: "int64Value", value: digits.startsWith("-") ? -BigInt(digits.slice(1)) : BigInt(digits) });
  }

  /** A string literal at the quote (after an r/R prefix for raw strings). */
  private string(raw: boolean): Expr {
    const s = this.src;
    const q = s[this.i] as string;
    const triple = s.startsWith(q + q + q, this.i);
    const close = triple ? q + q + q : q;
    let j = this.i + close.length;
    let out = "";
    for (;;) {
      if (j >= s.length) decline();
      if (s.startsWith(close, j)) {
        j += close.length;
        break;
      }
      const c = s.charCodeAt(j);
      if (!triple && (c === 10 || c === 13)) decline();
      if (c === 92 /* \ */ && !raw) {
        const e = s[j + 1];
        switch (e) {
          case "a": out += "\x07"; j += 2; continue;
          case "b": out += "\b"; j += 2; continue;
          case "f": out += "\f"; j += 2; continue;
          case "n": out += "\n"; j += 2; continue;
          case "r": out += "\r"; j += 2; continue;
          case "t": out += "\t"; j += 2; continue;
          case "v": out += "\v"; j += 2; continue;
          case '"': case "'": case "`": case "\\": case "?": out += e; j += 2; continue;
          default: {
            // \xHH, \uHHHH, \UHHHHHHHH and \ooo are code points; surrogates are errors to @bufbuild/cel
            let hex: string | undefined;
            if (e === "x" || e === "X") hex = s.slice(j + 2, j + 4);
            else if (e === "u") hex = s.slice(j + 2, j + 6);
            else if (e === "U") hex = s.slice(j + 2, j + 10);
            let cp: number;
            let len: number;
            if (hex !== undefined) {
              if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== (e === "u" ? 4 : e === "U" ? 8 : 2)) decline();
              cp = Number.parseInt(hex, 16);
              len = 2 + hex.length;
            } else if (/^[0-3][0-7][0-7]$/.test(s.slice(j + 1, j + 4))) {
              cp = Number.parseInt(s.slice(j + 1, j + 4), 8);
              len = 4;
            } else return decline();
            if ((cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff) decline();
            out += String.fromCodePoint(cp);
            j += len;
            continue;
          }
        }
      }
      out += s[j];
      j++;
    }
    this.i = j;
    return this.constant({ case: "stringValue", value: out });
  }
}
