/** The observe stage's public surface: the Prometheus client, mesh adapters, graph, anomalies and change correlation. */
export { createPromClient, defaultPromClientOptions, PromError, PromQueryError, type MatrixSeries, type PromClient, type PromClientOptions, type VectorSample } from "./prometheus.js";
export { istioAdapter, linkerdAdapter, serviceId, type Level, type MeshAdapter, type MeshKind, type TrafficKey, type WorkloadHints } from "./mesh.js";
export { buildGraph, collectGraph, graphQueries, LEVELS, QUANTILES, quantilesFromBuckets, type CollectOptions, type GraphEdge, type ServiceGraph, type ServiceNode, type Signals, type VersionNode } from "./graph.js";
export { buildHistory, collectHistory, type HistoryOptions } from "./history.js";
export { defaultAnomalyOptions, detectAnomalies, detectInSeries, mannWhitneyGreater, type Anomaly, type AnomalyMetric, type AnomalyOptions, type AnomalySubject, type MetricSeries } from "./anomaly.js";
export { changedManifests, changesFromInventory, parseMergeRequest, servicesInDiff, servicesTouched, type Change } from "./changes.js";
export { attribute, defaultCorrelateOptions, neighbours, scoreChange, type Attribution, type Candidate, type CorrelateOptions, type Relation } from "./correlate.js";
export { renderCorrelationJson, renderCorrelationMarkdown, renderCorrelationText, type CorrelationReport } from "./correlate-render.js";
export { histogramQuantile, parseLe, type Bucket } from "./quantile.js";
export { renderGraphDot, renderGraphMermaid, renderMetricsReport, renderTopText } from "./render.js";
