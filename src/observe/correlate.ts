/**
 * Change correlation (pure): each anomaly is attributed to the applied revision that most likely caused it.
 * A candidate must have been applied before the anomaly started (a few seconds of clock skew allowed) and
 * within `maxLagS`; its score is a time factor (halving every `halfLifeS`) times a relevance factor from the
 * MeshModel: the change touched the anomalous service itself (1), a service next to it in the graph (0.6),
 * everything (a mesh-wide policy, 0.5), or something we could not map (0.3: its commit could not be rendered).
 * A change applied after the anomaly's first point (within the clock skew allowed) counts half.
 * A change that touched only unrelated services does not explain an anomaly; the output says so.
 */
import type { Anomaly } from "./anomaly.js";
import type { Change } from "./changes.js";
import type { ServiceGraph } from "./graph.js";

/** Options of attribute; seconds. */
export interface CorrelateOptions {
  maxLagS: number;
  halfLifeS: number;
  /** A change applied up to this long after an anomaly's first point still counts (clock skew between CI and Prometheus). */
  skewS: number;
  /** Below this score a change does not explain an anomaly. */
  minScore: number;
}

/** An hour of look-back, a 15-minute half-life, 10 s of clock skew. */
export function defaultCorrelateOptions(): CorrelateOptions {
  return { maxLagS: 3600, halfLifeS: 900, skewS: 10, minScore: 0.05 };
}

/** Why a change is a candidate. */
export type Relation = "touches-service" | "touches-neighbour" | "mesh-wide" | "unknown-scope";

const RELEVANCE: Record<Relation, number> = { "touches-service": 1, "touches-neighbour": 0.6, "mesh-wide": 0.5, "unknown-scope": 0.3 };
/** Time factor of a change applied after the anomaly started (within the clock skew allowed). */
const AFTER_START = 0.5;

/** A scored candidate cause. */
export interface Candidate {
  revision: number;
  score: number;
  relation: Relation;
  /** The neighbour whose configuration changed, for "touches-neighbour". */
  via?: string;
  lagS: number;
}

/** An anomaly with its most likely cause (undefined: no change explains it) and the runners-up. */
export interface Attribution {
  anomaly: Anomaly;
  cause?: Candidate;
  others: Candidate[];
}

/** Services adjacent to each service in the graph (callers and callees). */
export function neighbours(g: Pick<ServiceGraph, "edges" | "services">): Map<string, Set<string>> {
  const serviceOfVersionNode = new Map<string, string>();
  for (const s of g.services) for (const v of s.versions) serviceOfVersionNode.set(v.id, s.id);
  const out = new Map<string, Set<string>>();
  const link = (a: string, b: string): void => {
    if (a === b) return;
    (out.get(a) ?? out.set(a, new Set()).get(a)!).add(b);
    (out.get(b) ?? out.set(b, new Set()).get(b)!).add(a);
  };
  for (const e of g.edges) {
    const from = serviceOfVersionNode.get(e.from);
    if (from) link(from, e.service);
  }
  return out;
}

/** Scores one change against one anomaly; undefined when it cannot be the cause. */
export function scoreChange(a: Anomaly, c: Change, adj: Map<string, Set<string>>, o: CorrelateOptions): Candidate | undefined {
  const lag = a.start - c.appliedAt;
  if (lag < -o.skewS || lag > o.maxLagS) return undefined;
  let relation: Relation | undefined;
  let via: string | undefined;
  const svc = a.subject.service;
  if (c.services === undefined) relation = "unknown-scope";
  else if (c.services.includes(svc)) relation = "touches-service";
  else {
    const n = [...(adj.get(svc) ?? [])].sort().find((x) => c.services!.includes(x));
    // an edge's client side counts as the service too: a change to the caller's routes moves the edge
    if (n) {
      relation = "touches-neighbour";
      via = n;
    } else if (c.meshWide) relation = "mesh-wide";
  }
  if (!relation) return undefined;
  // a change applied after the anomaly's first point is a candidate only because clocks may disagree: it counts
  // half, so it never outranks the change applied just before (a revert applied seconds into an anomaly, say)
  const time = Math.pow(0.5, Math.abs(lag) / o.halfLifeS) * (lag < 0 ? AFTER_START : 1);
  return { revision: c.revision, score: time * RELEVANCE[relation], relation, ...(via ? { via } : {}), lagS: lag };
}

/** Attributes every anomaly (kept in order) to its most likely change. */
export function attribute(anomalies: readonly Anomaly[], changes: readonly Change[], adj: Map<string, Set<string>>, options: Partial<CorrelateOptions> = {}): Attribution[] {
  const o = { ...defaultCorrelateOptions(), ...options };
  return anomalies.map((a) => {
    const cands = changes
      .map((c) => scoreChange(a, c, adj, o))
      .filter((c): c is Candidate => c !== undefined && c.score >= o.minScore)
      .sort((x, y) => y.score - x.score || y.revision - x.revision);
    const [cause, ...others] = cands;
    return { anomaly: a, ...(cause ? { cause } : {}), others };
  });
}
