/**
 * Grafana: a dashboard built from the same PromQL as `meshops top` and `graph` (the mesh adapter's queries, with
 * Grafana's `$__rate_interval` as the window), and an annotation per applied revision (Grafana's HTTP API
 * `POST /api/annotations`, bearer token from GRAFANA_TOKEN), so latency and error graphs show when each change
 * landed. Posting an annotation never fails an apply: its outcome is one line of output.
 */
import type { InventoryRevision } from "../cluster/inventory.js";
import { QUANTILES } from "./graph.js";
import { promDuration, type MeshAdapter, type MeshKind } from "./mesh.js";
import { recordedNames, recordedQueries, RULES_LABEL } from "./rules.js";

/** A window no real query uses, replaced by Grafana's `$__rate_interval` in dashboard queries. */
const PLACEHOLDER_S = 987654;

function grafanaQuery(q: string): string {
  return q.split(`[${promDuration(PLACEHOLDER_S)}]`).join("[$__rate_interval]");
}

/** The service-level label of a mesh's metrics (what a dashboard legend shows). */
function serviceLabels(mesh: MeshKind): { by: string; legend: string } {
  return mesh === "istio" ? { by: "destination_service", legend: "{{destination_service}}" } : { by: "dst_service, dst_namespace", legend: "{{dst_service}}.{{dst_namespace}}" };
}

export interface DashboardOptions {
  title: string;
  uid: string;
  /** Prometheus datasource UID (default: a `datasource` template variable of type prometheus). */
  datasourceUid?: string;
  /** Tags to filter annotations by (the environment's). */
  annotationTags: string[];
  /**
   * Read the series `meshops prometheus rules --window <this>` records (same adapter and matchers) instead of
   * the raw metrics: panels of a large mesh then load without Prometheus re-reading every histogram bucket.
   */
  recordedWindowS?: number;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: "prometheus"; uid: string };
  targets: { refId: string; expr: string; legendFormat: string; datasource: { type: "prometheus"; uid: string } }[];
  fieldConfig: { defaults: { unit: string }; overrides: [] };
  options: Record<string, unknown>;
}

/**
 * Requests, errors, mTLS share and p50/p95/p99 latency per service, from the adapter's own queries aggregated to
 * services. Returns Grafana's dashboard model (schemaVersion 39), ready for the import API or a provisioning file.
 */
export function buildDashboard(adapter: MeshAdapter, opts: DashboardOptions): Record<string, unknown> {
  const ds = { type: "prometheus" as const, uid: opts.datasourceUid ?? "${datasource}" };
  const { by, legend } = serviceLabels(adapter.mesh);
  const recorded = opts.recordedWindowS !== undefined ? { names: recordedNames(adapter, opts.recordedWindowS), queries: recordedQueries(adapter, opts.recordedWindowS, []) } : undefined;
  const requests = recorded ? recorded.queries.requests : grafanaQuery(adapter.requestsQuery(PLACEHOLDER_S));
  const perService = (inner: string): string => `sum by (${by}) (${inner})`;
  // errors and mTLS are label values of the requests query's rows: kept or dropped with and/unless on that label
  const errors = adapter.mesh === "istio" ? dropWhere(requests, "code_class", ["1xx", "2xx", "3xx", "4xx"]) : keepWhere(requests, "classification", ["failure"]);
  const mtls = adapter.mesh === "istio" ? keepWhere(requests, "connection_security_policy", ["mutual_tls"]) : keepWhere(requests, "tls", ["true"]);
  const panels: Panel[] = [];
  const panel = (title: string, unit: string, targets: { expr: string; legend: string }[], y: number, x: number): void => {
    panels.push({
      id: panels.length + 1,
      type: "timeseries",
      title,
      gridPos: { x, y, w: 12, h: 8 },
      datasource: ds,
      targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), expr: t.expr, legendFormat: t.legend, datasource: ds })),
      fieldConfig: { defaults: { unit }, overrides: [] },
      options: { legend: { displayMode: "table", placement: "right", calcs: ["lastNotNull", "max"] }, tooltip: { mode: "multi" } },
    });
  };
  panel("Requests per second", "reqps", [{ expr: perService(requests), legend }], 0, 0);
  // a service without errors has no error rows: "or … * 0" gives it 0 instead of no line
  panel("Error ratio", "percentunit", [{ expr: `(${perService(errors)} or ${perService(requests)} * 0) / ${perService(requests)}`, legend }], 0, 12);
  panel(
    "Latency p50 / p95 / p99",
    "ms",
    QUANTILES.map((q) => ({
      expr: recorded ? `${recorded.names.quantile("service", q)}{${RULES_LABEL}="${recorded.names.id}"}` : grafanaQuery(adapter.latencyQuery(q, PLACEHOLDER_S, "service")),
      legend: `p${Math.round(q * 100)} ${legend}`,
    })),
    8,
    0,
  );
  panel("Share of mTLS traffic", "percentunit", [{ expr: `(${perService(mtls)} or ${perService(requests)} * 0) / ${perService(requests)}`, legend }], 8, 12);
  return {
    uid: opts.uid,
    title: opts.title,
    tags: ["meshops", adapter.mesh],
    timezone: "browser",
    schemaVersion: 39,
    editable: true,
    time: { from: "now-6h", to: "now" },
    refresh: "30s",
    templating: { list: opts.datasourceUid ? [] : [{ name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 }] },
    annotations: {
      list: [
        { name: "Annotations & Alerts", builtIn: 1, datasource: { type: "grafana", uid: "-- Grafana --" }, enable: true, hide: true, iconColor: "rgba(0, 211, 255, 1)", type: "dashboard" },
        { name: "meshops applies", datasource: { type: "grafana", uid: "-- Grafana --" }, enable: true, iconColor: "orange", target: { type: "tags", tags: opts.annotationTags, matchAny: false, limit: 100 } },
      ],
    },
    panels,
  };
}

/** A one-row vector per value with only `label` set: what `and on(label)` / `unless on(label)` compare rows with. */
function labelValues(label: string, values: string[]): string {
  return values.map((v) => `label_replace(vector(1), "${label}", "${v}", "", "")`).join(" or ");
}

/** The rows of `query` whose `label` is one of `values` (PromQL allows {…} only on selectors). */
export function keepWhere(query: string, label: string, values: string[]): string {
  return `(${query}) and on(${label}) (${labelValues(label, values)})`;
}

/** The rows of `query` whose `label` is none of `values`. */
export function dropWhere(query: string, label: string, values: string[]): string {
  return `(${query}) unless on(${label}) (${labelValues(label, values)})`;
}

export interface AnnotationResult {
  ok: boolean;
  message: string;
}

/** The annotation Grafana shows for an applied revision (`mergeRequest` as "!42"). */
export function annotationFor(env: string, rev: InventoryRevision, mergeRequest?: string): { time: number; tags: string[]; text: string } {
  const commit = rev.commit ? ` commit ${rev.commit.slice(0, 12)}${rev.subject ? ` "${rev.subject}"` : ""}` : " (working tree)";
  const who = rev.author ? ` by ${rev.author.replace(/\s*<.*>$/, "")}` : "";
  return {
    time: Date.parse(rev.appliedAt),
    tags: ["meshops", `env:${env}`, `revision:${rev.revision}`, ...(rev.rollback ? ["rollback"] : [])],
    text: `meshops applied revision ${rev.revision} to ${env}:${commit}${who}${mergeRequest ? ` (MR ${mergeRequest})` : ""}${rev.note ? ` — ${rev.note}` : ""}${rev.status === "partial" ? " [partial]" : ""}`,
  };
}

/** Posts an annotation (Grafana HTTP API). Never throws: the result says what happened. */
export async function postAnnotation(grafanaUrl: string, token: string | undefined, body: { time: number; tags: string[]; text: string; dashboardUID?: string }, timeoutMs = 10_000): Promise<AnnotationResult> {
  if (!token) return { ok: false, message: `no Grafana annotation: GRAFANA_TOKEN is not set (a service account token with the annotations:write permission)` };
  const url = `${grafanaUrl.replace(/\/+$/, "")}/api/annotations`;
  try {
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (!res.ok) {
      let msg = text.slice(0, 200);
      try {
        msg = (JSON.parse(text) as { message?: string }).message ?? msg;
      } catch {
        // not JSON
      }
      return { ok: false, message: `Grafana at ${grafanaUrl} refused the annotation (${res.status}${msg ? `: ${msg}` : ""})` };
    }
    const id = (JSON.parse(text) as { id?: number }).id;
    return { ok: true, message: `Grafana annotation ${id ?? "?"} posted to ${grafanaUrl}` };
  } catch (e) {
    return { ok: false, message: `Grafana at ${grafanaUrl} is unreachable: ${(e as Error).message}` };
  }
}
