/** `meshops check`: render every environment, validate, report; exit 0 clean, 1 findings, 2 bad input. */
import { Option, type Command } from "commander";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { activeFindings, renderCodeQuality, renderJson, renderJunit, renderSarif, renderText, type CheckReport } from "../report/formats.js";
import { openRepository, selectEnvironments } from "../source/repository.js";
import { ExitCode } from "./errors.js";
import { addCommonOptions, version, type Io } from "./main.js";
import { runCheck } from "./pipeline.js";

interface CheckFlags {
  env?: string[];
  rev?: string;
  crds: string[];
  format: "text" | "json" | "codequality" | "junit" | "sarif";
  output?: string;
  cel: boolean;
  schemaOnly?: boolean;
  chdir?: string;
  color: boolean;
  context?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerCheck(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(
    program
      .command("check")
      .description("render every environment, validate against the CRD and Kubernetes schemas, report findings with file:line")
      .argument("[path]", "repository folder with meshops.yaml, or a folder/file of manifests (one implicit environment)"),
  )
    .option("-e, --env <name>", "only this environment (repeatable)", collect, [])
    .option("--rev <rev>", "check the repository at this git revision instead of the working tree")
    .option("--crds <path>", "CRD file or folder to validate against (repeatable)", collect, [])
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json", "codequality", "junit", "sarif"]).default("text"))
    .option("-o, --output <file>", "write the report to a file instead of stdout")
    .option("--no-cel", "do not evaluate x-kubernetes-validations (CEL) rules")
    .option("--schema-only", "stop after schema validation (no semantic analyzers or policies)")
    .option("--context <name>", "use the schemas `meshops schemas pull` cached for this kubeconfig context (overrides each environment's)")
    .action(async (path: string | undefined, flags: CheckFlags) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
      try {
        const envs = selectEnvironments(repo.loaded, flags.env).map((e) => (flags.context ? { ...e, cluster: { ...e.cluster, context: flags.context } } : e));
        const { report } = await runCheck(repo, envs, { crds: flags.crds, cwd, cel: flags.cel, analyze: !flags.schemaOnly });
        const text = renderReport(report, flags.format, {
          color: flags.color && io.isTty && !flags.output && io.env.NO_COLOR === undefined,
          readLine: (file, line) => {
            try {
              return readFileSync(resolve(repo.dir, file), "utf8").split("\n")[line - 1];
            } catch {
              return undefined;
            }
          },
        });
        if (flags.output) {
          writeFileSync(resolve(cwd, flags.output), text);
          if (flags.format !== "text") io.stderr(renderSummaryLine(report));
        } else {
          io.stdout(text);
        }
        setExit(exitFor(report, envs.map((e) => e.policy.failOn)));
      } finally {
        repo.dispose();
      }
    });
}

function renderReport(report: CheckReport, format: CheckFlags["format"], text: { color: boolean; readLine: (f: string, l: number) => string | undefined }): string {
  switch (format) {
    case "json":
      return renderJson(report);
    case "codequality":
      return renderCodeQuality(report);
    case "junit":
      return renderJunit(report);
    case "sarif":
      return renderSarif(report, version);
    default:
      return renderText(report, text);
  }
}

function renderSummaryLine(report: CheckReport): string {
  const e = activeFindings(report).filter((f) => f.severity === "error").length;
  const w = activeFindings(report).filter((f) => f.severity === "warning").length;
  return `meshops check: ${e} error(s), ${w} warning(s) in ${report.objects.length} object(s)\n`;
}

/** 2 when any input could not be read; 1 for findings at the failure threshold; else 0. */
export function exitFor(all: CheckReport, failOn: ("error" | "warning")[]): number {
  const report = { ...all, findings: activeFindings(all) };
  if (report.findings.some((f) => f.category === "input" && f.severity === "error")) return ExitCode.input;
  if (report.findings.some((f) => f.severity === "error")) return ExitCode.findings;
  if (failOn.includes("warning") && report.findings.some((f) => f.severity === "warning")) return ExitCode.findings;
  return ExitCode.ok;
}
