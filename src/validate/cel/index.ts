// Evaluation of Kubernetes CRD x-kubernetes-validations CEL rules on top of @bufbuild/cel.
export type { CelOutcome, CelRule, CelSchema } from "./types.js";
export type { CompiledCelRule } from "./rules.js";
export { compileCelRule, evalCelRule, fastCelRule, isTransitionRule } from "./rules.js";
export { BAIL, type FastRule } from "./fast.js";
export { escapePropertyName, toCelValue } from "./convert.js";
