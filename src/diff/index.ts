/** The diff folder's public surface: the semantic diff of two MeshModels and its renderers. */
export { canonical, semanticDiff, type SemanticDiffLine, type SemanticDiffOptions } from "./semantic.js";
export { renderDiffJson, renderDiffMarkdown, renderDiffText, type EnvDiffLine } from "./render.js";
