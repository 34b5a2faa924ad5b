/** `meshops explain CODE`: what an analyzer checks, its default severity and istioctl code; without CODE, the list. */
import type { Command } from "commander";
import { analyzerFor, analyzers } from "../analyze/index.js";
import { policyRuleFor, policyRules } from "../policy/index.js";
import { UsageError } from "./errors.js";
import type { Io } from "./main.js";

/** Wraps text at `width` columns on spaces. */
function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n");
}

export function registerExplain(program: Command, io: Io): void {
  program
    .command("explain")
    .description("explain an analyzer finding code (e.g. MSH2002); without a code, list them all")
    .argument("[code]", "finding code")
    .action((code: string | undefined) => {
      if (code === undefined) {
        for (const a of analyzers) io.stdout(`${a.code}  ${a.severity.padEnd(7)}  ${(a.istio ?? "-").padEnd(7)}  ${a.title}\n`);
        // Policy rules (zero-trust pack, user policies): their severity applies when the pack is enabled or a policy is configured.
        for (const r of policyRules) io.stdout(`${r.code}  ${r.severity.padEnd(7)}  ${"-".padEnd(7)}  ${r.title}\n`);
        return;
      }
      const a: { code: string; title: string; severity: string; istio?: string; explanation: string } | undefined = analyzerFor(code) ?? policyRuleFor(code);
      if (!a) throw new UsageError(`unknown code ${code}: run meshops explain for the list`);
      io.stdout(`${a.code}: ${a.title}\n\nseverity: ${a.severity}\nistioctl: ${a.istio ?? "none"}\n\n${wrap(a.explanation)}\n`);
    });
}
