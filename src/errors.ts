/** Errors shared by every stage: a stable snake_case code to branch on, never instanceof chains in callers. */

/** A usage problem or unusable input detected outside the file parsers (exit 2). */
export class UsageError extends Error {
  readonly code: string = "usage";
}

/** A cluster or backend could not be reached (exit 3). */
export class UnreachableError extends Error {
  readonly code: string = "unreachable";
}
