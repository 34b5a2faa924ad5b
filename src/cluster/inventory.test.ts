import { describe, expect, it } from "vitest";
import { gunzipSync } from "node:zlib";
import { currentObjects, encodeInventory, INVENTORY_MAX_BYTES, objectsAfterApply, type Inventory } from "./inventory.js";

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

describe("encodeInventory", () => {
  const refs = (n: number, rev: number): { apiVersion: string; kind: string; namespace: string; name: string }[] =>
    Array.from({ length: n }, (_, i) => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: `team-${i % 20}`, name: `service-${i}-r${rev}` }));
  const inventory = (objects: number, revisions: number): Inventory => ({
    env: "production",
    revisions: Array.from({ length: revisions }, (_, i) => ({ revision: revisions - i, appliedAt: "2026-11-26T00:00:00Z", appliedBy: "ci", status: "complete" as const, objects: refs(objects, i) })),
  });

  it("keeps small inventories as readable JSON", () => {
    const enc = encodeInventory(inventory(10, 2));
    expect("data" in enc && JSON.parse(enc.data["inventory.json"]!)).toMatchObject({ env: "production" });
  });

  it("compresses 10 revisions of 1,000 objects (over 1 MiB of JSON) into the ConfigMap, losslessly", () => {
    const inv = inventory(1000, 10);
    expect(Buffer.byteLength(JSON.stringify(inv))).toBeGreaterThan(1024 * 1024);
    const enc = encodeInventory(inv);
    expect("binaryData" in enc).toBe(true);
    const gz = (enc as { binaryData: Record<string, string> }).binaryData["inventory.json.gz"]!;
    expect(gz.length).toBeLessThan(INVENTORY_MAX_BYTES);
    expect(JSON.parse(gunzipSync(Buffer.from(gz, "base64")).toString("utf8"))).toEqual(inv);
  });

  it("drops the oldest revisions when even the compressed form does not fit, never the newest", () => {
    const inv = inventory(1000, 10);
    const enc = encodeInventory(inv, 8_000) as { binaryData?: Record<string, string>; data?: Record<string, string> };
    const raw = enc.data?.["inventory.json"] ?? gunzipSync(Buffer.from(enc.binaryData!["inventory.json.gz"]!, "base64")).toString("utf8");
    const kept = (JSON.parse(raw) as Inventory).revisions;
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(10);
    expect(kept[0]!.revision).toBe(10);
    expect(() => encodeInventory(inventory(1000, 1), 100)).toThrow(/does not fit in a ConfigMap even compressed/);
  });
});
