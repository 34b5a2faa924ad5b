/** Reads the user policy files and folders named in meshops.yaml `policy.policies` (ValidatingAdmissionPolicies, bindings, params). */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { within } from "../config/load.js";
import type { Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import { decodeUtf8, inputFinding, parseManifests } from "./yaml.js";

const cache = new Map<string, { manifests: Manifest[]; findings: Finding[] }>();

function listFiles(abs: string): string[] {
  if (statSync(abs).isFile()) return [abs];
  return readdirSync(abs)
    .sort()
    .filter((n) => !n.startsWith("."))
    .flatMap((n) => {
      const p = join(abs, n);
      return statSync(p).isDirectory() ? listFiles(p) : /\.(ya?ml|json)$/i.test(n) ? [p] : [];
    });
}

/** Parses every YAML/JSON file under the given repository-relative paths (read once per process and root). */
export function readPolicyFiles(root: string, paths: readonly string[]): { manifests: Manifest[]; findings: Finding[] } {
  const key = `${root}\0${paths.join("\0")}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const manifests: Manifest[] = [];
  const findings: Finding[] = [];
  const realRoot = realpathSync(root);
  const seen = new Set<string>();
  for (const p of paths) {
    const abs = resolve(root, p);
    if (!existsSync(abs)) {
      findings.push(inputFinding("MSH0008", p, { line: 1, column: 1 }, `policy path "${p}" (meshops.yaml policy.policies) does not exist`));
      continue;
    }
    for (const f of listFiles(abs)) {
      const rel = relative(root, f).split(sep).join("/");
      if (seen.has(rel)) continue;
      seen.add(rel);
      if (!within(realRoot, realpathSync(f))) {
        findings.push(inputFinding("MSH0008", rel, { line: 1, column: 1 }, `symbolic link leads outside the repository: not read`));
        continue;
      }
      const decoded = decodeUtf8(readFileSync(f), rel);
      if ("finding" in decoded) {
        findings.push(decoded.finding);
        continue;
      }
      const parsed = parseManifests(decoded.text, rel, { renderer: "plain" });
      manifests.push(...parsed.manifests);
      findings.push(...parsed.findings);
    }
  }
  const result = { manifests, findings };
  cache.set(key, result);
  return result;
}
