import { describe, expect, it } from "vitest";
import type { InventoryRevision } from "../cluster/inventory.js";
import { buildMeshModel } from "../model/mesh-model.js";
import { parseManifests } from "../source/yaml.js";
import type { Anomaly } from "./anomaly.js";
import { changedManifests, changesFromInventory, parseMergeRequest, servicesInDiff, servicesTouched, type Change } from "./changes.js";
import { renderCorrelationJson, renderCorrelationMarkdown, renderCorrelationText, type CorrelationReport } from "./correlate-render.js";
import { attribute, neighbours, scoreChange, defaultCorrelateOptions } from "./correlate.js";

const manifests = (text: string) => parseManifests(text, "m.yaml").manifests;

const bookinfo = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec: {selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: bookinfo}
spec: {selector: {app: details}, ports: [{name: http, port: 9080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v3, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v3}}
  template:
    metadata: {labels: {app: reviews, version: v3}}
    spec: {containers: [{name: r, image: r}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v3}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: bookinfo}
spec: {host: ratings, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-allow, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: details}}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`;

describe("changes", () => {
  it("parses GitLab's merge commit message for the merge request", () => {
    expect(parseMergeRequest("Merge branch 'shift' into 'main'\n\nshift 50% of reviews to v3\n\nSee merge request platform/mesh-config!42")).toBe("!42");
    expect(parseMergeRequest("See merge request !7")).toBe("!7");
    expect(parseMergeRequest("fix typo")).toBeUndefined();
  });

  it("turns inventory revisions into changes with the objects added and removed", () => {
    const ref = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", namespace: "a", name });
    const revs: InventoryRevision[] = [
      { revision: 2, commit: "b".repeat(40), author: "alice", subject: "two", appliedAt: "2026-11-26T14:05:02Z", appliedBy: "ci", status: "complete", objects: [ref("x"), ref("z")] },
      { revision: 1, commit: "a".repeat(40), appliedAt: "2026-11-26T13:00:00Z", appliedBy: "ci", status: "complete", objects: [ref("x"), ref("y")] },
    ];
    const [one, two] = changesFromInventory(revs);
    expect(one).toMatchObject({ revision: 1, added: [ref("x"), ref("y")], removed: [] });
    expect(two).toMatchObject({ revision: 2, author: "alice", subject: "two", appliedAt: Date.parse("2026-11-26T14:05:02Z") / 1000, added: [ref("z")], removed: [ref("y")] });
  });

  it("finds objects modified between two renders by content, not formatting", () => {
    const base = manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\ndata: {k: '1', j: '2'}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: n}\ndata: {k: '1'}\n");
    const head = manifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: n\n  name: a\ndata:\n  j: '2'\n  k: '1'\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: n}\ndata: {k: '2'}\n");
    const d = changedManifests(base, head);
    expect(d.modified.map((m) => m.head.ref.name)).toEqual(["b"]);
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
  });

  it("maps changed objects to the services they touch through the MeshModel", () => {
    const all = manifests(bookinfo);
    const model = buildMeshModel(all);
    const pick = (kind: string) => all.filter((m) => m.ref.kind === kind);
    expect([...servicesTouched(model, pick("VirtualService")).services]).toEqual(["reviews.bookinfo"]);
    expect([...servicesTouched(model, pick("DestinationRule")).services]).toEqual(["ratings.bookinfo"]);
    expect([...servicesTouched(model, pick("AuthorizationPolicy")).services]).toEqual(["details.bookinfo"]);
    expect([...servicesTouched(model, pick("Deployment")).services]).toEqual(["reviews.bookinfo"]);
    const pa = servicesTouched(model, pick("PeerAuthentication"));
    expect(pa.meshWide).toBe(true);
    expect(pa.services.size).toBe(0);
  });

  it("reads services from semantic diff subjects", () => {
    expect([...servicesInDiff([
      { subject: "reviews.bookinfo.svc", kind: "traffic", change: "v1 100% → 50%", risk: "medium" },
      { subject: "ratings.bookinfo:9080", kind: "mtls", change: "STRICT → PERMISSIVE", risk: "high" },
      { subject: "namespace legacy", kind: "mtls", change: "x", risk: "low" },
    ])]).toEqual(["reviews.bookinfo", "ratings.bookinfo"]);
  });
});

const T = Date.parse("2026-11-26T14:05:40Z") / 1000;
const latency: Anomaly = {
  subject: { level: "service", id: "reviews.bookinfo", service: "reviews.bookinfo" },
  metric: "p95_latency_ms",
  start: T,
  end: T + 900,
  baseline: 38,
  current: 412,
  magnitude: 412 / 38,
  confidence: 0.994,
  z: 40,
};
const change = (revision: number, appliedAt: number, services: string[] | undefined, extra: Partial<Change> = {}): Change => ({ revision, appliedAt, added: [], removed: [], modified: [], ...(services ? { services } : {}), ...extra });
const graph = {
  services: [
    { id: "productpage.bookinfo", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 }, versions: [{ id: "productpage.bookinfo@v1", service: "productpage.bookinfo", version: "v1", workload: "bookinfo/productpage-v1", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 } }] },
    { id: "reviews.bookinfo", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 }, versions: [{ id: "reviews.bookinfo@v3", service: "reviews.bookinfo", version: "v3", workload: "bookinfo/reviews-v3", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 } }] },
  ],
  edges: [
    { from: "productpage.bookinfo@v1", source: "bookinfo/productpage-v1", service: "reviews.bookinfo", version: "v3", to: "reviews.bookinfo@v3", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 } },
    { from: "reviews.bookinfo@v3", source: "bookinfo/reviews-v3", service: "ratings.bookinfo", version: "v1", to: "ratings.bookinfo@v1", signals: { rps: 1, errorRatio: 0, mtlsShare: 1 } },
  ],
};

describe("attribute", () => {
  const adj = neighbours(graph);

  it("knows each service's callers and callees", () => {
    expect([...adj.get("reviews.bookinfo")!].sort()).toEqual(["productpage.bookinfo", "ratings.bookinfo"]);
  });

  it("prefers the change that touched the service over a later unrelated one", () => {
    const [a] = attribute([latency], [change(16, T - 3600 * 2, ["reviews.bookinfo"]), change(17, T - 38, ["reviews.bookinfo"]), change(18, T - 5, ["details.bookinfo"])], adj);
    expect(a!.cause).toMatchObject({ revision: 17, relation: "touches-service", lagS: 38 });
    expect(a!.others).toEqual([]);
  });

  it("decays with time: a recent change to a neighbour can outrank an old change to the service", () => {
    const o = defaultCorrelateOptions();
    const old = scoreChange(latency, change(1, T - 3000, ["reviews.bookinfo"]), adj, o)!;
    const recent = scoreChange(latency, change(2, T - 30, ["ratings.bookinfo"]), adj, o)!;
    expect(recent.relation).toBe("touches-neighbour");
    expect(recent.via).toBe("ratings.bookinfo");
    expect(recent.score).toBeGreaterThan(old.score);
    expect(old.score).toBeCloseTo(Math.pow(0.5, 3000 / 900), 6);
  });

  it("never blames a change applied after the anomaly started (beyond clock skew) or long before", () => {
    const o = defaultCorrelateOptions();
    expect(scoreChange(latency, change(1, T + 60, ["reviews.bookinfo"]), adj, o)).toBeUndefined();
    expect(scoreChange(latency, change(1, T + 5, ["reviews.bookinfo"]), adj, o)).toBeDefined();
    expect(scoreChange(latency, change(1, T - 7200, ["reviews.bookinfo"]), adj, o)).toBeUndefined();
  });

  it("a change applied seconds after the anomaly started (clock skew) counts half: a revert does not outrank the cause", () => {
    const [a] = attribute([latency], [change(2, T - 3, ["reviews.bookinfo"]), change(3, T + 8, ["reviews.bookinfo"])], adj);
    expect(a!.cause).toMatchObject({ revision: 2, lagS: 3 });
    expect(a!.others).toMatchObject([{ revision: 3, lagS: -8 }]);
    expect(a!.others[0]!.score).toBeCloseTo(0.5 * Math.pow(0.5, 8 / 900), 6);
    // alone, it is still the most likely cause
    expect(attribute([latency], [change(3, T + 8, ["reviews.bookinfo"])], adj)[0]!.cause?.revision).toBe(3);
  });

  it("says no change explains an anomaly when the only changes touched unrelated services", () => {
    const [a] = attribute([latency], [change(5, T - 10, ["details.bookinfo"])], adj);
    expect(a!.cause).toBeUndefined();
  });

  it("mesh-wide and unreadable changes are candidates with lower relevance", () => {
    const [a] = attribute([latency], [change(5, T - 10, [], { meshWide: true }), change(6, T - 10, undefined)], adj);
    expect(a!.cause).toMatchObject({ revision: 5, relation: "mesh-wide" });
    expect(a!.others).toMatchObject([{ revision: 6, relation: "unknown-scope" }]);
  });
});

describe("correlation reports", () => {
  const rev17 = change(17, Date.parse("2026-11-26T14:05:02Z") / 1000, ["reviews.bookinfo"], { commit: "3f2a9c1d0e", author: "alice", subject: "shift 50% of reviews to v3", mergeRequest: "!42" });
  const errors: Anomaly = { ...latency, subject: { level: "version", id: "ratings.bookinfo@v1", service: "ratings.bookinfo", version: "v1" }, metric: "error_ratio", start: T + 600, baseline: 0, current: 0.12, magnitude: 120, confidence: 0.97, z: 9 };
  delete (errors as { end?: number }).end;
  const report: CorrelationReport = {
    env: "production",
    mesh: "istio",
    from: T - 6 * 3600,
    to: T + 1800,
    stepS: 30,
    windowS: 60,
    queries: 5,
    changes: [rev17],
    attributions: attribute([latency, errors], [rev17], new Map()),
  };

  it("prints the timeline of applied revisions and anomalies with their most likely cause", () => {
    expect(renderCorrelationText(report)).toBe(`production: istio metrics 2026-11-26T08:05:40Z → 2026-11-26T14:35:40Z (step 30s, 5 Prometheus queries)
14:05:02  applied revision 17, commit 3f2a9c1 "shift 50% of reviews to v3" (MR !42, by alice)
14:05:40  reviews.bookinfo  p95 latency 38 ms → 412 ms (×10.8, confidence 0.99)
          most likely cause: revision 17, commit 3f2a9c1 "shift 50% of reviews to v3" (MR !42, by alice), applied 14:05:02
            (score 0.97: it changed this service's configuration, 38 s before)
          recovered 14:20:40
14:15:40  ratings.bookinfo v1  error ratio 0.00% → 12.0% (×120, confidence 0.97)
          no applied change explains it
`);
  });

  it("renders Markdown for a merge request or deployment note", () => {
    expect(renderCorrelationMarkdown(report)).toBe(`### Mesh anomalies in production

istio metrics from 2026-11-26T08:05:40Z to 2026-11-26T14:35:40Z.

| started (UTC) | where | what | most likely cause | recovered |
|---|---|---|---|---|
| 14:05:40 | reviews.bookinfo | p95 latency 38 ms → 412 ms (×10.8, confidence 0.99) | revision 17, commit 3f2a9c1 "shift 50% of reviews to v3" (MR !42, by alice), applied 14:05:02 | 14:20:40 |
| 14:15:40 | ratings.bookinfo v1 | error ratio 0.00% → 12.0% (×120, confidence 0.97) | no applied change explains it | not yet |
`);
  });

  it("renders JSON with ISO times and a null cause when nothing explains an anomaly", () => {
    const doc = JSON.parse(renderCorrelationJson(report)) as { queries: number; changes: { appliedAt: string }[]; anomalies: { start: string; cause: unknown; end?: string }[] };
    expect(doc.queries).toBe(5);
    expect(doc.changes[0]!.appliedAt).toBe("2026-11-26T14:05:02Z");
    expect(doc.anomalies.map((a) => [a.start, a.end ?? null, a.cause === null])).toEqual([
      ["2026-11-26T14:05:40Z", "2026-11-26T14:20:40Z", false],
      ["2026-11-26T14:15:40Z", null, true],
    ]);
  });
});
