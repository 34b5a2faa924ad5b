/** Exit codes are part of the CI API, documented in the README; a module of their own so the CLI entry point loads nothing else for them. */
export const ExitCode = {
  ok: 0,
  /** Findings at or above the failure threshold, drift, failed analysis. */
  findings: 1,
  /** Bad input or usage. */
  input: 2,
  /** Cluster or backend unreachable. */
  unreachable: 3,
  /** A bug in meshops (EX_SOFTWARE). */
  internal: 70,
} as const;
