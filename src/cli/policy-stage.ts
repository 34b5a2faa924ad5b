/** The policy stage of `check`: reads the policy files of meshops.yaml, validates them, runs the zero-trust pack and the user policies. */
import type { Environment } from "../config/load.js";
import type { MeshModel } from "../model/mesh-model.js";
import { splitApiVersion, type Manifest } from "../model/resource.js";
import { runPolicies } from "../policy/index.js";
import type { Finding } from "../report/finding.js";
import { readPolicyFiles } from "../source/policy-files.js";
import type { CelSchema } from "../validate/cel/types.js";
import { validateManifests, type SchemaStore } from "../validate/index.js";

/** CRD schemas from the store (bundled core schemas use $refs and are left untyped, as their defaults are the API server's code). */
function crdSchemaOf(store: SchemaStore): (apiVersion: string, kind: string) => CelSchema | undefined {
  return (apiVersion, kind) => {
    const { group, version } = splitApiVersion(apiVersion);
    const e = store.get(group, version, kind);
    return e?.crdFile !== undefined ? (e.schema as CelSchema) : undefined;
  };
}

/** Policy findings of one environment: input and schema problems of the policy files, then the policies' own findings. */
export function runPolicyStage(root: string, env: Environment, model: MeshModel, store: SchemaStore, crds: readonly Manifest[], cel: boolean): Finding[] {
  const files = readPolicyFiles(root, env.policy.policies ?? []);
  const out: Finding[] = [...files.findings];
  // Policy files are not applied with the environment, but they are applied to the cluster that enforces them: same schemas.
  if (files.manifests.length) out.push(...validateManifests(files.manifests, store, { env: env.name, cel }).findings);
  const site = env.origin ? { name: env.name, ...env.origin } : { name: env.name, file: env.path, line: 1, column: 1 };
  out.push(...runPolicies(model, { env: site, ...(env.policy.zeroTrust ? { zeroTrust: env.policy.zeroTrust } : {}), policyFiles: files.manifests, crds, schemaOf: crdSchemaOf(store) }));
  return out;
}
