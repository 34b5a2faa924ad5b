/** Typed views of the core Kubernetes kinds the MeshModel needs: Namespace, Service, workloads, ServiceAccount. */
import type { FieldPath, Manifest } from "./resource.js";

/** A plain JSON object (or an empty one when the value is not an object). */
export type Obj = Record<string, unknown>;

/** The value as an object, or {} when it is not one. */
export function asObj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}
/** The value as an array, or [] when it is not one. */
export function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** The value as a string, or undefined. */
export function asStr(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
/** The value as a number, or undefined. */
export function asNum(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
/** String-valued entries of a map (labels, selectors, annotations). */
export function asStrMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(asObj(v))) if (typeof x === "string") out[k] = x;
  return out;
}

/** A model element's way back to its source: the manifest and the field path inside it. */
export interface Source {
  manifest: Manifest;
  path: FieldPath;
}

/** True when every selector entry equals the label's value (an empty selector matches everything). */
export function selectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A Namespace object with its mesh injection settings. */
export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `istio-injection` label ("enabled" / "disabled"). */
  istioInjection?: string;
  /** `istio.io/rev` label (revision-based injection). */
  istioRevision?: string;
  /** `linkerd.io/inject` annotation ("enabled" / "disabled" / "ingress"). */
  linkerdInject?: string;
  source: Source;
}

/** One port of a Service. */
export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol: string;
  appProtocol?: string;
  source: Source;
}

/** A Service, its fully qualified host and the workloads its selector picks. */
export interface ServiceView {
  name: string;
  namespace: string;
  /** `name.namespace.svc.<clusterDomain>`. */
  host: string;
  ports: ServicePort[];
  /** Undefined for Services without a selector (endpoints managed elsewhere). */
  selector?: Record<string, string>;
  type: string;
  /** Filled by the MeshModel: workloads in the namespace whose pod labels match the selector. */
  workloads: WorkloadView[];
  source: Source;
}

/** One container port of a workload. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: string;
  container: string;
  source: Source;
}

/** A Deployment, StatefulSet, DaemonSet or Pod, seen through its pod template. */
export interface WorkloadView {
  kind: "Deployment" | "StatefulSet" | "DaemonSet" | "Pod";
  name: string;
  namespace: string;
  /** Pod labels (the template's for controllers). */
  labels: Record<string, string>;
  /** Pod annotations (the template's for controllers). */
  annotations: Record<string, string>;
  serviceAccount: string;
  ports: ContainerPort[];
  source: Source;
}

/** A ServiceAccount. */
export interface ServiceAccountView {
  name: string;
  namespace: string;
  source: Source;
}

const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "Pod"]);

/** The namespace a namespaced object lives in ("default" when it names none). */
export function namespaceOf(m: Manifest, fallback = "default"): string {
  return m.ref.namespace ?? fallback;
}

/** Reads a Namespace manifest. */
export function namespaceView(m: Manifest): NamespaceView {
  const meta = asObj(m.object.metadata);
  const labels = asStrMap(meta.labels);
  const annotations = asStrMap(meta.annotations);
  return {
    name: m.ref.name,
    labels,
    annotations,
    ...(labels["istio-injection"] !== undefined ? { istioInjection: labels["istio-injection"] } : {}),
    ...(labels["istio.io/rev"] !== undefined ? { istioRevision: labels["istio.io/rev"] } : {}),
    ...(annotations["linkerd.io/inject"] !== undefined ? { linkerdInject: annotations["linkerd.io/inject"] } : {}),
    source: { manifest: m, path: [] },
  };
}

/** Reads a Service manifest (workloads are filled in by the MeshModel). */
export function serviceView(m: Manifest, clusterDomain: string): ServiceView {
  const spec = asObj(m.object.spec);
  const ns = namespaceOf(m);
  const ports: ServicePort[] = [];
  asArr(spec.ports).forEach((p, i) => {
    const o = asObj(p);
    const port = asNum(o.port);
    if (port === undefined) return;
    const name = asStr(o.name);
    const appProtocol = asStr(o.appProtocol);
    const targetPort = asNum(o.targetPort) ?? asStr(o.targetPort);
    ports.push({ port, protocol: asStr(o.protocol) ?? "TCP", ...(name ? { name } : {}), ...(appProtocol ? { appProtocol } : {}), ...(targetPort !== undefined ? { targetPort } : {}), source: { manifest: m, path: ["spec", "ports", i] } });
  });
  const selector = spec.selector === undefined ? undefined : asStrMap(spec.selector);
  return { name: m.ref.name, namespace: ns, host: `${m.ref.name}.${ns}.svc.${clusterDomain}`, ports, ...(selector ? { selector } : {}), type: asStr(spec.type) ?? "ClusterIP", workloads: [], source: { manifest: m, path: [] } };
}

/** Reads a workload manifest, or undefined for other kinds. */
export function workloadView(m: Manifest): WorkloadView | undefined {
  if (!workloadKinds.has(m.ref.kind) || m.ref.apiVersion.startsWith("extensions/")) return undefined;
  const isPod = m.ref.kind === "Pod";
  const podPath = isPod ? [] : ["spec", "template"];
  const pod = isPod ? m.object : asObj(asObj(m.object.spec).template);
  const meta = asObj(pod.metadata);
  const spec = asObj(pod.spec);
  const ports: ContainerPort[] = [];
  asArr(spec.containers).forEach((c, ci) => {
    const co = asObj(c);
    asArr(co.ports).forEach((p, pi) => {
      const po = asObj(p);
      const containerPort = asNum(po.containerPort);
      if (containerPort === undefined) return;
      const name = asStr(po.name);
      ports.push({ containerPort, protocol: asStr(po.protocol) ?? "TCP", container: asStr(co.name) ?? "", ...(name ? { name } : {}), source: { manifest: m, path: [...podPath, "spec", "containers", ci, "ports", pi] } });
    });
  });
  return {
    kind: m.ref.kind as WorkloadView["kind"],
    name: m.ref.name,
    namespace: namespaceOf(m),
    labels: asStrMap(meta.labels),
    annotations: asStrMap(meta.annotations),
    serviceAccount: asStr(spec.serviceAccountName) ?? asStr(spec.serviceAccount) ?? "default",
    ports,
    source: { manifest: m, path: podPath },
  };
}
