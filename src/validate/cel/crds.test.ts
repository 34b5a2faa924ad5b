// Runs the x-kubernetes-validations rules of the real CRDs the project ships
// support for (Istio, Linkerd, SMI, Gateway API) through compile and evaluation.
import { describe, it, expect } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { compileCelRule, evalCelRule, isTransitionRule, toCelValue, type CelOutcome, type CelRule, type CelSchema } from "./index.js";

const CRD_DIR = process.env["MESHOPS_CRD_DIR"] ?? "/work/shared/crds";

interface RuleSite {
  crd: string;
  version: string;
  schemaPath: string;
  schema: CelSchema;
  rule: CelRule;
}

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

function collect(node: unknown, at: string, crd: string, version: string, out: RuleSite[]): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => collect(n, `${at}[${i}]`, crd, version, out));
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const rec = node as Record<string, unknown>;
  const rules = rec["x-kubernetes-validations"];
  if (Array.isArray(rules)) {
    for (const rule of rules as CelRule[]) out.push({ crd, version, schemaPath: at, schema: rec as CelSchema, rule });
  }
  for (const [k, v] of Object.entries(rec)) {
    if (k !== "x-kubernetes-validations") collect(v, `${at}.${k}`, crd, version, out);
  }
}

function loadSites(): RuleSite[] {
  const sites: RuleSite[] = [];
  for (const file of yamlFiles(CRD_DIR)) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
      const crd = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string };
        spec?: { versions?: { name: string; schema?: { openAPIV3Schema?: unknown } }[] };
      } | null;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      for (const v of crd.spec?.versions ?? []) {
        collect(v.schema?.openAPIV3Schema, "", crd.metadata?.name ?? "?", v.name, sites);
      }
    }
  }
  return sites;
}

const sites = loadSites();

function findSchema(crd: string, match: (n: CelSchema) => boolean): CelSchema {
  let found: CelSchema | undefined;
  const walk = (node: unknown): void => {
    if (found || typeof node !== "object" || node === null) return;
    if (Array.isArray(node)) return node.forEach(walk);
    if (match(node as CelSchema)) {
      found = node as CelSchema;
      return;
    }
    Object.values(node).forEach(walk);
  };
  for (const file of yamlFiles(CRD_DIR)) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
      const js = doc.toJS() as { metadata?: { name?: string } } | null;
      if (js?.metadata?.name === crd) walk(js);
    }
  }
  if (!found) throw new Error(`no matching schema node in ${crd}`);
  return found;
}

function site(crd: string, message: string, pathPart = ""): RuleSite {
  const s = sites.find((x) => x.crd === crd && x.rule.message === message && x.schemaPath.includes(pathPart));
  if (!s) throw new Error(`no rule "${message}" in ${crd} at ${pathPart}`);
  return s;
}

function run(s: RuleSite, data: unknown, old?: unknown): CelOutcome {
  const c = compileCelRule(s.rule);
  if ("error" in c) throw new Error(c.error);
  return evalCelRule(c, toCelValue(data, s.schema), old === undefined ? undefined : toCelValue(old, s.schema));
}

function fails(s: RuleSite): CelOutcome {
  return { ok: false, message: s.rule.message ?? `failed rule: ${s.rule.rule}` };
}

const PASS = { ok: true };

describe("real CRD rules", () => {
  it("finds the rules of every CRD bundle", () => {
    const distinct = new Set(sites.map((s) => s.rule.rule));
    expect(distinct.size).toBeGreaterThanOrEqual(100);
    for (const group of ["gateway.networking.k8s.io", "networking.istio.io", "security.istio.io", "extensions.istio.io"]) {
      expect(sites.some((s) => s.crd.endsWith(group)), group).toBe(true);
    }
  });

  it("compiles every x-kubernetes-validations rule", () => {
    const failures = sites
      .map((s) => ({ site: `${s.crd}/${s.version}${s.schemaPath}`, rule: s.rule.rule, result: compileCelRule(s.rule) }))
      .filter((r) => "error" in r.result);
    expect(failures).toEqual([]);
  });

  it("marks exactly the oldSelf rules as transition rules", () => {
    for (const s of sites) {
      const c = compileCelRule(s.rule);
      if ("error" in c) continue;
      expect(isTransitionRule(c), s.rule.rule).toBe(/\boldSelf\b/.test(s.rule.rule));
    }
  });
});

describe("Gateway API HTTPRoute", () => {
  const redirect = site("httproutes.gateway.networking.k8s.io", "RequestRedirect filter must not be used together with backendRefs");
  const timeouts = site("httproutes.gateway.networking.k8s.io", "backendRequest timeout cannot be longer than request timeout");

  it("RequestRedirect filter must not be used together with backendRefs", () => {
    const redirectFilter = { type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } };
    const headerFilter = { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "x", value: "y" }] } };
    expect(run(redirect, { backendRefs: [{ name: "reviews", port: 9080 }], filters: [headerFilter] })).toEqual(PASS);
    expect(run(redirect, { backendRefs: [{ name: "reviews", port: 9080 }] })).toEqual(PASS);
    expect(run(redirect, { filters: [redirectFilter] })).toEqual(PASS);
    expect(run(redirect, { backendRefs: [], filters: [redirectFilter] })).toEqual(PASS);
    expect(run(redirect, { backendRefs: [{ name: "reviews", port: 9080 }], filters: [headerFilter, redirectFilter] })).toEqual({
      ok: false,
      message: "RequestRedirect filter must not be used together with backendRefs",
    });
  });

  it("backendRequest timeout cannot be longer than request timeout", () => {
    expect(timeouts.rule.rule).toContain("duration(self.backendRequest) > duration(self.request)");
    expect(run(timeouts, { request: "10s", backendRequest: "5s" })).toEqual(PASS);
    expect(run(timeouts, { request: "1m", backendRequest: "59s" })).toEqual(PASS);
    expect(run(timeouts, { request: "0s", backendRequest: "1h" })).toEqual(PASS);
    expect(run(timeouts, { backendRequest: "1h" })).toEqual(PASS);
    expect(run(timeouts, { request: "10s", backendRequest: "15s" })).toEqual({
      ok: false,
      message: "backendRequest timeout cannot be longer than request timeout",
    });
    expect(run(timeouts, { request: "1h", backendRequest: "1h500ms" })).toEqual(fails(timeouts));
  });

  it("evaluates the same timeout rule on Linkerd's format: duration timeout fields", () => {
    // Linkerd's HTTPRoute copy declares the timeouts with format: duration (so they are
    // CEL durations, and duration(duration) must work) but carries no rules itself.
    const schema = findSchema("httproutes.policy.linkerd.io", (n) => n.properties?.["backendRequest"]?.format === "duration");
    const linkerd = { ...timeouts, schema };
    expect(run(linkerd, { request: "10s", backendRequest: "5s" })).toEqual(PASS);
    expect(run(linkerd, { request: "10s", backendRequest: "15s" })).toEqual(fails(timeouts));
  });

  it("path match rules", () => {
    const prefix = site("httproutes.gateway.networking.k8s.io", "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']");
    expect(run(prefix, { type: "PathPrefix", value: "/api" })).toEqual(PASS);
    expect(run(prefix, { type: "RegularExpression", value: "api.*" })).toEqual(PASS);
    expect(run(prefix, { type: "Exact", value: "api" })).toEqual(fails(prefix));
    const chars = site(
      "httproutes.gateway.networking.k8s.io",
      "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']",
    );
    expect(run(chars, { type: "Exact", value: "/a%20b" })).toEqual(PASS);
    expect(run(chars, { type: "Exact", value: "/a b" })).toEqual(fails(chars));
    expect(run(chars, { type: "Exact", value: "/a%zz" })).toEqual(fails(chars));
  });

  it("sectionName must be specified when parentRefs repeat a parent (with schema defaults applied)", () => {
    const s = site("httproutes.gateway.networking.k8s.io", "sectionName must be specified when parentRefs includes 2 or more references to the same parent");
    expect(s.rule.rule).toContain("p1.__namespace__");
    expect(run(s, [{ name: "gw", sectionName: "http" }, { name: "gw", sectionName: "https" }])).toEqual(PASS);
    expect(run(s, [{ name: "gw" }, { name: "other" }])).toEqual(PASS);
    expect(run(s, [{ name: "gw", namespace: "a" }, { name: "gw", namespace: "b", sectionName: "x" }])).toEqual(PASS);
    expect(run(s, [{ name: "gw", sectionName: "http" }, { name: "gw" }])).toEqual(fails(s));
  });

  it("filter type and field must agree", () => {
    const s = site("httproutes.gateway.networking.k8s.io", "filter.requestRedirect must be specified for RequestRedirect filter.type");
    expect(run(s, { type: "RequestRedirect", requestRedirect: { statusCode: 302 } })).toEqual(PASS);
    expect(run(s, { type: "RequestRedirect" })).toEqual(fails(s));
  });
});

describe("Gateway API Gateway and GatewayClass", () => {
  const gw = "gateways.gateway.networking.k8s.io";

  it("listener rules", () => {
    const tls = site(gw, "tls mode must be set for protocol TLS");
    expect(run(tls, [{ name: "a", port: 443, protocol: "TLS", tls: { mode: "Passthrough" } }])).toEqual(PASS);
    expect(run(tls, [{ name: "a", port: 80, protocol: "HTTP" }])).toEqual(PASS);
    expect(run(tls, [{ name: "a", port: 443, protocol: "TLS" }])).toEqual(fails(tls));

    const hostname = site(gw, "hostname must not be specified for protocols ['TCP', 'UDP']");
    expect(run(hostname, [{ name: "a", port: 9000, protocol: "TCP" }])).toEqual(PASS);
    expect(run(hostname, [{ name: "a", port: 9000, protocol: "TCP", hostname: "a.example.com" }])).toEqual(fails(hostname));

    const unique = site(gw, "Listener name must be unique within the Gateway");
    expect(run(unique, [{ name: "a", port: 80, protocol: "HTTP" }, { name: "b", port: 81, protocol: "HTTP" }])).toEqual(PASS);
    expect(run(unique, [{ name: "a", port: 80, protocol: "HTTP" }, { name: "a", port: 81, protocol: "HTTP" }])).toEqual(fails(unique));

    const combo = site(gw, "Combination of port, protocol and hostname must be unique for each listener");
    const l = (name: string, hostname?: string) => ({ name, port: 80, protocol: "HTTP", ...(hostname ? { hostname } : {}) });
    expect(run(combo, [l("a", "a.example.com"), l("b", "b.example.com")])).toEqual(PASS);
    expect(run(combo, [l("a"), l("b", "b.example.com")])).toEqual(PASS);
    expect(run(combo, [l("a", "a.example.com"), l("b", "a.example.com")])).toEqual(fails(combo));
    expect(run(combo, [l("a"), l("b")])).toEqual(fails(combo));
  });

  it("address values", () => {
    const s = site(gw, "Hostname value must be empty or contain only valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
    expect(run(s, { type: "Hostname", value: "*.example.com" })).toEqual(PASS);
    expect(run(s, { type: "IPAddress", value: "10.0.0.1" })).toEqual(PASS);
    expect(run(s, { type: "Hostname", value: "Bad_Host" })).toEqual(fails(s));
  });

  it("controllerName is immutable (a transition rule)", () => {
    const s = site("gatewayclasses.gateway.networking.k8s.io", "Value is immutable", "controllerName");
    expect(run(s, "example.com/controller")).toEqual(PASS);
    expect(run(s, "example.com/controller", "example.com/controller")).toEqual(PASS);
    expect(run(s, "example.com/new", "example.com/controller")).toEqual({ ok: false, message: "Value is immutable" });
  });
});

describe("Gateway API TLSRoute hostnames", () => {
  const crd = "tlsroutes.gateway.networking.k8s.io";

  it("Hostnames cannot contain an IP", () => {
    const s = site(crd, "Hostnames cannot contain an IP");
    expect(run(s, ["foo.example.com", "*.example.com"])).toEqual(PASS);
    expect(run(s, ["foo.example.com", "10.0.0.1"])).toEqual({ ok: false, message: "Hostnames cannot contain an IP" });
    expect(run(s, ["2001:db8::1"])).toEqual(fails(s));
  });

  it("wildcards must be the first label", () => {
    const s = site(crd, "Wildcards on hostnames must be the first label, and the rest of hostname must be valid based on RFC-1123");
    expect(run(s, ["*.example.com", "plain.example.com"])).toEqual(PASS);
    expect(run(s, ["foo.*.com"])).toEqual(fails(s));
    expect(run(s, ["*.Example.com"])).toEqual(fails(s));
  });
});

describe("Istio rules", () => {
  it("WasmPlugin url scheme (isURL/url/getScheme)", () => {
    const s = site("wasmplugins.extensions.istio.io", "url must have schema one of [http, https, file, oci]");
    for (const ok of ["oci://registry.example.com/filters/auth:1.0", "https://example.com/filter.wasm", "file:///opt/filter.wasm", "registry.example.com/filters/auth:1.0"]) {
      expect(run(s, ok), ok).toEqual(PASS);
    }
    for (const bad of ["ftp://example.com/filter.wasm", "s3://bucket/filter.wasm"]) {
      expect(run(s, bad), bad).toEqual(fails(s));
    }
  });

  it("url must have scheme http:// or https://", () => {
    const s = site("requestauthentications.security.istio.io", "url must have scheme http:// or https://");
    expect(run(s, "https://example.com/.well-known/jwks.json")).toEqual(PASS);
    expect(run(s, "ftp://example.com/jwks.json")).toEqual(fails(s));
    expect(run(s, "not a url")).toEqual({
      ok: false,
      evalError:
        'URL parse error during conversion from string: parse "not a url": invalid URI for request evaluating rule: url must have scheme http:// or https://',
    });
  });

  it("duration greater than 1ms", () => {
    const s = site("destinationrules.networking.istio.io", "must be a valid duration greater than 1ms");
    expect(run(s, "10ms")).toEqual(PASS);
    expect(run(s, "1.5s")).toEqual(PASS);
    expect(run(s, "0.5ms")).toEqual(fails(s));
    const bad = run(s, "ten seconds");
    expect(bad.ok).toBe(false);
    expect("evalError" in bad && bad.evalError).toContain("evaluating rule: must be a valid duration greater than 1ms");
  });

  it("port map keys must be between 1-65535 (int() on map keys)", () => {
    const s = sites.find((x) => x.rule.rule === "self.all(key, 0 < int(key) && int(key) <= 65535)");
    if (!s) throw new Error("rule not found");
    expect(run(s, { "8080": { mode: "STRICT" } })).toEqual(PASS);
    expect(run(s, { "0": { mode: "STRICT" } })).toEqual(fails(s));
    expect(run(s, { "70000": { mode: "STRICT" } })).toEqual(fails(s));
    expect(run(s, { http: { mode: "STRICT" } }).ok).toBe(false);
  });

  it("unix domain socket addresses (substring)", () => {
    const s = site("serviceentries.networking.istio.io", "UDS must be an absolute path or abstract socket");
    expect(run(s, "unix:///var/run/app.sock")).toEqual(PASS);
    expect(run(s, "unix://@abstract")).toEqual(PASS);
    expect(run(s, "10.0.0.1")).toEqual(PASS);
    expect(run(s, "unix://relative")).toEqual(fails(s));
    expect(run(s, "unix://")).toEqual({
      ok: false,
      evalError: "index out of range: 8 evaluating rule: UDS must be an absolute path or abstract socket",
    });
  });

  it("ServiceEntry resolution rules (has() defaults, exists with contains)", () => {
    const s = site("serviceentries.networking.istio.io", "CIDR addresses are allowed only for NONE/STATIC resolution types");
    expect(run(s, { hosts: ["a.example.com"], addresses: ["10.0.0.0/24"], resolution: "STATIC" })).toEqual(PASS);
    expect(run(s, { hosts: ["a.example.com"], addresses: ["10.0.0.0/24"] })).toEqual(PASS);
    expect(run(s, { hosts: ["a.example.com"], addresses: ["10.0.0.0/24"], resolution: "DNS" })).toEqual(fails(s));
  });

  it("only one of targetRefs or selector", () => {
    const s = site("authorizationpolicies.security.istio.io", "only one of targetRefs or selector can be set");
    expect(run(s, { selector: { matchLabels: { app: "a" } } })).toEqual(PASS);
    expect(run(s, { selector: { matchLabels: { app: "a" } }, targetRefs: [{ kind: "Gateway", name: "gw" }] })).toEqual(fails(s));
  });
});
