import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { gitRepo } from "../../test/helpers.js";
import { snapshot, snapshotParents } from "./git.js";

const saved = process.env.MESHOPS_SNAPSHOT_DIR;
afterEach(() => {
  if (saved === undefined) delete process.env.MESHOPS_SNAPSHOT_DIR;
  else process.env.MESHOPS_SNAPSHOT_DIR = saved;
});

describe("revision snapshots", () => {
  it("prefers MESHOPS_SNAPSHOT_DIR, then /dev/shm on Linux, then the temporary folder", () => {
    const parents = snapshotParents({ MESHOPS_SNAPSHOT_DIR: "/x" });
    expect(parents[0]).toBe("/x");
    expect(parents.at(-1)).toBe(tmpdir());
    if (process.platform === "linux" && existsSync("/dev/shm")) expect(parents).toContain("/dev/shm");
    expect(snapshotParents({})[0]).not.toBe("/x");
  });

  it("extracts the revision into the preferred folder, and falls back when it cannot be used", async () => {
    const repo = gitRepo({ "m/a.yaml": "a: 1\n" });
    const preferred = mkdtempSync(join(tmpdir(), "meshops-snapdir-"));
    process.env.MESHOPS_SNAPSHOT_DIR = preferred;
    const snap = await snapshot(repo, "HEAD");
    expect(snap.dir.startsWith(`${preferred}/meshops-rev-`)).toBe(true);
    expect(readFileSync(join(snap.dir, "m/a.yaml"), "utf8")).toBe("a: 1\n");
    snap.dispose();
    expect(existsSync(snap.dir)).toBe(false);

    // a folder under a regular file cannot be created: the next candidate takes the snapshot
    const file = join(preferred, "not-a-dir");
    writeFileSync(file, "");
    process.env.MESHOPS_SNAPSHOT_DIR = join(file, "sub");
    const fallback = await snapshot(repo, "HEAD");
    expect(fallback.dir.startsWith(file)).toBe(false);
    expect(readFileSync(join(fallback.dir, "m/a.yaml"), "utf8")).toBe("a: 1\n");
    fallback.dispose();
    expect(existsSync(fallback.dir)).toBe(false);
  });
});
