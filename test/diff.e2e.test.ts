import { beforeAll, describe, expect, it } from "vitest";
import { commit, git, gitRepo, meshops } from "./helpers.js";

const deploy = (name: string, app: string, version: string, sa: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: ${app}, version: ${version}}}
  template:
    metadata: {labels: {app: ${app}, version: ${version}}}
    spec:
      serviceAccountName: ${sa}
      containers: [{name: ${app}, image: docker.io/istio/examples-bookinfo-${app}:1.20, ports: [{containerPort: 9080}]}]
`;

const app = [
  "apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo, labels: {istio-injection: enabled}}\n",
  ...["productpage", "reviews", "frontend"].map((sa) => `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${sa}, namespace: bookinfo}\n`),
  "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n  selector: {app: reviews}\n  ports: [{name: http, port: 9080, targetPort: 9080}]\n",
  "apiVersion: v1\nkind: Service\nmetadata: {name: productpage, namespace: bookinfo}\nspec:\n  selector: {app: productpage}\n  ports: [{name: http, port: 9080, targetPort: 9080}]\n",
  deploy("productpage-v1", "productpage", "v1", "productpage"),
  deploy("reviews-v1", "reviews", "v1", "reviews"),
  deploy("reviews-v3", "reviews", "v3", "reviews"),
  deploy("frontend", "frontend", "v1", "frontend"),
].join("---\n");

const routing = (v1: number, v3: number) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: ${v1}
    - destination: {host: reviews, subset: v3}
      weight: ${v3}
`;

const security = (mode: string, principals: string[]) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bookinfo}
spec:
  mtls: {mode: ${mode}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [${principals.map((p) => JSON.stringify(`cluster.local/ns/bookinfo/sa/${p}`)).join(", ")}]
`;

// The same objects as commit B, reformatted: keys reordered, block style, comments, documents in another order.
const reformattedSecurity = `# who may call reviews
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
spec:
  rules:
    - from:
        - source:
            principals:
              - cluster.local/ns/bookinfo/sa/productpage   # the page
              - "cluster.local/ns/bookinfo/sa/frontend"
  action: ALLOW
  selector:
    matchLabels:
      app: reviews
metadata:
  namespace: bookinfo
  name: reviews
---
metadata: {namespace: bookinfo, name: default}
kind: PeerAuthentication
apiVersion: security.istio.io/v1
spec: {mtls: {mode: "PERMISSIVE"}}
`;

describe("meshops diff", () => {
  let dir: string;
  let a: string;
  let b: string;
  let c: string;
  beforeAll(() => {
    dir = gitRepo({ "mesh/app.yaml": app, "mesh/routing.yaml": routing(90, 10), "mesh/security.yaml": security("STRICT", ["productpage"]) }, "A");
    a = git(dir, "rev-parse", "HEAD");
    b = commit(dir, { "mesh/routing.yaml": routing(50, 50), "mesh/security.yaml": security("PERMISSIVE", ["productpage", "frontend"]) }, "B");
    c = commit(dir, { "mesh/security.yaml": reformattedSecurity }, "C: reformat");
  });

  it("lists traffic moved, access opened and mTLS weakened, with risks", () => {
    const r = meshops(["diff", "mesh", "--base", a, "--head", b], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "namespace bookinfo      mtls      STRICT → PERMISSIVE  [risk: high]",
        "reviews.bookinfo.svc    traffic   v1 90% → 50%, v3 10% → 50%  [risk: medium]",
        "reviews.bookinfo:9080   access    sa bookinfo/frontend newly ALLOWED (ALLOW policy bookinfo/reviews)  [risk: high]",
        "",
      ].join("\n"),
    );
  });

  it("prints nothing for a commit that only reformats the YAML", () => {
    const r = meshops(["diff", "mesh", "--base", b, "--head", c], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("no semantic changes\n");
    expect(JSON.parse(meshops(["diff", "mesh", "--base", b, "--head", c, "--format", "json"], { cwd: dir }).stdout)).toEqual({ changes: [] });
  });

  it("compares the working tree when --head is not given, as JSON and as a Markdown table", () => {
    const json = meshops(["diff", "mesh", "--base", a, "--format", "json"], { cwd: dir });
    expect(json.code).toBe(0);
    const changes = (JSON.parse(json.stdout) as { changes: { kind: string; risk: string }[] }).changes;
    expect(changes.map((l) => `${l.kind}/${l.risk}`)).toEqual(["mtls/high", "traffic/medium", "access/high"]);
    const md = meshops(["diff", "mesh", "--base", a, "--format", "markdown"], { cwd: dir });
    expect(md.stdout).toContain("| subject | kind | change | risk |");
    expect(md.stdout).toContain("| `reviews.bookinfo:9080` | access | sa bookinfo/frontend newly ALLOWED (ALLOW policy bookinfo/reviews) | **high** |");
    expect(md.stdout.startsWith("**meshops diff**: 3 semantic changes, 2 high risk")).toBe(true);
  });

  it("requires --base", () => {
    const r = meshops(["diff", "mesh"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--base");
  });
});

describe("meshops diff: access by path and method", () => {
  const policy = (frontend: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/bookinfo/sa/productpage]}}]
${frontend}`;
  const frontendOn = (path: string) => `  - from: [{source: {principals: [cluster.local/ns/bookinfo/sa/frontend]}}]\n    to: [{operation: {methods: [GET], paths: ["${path}"]}}]\n`;

  it("names the path and method opened for a source, and a narrowed path as closed with what stays allowed", () => {
    const dir = gitRepo({ "mesh/app.yaml": app, "mesh/security.yaml": policy("") }, "A");
    const a = git(dir, "rev-parse", "HEAD");
    const b = commit(dir, { "mesh/security.yaml": policy(frontendOn("/api/*")) }, "B: frontend may GET /api/*");
    const c = commit(dir, { "mesh/security.yaml": policy(frontendOn("/api/v1/*")) }, "C: only /api/v1/*");
    const opened = meshops(["diff", "mesh", "--base", a, "--head", b], { cwd: dir });
    expect(opened.stderr).toBe("");
    expect(opened.stdout).toBe("reviews.bookinfo:9080/api/*   access   sa bookinfo/frontend newly ALLOWED (GET; ALLOW policy bookinfo/reviews)  [risk: high]\n");
    const narrowed = meshops(["diff", "mesh", "--base", b, "--head", c], { cwd: dir });
    expect(narrowed.stdout).toBe("reviews.bookinfo:9080/api/*   access   sa bookinfo/frontend newly DENIED (GET; still ALLOWED: GET /api/v1/*; ALLOW policy bookinfo/reviews)  [risk: medium]\n");
  });
});
