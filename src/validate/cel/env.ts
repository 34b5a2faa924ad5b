// The CEL environment Kubernetes validation rules run in: CEL's standard library
// (from @bufbuild/cel) plus the Kubernetes extension libraries.
import { celEnv, type CelEnv } from "@bufbuild/cel";
import { formatLibrary } from "./format-lib.js";
import { kubernetesLibrary, libraryTypeBindings } from "./k8s-library.js";
import { listsLibrary, setsLibrary } from "./lists-lib.js";
import { opaqueRegistry } from "./opaque.js";
import { cachedRe2, regexLibrary } from "./regex-lib.js";
import { stringsLibrary } from "./strings-lib.js";

export const k8sCelEnv: CelEnv = celEnv({
  funcs: [...stringsLibrary, ...listsLibrary, ...setsLibrary, ...regexLibrary, ...kubernetesLibrary, ...formatLibrary],
  registry: opaqueRegistry,
  re2: cachedRe2,
});

/** Variables bound in every evaluation besides self/oldSelf: library type identifiers. */
export const baseBindings = libraryTypeBindings;

/** Identifiers a rule may reference without declaring them. */
export const DECLARED_IDENTS = new Set<string>([
  "self",
  "oldSelf",
  "int",
  "uint",
  "double",
  "bool",
  "string",
  "bytes",
  "list",
  "map",
  "null_type",
  "type",
  "dyn",
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  ...Object.keys(libraryTypeBindings),
]);
