/**
 * The MeshModel: one view of an environment's Istio, Linkerd, Gateway API and core objects — services and
 * their workloads, the routing table per host, the mTLS mode per workload and port. A pure function of the
 * rendered manifests; every element keeps its Source (manifest + field path) so findings point at file:line.
 */
import { namespaceView, selectorMatches, serviceView, workloadView, type NamespaceView, type ServiceAccountView, type ServiceView, type Source, type WorkloadView } from "./core.js";
import { gatewayRouteView, gatewayView, GATEWAY_GROUP, referenceGrantView, type GatewayRouteView, type GatewayView, type ReferenceGrantView } from "./gateway-api.js";
import { resolveHost } from "./hosts.js";
import {
  destinationRuleView,
  istioAuthorizationPolicyView,
  istioGatewayView,
  peerAuthenticationView,
  requestAuthenticationView,
  serviceEntryView,
  sidecarView,
  virtualServiceView,
  type DestinationRuleView,
  type IstioAuthorizationPolicyView,
  type IstioGatewayView,
  type PeerAuthenticationView,
  type RequestAuthenticationView,
  type ServiceEntryView,
  type SidecarView,
  type VirtualServiceView,
} from "./istio.js";
import {
  linkerdAuthorizationPolicyView,
  linkerdServerView,
  meshTlsAuthenticationView,
  networkAuthenticationView,
  serverAuthorizationView,
  serviceProfileView,
  trafficSplitView,
  type LinkerdAuthorizationPolicyView,
  type LinkerdServerView,
  type MeshTlsAuthenticationView,
  type NetworkAuthenticationView,
  type ServerAuthorizationView,
  type ServiceProfileView,
  type TrafficSplitView,
} from "./linkerd.js";
import { splitApiVersion, type Manifest } from "./resource.js";

/** Options of buildMeshModel. */
export interface MeshModelOptions {
  /** Istio's root namespace: a PeerAuthentication without selector there applies mesh-wide. */
  rootNamespace: string;
  clusterDomain: string;
}

/** Istio's and Kubernetes' defaults. */
export function defaultMeshModelOptions(): MeshModelOptions {
  return { rootNamespace: "istio-system", clusterDomain: "cluster.local" };
}

/**
 * Objects read from a live cluster (`meshops check` with live references): they resolve references and take
 * part in label selection, but are not the repository's (`manifests`, `kinds`, `kindsInNamespace` stay the
 * repository's alone) and never get findings.
 */
export interface ExternalObjects {
  /** The kubeconfig context they were read from. */
  cluster: string;
  manifests: readonly Manifest[];
  /** "group/Kind" of the kinds listed completely: a name missing from them is missing from the cluster. */
  kinds: ReadonlySet<string>;
}

/** The origin file of a live cluster's object: never a repository path, so its findings are recognisable and dropped. */
export function externalFile(cluster: string): string {
  return `<cluster ${cluster}>`;
}

/** Is the file an external object's (a live cluster's, not the repository's)? */
export function isExternalFile(file: string): boolean {
  return file.startsWith("<cluster ") && file.endsWith(">");
}

/** One destination in the routing table. */
export interface TableDestination {
  host: string;
  subset?: string;
  port?: number;
  /** Effective weight in percent of the route's traffic. */
  weight: number;
  source: Source;
}

/** One route of a host, in the order the mesh evaluates it. */
export interface TableRoute {
  mesh: "istio" | "gateway-api" | "linkerd" | "smi";
  /** "VirtualService/ns/name#http[2]" and similar: where the route is defined. */
  id: string;
  /** Match blocks as written; empty = matches every request. */
  matches: Record<string, unknown>[];
  destinations: TableDestination[];
  timeout?: string;
  retries?: Record<string, unknown>;
  fault?: Record<string, unknown>;
  mirror?: { host: string; subset?: string };
  source: Source;
}

/** The mTLS mode a workload port accepts, and which object decided it. */
export interface MtlsMode {
  /** STRICT, PERMISSIVE or DISABLE (Istio); "LINKERD" for Linkerd's always-on mTLS between meshed pods. */
  mode: string;
  source?: Source;
}

/** Everything the analyzers, the semantic diff and delivery read. */
export interface MeshModel {
  options: MeshModelOptions;
  manifests: readonly Manifest[];
  /** "group/Kind" of every object in the input ("" group for core), to tell "not found" from "not held". */
  kinds: ReadonlySet<string>;
  namespaces: Map<string, NamespaceView>;
  /** "group/Kind/namespace" of every namespaced object ("default" when it names none). */
  kindsInNamespace: ReadonlySet<string>;
  /** "group/Kind/namespace/name" of every object ("" group for core; "default" when the object names no namespace). */
  identities: ReadonlySet<string>;
  /** By FQDN host. */
  services: Map<string, ServiceView>;
  /** By "namespace/name". */
  servicesByName: Map<string, ServiceView>;
  workloads: WorkloadView[];
  serviceAccounts: ServiceAccountView[];
  istio: {
    virtualServices: VirtualServiceView[];
    destinationRules: DestinationRuleView[];
    gateways: IstioGatewayView[];
    serviceEntries: ServiceEntryView[];
    peerAuthentications: PeerAuthenticationView[];
    authorizationPolicies: IstioAuthorizationPolicyView[];
    sidecars: SidecarView[];
    requestAuthentications: RequestAuthenticationView[];
  };
  gatewayApi: { gateways: GatewayView[]; routes: GatewayRouteView[]; referenceGrants: ReferenceGrantView[] };
  linkerd: {
    servers: LinkerdServerView[];
    authorizationPolicies: LinkerdAuthorizationPolicyView[];
    serverAuthorizations: ServerAuthorizationView[];
    meshTlsAuthentications: MeshTlsAuthenticationView[];
    networkAuthentications: NetworkAuthenticationView[];
    serviceProfiles: ServiceProfileView[];
    trafficSplits: TrafficSplitView[];
    /** "group/Kind/ns/name" of every other Linkerd policy object (ServerAuthorization, MeshTLSAuthentication, ...). */
    objects: Set<string>;
    /** policy.linkerd.io HTTPRoutes. */
    routes: GatewayRouteView[];
  };
  /** Routing table: FQDN host → routes in evaluation order. */
  routes: Map<string, TableRoute[]>;
  /** The live cluster consulted for references, when one was: its context, the kinds listed and "group/Kind/namespace" of its objects. */
  live?: { cluster: string; kinds: ReadonlySet<string>; kindsInNamespace: ReadonlySet<string> };
}

/** The key of MeshModel.identities. */
export function objectKey(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`;
}

/** "group/Kind" of a manifest. */
export function kindKey(apiVersion: string, kind: string): string {
  return `${splitApiVersion(apiVersion).group}/${kind}`;
}

/**
 * Builds the MeshModel of one environment's manifests; `external` adds a live cluster's objects (the
 * repository's object wins where both have the same identity).
 */
export function buildMeshModel(manifests: readonly Manifest[], opts: Partial<MeshModelOptions> = {}, external?: ExternalObjects): MeshModel {
  const o = { ...defaultMeshModelOptions(), ...opts };
  const cd = o.clusterDomain;
  const model: MeshModel = {
    options: o,
    manifests,
    kinds: new Set(manifests.map((m) => kindKey(m.ref.apiVersion, m.ref.kind))),
    kindsInNamespace: new Set(manifests.map((m) => `${kindKey(m.ref.apiVersion, m.ref.kind)}/${m.ref.namespace ?? "default"}`)),
    // Objects without a namespace are keyed as "default", as the views read them (cluster-scoped ones are never looked up by namespace).
    identities: new Set(manifests.map((m) => objectKey(splitApiVersion(m.ref.apiVersion).group, m.ref.kind, m.ref.namespace ?? "default", m.ref.name))),
    namespaces: new Map(),
    services: new Map(),
    servicesByName: new Map(),
    workloads: [],
    serviceAccounts: [],
    istio: { virtualServices: [], destinationRules: [], gateways: [], serviceEntries: [], peerAuthentications: [], authorizationPolicies: [], sidecars: [], requestAuthentications: [] },
    gatewayApi: { gateways: [], routes: [], referenceGrants: [] },
    linkerd: { servers: [], authorizationPolicies: [], serverAuthorizations: [], meshTlsAuthentications: [], networkAuthentications: [], serviceProfiles: [], trafficSplits: [], objects: new Set(), routes: [] },
    routes: new Map(),
  };
  let all = manifests;
  if (external) {
    const own = model.identities;
    const ext = external.manifests.filter((m) => !own.has(objectKey(splitApiVersion(m.ref.apiVersion).group, m.ref.kind, m.ref.namespace ?? "default", m.ref.name)));
    all = [...manifests, ...ext];
    model.identities = new Set([...own, ...ext.map((m) => objectKey(splitApiVersion(m.ref.apiVersion).group, m.ref.kind, m.ref.namespace ?? "default", m.ref.name))]);
    model.live = { cluster: external.cluster, kinds: external.kinds, kindsInNamespace: new Set(external.manifests.map((m) => `${kindKey(m.ref.apiVersion, m.ref.kind)}/${m.ref.namespace ?? "default"}`)) };
  }
  for (const m of all) {
    const { group } = splitApiVersion(m.ref.apiVersion);
    const k = m.ref.kind;
    if (group === "") {
      if (k === "Namespace") model.namespaces.set(m.ref.name, namespaceView(m));
      else if (k === "Service") {
        const s = serviceView(m, cd);
        model.services.set(s.host, s);
        model.servicesByName.set(`${s.namespace}/${s.name}`, s);
      } else if (k === "ServiceAccount") model.serviceAccounts.push({ name: m.ref.name, namespace: m.ref.namespace ?? "default", source: { manifest: m, path: [] } });
      else if (k === "Pod") addWorkload(model, m);
    } else if (group === "apps") addWorkload(model, m);
    else if (group === "networking.istio.io") {
      if (k === "VirtualService") model.istio.virtualServices.push(virtualServiceView(m, cd));
      else if (k === "DestinationRule") model.istio.destinationRules.push(destinationRuleView(m, cd));
      else if (k === "Gateway") model.istio.gateways.push(istioGatewayView(m));
      else if (k === "ServiceEntry") model.istio.serviceEntries.push(serviceEntryView(m, cd));
      else if (k === "Sidecar") model.istio.sidecars.push(sidecarView(m));
    } else if (group === "security.istio.io") {
      if (k === "PeerAuthentication") model.istio.peerAuthentications.push(peerAuthenticationView(m));
      else if (k === "AuthorizationPolicy") model.istio.authorizationPolicies.push(istioAuthorizationPolicyView(m));
      else if (k === "RequestAuthentication") model.istio.requestAuthentications.push(requestAuthenticationView(m));
    } else if (group === GATEWAY_GROUP) {
      if (k === "Gateway") model.gatewayApi.gateways.push(gatewayView(m));
      else if (k === "ReferenceGrant") model.gatewayApi.referenceGrants.push(referenceGrantView(m));
      else if (k.endsWith("Route")) model.gatewayApi.routes.push(gatewayRouteView(m));
    } else if (group === "policy.linkerd.io") {
      if (k === "Server") model.linkerd.servers.push(linkerdServerView(m));
      else if (k === "AuthorizationPolicy") model.linkerd.authorizationPolicies.push(linkerdAuthorizationPolicyView(m));
      else if (k === "HTTPRoute") model.linkerd.routes.push(gatewayRouteView(m));
      else if (k === "ServerAuthorization") model.linkerd.serverAuthorizations.push(serverAuthorizationView(m));
      else if (k === "MeshTLSAuthentication") model.linkerd.meshTlsAuthentications.push(meshTlsAuthenticationView(m));
      else if (k === "NetworkAuthentication") model.linkerd.networkAuthentications.push(networkAuthenticationView(m));
      model.linkerd.objects.add(`${group}/${k}/${m.ref.namespace ?? "default"}/${m.ref.name}`);
    } else if (group === "linkerd.io" && k === "ServiceProfile") model.linkerd.serviceProfiles.push(serviceProfileView(m));
    else if (group === "split.smi-spec.io" && k === "TrafficSplit") model.linkerd.trafficSplits.push(trafficSplitView(m));
  }
  for (const s of model.services.values()) {
    const sel = s.selector;
    if (sel && Object.keys(sel).length) s.workloads = inNamespace(model.workloads, s.namespace).filter((w) => selectorMatches(sel, w.labels));
  }
  buildRoutingTable(model);
  return model;
}

function addWorkload(model: MeshModel, m: Manifest): void {
  const w = workloadView(m);
  if (w) model.workloads.push(w);
}

function push(model: MeshModel, host: string, r: TableRoute): void {
  const list = model.routes.get(host);
  if (list) list.push(r);
  else model.routes.set(host, [r]);
}

/** Istio VirtualService http routes, Gateway API rules and SMI TrafficSplits, per host in evaluation order. */
function buildRoutingTable(model: MeshModel): void {
  const cd = model.options.clusterDomain;
  for (const vs of model.istio.virtualServices) {
    for (const r of vs.http) {
      const single = r.destinations.length === 1;
      const total = r.destinations.reduce((a, d) => a + (d.weight ?? 0), 0);
      const route: TableRoute = {
        mesh: "istio",
        id: `VirtualService/${vs.namespace}/${vs.name}#http[${r.index}]`,
        matches: r.match ?? [],
        // Istio: a single destination takes all traffic whatever its weight; otherwise each gets weight/sum.
        destinations: r.destinations.map((d) => ({ host: d.host, ...(d.subset ? { subset: d.subset } : {}), ...(d.port !== undefined ? { port: d.port } : {}), weight: single ? 100 : total ? (100 * (d.weight ?? 0)) / total : 0, source: d.source })),
        ...(r.timeout ? { timeout: r.timeout } : {}),
        ...(r.retries ? { retries: r.retries } : {}),
        ...(r.fault ? { fault: r.fault } : {}),
        ...(r.mirror ? { mirror: { host: r.mirror.host, ...(r.mirror.subset ? { subset: r.mirror.subset } : {}) } } : {}),
        source: r.source,
      };
      for (const h of vs.hosts) push(model, h, route);
    }
  }
  for (const rt of model.gatewayApi.routes) {
    const hosts = new Set<string>();
    for (const p of rt.parentRefs) if (p.kind === "Service" && p.group === "") hosts.add(resolveHost(p.name, p.namespace, cd));
    if (rt.parentRefs.some((p) => p.kind === "Gateway")) for (const h of rt.hostnames.length ? rt.hostnames : ["*"]) hosts.add(h);
    for (const rule of rt.rules) {
      const total = rule.backendRefs.reduce((a, b) => a + b.weight, 0);
      const route: TableRoute = {
        mesh: "gateway-api",
        id: `${rt.kind}/${rt.namespace}/${rt.name}#rules[${rule.index}]`,
        matches: rule.matches,
        destinations: rule.backendRefs.map((b) => ({ host: resolveHost(b.name, b.namespace, cd), ...(b.port !== undefined ? { port: b.port } : {}), weight: total ? (100 * b.weight) / total : 0, source: b.source })),
        source: rule.source,
      };
      for (const h of hosts) push(model, h, route);
    }
  }
  for (const ts of model.linkerd.trafficSplits) {
    const total = ts.backends.reduce((a, b) => a + b.weight, 0);
    push(model, resolveHost(ts.service, ts.namespace, cd), {
      mesh: "smi",
      id: `TrafficSplit/${ts.namespace}/${ts.name}`,
      matches: [],
      destinations: ts.backends.map((b) => ({ host: resolveHost(b.service, ts.namespace, cd), weight: total ? (100 * b.weight) / total : 0, source: b.source })),
      source: ts.source,
    });
  }
}

const byNamespace = new WeakMap<readonly { namespace: string }[], { length: number; groups: Map<string, { namespace: string }[]> }>();

/**
 * The items of a model list in one namespace, in list order: grouped once per list (and again if it grew), so a
 * lookup per service, policy or workload is not a scan of every workload or policy of the repository.
 */
export function inNamespace<T extends { namespace: string }>(items: readonly T[], namespace: string): readonly T[] {
  let index = byNamespace.get(items);
  if (index === undefined || index.length !== items.length) {
    const groups = new Map<string, T[]>();
    for (const item of items) {
      const g = groups.get(item.namespace);
      if (g) g.push(item);
      else groups.set(item.namespace, [item]);
    }
    index = { length: items.length, groups };
    byNamespace.set(items, index);
  }
  return (index.groups.get(namespace) ?? []) as unknown as readonly T[];
}

/** Workloads in `namespace` whose pod labels match `selector`. */
export function workloadsSelectedBy(model: MeshModel, namespace: string | undefined, selector: Record<string, string>): WorkloadView[] {
  return (namespace === undefined ? model.workloads : inNamespace(model.workloads, namespace)).filter((w) => selectorMatches(selector, w.labels));
}

/** Is the workload injected with a Linkerd proxy (pod or namespace annotation)? */
export function linkerdInjected(model: MeshModel, w: Pick<WorkloadView, "namespace" | "annotations">): boolean {
  const v = w.annotations["linkerd.io/inject"] ?? model.namespaces.get(w.namespace)?.linkerdInject;
  return v === "enabled" || v === "ingress";
}

/**
 * The mTLS mode a workload accepts on a port, following Istio's PeerAuthentication precedence: workload
 * selector (with portLevelMtls) over namespace-wide over mesh-wide (root namespace); UNSET inherits; no policy
 * is PERMISSIVE (https://istio.io/latest/docs/reference/config/security/peer_authentication/). Linkerd-injected
 * workloads always use mTLS between meshed pods.
 */
export function mtlsModeOf(model: MeshModel, w: Pick<WorkloadView, "namespace" | "labels" | "annotations">, port?: number): MtlsMode {
  if (linkerdInjected(model, w)) return { mode: "LINKERD" };
  const pas = model.istio.peerAuthentications;
  const set = (m?: string): m is string => m !== undefined && m !== "UNSET";
  const inNs = inNamespace(pas, w.namespace);
  const workloadPa = inNs.filter((p) => p.selector && selectorMatches(p.selector, w.labels)).sort((a, b) => a.name.localeCompare(b.name))[0];
  if (workloadPa) {
    const pl = port !== undefined ? workloadPa.portLevel.find((x) => x.port === port) : undefined;
    if (pl && set(pl.mode)) return { mode: pl.mode, source: pl.source };
    if (set(workloadPa.mode)) return { mode: workloadPa.mode, source: workloadPa.source };
  }
  const nsPa = inNs.find((p) => !p.selector && set(p.mode));
  if (nsPa?.mode) return { mode: nsPa.mode, source: nsPa.source };
  const meshPa = inNamespace(pas, model.options.rootNamespace).find((p) => !p.selector && set(p.mode));
  if (meshPa?.mode) return { mode: meshPa.mode, source: meshPa.source };
  return { mode: "PERMISSIVE" };
}
