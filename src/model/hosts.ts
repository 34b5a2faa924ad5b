/** Host names: resolving the short names Istio, Gateway API and Linkerd accept to fully qualified ones. */

/**
 * Resolves a host as written in `namespace` to a fully qualified name. Istio expands names without dots with
 * the object's namespace (https://istio.io/latest/docs/reference/config/networking/virtual-service/#Destination);
 * `name.ns` and `name.ns.svc` are what Kubernetes DNS search paths resolve, so they are completed too.
 * Wildcards and external names are returned unchanged.
 */
export function resolveHost(host: string, namespace: string, clusterDomain = "cluster.local"): string {
  if (host === "*" || host.startsWith("*")) return host;
  const parts = host.split(".");
  if (parts.length === 1) return `${host}.${namespace}.svc.${clusterDomain}`;
  if (parts.length === 2 && !looksLikeDomain(parts[1] ?? "")) return `${host}.svc.${clusterDomain}`;
  if (parts.length === 3 && parts[2] === "svc") return `${host}.${clusterDomain}`;
  return host;
}

/** A few top-level domains that make `a.b` an external name rather than `service.namespace`. */
function looksLikeDomain(last: string): boolean {
  return ["com", "org", "net", "io", "dev", "local", "internal", "example", "test"].includes(last);
}

/** The Kubernetes Service a fully qualified host names, if it is one of `name.ns.svc.<domain>`. */
export function serviceOfHost(host: string, clusterDomain = "cluster.local"): { name: string; namespace: string } | undefined {
  const suffix = `.svc.${clusterDomain}`;
  if (!host.endsWith(suffix)) return undefined;
  const parts = host.slice(0, -suffix.length).split(".");
  return parts.length === 2 && parts[0] && parts[1] ? { name: parts[0], namespace: parts[1] } : undefined;
}

/** Does a (possibly wildcard) host pattern such as `*.example.com` match a host? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*")) return host.endsWith(pattern.slice(1));
  return pattern === host;
}
