/**
 * meshops' offline verdict must match the real API server's: each object is checked by meshops and sent to
 * the test environment's kube-apiserver (same CRDs) as a server-side dry run with strict field validation.
 * Also: the schemas meshops exports for kubeconform make kubeconform agree on the structural cases.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { crdsDir, meshops, writeTree } from "./helpers.js";

interface Case {
  name: string;
  yaml: string;
  /** Whether the API server (and so meshops) accepts it. */
  valid: boolean;
  /** Structural cases kubeconform can judge too (no CEL, no metadata syntax, no defaults). */
  structural?: boolean;
}

const ns = "fidelity";
const cases: Case[] = [
  {
    name: "a valid VirtualService with int-or-string-free weights",
    valid: true,
    structural: true,
    yaml: `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ok, namespace: ${ns}}\nspec:\n  hosts: [reviews]\n  http:\n    - route:\n        - destination: {host: reviews, subset: v1}\n          weight: 100\n`,
  },
  {
    name: "an unknown field",
    valid: false,
    structural: true,
    yaml: `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: unknown, namespace: ${ns}}\nspec:\n  hosts: [reviews]\n  htttp: []\n`,
  },
  {
    name: "a string where an integer belongs",
    valid: false,
    structural: true,
    yaml: `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: wrongtype, namespace: ${ns}}\nspec:\n  hosts: [reviews]\n  http:\n    - route:\n        - destination: {host: reviews}\n          weight: "100"\n`,
  },
  {
    name: "a bad enum value",
    valid: false,
    structural: true,
    yaml: `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: enum, namespace: ${ns}}\nspec:\n  mtls: {mode: STRICTER}\n`,
  },
  {
    name: "a Linkerd Server port given by name (int-or-string)",
    valid: true,
    structural: true,
    yaml: `apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: srv, namespace: ${ns}}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  port: http\n`,
  },
  {
    name: "a Linkerd Server port that is neither integer nor string",
    valid: false,
    structural: true,
    yaml: `apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: srv2, namespace: ${ns}}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  port: [80]\n`,
  },
  {
    name: "an HTTPRoute breaking a CEL rule (redirect with backendRefs)",
    valid: false,
    yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: cel, namespace: ${ns}}\nspec:\n  rules:\n    - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]\n      backendRefs: [{name: web, port: 80}]\n`,
  },
  {
    name: "an HTTPRoute breaking the timeouts CEL rule",
    valid: false,
    yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: timeouts, namespace: ${ns}}\nspec:\n  rules:\n    - timeouts: {request: 1s, backendRequest: 2s}\n      backendRefs: [{name: web, port: 80}]\n`,
  },
  {
    name: "a Gateway whose addresses rely on the defaulted type (oneOf decided by a default)",
    valid: true,
    yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: addr, namespace: ${ns}}\nspec:\n  gatewayClassName: x\n  addresses: [{value: 192.0.2.1}]\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n`,
  },
  {
    name: "a Gateway IPAddress that is not an IP (CEL isIP)",
    valid: false,
    yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: addr2, namespace: ${ns}}\nspec:\n  gatewayClassName: x\n  addresses: [{type: IPAddress, value: not-an-ip}]\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n`,
  },
  {
    name: "an invalid label value",
    valid: false,
    yaml: `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: lbl, namespace: ${ns}, labels: {version: "-v1"}}\nspec:\n  host: reviews\n`,
  },
  {
    name: "a Deployment with an unknown container field",
    valid: false,
    structural: true,
    yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dep, namespace: ${ns}}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: a, image: nginx, imagePullPolcy: Always}]\n`,
  },
  {
    name: "a valid Deployment with int-or-string rolling update values",
    valid: true,
    structural: true,
    yaml: `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dep2, namespace: ${ns}}\nspec:\n  selector: {matchLabels: {app: a}}\n  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers: [{name: a, image: nginx, resources: {limits: {cpu: 500m, memory: 1Gi}}}]\n`,
  },
];

describe("meshops agrees with the real API server", () => {
  const kubeconfig = inject("kubeconfig");
  const kubectl = (...args: string[]) => spawnSync("kubectl", ["--kubeconfig", kubeconfig, "--context", "staging", ...args], { encoding: "utf8" });

  beforeAll(() => {
    kubectl("create", "namespace", ns);
  });

  for (const c of cases) {
    it(`${c.valid ? "accepts" : "rejects"} ${c.name}`, () => {
      const dir = writeTree({ "m/x.yaml": c.yaml });
      const server = kubectl("apply", "--server-side", "--dry-run=server", "--validate=strict", "--field-manager=fidelity", "-f", join(dir, "m/x.yaml"));
      const ours = meshops(["check", "m", "--crds", crdsDir, "--format", "json"], { cwd: dir });
      const errors = (JSON.parse(ours.stdout) as { findings: { severity: string; message: string }[] }).findings.filter((f) => f.severity === "error");
      expect({ server: server.status === 0 ? "accepted" : "rejected", detail: server.stderr.trim().slice(0, 300) }).toMatchObject({ server: c.valid ? "accepted" : "rejected" });
      expect(errors.length === 0, errors.map((e) => e.message).join("; ")).toBe(c.valid);
    });
  }
});

describe("schemas export for kubeconform", () => {
  const out = mkdtempSync(join(tmpdir(), "meshops-export-"));
  const kubeconform = join(process.env.MESHOPS_TOOLS_DIR ?? join(homedir(), ".cache", "meshops", "tools"), "bin", "kubeconform");

  it("writes schemas kubeconform uses to reach the same verdict on structural cases", () => {
    const r = meshops(["schemas", "export", out, "--crds", crdsDir, "--format", "kubeconform"]);
    expect(r.code).toBe(0);
    const location = /-schema-location '([^']+)'/.exec(r.stdout)?.[1];
    expect(location).toBe(`${out}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`);
    for (const c of cases.filter((x) => x.structural)) {
      const dir = writeTree({ "x.yaml": c.yaml });
      const k = spawnSync(kubeconform, ["-strict", "-summary", "-schema-location", location ?? "", join(dir, "x.yaml")], { encoding: "utf8" });
      expect({ name: c.name, valid: k.status === 0 }, k.stdout).toEqual({ name: c.name, valid: c.valid });
    }
  });

  it("exports the bundled core kinds and every CRD version", () => {
    const files = execFileSync("find", [out, "-name", "*.json"], { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(files.some((f) => f.endsWith("/v1/service_v1.json"))).toBe(true);
    expect(files.some((f) => f.endsWith("/apps/deployment_v1.json"))).toBe(true);
    expect(files.some((f) => f.endsWith("/networking.istio.io/virtualservice_v1beta1.json"))).toBe(true);
    expect(files.some((f) => f.endsWith("/gateway.networking.k8s.io/httproute_v1.json"))).toBe(true);
  });
});
