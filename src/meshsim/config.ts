/**
 * meshsim's configuration file (YAML): the emulated services, their versions' behaviour and who calls them.
 * Validated with zod; every problem is reported with file:line:column like meshops.yaml.
 *
 * meshsim is a telemetry EMULATOR for tests and demos; no production code path imports this folder.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parsePositioned } from "../config/positions.js";

const positive = z.number().positive();
const ratio = z.number().min(0).max(1);

/** Latency of one version: quantiles (interpolated as a log-normal between them), or a named distribution. */
const latencySchema = z
  .object({
    distribution: z.enum(["quantiles", "lognormal"]).default("quantiles"),
    p50Ms: positive,
    p95Ms: positive.optional(),
    p99Ms: positive.optional(),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.distribution === "lognormal" && l.p99Ms === undefined) ctx.addIssue({ code: "custom", message: "a lognormal latency needs p50Ms and p99Ms", path: ["p99Ms"] });
    if (l.p95Ms !== undefined && l.p95Ms < l.p50Ms) ctx.addIssue({ code: "custom", message: "p95Ms must not be below p50Ms", path: ["p95Ms"] });
    const below = l.p95Ms ?? l.p50Ms;
    if (l.p99Ms !== undefined && l.p99Ms < below) ctx.addIssue({ code: "custom", message: `p99Ms must not be below ${l.p95Ms !== undefined ? "p95Ms" : "p50Ms"}`, path: ["p99Ms"] });
  });

const versionSchema = z
  .object({
    /** Deployment name (Istio destination_workload, Linkerd deployment/dst_deployment); default <service>-<version>. */
    workload: z.string().min(1).optional(),
    /** Pod labels that select this version (what DestinationRule subsets match); default { version: <key> }. */
    labels: z.record(z.string(), z.string()).optional(),
    /** The version's own Service (HTTPRoute backendRefs and TrafficSplit backends name it); default <service>-<version>. */
    service: z.string().min(1).optional(),
    /** Share of traffic when no routing object applies (kube-proxy spreads over pods); default 1. */
    replicas: z.number().int().min(0).default(1),
    latency: latencySchema.default({ distribution: "quantiles", p50Ms: 10, p95Ms: 25, p99Ms: 50 }),
    errorRatio: ratio.default(0),
    /** HTTP status of failed requests. */
    errorCode: z.number().int().min(400).max(599).default(503),
  })
  .strict();

const routingKinds = z.enum(["virtualservice", "httproute", "trafficsplit"]);

const serviceSchema = z
  .object({
    namespace: z.string().min(1),
    name: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(9080),
    /** Traffic from outside the mesh (Istio source_workload "unknown", Linkerd no outbound side), requests/s. */
    rps: z.number().min(0).default(0),
    /** Which routing objects decide the split, first that applies wins; default by mesh. */
    routing: z.array(routingKinds).optional(),
    versions: z.record(z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.]*$/, "a version key is a label value"), versionSchema).refine((v) => Object.keys(v).length > 0, "a service needs at least one version"),
  })
  .strict();

const callerSchema = z
  .object({
    /** The calling workload (Deployment name). */
    source: z.string().min(1),
    /** Its namespace. */
    namespace: z.string().min(1),
    /** Its version label (Istio source_version); default "unknown". */
    version: z.string().min(1).optional(),
    /** The called service, "name" (same namespace as the caller) or "namespace/name"; must be a configured service. */
    service: z.string().min(1),
    rps: z.number().min(0),
    /** Share of this caller's requests over mutual TLS; default the top-level mtls. */
    mtls: ratio.optional(),
  })
  .strict();

export const simConfigSchema = z
  .object({
    mesh: z.enum(["istio", "linkerd"]),
    /** Share of requests over mutual TLS (connection_security_policy / tls). */
    mtls: ratio.default(1),
    /** Emulation step. */
    stepMs: z.number().int().min(10).max(10_000).default(250),
    /**
     * Which proxies report: Istio `destination` and/or `source` (reporter label), Linkerd `inbound` and/or
     * `outbound` (direction label); default both. One side halves the series of big emulated meshes.
     */
    reporters: z.array(z.enum(["destination", "source", "inbound", "outbound"])).min(1).optional(),
    services: z.array(serviceSchema).min(1),
    callers: z.array(callerSchema).default([]),
  })
  .strict();

export type SimConfig = z.output<typeof simConfigSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type VersionConfig = z.output<typeof versionSchema>;
export type LatencyConfig = z.output<typeof latencySchema>;
export type RoutingKind = z.output<typeof routingKinds>;

/** Problems in a meshsim config file, each as "file:line:column: message". */
export class SimConfigError extends Error {
  readonly code = "config_invalid";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** Parses and validates meshsim YAML; throws SimConfigError with positions. */
export function parseSimConfig(text: string, file = "meshsim.yaml"): SimConfig {
  const { doc, errors, pos } = parsePositioned(text);
  if (errors.length > 0) throw new SimConfigError(errors.map((e) => `${file}:${e.line}:${e.col}: ${e.message}`));
  const parsed = simConfigSchema.safeParse(doc.toJS({ maxAliasCount: 100 }) ?? {});
  if (!parsed.success) {
    throw new SimConfigError(
      parsed.error.issues.map((iss) => {
        const where = iss.path.map(String).join(".") || "(top level)";
        if (iss.code === "unrecognized_keys") {
          const p = pos([...iss.path, iss.keys[0]!]);
          return `${file}:${p.line}:${p.col}: unknown key${iss.keys.length > 1 ? "s" : ""} ${iss.keys.map((k) => `"${k}"`).join(", ")} in ${where}`;
        }
        const p = pos(iss.path);
        return `${file}:${p.line}:${p.col}: ${where}: ${iss.message}`;
      }),
    );
  }
  const cfg = parsed.data;
  const problems: string[] = [];
  const sides = cfg.mesh === "istio" ? ["destination", "source"] : ["inbound", "outbound"];
  (cfg.reporters ?? []).forEach((r, i) => {
    if (!sides.includes(r)) {
      const p = pos(["reporters", i]);
      problems.push(`${file}:${p.line}:${p.col}: reporters.${i}: ${cfg.mesh} reporters are ${sides.join(" and ")}, not ${r}`);
    }
  });
  const keys = new Set<string>();
  cfg.services.forEach((s, i) => {
    const k = `${s.namespace}/${s.name}`;
    if (keys.has(k)) {
      const p = pos(["services", i]);
      problems.push(`${file}:${p.line}:${p.col}: services.${i}: service ${k} is configured twice`);
    }
    keys.add(k);
  });
  cfg.callers.forEach((c, i) => {
    const k = c.service.includes("/") ? c.service : `${c.namespace}/${c.service}`;
    if (!keys.has(k)) {
      const p = pos(["callers", i, "service"]);
      problems.push(`${file}:${p.line}:${p.col}: callers.${i}.service: no configured service ${k}`);
    }
  });
  if (problems.length > 0) throw new SimConfigError(problems);
  return cfg;
}

export function loadSimConfig(file: string): SimConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new SimConfigError([`${file}: cannot read: ${(e as Error).message}`]);
  }
  return parseSimConfig(text, file);
}

/** The defaults a version key implies. */
export function versionWorkload(svc: ServiceConfig, key: string): string {
  return svc.versions[key]?.workload ?? `${svc.name}-${key}`;
}
export function versionService(svc: ServiceConfig, key: string): string {
  return svc.versions[key]?.service ?? `${svc.name}-${key}`;
}
export function versionLabels(svc: ServiceConfig, key: string): Record<string, string> {
  return svc.versions[key]?.labels ?? { version: key };
}
export function callerTarget(c: SimConfig["callers"][number]): { namespace: string; name: string } {
  const [a, b] = c.service.split("/", 2);
  return b === undefined ? { namespace: c.namespace, name: a! } : { namespace: a!, name: b };
}
