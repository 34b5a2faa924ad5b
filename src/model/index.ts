/** The model folder's public surface: resource identity, typed views and the MeshModel. */
export { identityKey, splitApiVersion, subjectOf, type FieldPath, type Manifest, type Origin, type Position, type ResourceRef } from "./resource.js";
export { selectorMatches, type NamespaceView, type ServiceView, type Source, type WorkloadView } from "./core.js";
export { hostMatches, resolveHost, serviceOfHost } from "./hosts.js";
export { buildMeshModel, defaultMeshModelOptions, kindKey, linkerdInjected, mtlsModeOf, workloadsSelectedBy, type MeshModel, type MeshModelOptions, type MtlsMode, type TableRoute } from "./mesh-model.js";
export { accessDecision, accessMatrix, defaultAccessOptions, sourceLabel, type AccessDecision, type AccessEntry, type AccessOptions, type AccessRequest, type SourceIdentity } from "./access.js";
