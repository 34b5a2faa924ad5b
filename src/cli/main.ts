/** The meshops command line: parse flags, call the stages, render, map errors to exit codes. */
import { Command, CommanderError, Option } from "commander";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { registerAdopt } from "./adopt.js";
import { registerApply } from "./apply.js";
import { registerAudit } from "./audit.js";
import { registerCheck } from "./check.js";
import { registerCi } from "./ci.js";
import { registerDiff } from "./diff.js";
import { registerDrift } from "./drift.js";
import { registerCompare } from "./compare.js";
import { registerExplain } from "./explain.js";
import { registerGrafana } from "./grafana.js";
import { registerInit } from "./init.js";
import { registerObserve } from "./observe.js";
import { registerPlan } from "./plan.js";
import { registerRender } from "./render.js";
import { registerRollback } from "./rollback.js";
import { registerSchemas } from "./schemas.js";
import { registerStatus } from "./status.js";
import { registerWebhook } from "./webhook.js";
import { describeError, ExitCode } from "./errors.js";

/** The package version, for --version and report metadata. */
export const version: string = (JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string }).version;

/** Output streams and environment, injectable for tests. */
export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  cwd: string;
  isTty: boolean;
  env: NodeJS.ProcessEnv;
}

/** Options every command accepts. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("-C, --chdir <dir>", "run as if started in <dir>"))
    .addOption(new Option("--no-color", "never colour the output (NO_COLOR is honoured too)"));
}

/** Options of commands that reach a cluster. */
export function addClusterOptions(cmd: Command): Command {
  return cmd.option("--context <name>", "kubeconfig context (overrides the environment's)").option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)");
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(argv: string[], io?: Partial<Io>): Promise<number> {
  const ctx: Io = {
    stdout: io?.stdout ?? ((s) => process.stdout.write(s)),
    stderr: io?.stderr ?? ((s) => process.stderr.write(s)),
    cwd: io?.cwd ?? process.cwd(),
    isTty: io?.isTty ?? Boolean(process.stdout.isTTY),
    env: io?.env ?? process.env,
  };
  let exit: number = ExitCode.ok;
  const program = new Command("meshops")
    .description("GitOps for service-mesh configuration: check, review, apply and observe Istio, Linkerd and Gateway API config kept in Git")
    .version(version, "-V, --version")
    .exitOverride()
    .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr })
    .showHelpAfterError("(run meshops help for usage)");
  const setExit = (code: number): void => {
    exit = code;
  };
  registerCheck(program, ctx, setExit);
  registerRender(program, ctx, setExit);
  registerInit(program, ctx, setExit);
  registerSchemas(program, ctx, setExit);
  registerExplain(program, ctx);
  registerPlan(program, ctx, setExit);
  registerApply(program, ctx, setExit);
  registerDiff(program, ctx, setExit);
  registerRollback(program, ctx, setExit);
  registerStatus(program, ctx, setExit);
  registerCompare(program, ctx, setExit);
  registerDrift(program, ctx, setExit);
  registerAdopt(program, ctx, setExit);
  registerCi(program, ctx, setExit);
  registerAudit(program, ctx, setExit);
  registerGrafana(program, ctx, setExit);
  registerWebhook(program, ctx, setExit);
  registerObserve(program, ctx, setExit);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return ExitCode.ok;
      return ExitCode.input;
    }
    const d = describeError(e);
    ctx.stderr(`meshops: ${d.message}\n`);
    return d.exit;
  }
  return exit;
}
