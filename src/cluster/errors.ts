/** Errors from the Kubernetes API: a stable code to branch on, the subject, and whether retrying can help. */

/** Stable codes of API failures (branch on these, not on classes). */
export type KubeErrorCode = "forbidden" | "conflict" | "invalid" | "not_found" | "already_exists" | "unauthorized" | "unknown_kind" | "api_error" | "expired";

/** One field another manager owns, from a 409 apply conflict. */
export interface FieldConflict {
  /** Field path as the API server reports it (e.g. `.spec.http[0].route[0].weight`). */
  field: string;
  /** The field manager that owns it (e.g. `kubectl`, `other`). */
  manager: string;
}

/** A failed API request: per object, with the verb and resource named, never carrying secrets. */
export class KubeError extends Error {
  readonly terminal: boolean;
  constructor(
    readonly code: KubeErrorCode,
    message: string,
    readonly details: { status?: number; verb?: string; resource?: string; subject?: string; conflicts?: FieldConflict[]; fields?: string[]; cause?: unknown } = {},
  ) {
    super(message);
    // a 409 or 403 does not go away by retrying; a 5xx that outlived the retries might
    this.terminal = code !== "api_error";
  }
}

/** Maps an HTTP status to an error code. */
export function codeForStatus(status: number): KubeErrorCode {
  if (status === 403) return "forbidden";
  if (status === 401) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 422 || status === 400) return "invalid";
  return "api_error";
}

/** The Kubernetes Status object's fields meshops reads. */
export interface KubeStatus {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { reason?: string; message?: string; field?: string }[] };
}

/**
 * Parses apply conflicts from a 409 Status: each cause says `conflict with "manager" using v1: .spec.x`
 * (apiserver's structured-merge-diff conflict message, k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager).
 */
export function parseConflicts(status: KubeStatus): FieldConflict[] {
  const out: FieldConflict[] = [];
  for (const c of status.details?.causes ?? []) {
    if (c.reason !== "FieldManagerConflict") continue;
    const m = /conflict with "([^"]+)"/.exec(c.message ?? "");
    out.push({ field: c.field ?? "", manager: m?.[1] ?? "unknown" });
  }
  return out;
}
