// The Kubernetes CEL libraries that are not plain string/list helpers:
// URL (k8s.io/apiserver/pkg/cel/library/urls.go), IP and CIDR (ip.go, cidr.go),
// quantity (quantity.go) and the optional type used by optionalOldSelf.
// Semantics follow the Go implementations: net/url, net/netip and resource.Quantity.
import {
  CelScalar,
  objectType,
  celFunc,
  celList,
  celMap,
  celMethod,
  isCelList,
  isCelMap,
  isCelUint,
  listType,
  mapType,
  type CelFunc,
  type CelValue,
} from "@bufbuild/cel";
import { create } from "@bufbuild/protobuf";
import { isReflectMessage, reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { DurationSchema, TimestampSchema, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { OpaqueKind } from "./opaque.js";
import {
  formatAddr,
  formatPrefix,
  is4In6,
  isGlobalUnicast,
  isLinkLocalMulticast,
  isLinkLocalUnicast,
  isLoopback,
  isUnspecified,
  parseAddr,
  parsePrefix,
  prefixContains,
  prefixMasked,
  prefixOverlaps,
  type IPAddr,
  type IPPrefix,
} from "./netip.js";
import { parseRequestURI, parseURL, urlEscapedPath, urlHostname, urlPort, urlQuery, type GoURL } from "./go-url.js";
import { intToNanos, isQuantity, nanosToString, parseQuantity, quantityAsInt64, quantityToFloat } from "./quantity.js";
import { canonicalKey } from "./value-key.js";

const { BOOL, DOUBLE, DYN, INT, STRING } = CelScalar;

// ---------------------------------------------------------------------------
// IP and CIDR

/** Parses like the Kubernetes IP library: no zones, no IPv4-mapped IPv6. */
export function parseIPForCel(raw: string): IPAddr {
  let addr: IPAddr;
  try {
    addr = parseAddr(raw);
  } catch (e) {
    throw new Error(`IP Address ${JSON.stringify(raw)} parse error during conversion from string: ${(e as Error).message}`);
  }
  if (addr.zone !== "") throw new Error(`IP address ${JSON.stringify(raw)} with zone value is not allowed`);
  if (is4In6(addr)) throw new Error(`IPv4-mapped IPv6 address ${JSON.stringify(raw)} is not allowed`);
  return addr;
}

/** Parses like the Kubernetes CIDR library: no IPv4-mapped IPv6 prefixes. */
export function parseCIDRForCel(raw: string): IPPrefix {
  let p: IPPrefix;
  try {
    p = parsePrefix(raw);
  } catch (e) {
    throw new Error(`network address parse error during conversion from string: ${(e as Error).message}`);
  }
  if (is4In6(p.addr)) throw new Error(`IPv4-mapped IPv6 address ${JSON.stringify(raw)} is not allowed`);
  return p;
}

export const IPKind = new OpaqueKind<IPAddr>("net.IP", parseAddr);
export const CIDRKind = new OpaqueKind<IPPrefix>("net.CIDR", parsePrefix);
const IP = IPKind.type;
const CIDR = CIDRKind.type;

function ipValue(addr: IPAddr): ReflectMessage {
  return IPKind.make(formatAddr(addr), addr);
}

function cidrValue(p: IPPrefix): ReflectMessage {
  return CIDRKind.make(formatPrefix(p), p);
}

function succeeds(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

const ipLibrary: CelFunc[] = [
  celFunc("ip", [STRING], IP, (s) => ipValue(parseIPForCel(s))),
  celFunc("isIP", [STRING], BOOL, (s) => succeeds(() => parseIPForCel(s))),
  celFunc("ip.isCanonical", [STRING], BOOL, (s) => formatAddr(parseIPForCel(s)) === s),
  celMethod("family", IP, [], INT, function () {
    return BigInt(IPKind.data(this).family);
  }),
  celMethod("isUnspecified", IP, [], BOOL, function () {
    return isUnspecified(IPKind.data(this));
  }),
  celMethod("isLoopback", IP, [], BOOL, function () {
    return isLoopback(IPKind.data(this));
  }),
  celMethod("isLinkLocalMulticast", IP, [], BOOL, function () {
    return isLinkLocalMulticast(IPKind.data(this));
  }),
  celMethod("isLinkLocalUnicast", IP, [], BOOL, function () {
    return isLinkLocalUnicast(IPKind.data(this));
  }),
  celMethod("isGlobalUnicast", IP, [], BOOL, function () {
    return isGlobalUnicast(IPKind.data(this));
  }),
  celFunc("string", [IP], STRING, (v) => IPKind.repr(v)),
];

const cidrLibrary: CelFunc[] = [
  celFunc("cidr", [STRING], CIDR, (s) => cidrValue(parseCIDRForCel(s))),
  celFunc("isCIDR", [STRING], BOOL, (s) => succeeds(() => parseCIDRForCel(s))),
  celMethod("containsIP", CIDR, [STRING], BOOL, function (s) {
    return prefixContains(CIDRKind.data(this), parseIPForCel(s));
  }),
  celMethod("containsIP", CIDR, [IP], BOOL, function (ip) {
    return prefixContains(CIDRKind.data(this), IPKind.data(ip));
  }),
  celMethod("containsCIDR", CIDR, [STRING], BOOL, function (s) {
    const p = CIDRKind.data(this);
    const o = parseCIDRForCel(s);
    return prefixOverlaps(p, o) && p.prefixLength <= o.prefixLength;
  }),
  celMethod("containsCIDR", CIDR, [CIDR], BOOL, function (other) {
    const p = CIDRKind.data(this);
    const o = CIDRKind.data(other);
    return prefixOverlaps(p, o) && p.prefixLength <= o.prefixLength;
  }),
  celMethod("ip", CIDR, [], IP, function () {
    return ipValue(CIDRKind.data(this).addr);
  }),
  celMethod("masked", CIDR, [], CIDR, function () {
    return cidrValue(prefixMasked(CIDRKind.data(this)));
  }),
  celMethod("prefixLength", CIDR, [], INT, function () {
    return BigInt(CIDRKind.data(this).prefixLength);
  }),
  celFunc("string", [CIDR], STRING, (v) => CIDRKind.repr(v)),
];

// ---------------------------------------------------------------------------
// URL

/** url(): ParseRequestURI decides validity, Parse (fragment-aware) provides the parts. */
export function parseURLForCel(raw: string): GoURL {
  try {
    parseRequestURI(raw);
    return parseURL(raw);
  } catch (e) {
    throw new Error(`URL parse error during conversion from string: ${(e as Error).message}`);
  }
}

export const URLKind = new OpaqueKind<GoURL>("kubernetes.URL", parseURL);
const URL_T = URLKind.type;

function urlMethod(name: string, get: (u: GoURL) => string): CelFunc {
  return celMethod(name, URL_T, [], STRING, function () {
    return get(URLKind.data(this));
  });
}

const urlLibrary: CelFunc[] = [
  celFunc("url", [STRING], URL_T, (s) => URLKind.make(s, parseURLForCel(s))),
  celFunc("isURL", [STRING], BOOL, (s) => succeeds(() => parseRequestURI(s))),
  urlMethod("getScheme", (u) => u.scheme),
  urlMethod("getHost", (u) => u.host),
  urlMethod("getHostname", urlHostname),
  urlMethod("getPort", urlPort),
  urlMethod("getEscapedPath", urlEscapedPath),
  celMethod("getQuery", URL_T, [], mapType(STRING, listType(STRING)), function () {
    const m = new Map<string, CelValue>();
    for (const [k, v] of urlQuery(URLKind.data(this))) m.set(k, celList(v));
    return celMap(m);
  }),
];

// ---------------------------------------------------------------------------
// Quantity

export const QuantityKind = new OpaqueKind<bigint>("kubernetes.Quantity", (s) => BigInt(s));
const QUANTITY = QuantityKind.type;

function quantityValue(nanos: bigint): ReflectMessage {
  return QuantityKind.make(nanosToString(nanos), nanos);
}

function cmp(a: bigint, b: bigint): bigint {
  return a < b ? -1n : a > b ? 1n : 0n;
}

const quantityLibrary: CelFunc[] = [
  celFunc("quantity", [STRING], QUANTITY, (s) => quantityValue(parseQuantity(s))),
  celFunc("isQuantity", [STRING], BOOL, isQuantity),
  celMethod("sign", QUANTITY, [], INT, function () {
    return cmp(QuantityKind.data(this), 0n);
  }),
  celMethod("isInteger", QUANTITY, [], BOOL, function () {
    return quantityAsInt64(QuantityKind.data(this)) !== undefined;
  }),
  celMethod("asInteger", QUANTITY, [], INT, function () {
    const v = quantityAsInt64(QuantityKind.data(this));
    if (v === undefined) throw new Error("cannot convert value to integer");
    return v;
  }),
  celMethod("asApproximateFloat", QUANTITY, [], DOUBLE, function () {
    return quantityToFloat(QuantityKind.data(this));
  }),
  celMethod("add", QUANTITY, [QUANTITY], QUANTITY, function (o) {
    return quantityValue(QuantityKind.data(this) + QuantityKind.data(o));
  }),
  celMethod("add", QUANTITY, [INT], QUANTITY, function (i) {
    return quantityValue(QuantityKind.data(this) + intToNanos(i));
  }),
  celMethod("sub", QUANTITY, [QUANTITY], QUANTITY, function (o) {
    return quantityValue(QuantityKind.data(this) - QuantityKind.data(o));
  }),
  celMethod("sub", QUANTITY, [INT], QUANTITY, function (i) {
    return quantityValue(QuantityKind.data(this) - intToNanos(i));
  }),
  celMethod("isGreaterThan", QUANTITY, [QUANTITY], BOOL, function (o) {
    return QuantityKind.data(this) > QuantityKind.data(o);
  }),
  celMethod("isLessThan", QUANTITY, [QUANTITY], BOOL, function (o) {
    return QuantityKind.data(this) < QuantityKind.data(o);
  }),
  celMethod("compareTo", QUANTITY, [QUANTITY], INT, function (o) {
    return cmp(QuantityKind.data(this), QuantityKind.data(o));
  }),
];

// ---------------------------------------------------------------------------
// Optional values (optional.of / optional.none / hasValue / value / orValue / or),
// enough for optionalOldSelf rules. The parser does not support the `?.` / `[?]`
// syntax, so only the function forms are available.

interface OptionalPayload {
  readonly present: boolean;
  readonly value?: CelValue;
}

export const OptionalKind = new OpaqueKind<OptionalPayload>("optional_type", (s) => {
  if (s === "none") return { present: false };
  throw new Error("optional value lost its payload");
});
const OPTIONAL = OptionalKind.type;

export function optionalOf(v: CelValue): ReflectMessage {
  return OptionalKind.make(`of:${canonicalKey(v)}`, { present: true, value: v });
}

export function optionalNone(): ReflectMessage {
  return OptionalKind.make("none", { present: false });
}

const GO_ZERO_TIME_SECONDS = -62135596800n;

/** Go/cel-go zero values, for optional.ofNonZeroValue. */
function isZeroValue(v: CelValue): boolean {
  if (v === null || v === false || v === "" || v === 0n || v === 0) return true;
  if (isCelUint(v)) return v.value === 0n;
  if (v instanceof Uint8Array) return v.length === 0;
  if (isCelList(v) || isCelMap(v)) return v.size === 0;
  if (isReflectMessage(v, DurationSchema)) {
    const d = v.message as Duration;
    return d.seconds === 0n && d.nanos === 0;
  }
  if (isReflectMessage(v, TimestampSchema)) {
    const t = v.message as Timestamp;
    return t.seconds === GO_ZERO_TIME_SECONDS && t.nanos === 0;
  }
  return false;
}

const optionalLibrary: CelFunc[] = [
  celFunc("optional.of", [DYN], OPTIONAL, (v) => optionalOf(v)),
  celFunc("optional.none", [], OPTIONAL, () => optionalNone()),
  celFunc("optional.ofNonZeroValue", [DYN], OPTIONAL, (v) => (isZeroValue(v) ? optionalNone() : optionalOf(v))),
  celMethod("hasValue", OPTIONAL, [], BOOL, function () {
    return OptionalKind.data(this).present;
  }),
  celMethod("value", OPTIONAL, [], DYN, function () {
    const p = OptionalKind.data(this);
    if (!p.present || p.value === undefined) throw new Error("optional.none() dereference");
    return p.value;
  }),
  celMethod("orValue", OPTIONAL, [DYN], DYN, function (d) {
    const p = OptionalKind.data(this);
    return p.present && p.value !== undefined ? p.value : d;
  }),
  celMethod("or", OPTIONAL, [OPTIONAL], OPTIONAL, function (o) {
    return OptionalKind.data(this).present ? this : o;
  }),
];

const MIN_TIMESTAMP_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z

// Standard functions where @bufbuild/cel 0.6.1 departs from cel-go:
// duration.getMilliseconds() is the whole duration in milliseconds (Go's
// Duration.Milliseconds), not the sub-second part, and timestamp(int) takes
// seconds since the epoch, not milliseconds.
const stdFixes: CelFunc[] = [
  celFunc("timestamp", [INT], objectType(TimestampSchema), (seconds) => {
    if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) throw new Error("timestamp overflow");
    return reflect(TimestampSchema, create(TimestampSchema, { seconds }));
  }),
  celMethod("getMilliseconds", objectType(DurationSchema), [], INT, function () {
    const d = this.message as Duration;
    return (d.seconds * 1_000_000_000n + BigInt(d.nanos)) / 1_000_000n;
  }),
];

export const kubernetesLibrary: CelFunc[] = [
  ...stdFixes,
  ...ipLibrary,
  ...cidrLibrary,
  ...urlLibrary,
  ...quantityLibrary,
  ...optionalLibrary,
];

/** Type identifiers the libraries declare, usable as `type(x) == net.IP`. */
export const libraryTypeBindings: Record<string, CelValue> = {
  "net.IP": IP,
  "net.CIDR": CIDR,
  "kubernetes.URL": URL_T,
  "kubernetes.Quantity": QUANTITY,
  "kubernetes.NamedFormat": objectType("kubernetes.NamedFormat"),
  optional_type: OPTIONAL,
};
