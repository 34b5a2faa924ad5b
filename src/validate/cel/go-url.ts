// A port of the parts of Go's net/url that the Kubernetes CEL URL library relies on
// (url.ParseRequestURI, url.Parse, Hostname/Port/EscapedPath/Query), written from the
// documented Go behaviour so that isURL()/url() accept and reject the same strings.
// Go works on UTF-8 bytes; the checks below only look at ASCII, and percent-decoding
// produces bytes that are decoded as UTF-8.

export interface GoURL {
  scheme: string;
  opaque: string;
  user?: { username: string; password?: string };
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
  forceQuery: boolean;
}

const Mode = {
  Path: 1,
  PathSegment: 2,
  Host: 3,
  Zone: 4,
  UserPassword: 5,
  QueryComponent: 6,
  Fragment: 7,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

function quote(s: string): string {
  return JSON.stringify(s);
}

function isAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

function shouldEscape(c: number, mode: Mode): boolean {
  if (isAlnum(c)) return false;
  const ch = String.fromCharCode(c);
  if (mode === Mode.Host || mode === Mode.Zone) {
    if ("!$&'()*+,;=:[]<>\"".includes(ch)) return false;
  }
  if ("-_.~".includes(ch)) return false;
  if ("$&+,/:;=?@".includes(ch)) {
    switch (mode) {
      case Mode.UserPassword:
        return ch === "@" || ch === "/" || ch === "?" || ch === ":";
      case Mode.QueryComponent:
        return true;
      case Mode.Fragment:
        return false;
      case Mode.Path:
        return ch === "?";
      case Mode.PathSegment:
        return ch === "/" || ch === ";" || ch === "," || ch === "?";
      default:
        break;
    }
  }
  if (mode === Mode.Fragment && "!()*".includes(ch)) return false;
  return true;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function unescape(s: string, mode: Mode): string {
  let hasPct = false;
  let hasPlus = false;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      hasPct = true;
      if (i + 2 >= s.length || hexVal(s.charCodeAt(i + 1)) < 0 || hexVal(s.charCodeAt(i + 2)) < 0) {
        throw new Error(`invalid URL escape ${quote(s.slice(i, i + 3))}`);
      }
      const v = hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2));
      if (mode === Mode.Host && hexVal(s.charCodeAt(i + 1)) < 8 && s.slice(i, i + 3) !== "%25") {
        throw new Error(`invalid URL escape ${quote(s.slice(i, i + 3))}`);
      }
      if (mode === Mode.Zone && s.slice(i, i + 3) !== "%25" && v !== 32 && shouldEscape(v, Mode.Host)) {
        throw new Error(`invalid URL escape ${quote(s.slice(i, i + 3))}`);
      }
      i += 3;
    } else if (c === 43 /* + */) {
      hasPlus = mode === Mode.QueryComponent;
      i++;
    } else {
      if ((mode === Mode.Host || mode === Mode.Zone) && c < 0x80 && shouldEscape(c, mode)) {
        throw new Error(`invalid character ${quote(s[i] ?? "")} in host name`);
      }
      i++;
    }
  }
  if (!hasPct && !hasPlus) return s;
  const bytes = utf8.encode(s);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b === 37) {
      out.push(hexVal(bytes[i + 1] ?? 0) * 16 + hexVal(bytes[i + 2] ?? 0));
      i += 2;
    } else if (b === 43 && mode === Mode.QueryComponent) {
      out.push(32);
    } else {
      out.push(b);
    }
  }
  return utf8Decoder.decode(new Uint8Array(out));
}

function escape(s: string, mode: Mode): string {
  const bytes = utf8.encode(s);
  let out = "";
  for (const b of bytes) {
    if (b < 0x80 && !shouldEscape(b, mode)) {
      out += String.fromCharCode(b);
    } else if (b === 32 && mode === Mode.QueryComponent) {
      out += "+";
    } else {
      out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}

function getScheme(raw: string): [string, string] {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) continue;
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
      if (i === 0) return ["", raw];
      continue;
    }
    if (c === 58 /* : */) {
      if (i === 0) throw new Error("missing protocol scheme");
      return [raw.slice(0, i), raw.slice(i + 1)];
    }
    return ["", raw];
  }
  return ["", raw];
}

function validOptionalPort(port: string): boolean {
  if (port === "") return true;
  if (port[0] !== ":") return false;
  for (let i = 1; i < port.length; i++) {
    const c = port.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function parseHost(host: string): string {
  if (host.startsWith("[")) {
    const i = host.lastIndexOf("]");
    if (i < 0) throw new Error("missing ']' in host");
    const colonPort = host.slice(i + 1);
    if (!validOptionalPort(colonPort)) throw new Error(`invalid port ${quote(colonPort)} after host`);
    const zone = host.slice(0, i).indexOf("%25");
    if (zone >= 0) {
      return unescape(host.slice(0, zone), Mode.Host) + unescape(host.slice(zone, i), Mode.Zone) + unescape(host.slice(i), Mode.Host);
    }
  } else {
    const i = host.lastIndexOf(":");
    if (i !== -1) {
      const colonPort = host.slice(i);
      if (!validOptionalPort(colonPort)) throw new Error(`invalid port ${quote(colonPort)} after host`);
    }
  }
  return unescape(host, Mode.Host);
}

function validUserinfo(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlnum(c)) continue;
    if (!"-._:~!$&'()*+,;=%@".includes(s[i] ?? "")) return false;
  }
  return true;
}

function parseAuthority(authority: string, u: GoURL): void {
  const i = authority.lastIndexOf("@");
  u.host = parseHost(i < 0 ? authority : authority.slice(i + 1));
  if (i < 0) return;
  const userinfo = authority.slice(0, i);
  if (!validUserinfo(userinfo)) throw new Error("net/url: invalid userinfo");
  const colon = userinfo.indexOf(":");
  if (colon < 0) {
    u.user = { username: unescape(userinfo, Mode.UserPassword) };
  } else {
    u.user = {
      username: unescape(userinfo.slice(0, colon), Mode.UserPassword),
      password: unescape(userinfo.slice(colon + 1), Mode.UserPassword),
    };
  }
}

function setPath(u: GoURL, p: string): void {
  u.path = unescape(p, Mode.Path);
  u.rawPath = escape(u.path, Mode.Path) === p ? "" : p;
}

function hasCtl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parse(raw: string, viaRequest: boolean): GoURL {
  if (hasCtl(raw)) throw new Error("net/url: invalid control character in URL");
  if (raw === "" && viaRequest) throw new Error("empty url");
  const u: GoURL = { scheme: "", opaque: "", host: "", path: "", rawPath: "", rawQuery: "", fragment: "", forceQuery: false };
  if (raw === "*") {
    u.path = "*";
    return u;
  }
  const [scheme, afterScheme] = getScheme(raw);
  let rest = afterScheme;
  u.scheme = scheme.toLowerCase();
  if (rest.endsWith("?") && rest.indexOf("?") === rest.length - 1) {
    u.forceQuery = true;
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf("?");
    if (q >= 0) {
      u.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith("/")) {
    if (u.scheme !== "") {
      u.opaque = rest;
      return u;
    }
    if (viaRequest) throw new Error("invalid URI for request");
    const slash = rest.indexOf("/");
    const segment = slash < 0 ? rest : rest.slice(0, slash);
    if (segment.includes(":")) throw new Error("first path segment in URL cannot contain colon");
  }
  if ((u.scheme !== "" || (!viaRequest && !rest.startsWith("///"))) && rest.startsWith("//")) {
    let authority = rest.slice(2);
    rest = "";
    const slash = authority.indexOf("/");
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    parseAuthority(authority, u);
  }
  setPath(u, rest);
  return u;
}

function wrap<T>(raw: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`parse ${quote(raw)}: ${(e as Error).message}`);
  }
}

/** Go's url.ParseRequestURI: absolute URI or absolute path, no fragment handling. */
export function parseRequestURI(raw: string): GoURL {
  return wrap(raw, () => parse(raw, true));
}

/** Go's url.Parse: splits off the fragment, then parses leniently. */
export function parseURL(raw: string): GoURL {
  const hash = raw.indexOf("#");
  const main = hash < 0 ? raw : raw.slice(0, hash);
  const u = wrap(main, () => parse(main, false));
  if (hash >= 0) u.fragment = wrap(raw, () => unescape(raw.slice(hash + 1), Mode.Fragment));
  return u;
}

function splitHostPort(hostPort: string): [string, string] {
  let host = hostPort;
  let port = "";
  const colon = host.lastIndexOf(":");
  if (colon !== -1 && validOptionalPort(host.slice(colon))) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return [host, port];
}

export function urlHostname(u: GoURL): string {
  return splitHostPort(u.host)[0];
}

export function urlPort(u: GoURL): string {
  return splitHostPort(u.host)[1];
}

function validEncoded(s: string, mode: Mode): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ("!$&'()*+,;=:@[]%".includes(s[i] ?? "")) continue;
    if (c >= 0x80 || shouldEscape(c, mode)) return false;
  }
  return true;
}

export function urlEscapedPath(u: GoURL): string {
  if (u.rawPath !== "" && validEncoded(u.rawPath, Mode.Path)) {
    try {
      if (unescape(u.rawPath, Mode.Path) === u.path) return u.rawPath;
    } catch {
      // fall through to re-escaping
    }
  }
  if (u.path === "*") return "*";
  return escape(u.path, Mode.Path);
}

/** Go's url.Values from u.Query(): invalid pairs are skipped, order of values kept. */
export function urlQuery(u: GoURL): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let query = u.rawQuery;
  while (query !== "") {
    let key: string;
    const amp = query.indexOf("&");
    if (amp >= 0) {
      key = query.slice(0, amp);
      query = query.slice(amp + 1);
    } else {
      key = query;
      query = "";
    }
    if (key.includes(";") || key === "") continue;
    const eq = key.indexOf("=");
    const rawKey = eq >= 0 ? key.slice(0, eq) : key;
    const rawValue = eq >= 0 ? key.slice(eq + 1) : "";
    let k: string;
    let v: string;
    try {
      k = unescape(rawKey, Mode.QueryComponent);
      v = unescape(rawValue, Mode.QueryComponent);
    } catch {
      continue;
    }
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  }
  return m;
}
