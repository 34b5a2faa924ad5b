/** End-to-end: the built CLI on real repositories, real kubectl kustomize, real helm, real git. */
import { existsSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commit, crdsDir, git, gitRepo, meshops, repoRoot, writeTree, type JsonReport } from "./helpers.js";


function checkJson(args: string[], cwd?: string): { code: number; report: JsonReport; stderr: string } {
  const r = meshops(["check", "--format", "json", ...args], cwd ? { cwd } : {});
  let report: JsonReport;
  try {
    report = JSON.parse(r.stdout) as JsonReport;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

const vsBase = (extra = ""): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
    - reviews
  http:
    - route:
        - destination:
            host: reviews
            subset: v1
          weight: 100
${extra}`;

describe("meshops check on the bundled examples", () => {
  it("validates every object of both bookinfo environments and names the schema used", () => {
    const { code, report } = checkJson(["--crds", crdsDir, "examples/bookinfo"]);
    expect(report.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(code).toBe(0);
    expect(report.summary.environments).toEqual(["staging", "production"]);
    expect(report.summary.unvalidated).toBe(0);
    const vs = report.objects.find((o) => o.env === "staging" && o.resource.kind === "VirtualService" && o.resource.name === "reviews");
    expect(vs?.schema).toMatch(/^CRD virtualservices\.networking\.istio\.io v1 \(.*crd-all\.gen\.yaml sha256:[0-9a-f]{12}\)$/);
    // the patched VirtualService points at the base file that defines it
    expect(vs?.file).toBe("base/traffic.yaml");
    const dep = report.objects.find((o) => o.resource.kind === "Deployment");
    expect(dep?.schema).toMatch(/^kubernetes v1\.\d+\.\d+ \(api\/openapi-spec\/v3\)$/);
  });

  it("validates the Linkerd example with zero errors", () => {
    const { code, report } = checkJson(["--crds", crdsDir, "examples/emojivoto"]);
    expect(report.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(code).toBe(0);
    expect(report.objects.find((o) => o.resource.kind === "Server")?.schema).toMatch(/servers\.policy\.linkerd\.io v1beta3 .*linkerd edge-/);
  });

  it("warns, never silently passes, when an object has no schema", () => {
    const { code, report } = checkJson(["examples/bookinfo", "--env", "staging"]);
    expect(code).toBe(0);
    const w = report.findings.find((f) => f.code === "MSH1020" && f.resource?.kind === "VirtualService");
    expect(w).toMatchObject({ severity: "warning", category: "schema", file: "base/gateway.yaml" });
    expect(report.summary.unvalidated).toBeGreaterThan(0);
  });
});

describe("suppressions", () => {
  it("lists suppressed findings in JSON, marked, and does not count them", () => {
    const dir = writeTree({
      "meshops.yaml": 'version: 1\nenvironments:\n  s: { path: m }\npolicy:\n  suppress:\n    - { code: MSH1001, reason: "field added by our admission webhook", resource: "VirtualService/*" }\n',
      "m/vs.yaml": vsBase("  bogus: 1\n"),
    });
    const { code, report } = checkJson(["--crds", crdsDir], dir);
    expect(code).toBe(0);
    expect(report.summary.errors).toBe(0);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "MSH1001", line: 14, suppressed: true, suppression: { reason: "field added by our admission webhook", by: "meshops.yaml policy.suppress" } }),
    ]);
    expect(meshops(["check", "--crds", crdsDir], { cwd: dir }).stdout).toMatch(/no errors, 0 warnings in 1 object across environment s; 1 suppressed/);
  });
});

describe("schema findings point at file, line and column", () => {
  it("reports an unknown field in a Kustomize base at its line in the base file", () => {
    const dir = writeTree({
      "meshops.yaml": "version: 1\nenvironments:\n  staging: { path: overlays/staging }\n",
      "base/kustomization.yaml": "resources: [vs.yaml]\n",
      "base/vs.yaml": vsBase("  tcp_routes: []\n"),
      "overlays/staging/kustomization.yaml": "resources: [../../base]\nnamespace: shop\nnamePrefix: staging-\n",
    });
    const { code, report } = checkJson(["--crds", crdsDir], dir);
    expect(code).toBe(1);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({
      code: "MSH1001",
      category: "schema",
      severity: "error",
      message: 'unknown field "spec.tcp_routes"',
      file: "base/vs.yaml",
      line: 14,
      column: 3,
      resource: { kind: "VirtualService", namespace: "shop", name: "staging-reviews" },
      env: "staging",
    });
  });

  it("reports a wrong type, a bad enum and a failed CEL rule at the offending lines", () => {
    const dir = writeTree({
      "m/vs.yaml": vsBase().replace("weight: 100", 'weight: "100"'),
      "m/pa.yaml": "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: shop\nspec:\n  mtls:\n    mode: STRICTER\n",
      "m/route.yaml": [
        "apiVersion: gateway.networking.k8s.io/v1",
        "kind: HTTPRoute",
        "metadata:",
        "  name: r",
        "  namespace: shop",
        "spec:",
        "  rules:",
        "    - filters:",
        "        - type: RequestRedirect",
        "          requestRedirect:",
        "            statusCode: 301",
        "      backendRefs:",
        "        - name: web",
        "          port: 80",
        "",
      ].join("\n"),
    });
    const { code, report } = checkJson(["--crds", crdsDir, "m"], dir);
    expect(code).toBe(1);
    const byCode = Object.fromEntries(report.findings.map((f) => [f.code, f]));
    expect(byCode.MSH1002).toMatchObject({ file: "m/vs.yaml", line: 13, message: 'spec.http[0].route[0].weight: expected an integer, got string "100"' });
    expect(byCode.MSH1004).toMatchObject({ file: "m/pa.yaml", line: 8, column: 5 });
    expect(byCode.MSH1004?.message).toMatch(/spec\.mtls\.mode: unsupported value "STRICTER": must be one of "UNSET", "DISABLE", "PERMISSIVE", "STRICT"/);
    expect(byCode.MSH1008).toMatchObject({ file: "m/route.yaml", line: 8 });
    expect(byCode.MSH1008?.message).toMatch(/RequestRedirect filter must not be used together with backendRefs/);
  });
});

describe("renderers", () => {
  it("renders Helm charts with the environment's values and maps objects to their templates", () => {
    const dir = writeTree({
      "meshops.yaml": "version: 1\nenvironments:\n  production:\n    helm: { chart: chart, values: [chart/values-production.yaml] }\n    namespace: shop\n",
      "chart/Chart.yaml": "apiVersion: v2\nname: shop-mesh\nversion: 0.1.0\n",
      "chart/values.yaml": "weight: 100\nmode: STRICT\n",
      "chart/values-production.yaml": "mode: PERMISSIVE\nweight: '50'\n",
      "chart/templates/pa.yaml": "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls:\n    mode: {{ .Values.mode }}\n",
      "chart/templates/vs.yaml": `{{- /* routes */ -}}\n${vsBase().replace("weight: 100", "weight: {{ .Values.weight | quote }}")}`,
    });
    const render = meshops(["render", "--env", "production", "--origins"], { cwd: dir });
    expect(render.stderr).toBe("");
    expect(render.code).toBe(0);
    expect(render.stdout).toContain("# Source: chart/templates/pa.yaml:1\n");
    expect(render.stdout).toContain("mode: PERMISSIVE");
    expect(render.stdout).toContain("namespace: shop");
    const { code, report } = checkJson(["--crds", crdsDir], dir);
    expect(code).toBe(1);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ code: "MSH1002", file: "chart/templates/vs.yaml", line: 2 });
  });

  it("shows helm template's own message when a template fails, with exit 2", () => {
    const dir = writeTree({
      "meshops.yaml": "version: 1\nenvironments:\n  production: { helm: { chart: chart } }\n",
      "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
      "chart/templates/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required \"name is required\" .Values.name }}\n",
    });
    const { code, report } = checkJson([], dir);
    expect(code).toBe(2);
    expect(report.findings[0]).toMatchObject({ code: "MSH0009", category: "input" });
    expect(report.findings[0]?.message).toMatch(/helm template failed: .*name is required/);
  });

  it("shows kubectl kustomize's message when an overlay is broken, with exit 2", () => {
    const dir = writeTree({ "meshops.yaml": "version: 1\nenvironments:\n  s: { path: o }\n", "o/kustomization.yaml": "resources: [missing.yaml]\n" });
    const { code, report } = checkJson([], dir);
    expect(code).toBe(2);
    expect(report.findings[0]?.message).toMatch(/kubectl kustomize failed: .*missing\.yaml/);
  });

  it("names the missing binary and how to get it", () => {
    const dir = writeTree({ "meshops.yaml": "version: 1\nenvironments:\n  s: { path: o }\n", "o/kustomization.yaml": "resources: []\n" });
    const r = meshops(["check"], { cwd: dir, env: { MESHOPS_KUBECTL: "/nonexistent/kubectl" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshops: kubectl not found \(looked for "\/nonexistent\/kubectl"\): install kubectl/);
  });
});

describe("revisions", () => {
  it("checks any revision without touching the checkout", () => {
    const dir = gitRepo({ "meshops.yaml": "version: 1\nenvironments:\n  s: { path: m }\n", "m/vs.yaml": vsBase() });
    const good = git(dir, "rev-parse", "HEAD");
    commit(dir, { "m/vs.yaml": vsBase("  bogus: 1\n") }, "break it");
    writeTree({ "m/local.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: work-in-progress\n" }, dir);
    const statusBefore = git(dir, "status", "--porcelain");
    expect(checkJson(["--crds", crdsDir, "--rev", good], dir).code).toBe(0);
    const head = checkJson(["--crds", crdsDir, "--rev", "HEAD"], dir);
    expect(head.code).toBe(1);
    expect(head.report.findings.map((f) => f.code)).toEqual(["MSH1001"]);
    expect(head.report.objects.map((o) => o.resource.name)).toEqual(["reviews"]);
    const work = checkJson(["--crds", crdsDir], dir);
    expect(work.report.objects.map((o) => o.resource.name).sort()).toEqual(["reviews", "work-in-progress"]);
    expect(git(dir, "status", "--porcelain")).toBe(statusBefore);
    expect(git(dir, "rev-parse", "HEAD")).not.toBe(good);
  });

  it("rejects an unreadable revision with exit 2", () => {
    const dir = gitRepo({ "meshops.yaml": "version: 1\nenvironments:\n  s: { path: m }\n", "m/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n" });
    const r = meshops(["check", "--rev", "no-such-branch"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read revision "no-such-branch"/);
  });
});

describe("bad input", () => {
  it("reports the same object twice with both origins, exit 2", () => {
    const ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
    const dir = writeTree({ "m/a.yaml": ns, "m/b.yaml": `# again\n${ns}` });
    const { code, report } = checkJson(["m"], dir);
    expect(code).toBe(2);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "MSH0007", file: "m/b.yaml", line: 2, message: "Namespace/shop is defined twice in environment default: here and at m/a.yaml:1" }),
    ]);
  });

  it("reports malformed YAML with line and column and exits 2 without a stack trace", () => {
    const dir = writeTree({ "m/bad.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   labels: {}\n" });
    const r = meshops(["check", "m"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^m\/bad\.yaml\n {2}4:9 {2}error {2}malformed YAML: Nested mappings are not allowed in compact mappings {2}MSH0001 \[default\]\n {6}4 \| {3}name: x\n/);
    expect(r.stdout).toMatch(/\n1 error, 0 warnings in 0 objects/);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  it("exits 2 for a missing path, an unknown environment and an invalid meshops.yaml", () => {
    expect(meshops(["check", "does/not/exist"]).stderr).toMatch(/path "does\/not\/exist" does not exist/);
    expect(meshops(["check", "does/not/exist"]).code).toBe(2);
    const env = meshops(["check", "examples/bookinfo", "--env", "qa"]);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/unknown environment qa: meshops.yaml defines staging, production/);
    const dir = writeTree({ "meshops.yaml": "version: 1\nenvironments:\n  s:\n    path: m\n    renderr: plain\n" });
    const cfg = meshops(["check"], { cwd: dir });
    expect(cfg.code).toBe(2);
    expect(cfg.stderr).toContain('meshops.yaml:5:5: unknown key "renderr" in environments.s');
  });

  it("names a missing helm binary and how to build it", () => {
    const dir = writeTree({ "meshops.yaml": "version: 1\nenvironments:\n  p: { helm: { chart: c } }\n", "c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n" });
    const r = meshops(["check"], { cwd: dir, env: { MESHOPS_HELM: "/nonexistent/helm" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshops: helm not found \(looked for "\/nonexistent\/helm"\): run `npm run setup-tools`/);
  });

  it("rejects non-UTF-8 files, alias bombs and oversized files through the CLI with exit 2", () => {
    const laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)];
    const dir = writeTree({
      "m/latin1.yaml": Buffer.concat([Buffer.from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]),
      "m/bomb.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n${laughs.map((l) => `  ${l}`).join("\n")}\n`,
      "m/big.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: "${"a".repeat(9 * 1024 * 1024)}"\n`,
    });
    const { code, report } = checkJson(["m"], dir);
    expect(code).toBe(2);
    expect(report.findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ["MSH0004", "m/big.yaml", 1],
      ["MSH0003", "m/bomb.yaml", 1],
      ["MSH0005", "m/latin1.yaml", 4],
    ]);
  });

  it("does not follow a symlink out of the repository", () => {
    const outside = writeTree({ "secret.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: outside\n" });
    const dir = writeTree({ "m/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: inside\n" });
    symlinkSync(join(outside, "secret.yaml"), join(dir, "m/link.yaml"));
    const { code, report } = checkJson(["m"], dir);
    expect(code).toBe(2);
    expect(report.objects.map((o) => o.resource.name)).toEqual(["inside"]);
    expect(report.findings[0]).toMatchObject({ code: "MSH0008", file: "m/link.yaml", message: expect.stringMatching(/^symbolic link leads outside the repository/) });
  });

  it("exits 2 on a usage error", () => {
    expect(meshops(["check", "--format", "xml"]).code).toBe(2);
    expect(meshops(["frobnicate"]).code).toBe(2);
  });
});

describe("output formats", () => {
  const dir = writeTree({ "m/vs.yaml": vsBase("  bogus: 1\n"), "m/pa.yaml": "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls:\n    mode: NOPE\n" });

  it("writes GitLab Code Quality JSON", () => {
    const r = meshops(["check", "m", "--crds", crdsDir, "--format", "codequality", "--output", "cq.json"], { cwd: dir });
    expect(r.code).toBe(1);
    const cq = JSON.parse(readFileSync(join(dir, "cq.json"), "utf8")) as Record<string, unknown>[];
    expect(cq).toHaveLength(2);
    for (const item of cq) {
      expect(Object.keys(item).sort()).toEqual(["check_name", "description", "fingerprint", "location", "severity"]);
      expect(item.fingerprint).toMatch(/^[0-9a-f]{32}$/);
      expect(item.severity).toBe("major");
    }
    expect(cq[0]).toMatchObject({ check_name: "MSH1004", location: { path: "m/pa.yaml", lines: { begin: 7 } } });
    expect(cq[1]).toMatchObject({ check_name: "MSH1001", location: { path: "m/vs.yaml", lines: { begin: 14 } } });
  });

  it("writes JUnit XML with one failing test case per object with errors", () => {
    const r = meshops(["check", "m", "--crds", crdsDir, "--format", "junit"], { cwd: dir });
    expect(r.stdout).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="meshops check" tests="2" failures="2">/);
    expect(r.stdout).toContain('<testcase classname="default.m/vs.yaml" name="VirtualService/reviews" file="m/vs.yaml">');
    expect(r.stdout).toContain('<failure message="MSH1001: unknown field &quot;spec.bogus&quot;" type="MSH1001">');
  });

  it("writes SARIF 2.1.0", () => {
    const r = meshops(["check", "m", "--crds", crdsDir, "--format", "sarif"], { cwd: dir });
    const sarif = JSON.parse(r.stdout) as { version: string; runs: { results: { ruleId: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[] }[] };
    expect(sarif.version).toBe("2.1.0");
    expect(sarif.runs[0]?.results.map((x) => [x.ruleId, x.locations[0]?.physicalLocation.region.startLine])).toEqual([
      ["MSH1004", 7],
      ["MSH1001", 14],
    ]);
  });

  it("groups text by file, shows the offending line, and never colours with NO_COLOR", () => {
    const r = meshops(["check", "m", "--crds", crdsDir], { cwd: dir });
    expect(r.stdout).toContain("m/vs.yaml\n  14:3  error  unknown field \"spec.bogus\"  MSH1001 [default]\n      14 |   bogus: 1\n             ^\n");
    expect(r.stdout).not.toContain("\u001b[");
    expect(r.stdout).toMatch(/2 errors, 0 warnings in 2 objects across environment default\n$/);
  });
});

describe("meshops init", () => {
  it("writes a commented meshops.yaml that loads, and refuses to overwrite it", () => {
    const dir = writeTree({
      "base/kustomization.yaml": "resources: [vs.yaml]\n",
      "base/vs.yaml": vsBase(),
      "overlays/production/kustomization.yaml": "resources: [../../base]\n",
      "overlays/staging/kustomization.yaml": "resources: [../../base]\n",
    });
    const r = meshops(["init"], { cwd: dir });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, "meshops.yaml"), "utf8");
    expect(text).toMatch(/^# meshops.yaml/);
    expect(text).toContain("meshes: [istio]");
    expect(text).toMatch(/ {2}staging:\n {4}path: "overlays\/staging"\n {4}renderer: kustomize/);
    expect(text).toMatch(/ {2}production:[\s\S]*after: staging/);
    const check = checkJson(["--crds", crdsDir], dir);
    expect(check.code).toBe(0);
    expect(check.report.summary.environments).toEqual(["staging", "production"]);
    const again = meshops(["init"], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/meshops.yaml already exists: use --force/);
  });
});

describe("implicit environment", () => {
  it("checks a folder without meshops.yaml as environment default", () => {
    const { code, report } = checkJson(["--crds", crdsDir, join(repoRoot, "examples/bookinfo/base")]);
    expect(code).toBe(0);
    expect(report.summary.environments).toEqual(["default"]);
    expect(existsSync(join(repoRoot, "examples/bookinfo/base/meshops.yaml"))).toBe(false);
  });
});
