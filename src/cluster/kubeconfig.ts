/** Kubeconfig loading and raw API GETs: the one place that knows how to reach a cluster. */
import { KubeConfig } from "@kubernetes/client-node";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { UnreachableError, UsageError } from "../errors.js";

export interface ClusterTarget {
  context?: string;
  kubeconfig?: string;
  inCluster?: boolean;
}

/** Loads the kubeconfig for a target: --kubeconfig/$KUBECONFIG/~/.kube/config, or in-cluster credentials. */
export function loadKubeConfig(target: ClusterTarget): KubeConfig {
  const kc = new KubeConfig();
  if (target.inCluster) {
    kc.loadFromCluster();
    return kc;
  }
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UsageError(`cannot read kubeconfig ${target.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(e as Error).message}`);
  }
  if (target.context) {
    if (!kc.getContexts().some((c) => c.name === target.context)) {
      throw new UsageError(`kubeconfig has no context "${target.context}" (it has: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) throw new UsageError("kubeconfig has no current context: pass --context");
  return kc;
}

/** GET a path on the API server as JSON; unreachable servers become UnreachableError (exit 3). */
export async function getJson(kc: KubeConfig, path: string, timeoutMs = 30_000): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new UsageError("kubeconfig has no current cluster");
  const url = new URL(path, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
  const opts: import("node:https").RequestOptions = { method: "GET", headers: { Accept: "application/json" }, timeout: timeoutMs };
  await kc.applyToHTTPSOptions(opts);
  const send = url.protocol === "http:" ? httpRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 0) >= 400) {
          let msg = body.slice(0, 300);
          try {
            msg = (JSON.parse(body) as { message?: string }).message ?? msg;
          } catch {
            // not a Status object
          }
          reject(new UsageError(`GET ${url.pathname}: ${res.statusCode} ${msg}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new UsageError(`GET ${url.pathname}: response is not JSON`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => reject(new UnreachableError(`cluster ${cluster.name} at ${cluster.server} is unreachable: ${e.message}`)));
    req.end();
  });
}
