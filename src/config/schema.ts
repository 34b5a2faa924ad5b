/** The meshops.yaml repository contract, as a zod schema (unknown keys are errors). */
import { z } from "zod";

const relPath = z.string().min(1, "must not be empty");

/** Kubernetes object name rules for environment names (they become label values and Lease names). */
const envName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS-1123 label (lowercase letters, digits, '-')").max(63);

export const helmSchema = z.strictObject({
  /** Chart directory inside the repository. */
  chart: relPath,
  /** Values files applied in order (paths inside the repository). */
  values: z.array(relPath).default([]),
  /** Release name passed to `helm template` (default: the environment name). */
  releaseName: z.string().optional(),
  /** `--set` values, as a map of dotted keys. */
  set: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** `--api-versions` passed to helm template (Capabilities.APIVersions). */
  apiVersions: z.array(z.string()).default([]),
  /** `--kube-version` for Capabilities.KubeVersion. */
  kubeVersion: z.string().optional(),
});

export const clusterSchema = z.union([
  z.strictObject({ context: z.string().min(1), kubeconfig: z.string().optional() }),
  z.strictObject({ inCluster: z.literal(true) }),
]);

export const ruleSetting = z.enum(["off", "info", "warning", "error"]);

export const suppressionSchema = z.strictObject({
  /** Finding code to suppress. */
  code: z.string().regex(/^[A-Z]+[0-9]+$/, "must be a finding code such as MSH2001"),
  /** Why: required, so every suppression is reviewable. */
  reason: z.string().min(5, "a reason is required (at least 5 characters)"),
  /** Limit to objects: "Kind/namespace/name" or "Kind/name", '*' allowed as a whole segment. */
  resource: z.string().optional(),
  /** Limit to files under this path. */
  path: z.string().optional(),
});

/** Linkerd's default inbound policies (install value `proxy.defaultInboundPolicy`, annotation `config.linkerd.io/default-inbound-policy`). */
export const linkerdInboundPolicy = z.enum(["all-unauthenticated", "all-authenticated", "cluster-unauthenticated", "cluster-authenticated", "deny", "audit"]);

/**
 * The zero-trust policy pack (issue 3 item 4). Every field is optional so that an environment's settings merge
 * over the repository-wide ones field by field; defaults are applied after merging (src/policy/zero-trust.ts).
 */
export const zeroTrustSchema = z.strictObject({
  /** Run the pack (default false: the codes MSH6001-MSH6020 are not reported). */
  enabled: z.boolean().optional(),
  /** Which meshes' rules apply; default: the meshes whose objects or injection settings the environment renders. */
  meshes: z.array(z.enum(["istio", "linkerd"])).optional(),
  /** Istio's root namespace (meshConfig.rootNamespace): mesh-wide PeerAuthentication and AuthorizationPolicy live here. */
  istioRootNamespace: z.string().min(1).optional(),
  /** The cluster's Linkerd default inbound policy (install value proxy.defaultInboundPolicy; Linkerd's default is all-unauthenticated). */
  linkerdDefaultInboundPolicy: linkerdInboundPolicy.optional(),
  /** Namespaces whose workloads must not admit any principal or any namespace (added to the repository-wide list). */
  sensitiveNamespaces: z.array(z.string().min(1)).optional(),
  /** Namespace objects whose labels match are sensitive too (default matchLabels meshops.dev/sensitive: "true"). */
  sensitiveNamespaceSelector: z.strictObject({ matchLabels: z.record(z.string(), z.string()) }).optional(),
});

const policyFields = {
  /** Lowest severity that makes `check` exit 1. */
  failOn: z.enum(["error", "warning"]),
  /** Per-code severity overrides (or "off"). */
  rules: z.record(z.string(), ruleSetting),
  /** Repository-wide suppressions, each with a reason. */
  suppress: z.array(suppressionSchema),
  /** How missing references to objects outside the repository are treated. */
  references: z.enum(["strict", "warn", "off"]),
  /** The zero-trust policy pack. */
  zeroTrust: zeroTrustSchema,
  /** ValidatingAdmissionPolicy (+Binding) files or folders inside the repository, evaluated offline against every environment. */
  policies: z.array(relPath),
};

export const policySchema = z.strictObject({
  ...policyFields,
  failOn: policyFields.failOn.default("error"),
  rules: policyFields.rules.default({}),
  suppress: policyFields.suppress.default([]),
  references: policyFields.references.optional(),
  zeroTrust: policyFields.zeroTrust.optional(),
  policies: policyFields.policies.optional(),
});

/** An environment's policy: every field optional and without defaults, so that only what it sets overrides the repository-wide policy. */
export const environmentPolicySchema = z.strictObject(policyFields).partial();

export const environmentSchema = z.strictObject({
  /** Folder (plain or Kustomize) or chart, relative to the repository root. */
  path: relPath.optional(),
  /** How to render; inferred from the folder when omitted (kustomization.yaml → kustomize, Chart.yaml → helm). */
  renderer: z.enum(["plain", "kustomize", "helm"]).optional(),
  helm: helmSchema.optional(),
  /** Target cluster: a kubeconfig context, or in-cluster credentials. */
  cluster: clusterSchema.optional(),
  /** Namespace for namespaced objects that name none. */
  namespace: z.string().optional(),
  /** Prometheus used by observe/deliver for this environment. */
  prometheus: z.strictObject({ url: z.string().url() }).optional(),
  /** A page showing the environment (the meshops dashboard, Grafana, Kiali): GitLab's environment URL, set by `meshops ci` through its dotenv report. */
  url: z.string().url().optional(),
  /** Grafana to annotate with every applied revision (token from GRAFANA_TOKEN); `meshops grafana dashboard` writes the matching dashboard. */
  grafana: z.strictObject({ url: z.string().url(), dashboardUid: z.string().min(1).optional() }).optional(),
  /** A Jaeger-compatible query API (`GET /api/traces`) whose traces `meshops correlate` links to anomalies. */
  tracing: z.strictObject({ url: z.string().url() }).optional(),
  /** Promotion order: this environment is deployed after the named one. */
  after: envName.optional(),
  /** Per-environment policy settings, merged over the repository-wide ones. */
  policy: environmentPolicySchema.optional(),
});

export const configSchema = z.strictObject({
  /** Version of this file's format. */
  version: z.literal(1),
  /** Meshes used in the repository (informs analyzers and bundled schemas). */
  meshes: z.array(z.enum(["istio", "linkerd", "gateway-api"])).optional(),
  /** Additional CRD files or folders (inside the repository) to validate against. */
  crds: z.array(relPath).default([]),
  /** Defaults every environment inherits. */
  defaults: z
    .strictObject({
      namespace: z.string().optional(),
      prometheus: z.strictObject({ url: z.string().url() }).optional(),
    })
    .default({}),
  environments: z.record(envName, environmentSchema).refine((e) => Object.keys(e).length > 0, "at least one environment is required"),
  policy: policySchema.default({ failOn: "error", rules: {}, suppress: [] }),
});

export type MeshopsConfig = z.infer<typeof configSchema>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type EnvironmentPolicyConfig = z.infer<typeof environmentPolicySchema>;
export type ZeroTrustConfig = z.infer<typeof zeroTrustSchema>;
export type HelmConfig = z.infer<typeof helmSchema>;
