import { describe, expect, it } from "vitest";
import { parseManifests } from "../source/yaml.js";
import { evaluateAdmissionPolicies } from "./vap.js";
import { guessResource, labelSelectorMatches, resourceMapper } from "./vap-match.js";
import type { CelSchema } from "../validate/cel/types.js";

/** Evaluates the policies in `policyText` against the objects in `objectText`: [code, severity, file:line, message]. */
function run(policyText: string, objectText: string, crds = ""): [string, string, string, string][] {
  const policies = parseManifests(policyText, "policies.yaml").manifests;
  const objects = parseManifests(objectText, "m.yaml").manifests;
  const crdManifests = parseManifests(crds, "crds.yaml").manifests;
  return evaluateAdmissionPolicies({ policies, objects, paramSources: [...objects, ...policies], resourceOf: resourceMapper(crdManifests) }).map((f) => [f.code, f.severity, `${f.file}:${f.line}`, f.message]);
}

const policy = (spec: string, name = "no-wildcard") => `---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ${name}}
spec:
${spec}`;
const binding = (spec: string, name = "no-wildcard-binding") => `---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${name}}
spec:
${spec}`;

const apRules = `  matchConstraints:
    resourceRules:
      - apiGroups: [security.istio.io]
        apiVersions: ["*"]
        operations: [CREATE, UPDATE]
        resources: [authorizationpolicies]
`;
const noWildcard =
  policy(`${apRules}  validations:
    - expression: "!has(object.spec.rules) || object.spec.rules.all(r, !has(r.from) || r.from.all(f, !has(f.source.principals) || !f.source.principals.exists(p, p == '*')))"
      message: "principals must not be '*'"
      reason: Forbidden
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");

const ap = (name: string, principal: string, ns = "shop", labels = "{}") => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}, labels: ${labels}}
spec:
  rules:
    - from: [{source: {principals: ["${principal}"]}}]
`;

describe("resource names", () => {
  it("guesses plurals the way the API server's RESTMapper does, and prefers the CRD's", () => {
    expect(["Deployment", "Ingress", "NetworkPolicy", "Endpoints", "Gateway", "Class"].map(guessResource)).toEqual(["deployments", "ingresses", "networkpolicies", "endpoints", "gateways", "classes"]);
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: meshes.example.com}
spec: {group: example.com, scope: Cluster, names: {kind: Mesh, plural: meshies}, versions: []}
`;
    expect(resourceMapper(parseManifests(crd, "c.yaml").manifests)("example.com/v1", "Mesh")).toEqual({ resource: "meshies", namespaced: false });
    expect(resourceMapper([])("v1", "Namespace")).toEqual({ resource: "namespaces", namespaced: false });
  });
  it("evaluates label selectors with matchLabels and every matchExpressions operator", () => {
    const l = { env: "prod", tier: "db" };
    expect(labelSelectorMatches({ matchLabels: { env: "prod" } }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["db", "cache"] }] }, l)).toBe(true);
    expect(labelSelectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["db"] }] }, l)).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: "x", operator: "Exists" }] }, l)).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: "x", operator: "DoesNotExist" }] }, l)).toBe(true);
    expect(labelSelectorMatches({}, l)).toBe(true);
  });
});

describe("ValidatingAdmissionPolicy evaluation", () => {
  it("reports a Deny violation at the object, naming policy, binding, message and reason", () => {
    expect(run(noWildcard, ap("open", "*") + ap("closed", "cluster.local/ns/shop/sa/web"))).toEqual([
      ["MSH6100", "error", "m.yaml:2", "ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/open: principals must not be '*' (reason Forbidden)"],
    ]);
  });
  it("maps Warn to a warning and Audit to an info; Deny wins over Warn", () => {
    const with_ = (actions: string) => noWildcard.replace("validationActions: [Deny]", `validationActions: [${actions}]`);
    expect(run(with_("Warn"), ap("open", "*"))[0]?.[1]).toBe("warning");
    expect(run(with_("Audit"), ap("open", "*"))[0]?.[1]).toBe("info");
    expect(run(with_("Warn, Deny"), ap("open", "*"))[0]?.[1]).toBe("error");
  });
  it("uses messageExpression, and points at the validation's fieldPath", () => {
    const p =
      policy(`${apRules}  validations:
    - expression: "object.metadata.name.startsWith('ap-')"
      messageExpression: "'AuthorizationPolicy ' + object.metadata.name + ' must be named ap-*'"
      fieldPath: ".spec.rules[0].from"
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    expect(run(p, ap("open", "x"))).toEqual([["MSH6100", "error", "m.yaml:7", "ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/open: AuthorizationPolicy open must be named ap-*"]]);
  });
  it("matches only the resources, operations and scope of the rules, minus excludeResourceRules", () => {
    const deploy = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {}
`;
    expect(run(noWildcard, deploy)).toEqual([]);
    const updateOnly = noWildcard.replace("operations: [CREATE, UPDATE]", "operations: [UPDATE]");
    expect(run(updateOnly, ap("open", "*"))).toEqual([]);
    const excluded = noWildcard.replace("  validations:", "    excludeResourceRules:\n      - {apiGroups: ['*'], apiVersions: ['*'], operations: ['*'], resources: ['*'], resourceNames: [open]}\n  validations:");
    expect(run(excluded, ap("open", "*") + ap("also-open", "*")).map((f) => f[3].split(":")[0])).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/also-open"]);
    const clusterOnly = noWildcard.replace("resources: [authorizationpolicies]", "resources: [authorizationpolicies]\n        scope: Cluster");
    expect(run(clusterOnly, ap("open", "*"))).toEqual([]);
  });
  it("applies the namespaceSelector to the Namespace objects' labels (and kubernetes.io/metadata.name), and the objectSelector", () => {
    const ns = `---
apiVersion: v1
kind: Namespace
metadata: {name: pay, labels: {meshops.dev/sensitive: "true"}}
`;
    const sel = noWildcard.replace("  validations:", "    namespaceSelector: {matchLabels: {meshops.dev/sensitive: \"true\"}}\n  validations:");
    expect(run(sel, ns + ap("a", "*", "pay") + ap("b", "*", "shop")).map((f) => f[3].split(":")[0])).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/pay/a"]);
    const byName = noWildcard.replace("  validations:", "    namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [shop]}]}\n  validations:");
    expect(run(byName, ap("a", "*", "pay") + ap("b", "*", "shop")).map((f) => f[3].split(":")[0])).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/b"]);
    const objSel = noWildcard.replace("  validations:", "    objectSelector: {matchLabels: {team: core}}\n  validations:");
    expect(run(objSel, ap("a", "*", "shop", "{team: core}") + ap("b", "*")).map((f) => f[3].split(":")[0])).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/a"]);
  });
  it("restricts by the binding's matchResources", () => {
    const b = noWildcard.replace("validationActions: [Deny]\n", "validationActions: [Deny]\n  matchResources:\n    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: pay}}\n");
    expect(run(b, ap("a", "*", "pay") + ap("b", "*", "shop")).map((f) => f[3].split(":")[0])).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/pay/a"]);
  });
  it("evaluates matchConditions, variables, request and namespaceObject", () => {
    const p =
      policy(`${apRules}  matchConditions:
    - name: not-system
      expression: "request.namespace != 'kube-system' && request.operation == 'CREATE' && request.resource.resource == 'authorizationpolicies'"
  variables:
    - name: principals
      expression: "has(object.spec.rules) ? object.spec.rules.map(r, has(r.from) ? r.from.map(f, has(f.source.principals) ? f.source.principals : []) : []) : []"
    - name: team
      expression: "has(namespaceObject.metadata.labels) && 'team' in namespaceObject.metadata.labels ? namespaceObject.metadata.labels['team'] : 'none'"
  validations:
    - expression: "variables.team != 'none'"
      messageExpression: "'namespace ' + namespaceObject.metadata.name + ' has no team label'"
    - expression: "size(variables.principals) > 0"
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    const ns = `---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: web}}
`;
    expect(run(p, ns + ap("a", "*", "shop") + ap("b", "*", "pay") + ap("c", "*", "kube-system")).map((f) => f[3])).toEqual([
      "ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/pay/b: namespace pay has no team label",
    ]);
  });
  it("gives cluster-scoped objects an empty request.namespace and a null namespaceObject", () => {
    const p =
      policy(`  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [namespaces]}]
  validations:
    - expression: "request.namespace == '' && namespaceObject == null && request.name == object.metadata.name && object.metadata.name.startsWith('team-')"
      messageExpression: "'namespace ' + request.name + ' must start with team-'"
`) + binding("  policyName: no-wildcard\n  validationActions: [Warn]\n");
    const nsText = (name: string) => `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;
    expect(run(p, nsText("team-a") + nsText("shop")).map((f) => [f[1], f[3]])).toEqual([["warning", "ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) warns about Namespace/shop: namespace shop must start with team-"]]);
  });
  it("takes params from a paramRef by name, per namespace, and follows parameterNotFoundAction", () => {
    const p =
      policy(`  paramKind: {apiVersion: v1, kind: ConfigMap}
${apRules}  validations:
    - expression: "object.spec.rules.all(r, r.from.all(f, f.source.principals.all(p, !p.startsWith(params.data.forbidden))))"
      messageExpression: "'principals starting with ' + params.data.forbidden + ' are forbidden'"
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n  paramRef: {name: rules, parameterNotFoundAction: Deny}\n");
    const cm = `---
apiVersion: v1
kind: ConfigMap
metadata: {name: rules, namespace: shop}
data: {forbidden: "cluster.local/ns/legacy"}
`;
    expect(run(p, cm + ap("a", "cluster.local/ns/legacy/sa/x") + ap("b", "cluster.local/ns/legacy/sa/x", "pay")).map((f) => f[3])).toEqual([
      "ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/shop/a (params ConfigMap/shop/rules): principals starting with cluster.local/ns/legacy are forbidden",
      'ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies AuthorizationPolicy/pay/b: no params found for policy binding with Deny parameterNotFoundAction (paramRef {"name":"rules","parameterNotFoundAction":"Deny"})',
    ]);
    expect(run(p.replace("parameterNotFoundAction: Deny", "parameterNotFoundAction: Allow"), ap("b", "cluster.local/ns/legacy/sa/x", "pay"))).toEqual([]);
    const noRef = p.replace("  paramRef: {name: rules, parameterNotFoundAction: Deny}\n", "");
    expect(run(noRef, ap("a", "x"))).toEqual([["MSH6101", "error", "policies.yaml:20", "ValidatingAdmissionPolicyBinding no-wildcard-binding: policy no-wildcard has paramKind ConfigMap but the binding has no paramRef"]]);
  });
  it("reports an expression that does not compile once, at the policy file and line, and evaluates nothing", () => {
    const p = policy(`${apRules}  validations:\n    - expression: "object.spec.rules.all(r, "\n`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    const got = run(p, ap("a", "*"));
    expect(got).toHaveLength(1);
    expect(got[0]?.slice(0, 3)).toEqual(["MSH6101", "error", "policies.yaml:13"]);
    expect(got[0]?.[3]).toMatch(/^ValidatingAdmissionPolicy no-wildcard: validation 0 does not compile: .* \(expression: object\.spec\.rules\.all\(r,\)$/);
    const audit = policy(`${apRules}  auditAnnotations:\n    - key: who\n      valueExpression: "object.metadata.name +"\n  validations: [{expression: "true"}]\n`);
    expect(run(audit, "").map((f) => [f[0], f[2]])).toEqual([["MSH6101", "policies.yaml:14"]]);
    const unknown = policy(`${apRules}  validations:\n    - expression: "self.spec == 1"\n`);
    expect(run(unknown, "")[0]?.[3]).toContain("undeclared reference to 'self'");
  });
  it("says when an expression needs the authorizer, and skips only that validation", () => {
    const p =
      policy(`${apRules}  validations:
    - expression: "authorizer.group('').resource('pods').check('create').allowed()"
    - expression: "object.metadata.name != 'open'"
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    const got = run(p, ap("open", "x"));
    expect(got.map((f) => [f[0], f[1], f[2]])).toEqual([
      ["MSH6102", "warning", "policies.yaml:13"],
      ["MSH6100", "error", "m.yaml:2"],
    ]);
    expect(got[0]?.[3]).toContain("uses authorizer, which needs the API server: not evaluated offline");
  });
  it("reports a run-time error by failurePolicy: Fail rejects (error), Ignore does not (warning)", () => {
    const p = (fp: string) => policy(`  failurePolicy: ${fp}\n${apRules}  validations:\n    - expression: "object.spec.missing.field == 1"\n`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    const fail = run(p("Fail"), ap("a", "x"));
    expect(fail.map((f) => [f[0], f[1]])).toEqual([["MSH6102", "error"]]);
    expect(fail[0]?.[3]).toMatch(/no such key: missing evaluating object\.spec\.missing\.field == 1 for AuthorizationPolicy\/shop\/a \(failurePolicy Fail: the API server rejects the object\)/);
    expect(run(p("Ignore"), ap("a", "x")).map((f) => [f[0], f[1]])).toEqual([["MSH6102", "warning"]]);
  });
  it("rejects what the API server's validation rejects: no validationActions, a paramRef with both name and selector, no resourceRules", () => {
    expect(run(noWildcard.replace("validationActions: [Deny]", "validationActions: []"), ap("a", "*"))).toEqual([["MSH6101", "error", "policies.yaml:22", "ValidatingAdmissionPolicyBinding no-wildcard-binding: spec.validationActions must name Deny, Warn or Audit"]]);
    expect(run(noWildcard.replace("validationActions: [Deny]", "validationActions: [Deny]\n  paramRef: {name: x, selector: {}}"), ap("a", "*"))[0]?.[3]).toBe("ValidatingAdmissionPolicyBinding no-wildcard-binding: spec.paramRef needs exactly one of name and selector");
    expect(run(policy("  validations: [{expression: \"false\"}]\n") + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n"), ap("a", "*"))).toEqual([["MSH6101", "error", "policies.yaml:5", "ValidatingAdmissionPolicy no-wildcard: spec.matchConstraints.resourceRules is required"]]);
  });
  it("converts and defaults custom resources with their CRD schema, as the API server admits them", () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                mode: {type: string, default: strict}
                timeout: {type: string, format: duration}
`;
    const p =
      policy(`  matchConstraints:
    resourceRules: [{apiGroups: [example.com], apiVersions: [v1], operations: [CREATE], resources: [widgets]}]
  validations:
    - expression: "object.spec.mode == 'strict'"
    - expression: "!has(object.spec.timeout) || object.spec.timeout <= duration('30s')"
      message: "timeout above 30s"
`) + binding("  policyName: no-wildcard\n  validationActions: [Deny]\n");
    const widgets = "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a, namespace: x}\nspec: {}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b, namespace: x}\nspec: {timeout: 1m}\n";
    const crdSchema = (parseManifests(crd, "c.yaml").manifests[0]?.object.spec as { versions: { schema: { openAPIV3Schema: CelSchema } }[] }).versions[0]?.schema.openAPIV3Schema;
    const policies = parseManifests(p, "policies.yaml").manifests;
    const objects = parseManifests(widgets, "m.yaml").manifests;
    const got = evaluateAdmissionPolicies({ policies, objects, resourceOf: resourceMapper(parseManifests(crd, "c.yaml").manifests), schemaOf: (av, k) => (av === "example.com/v1" && k === "Widget" ? crdSchema : undefined) });
    expect(got.map((f) => f.message)).toEqual(["ValidatingAdmissionPolicy no-wildcard (binding no-wildcard-binding) denies Widget/x/b: timeout above 30s"]);
  });
  it("warns about a binding whose policy is not in the repository, and ignores a policy without binding", () => {
    expect(run(binding("  policyName: elsewhere\n  validationActions: [Deny]\n"), ap("a", "*"))).toEqual([["MSH6101", "warning", "policies.yaml:6", "ValidatingAdmissionPolicyBinding no-wildcard-binding names ValidatingAdmissionPolicy elsewhere, which the repository does not hold: not evaluated"]]);
    expect(run(policy(`${apRules}  validations: [{expression: "false"}]\n`), ap("a", "*"))).toEqual([]);
  });
});
