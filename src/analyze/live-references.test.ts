/** Reference analyzers with a live cluster's objects in the model (external objects, issue 3 item 6). */
import { describe, expect, it } from "vitest";
import { buildMeshModel, externalFile, isExternalFile } from "../model/mesh-model.js";
import type { Manifest } from "../model/resource.js";
import { parseManifests } from "../source/yaml.js";
import type { ReferencePolicy } from "./analyzer.js";
import { runAnalyzers } from "./registry.js";

const repo = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: {host: reviews}
          weight: 50
        - destination: {host: ratings}
          weight: 50
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: bookinfo}
spec:
  rules:
    - from: [{source: {principals: [cluster.local/ns/bookinfo/sa/productpage]}}]
`;

/** The cluster's objects as check --live-refs passes them: origin `<cluster staging>`, no positions. */
function live(text: string): Manifest[] {
  return parseManifests(text, "x.yaml").manifests.map((m) => ({ ...m, origin: { ...m.origin, file: externalFile("staging"), line: 0, column: 0 }, locate: () => undefined }));
}

function findings(external: Manifest[] | undefined, kinds: string[], references: ReferencePolicy = "warn"): string[] {
  const model = buildMeshModel(parseManifests(repo, "m.yaml").manifests, {}, external ? { cluster: "staging", manifests: external, kinds: new Set(kinds) } : undefined);
  return runAnalyzers(model, { references })
    .filter((f) => f.code === "MSH2001" || f.code === "MSH2016" || isExternalFile(f.file))
    .map((f) => `${f.severity} ${f.file}:${f.line} ${f.message}`);
}

const cluster = live(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {selector: {app: reviews}, ports: [{port: 9080, name: weird}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: bookinfo}
spec: {template: {metadata: {labels: {app: reviews}}, spec: {serviceAccountName: nobody, containers: [{name: c, image: i}]}}}
`);

describe("reference analyzers with a live cluster", () => {
  it("without a cluster: warnings that say the repository could not confirm", () => {
    expect(findings(undefined, [])).toEqual([
      "warning m.yaml:1 destination host \"ratings\" (ratings.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host; the repository holds no Services or ServiceEntries in namespace bookinfo, so this could not be confirmed",
      "warning m.yaml:1 destination host \"reviews\" (reviews.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host; the repository holds no Services or ServiceEntries in namespace bookinfo, so this could not be confirmed",
      "warning m.yaml:13 principal cluster.local/ns/bookinfo/sa/productpage names ServiceAccount bookinfo/productpage, which does not exist; the repository holds no ServiceAccounts in namespace bookinfo, so this could not be confirmed",
    ]);
  });

  it("resolves against the cluster; a listed kind that lacks the object is the analyzer's error, naming the cluster", () => {
    expect(findings(cluster, ["/Service", "/ServiceAccount", "apps/Deployment"])).toEqual([
      "error m.yaml:10 destination host \"ratings\" (ratings.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster staging",
      "warning m.yaml:13 principal cluster.local/ns/bookinfo/sa/productpage names ServiceAccount bookinfo/productpage, which does not exist; neither the repository nor cluster staging holds any ServiceAccounts in namespace bookinfo, so this could not be confirmed",
    ]);
  });

  it("keeps repository-only semantics for a kind the cluster could not list", () => {
    expect(findings(cluster, ["apps/Deployment"])).toEqual([
      "warning m.yaml:1 destination host \"ratings\" (ratings.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host; the repository holds no Services or ServiceEntries in namespace bookinfo, so this could not be confirmed",
      "warning m.yaml:13 principal cluster.local/ns/bookinfo/sa/productpage names ServiceAccount bookinfo/productpage, which does not exist; the repository holds no ServiceAccounts in namespace bookinfo, so this could not be confirmed",
    ]);
  });

  it("strict: still-missing references are errors that name the cluster", () => {
    expect(findings(cluster, ["/Service", "/ServiceAccount"], "strict")).toEqual([
      "error m.yaml:10 destination host \"ratings\" (ratings.bookinfo.svc.cluster.local) is not a Service or ServiceEntry host: not in the repository nor in cluster staging",
      "error m.yaml:18 principal cluster.local/ns/bookinfo/sa/productpage names ServiceAccount bookinfo/productpage, which does not exist: not in the repository nor in cluster staging",
    ]);
  });

  it("the repository's object wins over the cluster's, and the repository's kinds stay its own", () => {
    const model = buildMeshModel(parseManifests(`${repo}---\napiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: bookinfo}\nspec: {ports: [{port: 1}]}\n`, "m.yaml").manifests, {}, { cluster: "staging", manifests: cluster, kinds: new Set(["/Service"]) });
    expect(model.services.get("reviews.bookinfo.svc.cluster.local")?.source.manifest.origin.file).toBe("m.yaml");
    expect(model.manifests).toHaveLength(3);
    expect(model.kinds.has("apps/Deployment")).toBe(false);
    expect(model.workloads.map((w) => w.source.manifest.origin.file)).toEqual(["<cluster staging>"]);
  });
});
