// JSON (as parsed from YAML/JSON manifests) to CEL values, guided by the CRD
// schema node, following Kubernetes' UnstructuredToVal and SchemaDeclType:
//   integer → int, number → double, boolean → bool,
//   string → string, except format byte → bytes, duration → google.protobuf.Duration,
//   date / date-time → google.protobuf.Timestamp (kept as a string when unparsable),
//   x-kubernetes-int-or-string → int or string,
//   array → list, object with properties → map keyed by the escaped property
//   names (null-valued fields are treated as absent), object with
//   additionalProperties → map with unescaped keys (null values kept).
// Schema defaults are applied to absent object properties, as the API server
// defaults objects before it validates them.
import { celList, celMap, isCelList, isCelMap, type CelValue } from "@bufbuild/cel";
import { create } from "@bufbuild/protobuf";
import { isReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { CelSchema } from "./types.js";

// Identifiers reserved by the CEL grammar; Kubernetes exposes such property names as __name__.
const RESERVED = new Set([
  "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
  "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
]);

/**
 * The CEL field name Kubernetes uses for a schema property name, or undefined when
 * the name cannot be expressed (such properties are not accessible from rules).
 */
export function escapePropertyName(name: string): string | undefined {
  // the same few property names are escaped for every object: remembered (bounded)
  if (escaped.has(name)) return escaped.get(name);
  const e = escapeName(name);
  if (escaped.size < 10_000) escaped.set(name, e);
  return e;
}

const escaped = new Map<string, string | undefined>();

function escapeName(name: string): string | undefined {
  if (name.length === 0) return undefined;
  const c0 = name.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) return undefined;
  if (RESERVED.has(name)) return `__${name}__`;
  if (!/^[a-zA-Z0-9_.\-/]+$/.test(name)) return undefined;
  return name.replace(/__|[./-]/g, (m) =>
    m === "__" ? "__underscores__" : m === "." ? "__dot__" : m === "-" ? "__dash__" : "__slash__",
  );
}

const NANOS_PER_SECOND = 1_000_000_000n;

const GO_UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "µs": 1_000n,
  "μs": 1_000n,
  ms: 1_000_000n,
  s: NANOS_PER_SECOND,
  m: 60n * NANOS_PER_SECOND,
  h: 3600n * NANOS_PER_SECOND,
};

/** Go's time.ParseDuration, in nanoseconds. */
function parseGoDuration(s: string): bigint | undefined {
  let rest = s;
  let neg = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    neg = rest.startsWith("-");
    rest = rest.slice(1);
  }
  if (rest === "0") return 0n;
  if (rest === "") return undefined;
  let total = 0n;
  const re = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const m = re.exec(rest);
    if (!m) return undefined;
    const whole = m[1] ?? "";
    const frac = m[2] ?? "";
    if (whole === "" && frac === "") return undefined;
    const unit = GO_UNITS[m[3] ?? ""] ?? 0n;
    total += BigInt(whole === "" ? "0" : whole) * unit;
    if (frac !== "") total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    rest = rest.slice(m[0].length);
  }
  return neg ? -total : total;
}

const LONG_UNITS: [string[], bigint][] = [
  [["ns", "nano"], 1n],
  [["us", "µs", "micro"], 1_000n],
  [["ms", "milli"], 1_000_000n],
  [["s", "sec"], NANOS_PER_SECOND],
  [["m", "min"], 60n * NANOS_PER_SECOND],
  [["h", "hr", "hour"], 3600n * NANOS_PER_SECOND],
  [["d", "day"], 86400n * NANOS_PER_SECOND],
  [["w", "wk", "week"], 7n * 86400n * NANOS_PER_SECOND],
];

/** The OpenAPI "duration" format parser Kubernetes uses (strfmt.ParseDuration), in nanoseconds. */
export function parseFormatDuration(s: string): bigint | undefined {
  const go = parseGoDuration(s);
  if (go !== undefined) return go;
  let total = 0n;
  let ok = false;
  for (const m of s.matchAll(/(\d+)\s*([A-Za-zµ]+)/g)) {
    const factor = BigInt(m[1] ?? "0");
    const unit = (m[2] ?? "").trim().toLowerCase();
    for (const [variants, mult] of LONG_UNITS) {
      variants.forEach((variant, i) => {
        if ((i === variants.length - 1 && unit.startsWith(variant)) || variant === unit) {
          ok = true;
          total += factor * mult;
        }
      });
    }
  }
  return ok ? total : undefined;
}

function durationValue(nanos: bigint): CelValue {
  const msg = create(DurationSchema, {
    seconds: nanos / NANOS_PER_SECOND,
    nanos: Number(nanos % NANOS_PER_SECOND),
  });
  return reflect(DurationSchema, msg);
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;

function timestampValue(s: string, dateOnly: boolean): CelValue | undefined {
  const m = DATE_TIME.exec(s);
  if (!m) return undefined;
  if (dateOnly !== (m[4] === undefined)) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => Number(x ?? 0)) as [
    number, number, number, number, number, number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  if (d.getUTCDate() !== day) return undefined;
  let seconds = BigInt(Math.floor(d.getTime() / 1000));
  const zone = m[8];
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const digits = zone.replace(":", "");
    const offset = BigInt((Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5))) * 60);
    seconds -= zone.startsWith("-") ? -offset : offset;
  }
  const nanos = Number((m[7] ?? "").padEnd(9, "0"));
  return reflect(TimestampSchema, create(TimestampSchema, { seconds, nanos }));
}

/** True for the date-time strings Kubernetes' OpenAPI date-time format accepts. */
export function isDateTimeString(s: string): boolean {
  return timestampValue(s, false) !== undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function stringValue(s: string, format: string | undefined): CelValue {
  switch (format) {
    case "byte":
      return BASE64.test(s) ? new Uint8Array(Buffer.from(s, "base64")) : s;
    case "duration": {
      const nanos = parseFormatDuration(s);
      return nanos === undefined ? s : durationValue(nanos);
    }
    case "date":
      return timestampValue(s, true) ?? s;
    case "date-time":
      return timestampValue(s, false) ?? s;
    default:
      return s;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !isCelValueObject(v);
}

function isCelValueObject(v: object): boolean {
  return isCelList(v) || isCelMap(v) || isReflectMessage(v) || v instanceof Map;
}

/** Conversion without a schema: integral numbers become int, everything else by JSON kind. */
function generic(v: unknown): CelValue {
  switch (typeof v) {
    case "number":
      return Number.isInteger(v) ? BigInt(v) : v;
    case "bigint":
    case "string":
    case "boolean":
      return v;
    case "object": {
      if (v === null) return null;
      if (Array.isArray(v)) return celList(v.map(generic));
      if (v instanceof Date) return v.toISOString();
      if (v instanceof Uint8Array || isCelList(v) || isCelMap(v) || isReflectMessage(v)) return v as CelValue;
      const m = new LazyMap();
      const entries = v instanceof Map ? Array.from(v.entries()) : Object.entries(v);
      for (const [k, val] of entries) {
        if (val === null || val === undefined) continue;
        m.set(String(k), val, undefined, true);
      }
      return celMap(m as unknown as Map<string, CelValue>);
    }
    default:
      return null;
  }
}

function hasSchema(s: CelSchema | boolean | undefined): s is CelSchema {
  return typeof s === "object" && s !== null;
}

const EMBEDDED_META: Record<string, CelSchema> = {
  apiVersion: { type: "string" },
  kind: { type: "string" },
  metadata: { type: "object", properties: { name: { type: "string" }, generateName: { type: "string" } } },
};

/**
 * The entries of an object converted to CEL on first access: a rule or policy reads a few fields of an object,
 * and converting whole objects up front (every nested map and list) was most of the CEL time of a check. Keys
 * are known at once, in the order and with the overrides a Map built by set() in the same order would have;
 * @bufbuild/cel wraps it with celMap() like a Map.
 */
interface LazySlot {
  raw: unknown;
  schema: CelSchema | undefined;
  /** Converted without a schema (generic), else with `schema`. */
  generic: boolean;
  done: boolean;
  value: CelValue;
}

class LazyMap {
  private readonly slots = new Map<string, LazySlot>();
  set(key: string, raw: unknown, schema: CelSchema | undefined, asGeneric: boolean): void {
    this.slots.set(key, { raw, schema, generic: asGeneric, done: false, value: null });
  }
  private value(slot: LazySlot): CelValue {
    if (!slot.done) {
      slot.value = slot.generic ? generic(slot.raw) : convert(slot.raw, slot.schema);
      slot.done = true;
      slot.raw = undefined;
    }
    return slot.value;
  }
  get size(): number {
    return this.slots.size;
  }
  get(key: unknown): CelValue | undefined {
    const slot = typeof key === "string" ? this.slots.get(key) : undefined;
    return slot === undefined ? undefined : this.value(slot);
  }
  has(key: unknown): boolean {
    return typeof key === "string" && this.slots.has(key);
  }
  keys(): IterableIterator<string> {
    return this.slots.keys();
  }
  *values(): IterableIterator<CelValue> {
    for (const slot of this.slots.values()) yield this.value(slot);
  }
  *entries(): IterableIterator<[string, CelValue]> {
    for (const [k, slot] of this.slots) yield [k, this.value(slot)];
  }
  forEach(callback: (value: CelValue, key: string, map: LazyMap) => void, thisArg?: unknown): void {
    for (const [k, slot] of this.slots) callback.call(thisArg, this.value(slot), k, this);
  }
  [Symbol.iterator](): IterableIterator<[string, CelValue]> {
    return this.entries();
  }
}

function objectValue(v: Record<string, unknown>, s: CelSchema): CelValue {
  const props = s.properties ?? (s["x-kubernetes-embedded-resource"] ? EMBEDDED_META : undefined);
  const additional = hasSchema(s.additionalProperties) ? s.additionalProperties : undefined;
  const m = new LazyMap();
  if (props === undefined && additional !== undefined) {
    for (const [k, val] of Object.entries(v)) {
      m.set(k, val === undefined ? null : val, additional, false);
    }
    return celMap(m as unknown as Map<string, CelValue>);
  }
  for (const [k, val] of Object.entries(v)) {
    if (val === null || val === undefined) continue;
    const prop = props?.[k] ?? (s["x-kubernetes-embedded-resource"] ? EMBEDDED_META[k] : undefined);
    if (prop !== undefined) {
      m.set(escapePropertyName(k) ?? k, val, prop, false);
    } else if (additional !== undefined) {
      m.set(k, val, additional, false);
    } else {
      m.set(k, val, undefined, true);
    }
  }
  if (props !== undefined) {
    // Defaulting runs before validation in the API server: absent or null
    // properties that declare a default are validated with the default.
    for (const [k, prop] of Object.entries(props)) {
      if (prop.default === undefined || (v[k] !== null && v[k] !== undefined)) continue;
      m.set(escapePropertyName(k) ?? k, prop.default, prop, false);
    }
  }
  return celMap(m as unknown as Map<string, CelValue>);
}

function convert(v: unknown, s: CelSchema | undefined): CelValue {
  if (v === null || v === undefined) return null;
  if (s === undefined) return generic(v);
  if (s["x-kubernetes-int-or-string"]) {
    if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
    return generic(v);
  }
  switch (s.type) {
    case "integer":
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      return generic(v);
    case "number":
      if (typeof v === "number") return v;
      if (typeof v === "bigint") return Number(v);
      return generic(v);
    case "string":
      if (typeof v === "string") return stringValue(v, s.format);
      if (v instanceof Date && (s.format === "date-time" || s.format === "date")) {
        return timestampValue(v.toISOString(), false) ?? v.toISOString();
      }
      return generic(v);
    case "array":
      if (Array.isArray(v)) return celList(v.map((item) => convert(item, s.items)));
      return generic(v);
    case "object":
      if (isPlainObject(v)) return objectValue(v, s);
      return generic(v);
    default:
      if (isPlainObject(v) && (s.properties || s["x-kubernetes-embedded-resource"] || hasSchema(s.additionalProperties))) {
        return objectValue(v, s);
      }
      return generic(v);
  }
}

/**
 * Converts JSON data to CEL values guided by the schema node (see the file comment
 * for the mapping). Values already converted are passed through unchanged.
 */
export function toCelValue(value: unknown, schema: CelSchema | undefined): unknown {
  return convert(value, schema);
}
