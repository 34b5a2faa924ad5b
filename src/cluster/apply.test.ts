import { describe, expect, it } from "vitest";
import { UnreachableError } from "../errors.js";
import { executePlan } from "./apply.js";
import type { KubeClient, KubeObject } from "./client.js";
import { systemClock } from "./lease.js";
import type { Plan, PlanEntry } from "./plan.js";

function entry(name: string, action: "created" | "deleted"): PlanEntry {
  const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name };
  return { subject: `ConfigMap/shop/${name}`, ref, action, ...(action === "created" ? { origin: { file: "f.yaml", line: 1 }, desired: { ...ref, metadata: { name, namespace: "shop" } } } : {}) };
}

describe("executePlan when the cluster goes away", () => {
  it("lets the requests in flight finish, reports them, and then throws the unreachable error without pruning", async () => {
    const applied: string[] = [];
    let deletes = 0;
    // only apply and delete are reached; the rest of the client is never called
    const kube = {
      async apply(obj: KubeObject) {
        const name = String(obj.metadata?.name);
        await new Promise((r) => setTimeout(r, name === "slow" ? 30 : 1));
        if (name === "b") throw new UnreachableError("cluster t at https://127.0.0.1:1 is unreachable: connect ECONNREFUSED");
        applied.push(name);
        return obj;
      },
      async delete() {
        deletes++;
        return true;
      },
      resetDiscovery() {},
    } as unknown as KubeClient;
    const plan: Plan = { env: "e", entries: [entry("a", "created"), entry("b", "created"), entry("slow", "created"), entry("old", "deleted")] };
    const reported: string[] = [];
    const run = executePlan(kube, plan, { force: false, prune: true, clock: systemClock, crdTimeoutMs: 1000, waitTimeoutMs: 0, pollMs: 10, onResult: (r) => reported.push(`${r.subject} ${r.action}`) });
    await expect(run).rejects.toBeInstanceOf(UnreachableError);
    expect(applied.sort()).toEqual(["a", "slow"]);
    expect(reported.sort()).toEqual(["ConfigMap/shop/a created", "ConfigMap/shop/slow created"]);
    expect(deletes).toBe(0);
  });
});
