/** Every analyzer, by code, and the runner that applies them to a MeshModel. */
import { isExternalFile, type MeshModel } from "../model/mesh-model.js";
import { sortFindings, type Finding } from "../report/finding.js";
import type { AnalyzeContext, Analyzer } from "./analyzer.js";
import { namespaceNotInjected, serviceAccountNotFound, serviceSelectsNothing } from "./core.js";
import { backendPortNotFound, listenerRejectsNamespace, noListenerHostname } from "./gateway-api-attach.js";
import { backendNotFound, crossNamespaceWithoutGrant, parentNotFound } from "./gateway-api.js";
import { allowAllRule, conflictingMeshVirtualServices, destinationPortNotFound, plaintextPortOverride, portNaming } from "./istio-conflicts.js";
import { destinationHostNotFound, gatewayNotFound, subsetNotFound } from "./istio-references.js";
import { unreachableRule, weightsNotHundred } from "./istio-routes.js";
import { hostNotInGateway, multipleSidecarsWithoutSelector, peerAuthenticationSelectsNothing, principalNotFound, sourceNamespaceNotFound } from "./istio-security.js";
import { authorizationSelectsNothing, mtlsConflict, subsetSelectsNothing } from "./istio-workloads.js";
import { authenticationRefNotFound, authorizationTargetNotFound, serverAuthorizationServerNotFound, serverOnUnmeshedPods, serverPortNotOnPods, serverSelectsNothing, serviceProfileNotFqdn, serviceProfileServiceNotFound, trafficSplitServiceNotFound } from "./linkerd.js";

/** All built-in analyzers, sorted by code. */
export const analyzers: readonly Analyzer[] = [
  destinationHostNotFound,
  subsetNotFound,
  gatewayNotFound,
  weightsNotHundred,
  unreachableRule,
  subsetSelectsNothing,
  authorizationSelectsNothing,
  mtlsConflict,
  parentNotFound,
  backendNotFound,
  crossNamespaceWithoutGrant,
  serverPortNotOnPods,
  authorizationTargetNotFound,
  serviceProfileNotFqdn,
  conflictingMeshVirtualServices,
  plaintextPortOverride,
  allowAllRule,
  portNaming,
  destinationPortNotFound,
  backendPortNotFound,
  listenerRejectsNamespace,
  serverSelectsNothing,
  trafficSplitServiceNotFound,
  serviceSelectsNothing,
  serviceAccountNotFound,
  namespaceNotInjected,
  serverOnUnmeshedPods,
  peerAuthenticationSelectsNothing,
  multipleSidecarsWithoutSelector,
  principalNotFound,
  sourceNamespaceNotFound,
  hostNotInGateway,
  noListenerHostname,
  serverAuthorizationServerNotFound,
  authenticationRefNotFound,
  serviceProfileServiceNotFound,
].sort((a, b) => a.code.localeCompare(b.code));

/** The analyzer with this code, if any. */
export function analyzerFor(code: string): Analyzer | undefined {
  return analyzers.find((a) => a.code === code.toUpperCase());
}

/** Runs every analyzer on the model; findings are sorted. A live cluster's objects never get findings of their own: the repository did not write them. */
export function runAnalyzers(model: MeshModel, ctx: AnalyzeContext, list: readonly Analyzer[] = analyzers): Finding[] {
  const all = list.flatMap((a) => a.run(model, ctx));
  return sortFindings(model.live ? all.filter((f) => !isExternalFile(f.file)) : all);
}
