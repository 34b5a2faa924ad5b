/**
 * String formats the API server checks for CRD fields (apiextensions-apiserver validates a fixed list;
 * unknown formats are ignored), plus Kubernetes name and label syntax for metadata.
 */
import { isIP } from "node:net";

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Returns a problem description, or undefined when `value` is a DNS-1123 subdomain. */
export function checkDns1123Subdomain(value: string): string | undefined {
  if (value.length > 253) return "must be no more than 253 characters";
  if (!dns1123Subdomain.test(value)) return "must be a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)";
  return undefined;
}

export function checkDns1123Label(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!dns1123Label.test(value)) return "must be a lowercase RFC 1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)";
  return undefined;
}

export function checkDns1035Label(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!dns1035Label.test(value)) return "must be an RFC 1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit)";
  return undefined;
}

/** Label and annotation keys: an optional DNS subdomain prefix, '/', and a name of at most 63 characters. */
export function checkQualifiedName(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "must have at most one '/'";
  const name = parts.length === 2 ? (parts[1] ?? "") : key;
  if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    if (prefix === "") return "prefix part must be non-empty";
    const p = checkDns1123Subdomain(prefix);
    if (p) return `prefix part ${p}`;
  }
  if (name === "") return "name part must be non-empty";
  if (name.length > 63) return "name part must be no more than 63 characters";
  if (!qualifiedNamePart.test(name)) return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!labelValue.test(value)) return "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

const uuid = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const dateTime = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const date = /^\d{4}-\d{2}-\d{2}$/;
const goDuration = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$/;
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const mac = /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^([0-9a-f]{2}[:-]){7}[0-9a-f]{2}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/i;
const email = /^[^\s@]+@[^\s@]+$/;
const hostname = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$/;

function isCidr(v: string): boolean {
  const slash = v.indexOf("/");
  if (slash < 0) return false;
  const ip = v.slice(0, slash);
  const bits = v.slice(slash + 1);
  const fam = isIP(ip);
  if (fam === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

/** Format checks by name; formats not listed are not checked (as the API server does). */
const formatChecks: Record<string, (v: string) => boolean> = {
  uuid: (v) => uuid.test(v),
  uuid3: (v) => uuid.test(v),
  uuid4: (v) => uuid.test(v),
  uuid5: (v) => uuid.test(v),
  "date-time": (v) => dateTime.test(v) && !Number.isNaN(Date.parse(v.replace(" ", "T"))),
  datetime: (v) => dateTime.test(v) && !Number.isNaN(Date.parse(v.replace(" ", "T"))),
  date: (v) => date.test(v) && !Number.isNaN(Date.parse(v)),
  duration: (v) => goDuration.test(v),
  byte: (v) => base64.test(v),
  ipv4: (v) => isIP(v) === 4,
  ipv6: (v) => isIP(v) === 6,
  cidr: isCidr,
  mac: (v) => mac.test(v),
  email: (v) => email.test(v),
  hostname: (v) => hostname.test(v),
  uri: (v) => {
    try {
      new URL(v);
      return true;
    } catch {
      return false;
    }
  },
};

/** Checks a string against a named format; undefined means valid or unchecked. */
export function checkFormat(format: string, value: string): string | undefined {
  const check = formatChecks[format];
  if (!check || check(value)) return undefined;
  return `must be a valid ${format}`;
}

const quantity = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$/;

/** Kubernetes resource.Quantity syntax ("500m", "1Gi", "2.5", "1e3"). */
export function checkQuantity(value: unknown): string | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? undefined : "must be a finite number";
  if (typeof value !== "string" || !quantity.test(value)) return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  return undefined;
}
