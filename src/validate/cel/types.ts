/** One x-kubernetes-validations entry. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
}

/** A schema node as it appears in a CRD openAPIV3Schema (only what type conversion needs). */
export interface CelSchema {
  type?: string;
  format?: string;
  properties?: Record<string, CelSchema>;
  items?: CelSchema;
  additionalProperties?: CelSchema | boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  /** Structural-schema default; applied to absent (or null) properties like API server defaulting. */
  default?: unknown;
}

export type CelOutcome =
  | { ok: true }
  | { ok: false; message: string; fieldPath?: string; reason?: string }
  | { ok: false; evalError: string };
