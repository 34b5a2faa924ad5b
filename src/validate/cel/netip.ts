// IP address and prefix parsing/formatting with the semantics of Go's net/netip,
// which is what the Kubernetes CEL IP and CIDR libraries are built on.
// Addresses are held as bigints (32 or 128 bits) so masks are cheap.

export interface IPAddr {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The address bits: 32-bit value for IPv4, 128-bit for IPv6. */
  readonly bits: bigint;
  /** IPv6 zone, "" when absent. */
  readonly zone: string;
}

export interface IPPrefix {
  readonly addr: IPAddr;
  readonly prefixLength: number;
}

const MAX16 = 0xffffn;
const V4_MAPPED_PREFIX = 0xffffn << 32n;

function quote(s: string): string {
  return JSON.stringify(s);
}

function addrError(input: string, msg: string, at?: string): Error {
  return new Error(`ParseAddr(${quote(input)}): ${msg}${at !== undefined && at !== "" ? ` (at ${quote(at)})` : ""}`);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Parses the dotted-quad in input[off:end]; returns the 32-bit value. */
function parseIPv4Fields(input: string, off: number, end: number): bigint {
  let val = 0;
  let pos = 0;
  let digLen = 0;
  const fields = [0, 0, 0, 0];
  const s = input.slice(off, end);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      if (digLen === 1 && val === 0) throw addrError(input, "IPv4 field has octet with leading zero");
      val = val * 10 + (c - 48);
      digLen++;
      if (val > 255) throw addrError(input, "IPv4 field has value >255");
    } else if (c === 46 /* . */) {
      if (i === 0 || i === s.length - 1 || s.charCodeAt(i - 1) === 46) {
        throw addrError(input, "IPv4 field must have at least one digit", s.slice(i));
      }
      if (pos === 3) throw addrError(input, "IPv4 address too long");
      fields[pos] = val;
      pos++;
      val = 0;
      digLen = 0;
    } else {
      throw addrError(input, "unexpected character", s.slice(i));
    }
  }
  if (pos < 3) throw addrError(input, "IPv4 address too short");
  fields[3] = val;
  return BigInt((((fields[0] ?? 0) << 24) >>> 0) + ((fields[1] ?? 0) << 16) + ((fields[2] ?? 0) << 8) + (fields[3] ?? 0));
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseIPv6(input: string): IPAddr {
  let s = input;
  let zone = "";
  const pct = s.indexOf("%");
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === "") throw addrError(input, "zone must be a non-empty string");
  }
  // Work in bytes like Go: ip is 16 bytes, i indexes bytes.
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ":" && s[1] === ":") {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { family: 6, bits: 0n, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const h = hexVal(s.charCodeAt(off));
      if (h < 0) break;
      acc = acc * 16 + h;
      if (off > 3) throw addrError(input, "each group must have 4 or less digits", s);
      if (acc > 0xffff) throw addrError(input, "IPv6 field has value >=2^16", s);
    }
    if (off === 0) throw addrError(input, "each colon-separated field must have at least one digit", s);
    if (off < s.length && s[off] === ".") {
      if (ellipsis < 0 && i !== 12) {
        throw addrError(input, "embedded IPv4 address must replace the final 2 fields of the address", s);
      }
      if (i + 4 > 16) {
        throw addrError(input, "too many hex fields to fit an embedded IPv4 at the end of the address", s);
      }
      let end = input.length;
      if (zone.length > 0) end -= zone.length + 1;
      const v4 = Number(parseIPv4Fields(input, end - s.length, end));
      ip[i] = (v4 >>> 24) & 0xff;
      ip[i + 1] = (v4 >>> 16) & 0xff;
      ip[i + 2] = (v4 >>> 8) & 0xff;
      ip[i + 3] = v4 & 0xff;
      s = "";
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ":") throw addrError(input, "unexpected character, want colon", s);
    if (s.length === 1) throw addrError(input, "colon must be followed by more characters", s);
    s = s.slice(1);
    if (s[0] === ":") {
      if (ellipsis >= 0) throw addrError(input, "multiple :: in address", s);
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) throw addrError(input, "trailing garbage after address", s);
  if (i < 16) {
    if (ellipsis < 0) throw addrError(input, "address string too short");
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j] ?? 0;
    ip.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    throw addrError(input, "the :: must expand to at least one field of zeros", s);
  }
  let bits = 0n;
  for (const b of ip) bits = (bits << 8n) | BigInt(b);
  return { family: 6, bits, zone };
}

/** Parses an IPv4 or IPv6 address exactly like Go's netip.ParseAddr; throws on error. */
export function parseAddr(s: string): IPAddr {
  for (let i = 0; i < s.length; i++) {
    switch (s[i]) {
      case ".":
        return { family: 4, bits: parseIPv4Fields(s, 0, s.length), zone: "" };
      case ":":
        return parseIPv6(s);
      case "%":
        throw addrError(s, "missing IPv6 address");
    }
  }
  throw addrError(s, "unable to parse IP");
}

/** True for ::ffff:a.b.c.d addresses. */
export function is4In6(a: IPAddr): boolean {
  return a.family === 6 && a.bits >> 32n === V4_MAPPED_PREFIX >> 32n;
}

function group(a: IPAddr, i: number): bigint {
  return (a.bits >> BigInt((7 - i) * 16)) & MAX16;
}

/** Formats like Go's netip.Addr.String(): dotted quad, or RFC 5952 IPv6. */
export function formatAddr(a: IPAddr): string {
  if (a.family === 4) {
    const v = Number(a.bits);
    return `${(v >>> 24) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  let out: string;
  if (is4In6(a)) {
    const v = Number(a.bits & 0xffffffffn);
    out = `::ffff:${(v >>> 24) & 0xff}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  } else {
    let zeroStart = -1;
    let zeroEnd = -1;
    for (let i = 0; i < 8; i++) {
      let j = i;
      while (j < 8 && group(a, j) === 0n) j++;
      const l = j - i;
      if (l >= 2 && l > zeroEnd - zeroStart) {
        zeroStart = i;
        zeroEnd = j;
      }
    }
    out = "";
    for (let i = 0; i < 8; i++) {
      if (i === zeroStart) {
        out += "::";
        i = zeroEnd;
        if (i >= 8) break;
      } else if (i > 0) {
        out += ":";
      }
      out += group(a, i).toString(16);
    }
  }
  return a.zone !== "" ? `${out}%${a.zone}` : out;
}

function bitLen(a: IPAddr): number {
  return a.family === 4 ? 32 : 128;
}

function prefixError(input: string, msg: string): Error {
  return new Error(`netip.ParsePrefix(${quote(input)}): ${msg}`);
}

/** Parses "addr/bits" exactly like Go's netip.ParsePrefix; throws on error. */
export function parsePrefix(s: string): IPPrefix {
  const slash = s.lastIndexOf("/");
  if (slash < 0) throw prefixError(s, "no '/'");
  let addr: IPAddr;
  try {
    addr = parseAddr(s.slice(0, slash));
  } catch (e) {
    throw prefixError(s, (e as Error).message);
  }
  if (addr.family === 6 && addr.zone !== "") throw prefixError(s, "IPv6 zones cannot be present in a prefix");
  const bitsStr = s.slice(slash + 1);
  const c0 = bitsStr.charCodeAt(0);
  if (bitsStr.length > 1 && (c0 < 49 || c0 > 57)) throw prefixError(s, `bad bits after slash: ${quote(bitsStr)}`);
  if (!/^[0-9]+$/.test(bitsStr)) throw prefixError(s, `bad bits after slash: ${quote(bitsStr)}`);
  const bits = Number(bitsStr);
  if (bits > bitLen(addr)) throw prefixError(s, "prefix length out of range");
  return { addr, prefixLength: bits };
}

function topBits(a: IPAddr, n: number): bigint {
  return a.bits >> BigInt(bitLen(a) - n);
}

export function prefixContains(p: IPPrefix, ip: IPAddr): boolean {
  if (ip.zone !== "" || p.addr.family !== ip.family) return false;
  return topBits(p.addr, p.prefixLength) === topBits(ip, p.prefixLength);
}

export function prefixOverlaps(p: IPPrefix, o: IPPrefix): boolean {
  if (p.addr.family !== o.addr.family) return false;
  const min = Math.min(p.prefixLength, o.prefixLength);
  if (min === 0) return true;
  return topBits(p.addr, min) === topBits(o.addr, min);
}

export function prefixMasked(p: IPPrefix): IPPrefix {
  const shift = BigInt(bitLen(p.addr) - p.prefixLength);
  return { addr: { ...p.addr, bits: (p.addr.bits >> shift) << shift }, prefixLength: p.prefixLength };
}

export function formatPrefix(p: IPPrefix): string {
  return `${formatAddr(p.addr)}/${p.prefixLength}`;
}

// Address classification, as in Go's netip.Addr methods (4-in-6 unmapped first).

function unmap(a: IPAddr): IPAddr {
  return is4In6(a) ? { family: 4, bits: a.bits & 0xffffffffn, zone: "" } : a;
}

function octet(a: IPAddr, i: number): number {
  return Number((a.bits >> BigInt((3 - i) * 8)) & 0xffn);
}

export function isUnspecified(a: IPAddr): boolean {
  return a.bits === 0n && a.zone === "";
}

export function isLoopback(addr: IPAddr): boolean {
  const a = unmap(addr);
  return a.family === 4 ? octet(a, 0) === 127 : a.bits === 1n;
}

export function isMulticast(addr: IPAddr): boolean {
  const a = unmap(addr);
  return a.family === 4 ? (octet(a, 0) & 0xf0) === 0xe0 : group(a, 0) >> 8n === 0xffn;
}

export function isLinkLocalMulticast(addr: IPAddr): boolean {
  const a = unmap(addr);
  if (a.family === 4) return octet(a, 0) === 224 && octet(a, 1) === 0 && octet(a, 2) === 0;
  return (group(a, 0) & 0xff0fn) === 0xff02n;
}

export function isLinkLocalUnicast(addr: IPAddr): boolean {
  const a = unmap(addr);
  if (a.family === 4) return octet(a, 0) === 169 && octet(a, 1) === 254;
  return (group(a, 0) & 0xffc0n) === 0xfe80n;
}

export function isGlobalUnicast(addr: IPAddr): boolean {
  const a = unmap(addr);
  if (a.family === 4 && (a.bits === 0n || a.bits === 0xffffffffn)) return false;
  if (a.family === 6 && a.bits === 0n) return false;
  return !isLoopback(a) && !isMulticast(a) && !isLinkLocalUnicast(a);
}
