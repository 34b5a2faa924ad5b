/**
 * The real-world corpus in ../shared/corpus (configurations written by others) must check without a single
 * false error; mutations of corpus files must produce the exact finding at the exact line.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { runCheck } from "../src/cli/pipeline.js";
import { openRepository } from "../src/source/repository.js";
import type { Finding } from "../src/report/finding.js";
import { corpusDir, crdsDir, walkFiles, writeTree } from "./helpers.js";

async function check(target: string, cwd: string): Promise<{ findings: Finding[]; objects: number }> {
  const repo = await openRepository({ cwd, target });
  try {
    const { report } = await runCheck(repo, repo.loaded.environments, { crds: [crdsDir], cwd });
    return { findings: report.findings, objects: report.objects.length };
  } finally {
    repo.dispose();
  }
}

const KUSTOMIZATION = /^kustomization\.ya?ml$/;

/**
 * Units to check: every Kustomize folder rendered as a whole, every other manifest file on its own (the corpus
 * is a collection of independent samples, several of which define the same object). Files that are patches,
 * not objects, are excluded: those a kustomization names as patches, and the one JSON merge patch that the
 * emojivoto training applies with `kubectl patch` (ingress-ts-patch.yml holds only `spec.service`).
 */
function corpusUnits(): { kustomize: string[]; files: string[] } {
  const all = walkFiles(corpusDir);
  const kustomize = all.filter((f) => KUSTOMIZATION.test(f.split("/").pop() ?? "")).map((f) => dirname(f));
  const covered = new Set<string>();
  for (const k of kustomize) {
    const kz = parse(readFileSync(join(k, readdirSync(k).find((n) => KUSTOMIZATION.test(n)) ?? ""), "utf8")) as Record<string, unknown>;
    for (const f of readdirSync(k)) covered.add(join(k, f));
    for (const p of [...((kz.patches as { path?: string }[] | undefined) ?? []), ...((kz.patchesJson6902 as { path?: string }[] | undefined) ?? [])]) if (p.path) covered.add(resolve(k, p.path));
    for (const p of (kz.patchesStrategicMerge as string[] | undefined) ?? []) covered.add(resolve(k, p));
  }
  const files = all.filter((f) => /\.(ya?ml|json)$/.test(f) && !covered.has(f) && !f.endsWith("ingress-ts-patch.yml"));
  return { kustomize, files };
}

describe("the real-world corpus", () => {
  const units = corpusUnits();

  it("has samples from every mesh", () => {
    expect(existsSync(corpusDir)).toBe(true);
    expect(units.kustomize.length).toBeGreaterThanOrEqual(4);
    expect(units.files.length).toBeGreaterThan(120);
  });

  it("checks every manifest file with zero errors", async () => {
    const errors: string[] = [];
    let objects = 0;
    for (const f of units.files) {
      const r = await check(relative(corpusDir, f), corpusDir);
      objects += r.objects;
      for (const x of r.findings) if (x.severity === "error") errors.push(`${x.file}:${x.line} ${x.code} ${x.message}`);
    }
    expect(errors).toEqual([]);
    expect(objects).toBeGreaterThan(250);
  });

  it("renders and checks every Kustomize sample with zero errors", async () => {
    const errors: string[] = [];
    for (const k of units.kustomize.filter((d) => !d.endsWith("kustomize/statefulset"))) {
      const r = await check(relative(corpusDir, k), corpusDir);
      expect(r.objects, k).toBeGreaterThan(0);
      for (const x of r.findings) if (x.severity === "error") errors.push(`${x.file}:${x.line} ${x.code} ${x.message}`);
    }
    expect(errors).toEqual([]);
  });
});

/**
 * The one error kept: emojivoto's statefulset overlay lists a patch file as a plain string under `patches:`,
 * which Kustomize 5 (the one in kubectl) rejects; `kubectl kustomize` fails on it the same way.
 */
describe("a corpus sample current Kustomize rejects", () => {
  it("reports kubectl kustomize's own message, without the wrapper's noise", async () => {
    const r = await check("linkerd/emojivoto/kustomize/statefulset", corpusDir);
    expect(r.findings.map((f) => [f.code, f.file, f.line])).toEqual([["MSH0009", "linkerd/emojivoto/kustomize/statefulset", 1]]);
    expect(r.findings[0]?.message).toBe(
      "kubectl kustomize failed: invalid Kustomization: json: cannot unmarshal string into Go struct field Kustomization.patches of type types.Patch",
    );
  });
});

describe("mutated corpus files", () => {
  /** Copies a corpus file into a temporary folder with one line replaced; returns folder and the line number. */
  function mutate(corpusFile: string, from: RegExp, to: string): { dir: string; line: number } {
    const lines = readFileSync(join(corpusDir, corpusFile), "utf8").split("\n");
    const i = lines.findIndex((l) => from.test(l));
    if (i < 0) throw new Error(`${corpusFile}: no line matches ${from}`);
    lines[i] = (lines[i] ?? "").replace(from, to);
    return { dir: writeTree({ "m/x.yaml": lines.join("\n") }), line: i + 1 };
  }

  const cases: { name: string; file: string; from: RegExp; to: string; code: string; message: string }[] = [
    {
      name: "a wrong type (string weight)",
      file: "istio/samples/bookinfo/networking/virtual-service-reviews-90-10.yaml",
      from: /weight: 90/,
      to: 'weight: "90"',
      code: "MSH1002",
      message: 'spec.http[0].route[0].weight: expected an integer, got string "90"',
    },
    {
      name: "an unknown field",
      file: "istio/samples/bookinfo/networking/destination-rule-all.yaml",
      from: /^ {2}subsets:$/,
      to: "  subset:",
      code: "MSH1001",
      message: 'unknown field "spec.subset"',
    },
    {
      name: "a bad enum value",
      file: "gateway-api/examples/standard/http-redirect-rewrite/httproute-redirect-http.yaml",
      from: /statusCode: 301/,
      to: "statusCode: 305",
      code: "MSH1004",
      message: "spec.rules[0].filters[0].requestRedirect.statusCode: unsupported value 305: must be one of 301, 302, 303, 307, 308",
    },
    {
      name: "input that breaks a CEL rule (backendRequest longer than request)",
      file: "gateway-api/examples/standard/traffic-splitting/simple-split.yaml",
      from: /^ {2}- backendRefs:$/,
      to: "  - timeouts: {request: 1s, backendRequest: 2s}\n    backendRefs:",
      code: "MSH1008",
      message: "spec.rules[0].timeouts: backendRequest timeout cannot be longer than request timeout",
    },
  ];

  for (const c of cases) {
    it(`reports ${c.name} at its line`, async () => {
      const { dir, line } = mutate(c.file, c.from, c.to);
      const r = await check("m", dir);
      expect(r.findings.map((f) => ({ code: f.code, message: f.message, file: f.file, line: f.line, severity: f.severity }))).toEqual([
        { code: c.code, message: c.message, file: "m/x.yaml", line, severity: "error" },
      ]);
    });
  }
});
