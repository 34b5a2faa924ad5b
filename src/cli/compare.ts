/**
 * `meshops compare A B`: what one environment's rendered configuration has that another's does not: first
 * semantically (the MeshModel diff of `meshops diff`: traffic moved, routes, access opened or closed, mTLS,
 * read as "from A to B"), then at object level (objects only in A, only in B, changed fields per object).
 * No cluster is needed: both sides are rendered from the repository (e.g. what staging runs that production
 * does not yet).
 */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import { diffObjects, formatValue, type FieldChange } from "../cluster/diff.js";
import type { Environment } from "../config/load.js";
import { identityKey, subjectOf, type Manifest } from "../model/resource.js";
import { renderDiffMarkdown, renderDiffText, semanticDiff, type SemanticDiffLine } from "../diff/index.js";
import { buildMeshModel } from "../model/mesh-model.js";
import { renderText } from "../report/formats.js";
import { renderEnvironment } from "../source/render.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import { ExitCode, UsageError } from "./errors.js";
import { addCommonOptions, type Io } from "./main.js";

interface CompareFlags {
  rev?: string;
  format: "text" | "markdown" | "json";
  chdir?: string;
}

/** One side's object, named and located. */
export interface ComparedObject {
  subject: string;
  origin: { file: string; line: number };
}

/** An object in both environments whose content differs (old = A's value, new = B's). */
export interface ChangedObject {
  subject: string;
  a: { file: string; line: number };
  b: { file: string; line: number };
  changes: FieldChange[];
}

/** The object-level comparison of two rendered environments. */
export interface Comparison {
  a: string;
  b: string;
  onlyInA: ComparedObject[];
  onlyInB: ComparedObject[];
  changed: ChangedObject[];
  identical: number;
}

/** The namespace an object lands in: its own, else the environment's default (as plan resolves it). */
function keyed(manifests: Manifest[], env: Environment): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const m of manifests) {
    const ref = m.ref.namespace || !env.namespace || m.ref.kind === "Namespace" ? m.ref : { ...m.ref, namespace: env.namespace };
    out.set(identityKey(ref), { ...m, ref });
  }
  return out;
}

function withNamespace(m: Manifest): Record<string, unknown> {
  if (!m.ref.namespace) return m.object;
  const meta = (m.object.metadata ?? {}) as Record<string, unknown>;
  return { ...m.object, metadata: { ...meta, namespace: m.ref.namespace } };
}

/** Compares two environments' rendered objects; Secret data is masked. Pure. */
export function compareManifests(a: { env: Environment; manifests: Manifest[] }, b: { env: Environment; manifests: Manifest[] }): Comparison {
  const left = keyed(a.manifests, a.env);
  const right = keyed(b.manifests, b.env);
  const origin = (m: Manifest): { file: string; line: number } => ({ file: m.origin.file, line: m.origin.line });
  const bySubject = <T extends { subject: string }>(x: T, y: T): number => (x.subject < y.subject ? -1 : x.subject > y.subject ? 1 : 0);
  const result: Comparison = { a: a.env.name, b: b.env.name, onlyInA: [], onlyInB: [], changed: [], identical: 0 };
  for (const [k, m] of left) {
    const other = right.get(k);
    if (!other) {
      result.onlyInA.push({ subject: subjectOf(m.ref), origin: origin(m) });
      continue;
    }
    const changes = diffObjects(withNamespace(m), withNamespace(other));
    if (changes.length === 0) result.identical++;
    else result.changed.push({ subject: subjectOf(m.ref), a: origin(m), b: origin(other), changes });
  }
  for (const [k, m] of right) if (!left.has(k)) result.onlyInB.push({ subject: subjectOf(m.ref), origin: origin(m) });
  result.onlyInA.sort(bySubject);
  result.onlyInB.sort(bySubject);
  result.changed.sort(bySubject);
  return result;
}

/** Terminal text: objects only on one side, then field changes per object (A's value → B's value). */
export function renderComparisonText(c: Comparison): string {
  const out = [`compare ${c.a} → ${c.b}: ${c.onlyInA.length} only in ${c.a}, ${c.onlyInB.length} only in ${c.b}, ${c.changed.length} changed, ${c.identical} identical`];
  for (const o of c.onlyInA) out.push(`- ${o.subject} only in ${c.a} (${o.origin.file}:${o.origin.line})`);
  for (const o of c.onlyInB) out.push(`+ ${o.subject} only in ${c.b} (${o.origin.file}:${o.origin.line})`);
  for (const o of c.changed) {
    out.push(`~ ${o.subject} (${o.a.file}:${o.a.line} → ${o.b.file}:${o.b.line})`);
    for (const ch of o.changes) out.push(`    ${ch.path}: ${ch.masked ? "(secret data changed)" : `${formatValue(ch.old)} → ${formatValue(ch.new)}`}`);
  }
  return `${out.join("\n")}\n`;
}

/** Markdown for an MR note: the semantic table, then the objects in a collapsible section. */
export function renderComparisonMarkdown(c: Comparison, semantic: readonly SemanticDiffLine[]): string {
  const objects = renderComparisonText(c).trimEnd();
  return `### meshops compare: \`${c.a}\` → \`${c.b}\`\n\n${renderDiffMarkdown(semantic)}\n<details><summary>${objects.split("\n")[0]}</summary>\n\n\`\`\`diff\n${objects.split("\n").slice(1).join("\n")}\n\`\`\`\n</details>\n`;
}

export function registerCompare(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(program.command("compare").description("diff two environments' rendered configuration: what it does (traffic, access, mTLS), then object by object and field by field (no cluster needed)"))
    .argument("<a>", "environment")
    .argument("<b>", "environment to compare it with")
    .argument("[path]", "repository folder (default: found from the current directory)")
    .option("--rev <rev>", "render the repository at this git revision")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "markdown", "json"]).default("text"))
    .action(async (a: string, b: string, path: string | undefined, flags: CompareFlags) => {
      if (a === b) throw new UsageError(`compare needs two different environments, got ${a} twice`);
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
      try {
        const [envA, envB] = [a, b].map((n) => selectEnvironments(repo.loaded, [n])[0]!);
        const sides = [];
        for (const env of [envA!, envB!]) {
          const rendered = await renderEnvironment(repo.dir, env);
          const errors = rendered.findings.filter((f) => f.severity === "error");
          if (errors.length > 0) {
            io.stderr(renderText({ findings: errors.map((f) => ({ ...f, env: env.name })), objects: [], environments: [env.name] }, { color: false }));
            io.stderr(`meshops: environment ${env.name} did not render: nothing compared\n`);
            setExit(ExitCode.input);
            return;
          }
          sides.push({ env, manifests: rendered.manifests });
        }
        const c = compareManifests(sides[0]!, sides[1]!);
        // "from A to B": what B's configuration does differently from A's
        const semantic = semanticDiff(buildMeshModel(sides[0]!.manifests), buildMeshModel(sides[1]!.manifests));
        if (flags.format === "json") io.stdout(`${JSON.stringify({ ...c, semantic: semantic.map((l) => ({ subject: l.subject, kind: l.kind, change: l.change, risk: l.risk })) }, null, 2)}\n`);
        else if (flags.format === "markdown") io.stdout(renderComparisonMarkdown(c, semantic));
        else io.stdout(`semantic changes ${c.a} → ${c.b}:\n${renderDiffText(semantic).trimEnd().replace(/^/gm, "  ")}\n${renderComparisonText(c)}`);
      } finally {
        repo.dispose();
      }
    });
}
