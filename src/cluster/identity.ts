/** Who is applying: the Kubernetes user (SelfSubjectReview, GA since 1.28), else the local user. */
import { userInfo } from "node:os";
import type { KubeClient } from "./client.js";

/** The authenticated user name as the API server sees it; falls back to the OS user when the review is not allowed. */
export async function whoAmI(kube: KubeClient): Promise<string> {
  try {
    const r = await kube.create({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview", metadata: {} });
    const name = ((r.status ?? {}) as { userInfo?: { username?: string } }).userInfo?.username;
    if (name) return name;
  } catch {
    // older servers or a restricted user: the local name is still useful in the inventory
  }
  return userInfo().username;
}
