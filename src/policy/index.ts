/** Policies: suppressions, the zero-trust pack and user ValidatingAdmissionPolicies, run over one environment. */
import type { MeshModel } from "../model/mesh-model.js";
import { identityKey, splitApiVersion, type Manifest } from "../model/resource.js";
import type { Finding } from "../report/finding.js";
import type { EnvironmentSite, PolicyRule } from "./rule.js";
import { ADMISSION_GROUP, evaluateAdmissionPolicies, userPolicyRules, type AdmissionInput } from "./vap.js";
import { resourceMapper } from "./vap-match.js";
import { resolveZeroTrust, runZeroTrust, zeroTrustRules } from "./zero-trust.js";
import type { ZeroTrustConfig } from "../config/schema.js";

export { applySuppressions, IGNORE_ANNOTATION, parseIgnoreAnnotation } from "./suppress.js";
export { JUSTIFICATION_ANNOTATION, resolveZeroTrust, runZeroTrust, type ZeroTrustSettings } from "./zero-trust.js";
export { evaluateAdmissionPolicies, type AdmissionInput } from "./vap.js";
export { resourceMapper, guessResource } from "./vap-match.js";
export type { EnvironmentSite, PolicyRule } from "./rule.js";

/** Every policy rule (zero-trust pack, user policies), for `meshops explain`. */
export const policyRules: readonly PolicyRule[] = [...zeroTrustRules, ...userPolicyRules];

/** The policy rule with this code, if any. */
export function policyRuleFor(code: string): PolicyRule | undefined {
  return policyRules.find((r) => r.code === code.toUpperCase());
}

/** What runPolicies needs besides the model. */
export interface PolicyInput {
  env: EnvironmentSite;
  zeroTrust?: ZeroTrustConfig;
  /** Objects read from meshops.yaml `policy.policies` (policies, bindings, params). */
  policyFiles: readonly Manifest[];
  /** Every CRD known to the environment (for kind → resource). */
  crds: readonly Manifest[];
  /** CRD schemas by kind, to convert and default custom resources for CEL as the API server does. */
  schemaOf?: AdmissionInput["schemaOf"];
}

const isAdmissionPolicy = (m: Manifest): boolean => splitApiVersion(m.ref.apiVersion).group === ADMISSION_GROUP && (m.ref.kind === "ValidatingAdmissionPolicy" || m.ref.kind === "ValidatingAdmissionPolicyBinding");

/** Runs the zero-trust pack (when enabled) and the user policies (policy files, and policies among the rendered objects). */
export function runPolicies(model: MeshModel, input: PolicyInput): Finding[] {
  const out: Finding[] = [];
  const zt = resolveZeroTrust(input.zeroTrust);
  if (zt) out.push(...runZeroTrust(model, zt, input.env));
  // A policy file inside the environment's own path is rendered too: use the rendered object once.
  const rendered = input.policyFiles.length ? new Set(model.manifests.map((m) => identityKey(m.ref))) : undefined;
  const fromFiles = rendered ? input.policyFiles.filter((m) => !rendered.has(identityKey(m.ref))) : [];
  const policies = [...model.manifests.filter(isAdmissionPolicy), ...fromFiles.filter(isAdmissionPolicy)];
  if (policies.length > 0) {
    out.push(...evaluateAdmissionPolicies({ policies, objects: model.manifests, paramSources: [...model.manifests, ...fromFiles], ...(input.schemaOf ? { schemaOf: input.schemaOf } : {}), resourceOf: resourceMapper([...input.crds, ...model.manifests.filter((m) => m.ref.kind === "CustomResourceDefinition")]) }));
  }
  return out;
}
