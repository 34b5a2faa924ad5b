/** Semantic analyzers over the MeshModel: the public surface. */
export { findingAt, missingReference, type AnalyzeContext, type Analyzer, type ReferencePolicy } from "./analyzer.js";
export { analyzerFor, analyzers, runAnalyzers } from "./registry.js";
