/** The cluster stage: the only code that talks to Kubernetes. Import it lazily (`await import()`): it loads the Kubernetes client. */
export { getJson, loadKubeConfig, parseKubeconfigs, type ClusterTarget, type KubeTarget } from "./kubeconfig.js";
export { createKubeClient, createLimiter, defaultClientOptions, type ClientOptions, type KubeClient, type KubeObject, type ResourceInfo } from "./client.js";
export { KubeError, type FieldConflict, type KubeErrorCode } from "./errors.js";
export { diffObjects, normalizeForDiff, type FieldChange } from "./diff.js";
export { computePlan, managedByMeshops, summarize, ENV_LABEL, type ChangeAction, type Plan, type PlanEntry, type PlanOptions } from "./plan.js";
export { executePlan, type ApplyResult, type ExecuteOptions } from "./apply.js";
export { currentObjects, ensureSystemNamespace, inventoryName, markPending, objectsAfterApply, readInventory, staleObjects, writeInventory, PRUNE_ANNOTATION, SYSTEM_NAMESPACE, type Inventory, type InventoryRevision, type PendingApply } from "./inventory.js";
export { acquireLock, leaseName, LockHeldError, systemClock, type Clock, type Lock, type LockOptions } from "./lease.js";
export { renderChangeSet, type ChangeSetFormat, type ChangeSetHeader } from "./changeset.js";
export { stageOf, stages, kindStages } from "./order.js";
export { whoAmI } from "./identity.js";
export { conditionsReadiness, readinessOf, readinessChecks, type Readiness } from "./readiness.js";
