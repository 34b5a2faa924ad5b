/** The meshops command line: parse flags, call the stages, render, map errors to exit codes. */
import { Command, CommanderError, Option } from "commander";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { discardPrestartedWorker, prestartCheckWorker } from "./check-worker-start.js";
import { ExitCode } from "./exit-codes.js";

/** The package version, for --version and report metadata. */
export const version: string = (JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string }).version;

type Register = (program: Command, io: Io, setExit: (code: number) => void) => void;

/**
 * Every command, in the order `meshops help` lists them, with the names it adds and how to load it. A command's
 * module (and what it imports: CEL, the cluster client, the GitLab client...) is loaded only when that command runs,
 * so `meshops check` does not pay for `meshops observe`'s imports.
 */
export const commands: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ["check"], load: async () => (await import("./check.js")).registerCheck },
  { names: ["render"], load: async () => (await import("./render.js")).registerRender },
  { names: ["init"], load: async () => (await import("./init.js")).registerInit },
  { names: ["schemas"], load: async () => (await import("./schemas.js")).registerSchemas },
  { names: ["explain"], load: async () => (await import("./explain.js")).registerExplain },
  { names: ["plan"], load: async () => (await import("./plan.js")).registerPlan },
  { names: ["apply"], load: async () => (await import("./apply.js")).registerApply },
  { names: ["diff"], load: async () => (await import("./diff.js")).registerDiff },
  { names: ["rollback"], load: async () => (await import("./rollback.js")).registerRollback },
  { names: ["status"], load: async () => (await import("./status.js")).registerStatus },
  { names: ["compare"], load: async () => (await import("./compare.js")).registerCompare },
  { names: ["drift"], load: async () => (await import("./drift.js")).registerDrift },
  { names: ["adopt"], load: async () => (await import("./adopt.js")).registerAdopt },
  { names: ["ci"], load: async () => (await import("./ci.js")).registerCi },
  { names: ["audit"], load: async () => (await import("./audit.js")).registerAudit },
  { names: ["grafana"], load: async () => (await import("./grafana.js")).registerGrafana },
  { names: ["webhook"], load: async () => (await import("./webhook.js")).registerWebhook },
  { names: ["top", "graph", "metrics", "correlate", "prometheus"], load: async () => (await import("./observe.js")).registerObserve },
];

/**
 * The commands to register for these arguments: only the named one when the first argument names a command
 * (its parsing, help and errors do not depend on the others), none for a bare --version, else all (help,
 * an unknown command's "did you mean", no arguments).
 */
function commandsFor(argv: readonly string[]): typeof commands {
  const first = argv[0];
  if (argv.length === 1 && (first === "-V" || first === "--version")) return [];
  const named = commands.find((c) => first !== undefined && c.names.includes(first));
  return named ? [named] : commands;
}

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
  // check's worker thread loads its modules while this thread loads the command's (check-worker-start.ts)
  if (argv[0] === "check") prestartCheckWorker(ctx.env);
  const registers = await Promise.all(commandsFor(argv).map((c) => c.load()));
  for (const register of registers) register(program, ctx, setExit);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    discardPrestartedWorker();
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return ExitCode.ok;
      return ExitCode.input;
    }
    const { describeError } = await import("./errors.js");
    const d = describeError(e);
    ctx.stderr(`meshops: ${d.message}\n`);
    return d.exit;
  }
  discardPrestartedWorker();
  return exit;
}
