/**
 * `meshops grafana dashboard`: a Grafana dashboard (JSON model) with the same queries as `meshops top` — requests,
 * error ratio, p50/p95/p99 latency and mTLS share per service — and an annotation layer showing every revision
 * meshops applied to the environment (`apply` posts them when the environment has `grafana.url`).
 */
import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Io } from "./main.js";
import { meshTargetOptions, resolveTarget } from "./observe.js";

interface DashboardFlags {
  env?: string;
  match?: string;
  recordedWindow?: string;
  mesh?: "istio" | "linkerd";
  prometheus?: string;
  datasource?: string;
  uid?: string;
  title?: string;
  output?: string;
  chdir?: string;
}

export function registerGrafana(program: Command, io: Io, setExit: (code: number) => void): void {
  const grafana = program.command("grafana").description("Grafana: a dashboard with meshops' queries and its applied revisions as annotations");
  meshTargetOptions(grafana.command("dashboard").description("write a Grafana dashboard (JSON model) for an environment's mesh metrics, annotated with meshops' applies"))
    .option("--recorded-window <duration>", "read the series `meshops prometheus rules --window <duration>` records instead of the raw metrics (large meshes)")
    .option("--datasource <uid>", "Prometheus datasource UID (default: a datasource variable chosen in Grafana)")
    .option("--uid <uid>", "dashboard UID (default: the environment's grafana.dashboardUid, else meshops-<env>)")
    .option("--title <title>", "dashboard title (default: meshops: <env>)")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (path: string | undefined, flags: DashboardFlags) => {
      const { buildDashboard } = await import("../observe/grafana.js");
      const { parseDurationS } = await import("./duration.js");
      const recordedWindowS = flags.recordedWindow !== undefined ? parseDurationS(flags.recordedWindow, "--recorded-window") : undefined;
      // the dashboard needs the mesh and the environment, not a reachable Prometheus
      const target = await resolveTarget(io, { ...flags, window: "5m", prometheus: flags.prometheus ?? "http://prometheus.invalid" }, path, { needEnv: true });
      for (const n of target.notes) io.stderr(`meshops: ${n}\n`);
      const env = target.env!.name;
      const dashboard = buildDashboard(target.adapter, {
        title: flags.title ?? `meshops: ${env}`,
        uid: flags.uid ?? target.env?.grafana?.dashboardUid ?? `meshops-${env}`.slice(0, 40),
        ...(flags.datasource ? { datasourceUid: flags.datasource } : {}),
        ...(recordedWindowS !== undefined ? { recordedWindowS } : {}),
        annotationTags: ["meshops", `env:${env}`],
      });
      const text = `${JSON.stringify(dashboard, null, 2)}\n`;
      if (flags.output) writeFileSync(resolve(io.cwd, flags.output), text);
      else io.stdout(text);
      setExit(0);
    });
}
