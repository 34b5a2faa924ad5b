/** Which built-in and mesh kinds are cluster-scoped (everything else is namespaced). */
const clusterScoped = new Set([
  "v1/Namespace",
  "v1/Node",
  "v1/PersistentVolume",
  "rbac.authorization.k8s.io/ClusterRole",
  "rbac.authorization.k8s.io/ClusterRoleBinding",
  "apiextensions.k8s.io/CustomResourceDefinition",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicy",
  "admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
  "admissionregistration.k8s.io/MutatingWebhookConfiguration",
  "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
  "networking.k8s.io/IngressClass",
  "storage.k8s.io/StorageClass",
  "scheduling.k8s.io/PriorityClass",
  "gateway.networking.k8s.io/GatewayClass",
]);

/** True for kinds that live outside namespaces. */
export function isClusterScoped(apiVersion: string, kind: string): boolean {
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "v1";
  return clusterScoped.has(`${group}/${kind}`);
}
