// Kubernetes resource.Quantity parsing (k8s.io/apimachinery/pkg/api/resource),
// reduced to what the CEL quantity library needs: every quantity becomes an exact
// integer count of nano-units (bigint). ParseQuantity rounds any finer precision
// up (away from zero) to 1n, so nothing is lost by this representation, and
// comparisons/arithmetic are exact.

const FORMAT_WRONG =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX_WRONG = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const SUFFIX_CHARS = "eEinumkKMGTP";

const NANO = 1_000_000_000n;
const MAX_INT64 = 9223372036854775807n;
const MIN_INT64 = -9223372036854775808n;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

interface Parts {
  positive: boolean;
  num: string;
  denom: string;
  suffix: string;
}

/** Splits a quantity string like Kubernetes' parseQuantityString. */
function splitQuantity(str: string): Parts {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (str[0] === "-") {
    positive = false;
    pos++;
  } else if (str[0] === "+") {
    pos++;
  }
  while (pos < end && str[pos] === "0") pos++;
  if (pos >= end) return { positive, num: "0", denom: "", suffix: "" };
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  let num = str.slice(pos, i);
  if (i >= end) return { positive, num: num === "" ? "0" : num, denom: "", suffix: "" };
  pos = i;
  if (num === "") num = "0";
  let denom = "";
  if (str[pos] === ".") {
    pos++;
    i = pos;
    while (i < end && isDigit(str[i])) i++;
    denom = str.slice(pos, i);
    if (i >= end) return { positive, num, denom, suffix: "" };
    pos = i;
  }
  const suffixStart = pos;
  i = pos;
  while (i < end && SUFFIX_CHARS.includes(str[i] ?? "")) i++;
  if (i >= end) return { positive, num, denom, suffix: str.slice(suffixStart) };
  pos = i;
  if (str[pos] === "-" || str[pos] === "+") pos++;
  for (i = pos; i < end; i++) {
    if (!isDigit(str[i])) throw new Error(FORMAT_WRONG);
  }
  return { positive, num, denom, suffix: str.slice(suffixStart) };
}

function ceilDiv(n: bigint, d: bigint): bigint {
  return n % d === 0n ? n / d : n / d + 1n;
}

/** Parses a Kubernetes quantity into nano-units; throws with the Kubernetes error text. */
export function parseQuantity(str: string): bigint {
  if (str.length === 0) throw new Error(FORMAT_WRONG);
  const { positive, num, denom, suffix } = splitQuantity(str);
  let base: 2 | 10;
  let exponent: number;
  if (suffix in DECIMAL_SUFFIXES) {
    base = 10;
    exponent = DECIMAL_SUFFIXES[suffix] ?? 0;
  } else if (suffix in BINARY_SUFFIXES) {
    base = 2;
    exponent = BINARY_SUFFIXES[suffix] ?? 0;
  } else if (suffix.length > 1 && (suffix[0] === "e" || suffix[0] === "E") && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    base = 10;
    exponent = Number(suffix.slice(1));
    if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 2 ** 31 - 1) throw new Error(SUFFIX_WRONG);
  } else {
    throw new Error(SUFFIX_WRONG);
  }
  // |value| = digits × base^exponent / 10^len(denom); scale to nanos and round up.
  const digits = BigInt(num + denom);
  let numerator = digits * NANO;
  let denominator = 10n ** BigInt(denom.length);
  if (base === 10) {
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
  } else {
    numerator *= 2n ** BigInt(exponent);
  }
  let nanos = ceilDiv(numerator, denominator);
  if (base === 2 && nanos > MAX_INT64 * NANO) nanos = MAX_INT64 * NANO;
  return positive ? nanos : -nanos;
}

export function isQuantity(str: string): boolean {
  try {
    parseQuantity(str);
    return true;
  } catch {
    return false;
  }
}

/** Canonical text for a nano count, used as the opaque value's identity. */
export function nanosToString(n: bigint): string {
  return n.toString();
}

/** Quantity.AsInt64: the integer value when whole and within int64. */
export function quantityAsInt64(n: bigint): bigint | undefined {
  if (n % NANO !== 0n) return undefined;
  const v = n / NANO;
  return v >= MIN_INT64 && v <= MAX_INT64 ? v : undefined;
}

export function quantityToFloat(n: bigint): number {
  const whole = n / NANO;
  const frac = n % NANO;
  return Number(whole) + Number(frac) / 1e9;
}

export function intToNanos(i: bigint): bigint {
  return i * NANO;
}
