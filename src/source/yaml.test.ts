import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { corpusDir } from "../../test/helpers.js";
import { decodeUtf8, locatorsFor, parseManifests, parseManifestsTraced } from "./yaml.js";

describe("parseManifests", () => {
  it("gives every document of a stream its own line and column", () => {
    const text = "# leading comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: ns\n";
    const r = parseManifests(text, "svc.yaml");
    expect(r.findings).toEqual([]);
    expect(r.manifests.map((m) => [m.ref.name, m.ref.namespace, m.origin.line, m.origin.column])).toEqual([
      ["a", undefined, 2, 1],
      ["b", "ns", 9, 1],
    ]);
  });

  it("locates nested fields and list items", () => {
    const text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: 80\n    - name: https\n      port: 443\n";
    const [m] = parseManifests(text, "s.yaml").manifests;
    expect(m?.locate(["spec", "ports", 1, "port"])).toEqual({ line: 9, column: 7 });
    expect(m?.locate(["spec", "ports", 1])).toEqual({ line: 8, column: 7 });
    expect(m?.locate(["spec", "missing"])).toBeUndefined();
  });

  it("reports duplicate keys with their position", () => {
    const r = parseManifests("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n", "d.yaml");
    expect(r.manifests).toEqual([]);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ code: "MSH0002", category: "input", file: "d.yaml", line: 5, column: 3 });
    expect(r.findings[0]?.message).toMatch(/duplicate key/);
  });

  it("reports malformed YAML with line and column", () => {
    const r = parseManifests("apiVersion: v1\nkind: Service\nmetadata:\n  name: [a\n", "bad.yaml");
    expect(r.findings[0]).toMatchObject({ code: "MSH0001", file: "bad.yaml" });
    expect(r.findings[0]?.line).toBeGreaterThanOrEqual(4);
  });

  it("bounds alias expansion (billion laughs)", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`);
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
    const r = parseManifests(text, "bomb.yaml");
    expect(r.manifests).toEqual([]);
    expect(r.findings[0]).toMatchObject({ code: "MSH0003", line: 1 });
    expect(r.findings[0]?.message).toMatch(/alias/);
  });

  it("requires apiVersion, kind and metadata.name", () => {
    const r = parseManifests("apiVersion: v1\nkind: Service\nmetadata: {}\n---\nfoo: bar\n", "m.yaml");
    expect(r.findings.map((f) => [f.code, f.line, f.message])).toEqual([
      ["MSH0006", 1, "document has no metadata.name: every object needs apiVersion, kind and metadata.name"],
      ["MSH0006", 5, "document has no apiVersion, kind, metadata.name: every object needs apiVersion, kind and metadata.name"],
    ]);
  });

  it("expands v1 List documents into their items with item positions", () => {
    const text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: x\n  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: z\n";
    const r = parseManifests(text, "l.yaml");
    expect(r.manifests.map((m) => [m.ref.name, m.origin.line])).toEqual([
      ["x", 4],
      ["z", 8],
    ]);
    expect(r.manifests[1]?.locate(["metadata", "name"])).toEqual({ line: 11, column: 7 });
  });

  it("resolves scalars like Kubernetes' YAML decoder: yes/on booleans, no sexagesimal numbers", () => {
    const [m] = parseManifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nspec:\n  a: yes\n  b: 1:20\n  c: 2001-12-14\n", "c.yaml").manifests;
    expect(m?.object.spec).toEqual({ a: true, b: "1:20", c: "2001-12-14" });
  });

  it("says why a name read as a boolean is not a name", () => {
    const r = parseManifests("apiVersion: v1\nkind: Service\nmetadata:\n  name: y\n", "y.yaml");
    expect(r.findings[0]).toMatchObject({ code: "MSH0006", line: 4, column: 3 });
    expect(r.findings[0]?.message).toMatch(/metadata.name must be a string, got boolean true \(quote it/);
  });

  it("parses JSON files", () => {
    const r = parseManifests('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}', "n.json");
    expect(r.manifests[0]?.ref).toEqual({ apiVersion: "v1", kind: "Namespace", name: "n" });
  });
});

describe("decodeUtf8", () => {
  it("rejects non-UTF-8 bytes and names the line", () => {
    const bytes = Buffer.concat([Buffer.from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
    const r = decodeUtf8(bytes, "latin1.yaml");
    expect("finding" in r && r.finding).toMatchObject({ code: "MSH0005", line: 4, file: "latin1.yaml" });
  });

  it("strips a byte-order mark", () => {
    const r = decodeUtf8(Buffer.from("\ufeffkind: x", "utf8"), "bom.yaml");
    expect(r).toEqual({ text: "kind: x" });
  });

  it("refuses files over the size limit", () => {
    const r = decodeUtf8(Buffer.alloc(2048, 0x61), "big.yaml", { maxFileBytes: 1024, maxAliasCount: 100 });
    expect("finding" in r && r.finding.code).toBe("MSH0004");
  });
});

describe("the fast path and the exact path agree", () => {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : /\.(ya?ml|json)$/.test(n) ? [join(d, n)] : []));
  const summary = (text: string, engine: "auto" | "yaml") => {
    const r = parseManifests(text, "f.yaml", { engine });
    return {
      objects: r.manifests.map((m) => ({ ref: m.ref, object: m.object, origin: m.origin, name: m.locate(["metadata", "name"]), last: m.locate(["spec"]) })),
      findings: r.findings,
    };
  };

  it("on every corpus file: same objects, values, origins and field positions", () => {
    const files = walk(corpusDir);
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      expect(summary(text, "auto"), f).toEqual(summary(text, "yaml"));
    }
  });

  it("on YAML 1.1 scalars", () => {
    const scalars = ["yes", "No", "on", "OFF", "y", "N", "true", "FALSE", "0777", "-0777", "0o17", "0x1F", "0b101", "1_000", "+12", "012", "08", "1:20", "2001-12-14", "~", "null", "NULL", "", "1e3", "1.", "-1.5", ".5", "1_000.5", "0x_1F", "3e", '"yes"', "'012'"];
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n${scalars.map((v, i) => `  k${i}: ${v}`).join("\n")}\n  inf: .inf\n  nan: .NaN\n`;
    expect(summary(text, "auto")).toEqual(summary(text, "yaml"));
    expect(summary(text, "auto").objects[0]?.object.data).toMatchObject({ k0: true, k4: true, k8: 511, k15: 10, k17: "1:20", k18: "2001-12-14", k29: "3e", k30: "yes" });
  });

  it("on streams with comments, markers and an end marker", () => {
    const text = "# head\n---\n# c\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n...\n--- \napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n";
    expect(summary(text, "auto")).toEqual(summary(text, "yaml"));
    expect(summary(text, "auto").objects.map((o) => o.origin.line)).toEqual([4, 10]);
  });
});

describe("locatorsFor (locate() of manifests parsed in another thread)", () => {
  const paths = [[], ["metadata"], ["metadata", "name"], ["spec", "ports", 0, "port"], ["spec", "ports", 1], ["spec", "missing"], ["items", 0]];
  const same = (text: string): void => {
    const direct = parseManifestsTraced(text, "f.yaml");
    const rebuilt = locatorsFor(text, "f.yaml", direct.manifests.length, direct.recipes);
    expect(rebuilt).toHaveLength(direct.manifests.length);
    direct.manifests.forEach((m, i) => {
      for (const p of paths) expect(rebuilt[i]?.(p), `manifest ${i} ${p.join(".")}`).toEqual(m.locate(p));
    });
  };

  it("gives the positions the parsed manifests give, document by document (fast path)", () => {
    const text = "# c\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: 80\n    - port: 443\n---\n\n---\n  apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n...\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
    expect(parseManifestsTraced(text, "f.yaml").recipes).toHaveLength(3);
    same(text);
  });

  it("points into the items of a kind: List", () => {
    const text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: a\n    spec:\n      ports:\n        - port: 80\n  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: b\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n";
    expect(parseManifestsTraced(text, "f.yaml").recipes?.map((r) => r.prefix)).toEqual([["items", 0], ["items", 1], []]);
    same(text);
  });

  it("parses the text again when the file took the yaml path (aliases)", () => {
    const text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: &l {app: a}\n  annotations: *l\nspec:\n  ports:\n    - port: 80\n";
    expect(parseManifestsTraced(text, "f.yaml").recipes).toBeUndefined();
    same(text);
  });
});
