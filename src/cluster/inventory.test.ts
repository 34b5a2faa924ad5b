import { describe, expect, it } from "vitest";
import { currentObjects, objectsAfterApply, type Inventory } from "./inventory.js";

const cm = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", namespace: "shop", name });

describe("inventory objects", () => {
  it("are the newest revision's plus those of an interrupted (pending) apply", () => {
    const inv: Inventory = { env: "e", revisions: [{ revision: 1, appliedAt: "t", appliedBy: "u", status: "complete", objects: [cm("a"), cm("b")] }] };
    expect(currentObjects(undefined)).toEqual([]);
    expect(currentObjects(inv)).toEqual([cm("a"), cm("b")]);
    const pending = { ...inv, pending: { startedAt: "t", by: "u@h/1", objects: [cm("c"), cm("b")] } };
    expect(currentObjects(pending)).toEqual([cm("a"), cm("b"), cm("c")]);
    // a first apply that never finished: no revision, only the pending objects
    expect(currentObjects({ env: "e", revisions: [], pending: pending.pending })).toEqual([cm("b"), cm("c")]);
  });

  it("after a partial re-run keep what the interrupted apply may have created", () => {
    const previous = [cm("a"), cm("c")];
    const entries = [
      { ref: cm("a"), action: "unchanged", origin: { file: "f", line: 1 } },
      { ref: cm("b"), action: "skipped", origin: { file: "f", line: 5 }, error: { code: "invalid" } },
    ];
    expect(objectsAfterApply(previous, entries, true)).toEqual([cm("a"), cm("c"), cm("a")]);
    expect(objectsAfterApply(previous, entries.slice(0, 1), false)).toEqual([cm("a")]);
  });
});
