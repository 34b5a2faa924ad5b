/**
 * End-to-end: `meshops check` gives the same report whether plain environments are checked on one thread
 * (MESHOPS_CHECK_WORKER=0) or parsed by the worker thread while the main thread validates (the default on two
 * or more cores; every plain environment of two or more files goes through the worker).
 */
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { corpusDir, crdsDir, meshops, writeTree } from "./helpers.js";

const modes = ["0", "1"] as const;

/** The report of each mode; every mode must give the first one's bytes and exit code. */
function sameInEveryMode(args: string[], cwd?: string): string {
  const runs = modes.map((m) => meshops(args, { ...(cwd ? { cwd } : {}), env: { MESHOPS_CHECK_WORKER: m } }));
  const [first] = runs;
  if (!first) throw new Error("no run");
  for (const [i, r] of runs.entries()) {
    expect(r.stderr, `MESHOPS_CHECK_WORKER=${modes[i]}`).toBe(first.stderr);
    expect(r.stdout, `MESHOPS_CHECK_WORKER=${modes[i]}`).toBe(first.stdout);
    expect(r.code, `MESHOPS_CHECK_WORKER=${modes[i]}`).toBe(first.code);
  }
  return first.stdout;
}

const service = (name: string, extra = ""): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n    - port: 80\n${extra}`;
const route = (name: string, weight: number): string =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: ${name}\nspec:\n  parentRefs:\n    - name: ${name}\n      kind: Service\n      group: ""\n  rules:\n    - backendRefs:\n        - name: ${name}\n          port: 80\n          weight: ${weight}\n`;

/** Files with every kind of finding the per-file path must keep in order: schema, CEL, input, duplicates, suppressions. */
function mixedRepo(extra: Record<string, string | Buffer> = {}): string {
  const files: Record<string, string | Buffer> = {
    "meshops.yaml": "version: 1\nenvironments:\n  a: { path: m, namespace: shop }\n  b: { path: m }\n",
    "m/00-list.yaml": `apiVersion: v1\nkind: List\nitems:\n${[service("l1"), service("l2", "  bogus: 1\n")].map((d) => d.replace(/^/gm, "    ").replace(/^ {4}/, "  - ")).join("")}`,
    "m/01-aliases.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aliased\n  labels: &l {app: x}\n  annotations: *l\ndata:\n  a: b\n",
    "m/02-nan.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nan\ndata:\n  a: .nan\n  b: -0\n",
    "m/03-broken.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\n",
    "m/04-latin1.yaml": Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]),
    "m/05-dup.yaml": service("dup"),
    "m/06-ignore.yaml": service("ignored", "  nope: 1\n").replace("  name: ignored\n", '  name: ignored\n  annotations:\n    meshops.dev/ignore: "MSH1001: added by our webhook; bad"\n'),
    "m/07-cluster.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
  };
  for (let i = 0; i < 40; i++) {
    files[`m/r${String(i).padStart(2, "0")}.yaml`] = [service(`svc-${i}`, i % 7 === 0 ? "  unknownField: true\n" : ""), route(`svc-${i}`, i % 5 === 0 ? -1 : 10)].join("---\n");
  }
  files["m/99-dup.yaml"] = service("dup");
  return writeTree({ ...files, ...extra });
}

describe("check with a worker thread", () => {
  it("reports the same findings, positions and objects in every mode (JSON, text, schema-only)", () => {
    const dir = mixedRepo();
    symlinkSync("/etc/hostname", join(dir, "m", "08-outside.yaml"));
    const json = sameInEveryMode(["check", dir, "--crds", crdsDir, "--format", "json"]);
    const report = JSON.parse(json) as { findings: { code: string }[]; summary: { objects: number } };
    const codes = new Set(report.findings.map((f) => f.code));
    // the repository exercises what the merge must keep in order
    for (const c of ["MSH0001", "MSH0005", "MSH0007", "MSH0008", "MSH0011", "MSH1001", "MSH1007"]) expect(codes, c).toContain(c);
    expect(report.summary.objects).toBeGreaterThan(160);
    sameInEveryMode(["check", dir, "--crds", crdsDir]);
    sameInEveryMode(["check", dir, "--crds", crdsDir, "--format", "json", "--schema-only"]);
    sameInEveryMode(["check", dir, "--crds", crdsDir, "--format", "json", "--no-cel"]);
  });

  it("checks an environment holding CRDs on one thread, as their schemas apply to the other files", () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names: { kind: Widget, plural: widgets }\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties:\n                size: { type: integer, maximum: 3 }\n`;
    const dir = mixedRepo({ "m/50-crd.yaml": crd, "m/51-widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 9\n" });
    const report = JSON.parse(sameInEveryMode(["check", dir, "--crds", crdsDir, "--format", "json"])) as { findings: { code: string; file: string }[] };
    // the Widget is validated against the CRD from another file and, cluster-scoped, gets no default namespace
    expect(report.findings).toContainEqual(expect.objectContaining({ code: "MSH1007", file: "m/51-widget.yaml" }));
  });

  it("gives the same report on the shared corpus", () => {
    sameInEveryMode(["check", corpusDir, "--crds", crdsDir, "--format", "json"]);
  });
});

