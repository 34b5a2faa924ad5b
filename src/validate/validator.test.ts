import { describe, expect, it } from "vitest";
import { loadCoreBundle } from "./schema-store.js";
import type { Schema } from "./schema-types.js";
import { validateObject } from "./validator.js";

const core = loadCoreBundle().schemas;
const crd = (spec: Schema, extra: Partial<Schema> = {}): Schema => ({ type: "object", properties: { spec }, ...extra });
const run = (obj: Record<string, unknown>, schema: Schema, cel = true): [string, string][] =>
  validateObject(structuredClone(obj), schema, "example.com/v1", "Thing", { definitions: core, builtin: false, cel }).map((i) => [i.code, i.message]);
const obj = (spec: unknown, meta: Record<string, unknown> = { name: "t" }): Record<string, unknown> => ({ apiVersion: "example.com/v1", kind: "Thing", metadata: meta, spec });

describe("structural schema semantics", () => {
  it("rejects unknown fields like the API server's strict field validation", () => {
    const s = crd({ type: "object", properties: { a: { type: "string" } } });
    expect(run(obj({ a: "x", b: 1 }), s)).toEqual([["MSH1001", 'unknown field "spec.b"']]);
    expect(run({ ...obj({}), status2: {} }, s)).toEqual([["MSH1001", 'unknown field "status2"']]);
  });

  it("treats an object without properties as empty unless it preserves unknown fields", () => {
    expect(run(obj({ x: { y: 1 } }), crd({ type: "object", properties: { x: { type: "object" } } }))).toEqual([["MSH1001", 'unknown field "spec.x.y"']]);
    expect(run(obj({ x: { y: { z: 1 } } }), crd({ type: "object", properties: { x: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }))).toEqual([]);
  });

  it("still validates known fields below x-kubernetes-preserve-unknown-fields", () => {
    const s = crd({ type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: { n: { type: "integer" } } });
    expect(run(obj({ n: "1", other: true }), s)).toEqual([["MSH1002", 'spec.n: expected an integer, got string "1"']]);
  });

  it("accepts integers and strings for x-kubernetes-int-or-string, nothing else", () => {
    const s = crd({ type: "object", properties: { port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] } } });
    expect(run(obj({ port: 8080 }), s)).toEqual([]);
    expect(run(obj({ port: "http" }), s)).toEqual([]);
    expect(run(obj({ port: 1.5 }), s)).toEqual([["MSH1002", "spec.port: expected an integer or a string, got number 1.5"]]);
    expect(run(obj({ port: true }), s)).toEqual([["MSH1002", "spec.port: expected an integer or a string, got boolean true"]]);
  });

  it("requires apiVersion and kind in x-kubernetes-embedded-resource objects and validates their metadata", () => {
    const s = crd({ type: "object", properties: { template: { type: "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true } } });
    expect(run(obj({ template: { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: {} } }), s)).toEqual([]);
    expect(run(obj({ template: { metadata: { nme: "p" } } }), s)).toEqual([
      ["MSH1001", 'unknown field "spec.template.metadata.nme"'],
      ["MSH1003", 'spec.template: required field "apiVersion" is missing'],
      ["MSH1003", 'spec.template: required field "kind" is missing'],
    ]);
  });

  it("checks enums, patterns, formats, lengths and ranges", () => {
    const s = crd({
      type: "object",
      properties: {
        mode: { type: "string", enum: ["A", "B"] },
        name: { type: "string", pattern: "^[a-z]+$", maxLength: 5 },
        addr: { type: "string", format: "ipv4" },
        n: { type: "integer", minimum: 1, maximum: 10 },
        list: { type: "array", maxItems: 1, items: { type: "string" } },
      },
    });
    expect(run(obj({ mode: "C", name: "Abcdef", addr: "1.2.3", n: 11, list: ["a", "b"] }), s)).toEqual([
      ["MSH1004", 'spec.mode: unsupported value "C": must be one of "A", "B"'],
      ["MSH1007", "spec.name: must have at most 5 characters (has 6)"],
      ["MSH1005", 'spec.name: "Abcdef" does not match the pattern ^[a-z]+$'],
      ["MSH1006", 'spec.addr: "1.2.3" must be a valid ipv4'],
      ["MSH1007", "spec.n: 11 must be less than or equal to 10"],
      ["MSH1007", "spec.list: must have at most 1 items (has 2)"],
    ]);
  });

  it("rejects duplicate entries of list-type set and map lists", () => {
    const s = crd({
      type: "object",
      properties: {
        tags: { type: "array", "x-kubernetes-list-type": "set", items: { type: "string" } },
        ports: { type: "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"], items: { type: "object", properties: { port: { type: "integer" }, name: { type: "string" } } } },
      },
    });
    expect(run(obj({ tags: ["a", "b", "a"], ports: [{ port: 80, name: "a" }, { port: 80, name: "b" }] }), s)).toEqual([
      ["MSH1010", 'spec.tags[2]: duplicate value "a" (same as item 0)'],
      ["MSH1010", "spec.ports[1]: duplicate entry for key port=80 (same as item 0)"],
    ]);
  });

  it("evaluates oneOf/not constraints used for mutually exclusive fields", () => {
    const s = crd({
      type: "object",
      properties: { exact: { type: "string" }, prefix: { type: "string" } },
      oneOf: [{ not: { anyOf: [{ required: ["exact"] }, { required: ["prefix"] }] } }, { required: ["exact"] }, { required: ["prefix"] }],
    });
    expect(run(obj({ exact: "/a" }), s)).toEqual([]);
    expect(run(obj({}), s)).toEqual([]);
    expect(run(obj({ exact: "/a", prefix: "/b" }), s)).toEqual([["MSH1011", "spec: only one of exact, prefix may be set (found exact, prefix)"]]);
  });

  it("ignores nulls for non-nullable fields (the API server prunes them)", () => {
    expect(run(obj({ a: null }), crd({ type: "object", properties: { a: { type: "string" } } }))).toEqual([]);
  });

  it("applies defaults before CEL rules run, as the API server does", () => {
    const s = crd({
      type: "object",
      properties: { port: { type: "integer", default: 80 } },
      "x-kubernetes-validations": [{ rule: "self.port != 443", message: "port 443 is reserved" }],
    });
    expect(run(obj({}), s)).toEqual([]);
    expect(run(obj({ port: 443 }), s)).toEqual([["MSH1008", "spec: port 443 is reserved"]]);
  });

  it("reports a CEL rule's fieldPath as the finding's path and skips transition rules", () => {
    const s = crd({
      type: "object",
      properties: { a: { type: "string" }, b: { type: "string" } },
      "x-kubernetes-validations": [
        { rule: "!has(self.a) || !has(self.b)", message: "a and b are exclusive", fieldPath: ".b" },
        { rule: "self.a == oldSelf.a", message: "a is immutable" },
      ],
    });
    const issues = validateObject(obj({ a: "x", b: "y" }), s, "example.com/v1", "Thing", { definitions: core, builtin: false, cel: true });
    expect(issues.map((i) => [i.path.join("."), i.message])).toEqual([["spec.b", "spec.b: a and b are exclusive"]]);
  });

  it("checks object names, label keys and values", () => {
    const s = crd({ type: "object" });
    expect(run(obj({}, { name: "Bad_Name", labels: { "app/x/y": "v", ok: "-bad" } }), s)).toEqual([
      ["MSH1012", 'metadata.name: invalid name "Bad_Name": must be a lowercase RFC 1123 subdomain (lowercase letters, digits, \'-\' and \'.\', starting and ending with a letter or digit)'],
      ["MSH1012", "metadata.labels[\"app/x/y\"]: invalid label key \"app/x/y\": must have at most one '/'"],
      ["MSH1012", 'metadata.labels.ok: invalid label value "-bad": must be empty or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'],
    ]);
  });

  it("rejects unknown metadata fields", () => {
    expect(run(obj({}, { name: "t", lables: {} }), crd({ type: "object" }))).toEqual([["MSH1001", 'unknown field "metadata.lables"']]);
  });
});

describe("built-in kinds", () => {
  const entry = (kind: string, group = "apps", version = "v1"): Schema => {
    const k = loadCoreBundle().kinds.find((x) => x.kind === kind && x.group === group && x.version === version);
    if (!k) throw new Error(`no ${kind}`);
    return core[k.ref] as Schema;
  };
  const runCore = (o: Record<string, unknown>, s: Schema): [string, string][] =>
    validateObject(structuredClone(o), s, String(o.apiVersion), String(o.kind), { definitions: core, builtin: true, cel: true }).map((i) => [i.code, i.message]);

  it("validates a Deployment through $refs, int-or-string and quantities", () => {
    const dep = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: "3",
        selector: { matchLabels: { app: "web" } },
        strategy: { rollingUpdate: { maxSurge: "25%", maxUnavailable: 1 } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "nginx", ports: [{ containerPort: 80 }], resources: { limits: { cpu: "500m", memory: "1Gix" } }, imagePullPolcy: "Always" }] },
        },
      },
    };
    expect(runCore(dep, entry("Deployment"))).toEqual([
      ["MSH1002", 'spec.replicas: expected an integer, got string "3"'],
      ["MSH1006", "spec.template.spec.containers[0].resources.limits.memory: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"],
      ["MSH1001", 'unknown field "spec.template.spec.containers[0].imagePullPolcy"'],
    ]);
  });

  it("requires Service names to be DNS-1035 labels", () => {
    const svc = { apiVersion: "v1", kind: "Service", metadata: { name: "1web" }, spec: { ports: [{ port: 80 }] } };
    expect(runCore(svc, entry("Service", "", "v1"))[0]?.[1]).toMatch(/^metadata.name: invalid name "1web": must be an RFC 1035 label/);
  });
});
