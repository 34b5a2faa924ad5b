/**
 * Accuracy of the analyzers on the real-world corpus (../shared/corpus): every analysis finding there is either
 * a reference the sample cannot confirm (its Service or Gateway lives in another file: a warning that says so)
 * or one of the findings listed here, each with the reason it is true.
 */
import { dirname, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { runCheck } from "../src/cli/pipeline.js";
import { openRepository } from "../src/source/repository.js";
import { corpusDir, crdsDir, walkFiles } from "./helpers.js";

/** Findings a careful reader agrees with, and why. */
const justified: Record<string, string> = {
  // Istio's own sample aborts every request in http[0] (no match) and repeats the same route in http[1]: dead but harmless.
  "warning MSH2005 istio/samples/bookinfo/networking/fault-injection-details-v1.yaml:18": "http[1] is never used",
};

describe("analyzers on the real-world corpus", () => {
  it("report only unconfirmable references and the justified findings", async () => {
    const all = walkFiles(corpusDir);
    const kustomize = new Set(all.filter((f) => /\/kustomization\.ya?ml$/.test(f)).map((f) => dirname(f)));
    const units = [...kustomize, ...all.filter((f) => /\.(ya?ml|json)$/.test(f) && ![...kustomize].some((k) => f.startsWith(`${k}/`)))];
    const unexpected: string[] = [];
    const seen = new Set<string>();
    let unconfirmed = 0;
    for (const u of units) {
      const repo = await openRepository({ cwd: corpusDir, target: relative(corpusDir, u) });
      try {
        const { report } = await runCheck(repo, repo.loaded.environments, { crds: [crdsDir], cwd: corpusDir });
        for (const f of report.findings) {
          if (f.category !== "analysis") continue;
          const key = `${f.severity} ${f.code} ${f.file}:${f.line}`;
          if (f.severity === "warning" && f.message.endsWith("so this could not be confirmed")) unconfirmed++;
          else if (justified[key] && f.message.includes(justified[key])) seen.add(key);
          else unexpected.push(`${key} ${f.message}`);
        }
      } finally {
        repo.dispose();
      }
    }
    expect(unexpected).toEqual([]);
    expect([...seen].sort()).toEqual(Object.keys(justified).sort());
    expect(unconfirmed).toBeGreaterThan(100);
  });
});
