/**
 * Offline matching of ValidatingAdmissionPolicy matchConstraints and binding matchResources against rendered
 * objects, as kube-apiserver matches admission requests
 * (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#matching-requests-matchconstraints).
 * Every object is matched as a CREATE of the object at its apiVersion.
 */
import { asArr, asObj, asStr, asStrMap, type Obj } from "../model/core.js";
import { isClusterScoped } from "../model/scope.js";
import { splitApiVersion, type Manifest } from "../model/resource.js";

/** The REST resource of a kind, and its scope. */
export interface ResourceInfo {
  resource: string;
  namespaced: boolean;
}

/** kind → resource for the kinds whose plural is irregular (k8s.io/apimachinery UnsafeGuessKindToResource guesses the rest). */
const IRREGULAR: Record<string, string> = { Endpoints: "endpoints", PodSecurityPolicy: "podsecuritypolicies", NetworkPolicy: "networkpolicies", Ingress: "ingresses" };

/** The plural the API server's RESTMapper would guess for a kind without a CRD (lowercase; -s, -es, -ies). */
export function guessResource(kind: string): string {
  const irregular = IRREGULAR[kind];
  if (irregular) return irregular;
  const k = kind.toLowerCase();
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

/** A resolver from group/kind to resource: the CRDs' spec.names.plural and scope, else the guess and the built-in scope table. */
export function resourceMapper(crds: readonly Manifest[]): (apiVersion: string, kind: string) => ResourceInfo {
  const byKind = new Map<string, ResourceInfo>();
  for (const m of crds) {
    if (m.ref.kind !== "CustomResourceDefinition") continue;
    const spec = asObj(m.object.spec);
    const names = asObj(spec.names);
    const group = asStr(spec.group);
    const kind = asStr(names.kind);
    const plural = asStr(names.plural);
    if (group !== undefined && kind && plural) byKind.set(`${group}/${kind}`, { resource: plural, namespaced: asStr(spec.scope) !== "Cluster" });
  }
  return (apiVersion, kind) => byKind.get(`${splitApiVersion(apiVersion).group}/${kind}`) ?? { resource: guessResource(kind), namespaced: !isClusterScoped(apiVersion, kind) };
}

/** Does a Kubernetes label selector (matchLabels and matchExpressions) select these labels? An empty selector selects everything. */
export function labelSelectorMatches(selector: Obj | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(asStrMap(selector.matchLabels))) if (labels[k] !== v) return false;
  for (const e of asArr(selector.matchExpressions).map(asObj)) {
    const key = asStr(e.key) ?? "";
    const values = asArr(e.values).filter((x): x is string => typeof x === "string");
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (asStr(e.operator)) {
      case "In":
        if (!has || !values.includes(labels[key] ?? "")) return false;
        break;
      case "NotIn":
        if (has && values.includes(labels[key] ?? "")) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** What matching needs to know about one object. */
export interface AdmissionTarget {
  manifest: Manifest;
  group: string;
  version: string;
  info: ResourceInfo;
  labels: Record<string, string>;
  /** Labels of the object's namespace (the Namespace object's, with kubernetes.io/metadata.name as the API server sets it). */
  namespaceLabels?: Record<string, string>;
}

const matchesList = (list: unknown, value: string): boolean => {
  const xs = asArr(list).filter((x): x is string => typeof x === "string");
  return xs.includes("*") || xs.includes(value);
};

/** Does a NamedRuleWithOperations match a CREATE of the target? Subresource rules ("pods/status") never match an object. */
function ruleMatches(rule: Obj, t: AdmissionTarget, exactVersion: boolean): boolean {
  if (!matchesList(rule.operations, "CREATE")) return false;
  if (!matchesList(rule.apiGroups, t.group)) return false;
  // matchPolicy Equivalent (the default): the API server converts a request to a version the rule names.
  if (exactVersion && !matchesList(rule.apiVersions, t.version)) return false;
  const resources = asArr(rule.resources).filter((x): x is string => typeof x === "string");
  if (!resources.some((r) => r === "*" || r === "*/*" || r === t.info.resource)) return false;
  const scope = asStr(rule.scope) ?? "*";
  if (scope === "Cluster" && t.info.namespaced) return false;
  if (scope === "Namespaced" && !t.info.namespaced) return false;
  const names = asArr(rule.resourceNames);
  if (names.length > 0 && !names.includes(t.manifest.ref.name)) return false;
  return true;
}

/** Does a MatchResources block (policy matchConstraints or binding matchResources) match the target? */
export function matchResourcesMatches(mr: Obj, t: AdmissionTarget): boolean {
  const exact = asStr(mr.matchPolicy) === "Exact";
  const rules = asArr(mr.resourceRules).map(asObj);
  // A binding's matchResources without resourceRules restricts nothing by resource.
  if (mr.resourceRules !== undefined && !rules.some((r) => ruleMatches(r, t, exact))) return false;
  if (asArr(mr.excludeResourceRules).map(asObj).some((r) => ruleMatches(r, t, exact))) return false;
  if (!labelSelectorMatches(mr.objectSelector === undefined ? undefined : asObj(mr.objectSelector), t.labels)) return false;
  if (mr.namespaceSelector !== undefined) {
    // A Namespace is matched on its own labels; other cluster-scoped objects are never skipped by a namespaceSelector.
    const nsLabels = t.manifest.ref.kind === "Namespace" && t.group === "" ? { ...t.labels, "kubernetes.io/metadata.name": t.manifest.ref.name } : t.info.namespaced ? t.namespaceLabels : undefined;
    if (nsLabels && !labelSelectorMatches(asObj(mr.namespaceSelector), nsLabels)) return false;
  }
  return true;
}
