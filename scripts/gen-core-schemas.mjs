#!/usr/bin/env node
// Regenerates schemas/kubernetes-core.json: the OpenAPI v3 schemas that the Kubernetes API server
// publishes (/openapi/v3) for the core kinds mesh repositories carry next to their mesh objects.
// Source: api/openapi-spec/v3 of the k8s.io/kubernetes Go module (fetched through the Go module proxy),
// trimmed to the kinds below and stripped of descriptions. Usage:
//   node scripts/gen-core-schemas.mjs [k8s-version]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const version = process.argv[2] ?? "v1.34.4";
const work = mkdtempSync(join(tmpdir(), "meshops-gen-"));
execFileSync("go", ["mod", "init", "gen"], { cwd: work, stdio: "ignore" });
const info = JSON.parse(execFileSync("go", ["mod", "download", "-json", `k8s.io/kubernetes@${version}`], { cwd: work, encoding: "utf8" }));
const dir = join(info.Dir, "api/openapi-spec/v3");

// group/version documents and the kinds kept from each
const wanted = {
  "api__v1_openapi.json": ["Service", "Pod", "Namespace", "ServiceAccount", "ConfigMap", "Secret", "Endpoints", "LimitRange", "ResourceQuota", "PersistentVolumeClaim"],
  "apis__apps__v1_openapi.json": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"],
  "apis__batch__v1_openapi.json": ["Job", "CronJob"],
  "apis__networking.k8s.io__v1_openapi.json": ["Ingress", "IngressClass", "NetworkPolicy"],
  "apis__policy__v1_openapi.json": ["PodDisruptionBudget"],
  "apis__autoscaling__v2_openapi.json": ["HorizontalPodAutoscaler"],
  "apis__rbac.authorization.k8s.io__v1_openapi.json": ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
  "apis__admissionregistration.k8s.io__v1_openapi.json": ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"],
  "apis__apiextensions.k8s.io__v1_openapi.json": ["CustomResourceDefinition"],
  "apis__coordination.k8s.io__v1_openapi.json": ["Lease"],
  "apis__discovery.k8s.io__v1_openapi.json": ["EndpointSlice"],
};

const schemas = {};
const kinds = [];
function strip(node) {
  if (Array.isArray(node)) return node.map(strip);
  if (node && typeof node === "object") {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "description" || k === "x-kubernetes-patch-strategy" || k === "x-kubernetes-patch-merge-key") continue;
      out[k] = k === "properties" ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strip(s)])) : strip(v);
    }
    return out;
  }
  return node;
}
function collect(all, name) {
  if (schemas[name]) return;
  const s = all[name];
  if (!s) throw new Error(`missing schema ${name}`);
  schemas[name] = strip(s);
  JSON.stringify(s, (k, v) => {
    if (k === "$ref" && typeof v === "string") collect(all, v.replace("#/components/schemas/", ""));
    return v;
  });
}
for (const [file, keep] of Object.entries(wanted)) {
  const doc = JSON.parse(readFileSync(join(dir, file), "utf8"));
  const all = doc.components.schemas;
  for (const [name, s] of Object.entries(all)) {
    for (const gvk of s["x-kubernetes-group-version-kind"] ?? []) {
      if (keep.includes(gvk.kind) && name.endsWith(`.${gvk.kind}`)) {
        collect(all, name);
        kinds.push({ group: gvk.group, version: gvk.version, kind: gvk.kind, ref: name });
      }
    }
  }
}
kinds.sort((a, b) => `${a.group}/${a.version}/${a.kind}`.localeCompare(`${b.group}/${b.version}/${b.kind}`));
const out = { source: `kubernetes ${version} (api/openapi-spec/v3)`, kinds, schemas };
writeFileSync(new URL("../schemas/kubernetes-core.json", import.meta.url), JSON.stringify(out) + "\n");
console.log(`wrote ${kinds.length} kinds, ${Object.keys(schemas).length} schemas`);
