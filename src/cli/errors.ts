/** Errors to exit codes and messages: mapped once here; the codes (exit-codes.ts) are documented in the README. */
import { ConfigError } from "../config/load.js";
import { ToolError } from "../source/exec.js";
import { RevisionError } from "../source/git.js";
import { TargetError } from "../source/repository.js";
import { UnreachableError, UsageError } from "../errors.js";
import { ExitCode } from "./exit-codes.js";

export { ExitCode };

export { UsageError, UnreachableError };

/** Maps an error to its exit code and one clear message (no stack trace for expected failures). */
export function describeError(e: unknown): { exit: number; message: string } {
  if (e instanceof ConfigError) return { exit: ExitCode.input, message: `invalid configuration:\n${e.message}` };
  if (e instanceof TargetError || e instanceof RevisionError || e instanceof UsageError) return { exit: ExitCode.input, message: e.message };
  if (e instanceof ToolError) return { exit: ExitCode.input, message: e.message };
  if (e instanceof UnreachableError) return { exit: ExitCode.unreachable, message: e.message };
  const err = e as Error;
  return { exit: ExitCode.internal, message: `internal error (please report it): ${err?.stack ?? String(e)}` };
}
