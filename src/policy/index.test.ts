import { describe, expect, it } from "vitest";
import { buildMeshModel } from "../model/mesh-model.js";
import { parseManifests } from "../source/yaml.js";
import { policyRuleFor, runPolicies } from "./index.js";

const env = { name: "prod", file: "meshops.yaml", line: 3, column: 3 };
const vap = `---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: named-ports}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [services]}]
  validations:
    - expression: "object.spec.ports.all(p, has(p.name))"
      message: "every Service port needs a name (Istio protocol selection)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: named-ports}
spec: {policyName: named-ports, validationActions: [Deny]}
`;
const svc = `---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
`;

describe("runPolicies", () => {
  it("uses admission policies among the rendered objects as well as those from policy files, once", () => {
    const rendered = parseManifests(svc + vap, "mesh/all.yaml").manifests;
    const fromFiles = parseManifests(vap, "policies/vap.yaml").manifests;
    const got = runPolicies(buildMeshModel(rendered), { env, policyFiles: fromFiles, crds: [] });
    expect(got.map((f) => `${f.code} ${f.file}:${f.line} ${f.message}`)).toEqual(["MSH6100 mesh/all.yaml:2 ValidatingAdmissionPolicy named-ports (binding named-ports) denies Service/shop/web: every Service port needs a name (Istio protocol selection)"]);
    expect(runPolicies(buildMeshModel(parseManifests(svc, "mesh/all.yaml").manifests), { env, policyFiles: fromFiles, crds: [] })).toHaveLength(1);
  });
  it("runs the zero-trust pack only when enabled", () => {
    const model = buildMeshModel(parseManifests(svc + `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: x, namespace: shop}
spec: {mtls: {mode: DISABLE}}
`, "m.yaml").manifests);
    expect(runPolicies(model, { env, policyFiles: [], crds: [] })).toEqual([]);
    expect(runPolicies(model, { env, zeroTrust: { enabled: true }, policyFiles: [], crds: [] }).map((f) => f.code)).toEqual(["MSH6001", "MSH6002", "MSH6010"]);
  });
  it("explains every policy code", () => {
    for (const c of ["MSH6001", "MSH6002", "MSH6003", "MSH6010", "MSH6020", "MSH6100", "MSH6101", "msh6102"]) expect(policyRuleFor(c)?.explanation.length).toBeGreaterThan(100);
    expect(policyRuleFor("MSH2001")).toBeUndefined();
  });
});
