/**
 * Rollback as data: which inventory revision `--to REV` or `--steps N` names, checked before anything is
 * planned. The desired state of that revision is its Git commit (the inventory names revisions and commits,
 * the repository holds the files), applied through the ordinary plan/apply path and recorded as a new
 * revision, as `helm rollback` and Argo CD's history rollback do: history only grows.
 */
import type { Inventory, InventoryRevision } from "./inventory.js";

/** What the user asked for: an inventory revision number or commit (prefix), or a number of steps back. */
export type RollbackRequest = { to: string } | { steps: number };

/** A rollback target that cannot be used (unknown revision, beyond history, no commit). Exit 2. */
export class RollbackError extends Error {
  readonly code: "no_inventory" | "unknown_revision" | "beyond_history" | "no_commit" | "already_current";
  constructor(code: RollbackError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

function describe(r: InventoryRevision): string {
  return `revision ${r.revision}${r.commit ? ` (commit ${r.commit.slice(0, 12)})` : ""}`;
}

/** The revision to return to; throws RollbackError with a message that names what the inventory holds. */
export function resolveRollbackTarget(env: string, inventory: Inventory | undefined, req: RollbackRequest): { current: InventoryRevision; target: InventoryRevision } {
  const revisions = inventory?.revisions ?? [];
  const current = revisions[0];
  if (!current) throw new RollbackError("no_inventory", `environment ${env} has no inventory in its cluster: nothing was applied, so there is nothing to roll back`);
  const kept = `revisions ${revisions[revisions.length - 1]!.revision}..${current.revision} are kept`;
  let target: InventoryRevision | undefined;
  if ("steps" in req) {
    if (!Number.isInteger(req.steps) || req.steps < 1) throw new RollbackError("unknown_revision", `--steps must be a positive whole number, got ${req.steps}`);
    target = revisions[req.steps];
    if (!target) throw new RollbackError("beyond_history", `environment ${env}: --steps ${req.steps} goes beyond its history: the inventory holds ${revisions.length} revision${revisions.length === 1 ? "" : "s"} (${kept})`);
  } else if (/^\d+$/.test(req.to)) {
    target = revisions.find((r) => r.revision === Number(req.to));
    if (!target) throw new RollbackError("unknown_revision", `environment ${env} has no inventory revision ${req.to}: ${kept}`);
  } else {
    const prefix = req.to.toLowerCase();
    const matches = /^[0-9a-f]{4,40}$/.test(prefix) ? revisions.filter((r) => r.commit?.startsWith(prefix)) : [];
    // the newest revision that applied the commit
    target = matches[0];
    if (!target) throw new RollbackError("unknown_revision", `environment ${env}: no inventory revision applied commit "${req.to}" (give a revision number or a commit an earlier apply recorded; ${kept})`);
  }
  if (!target.commit) throw new RollbackError("no_commit", `environment ${env}: ${describe(target)} was applied from a working tree, not a commit: its files cannot be read back from Git`);
  if (target.revision === current.revision) throw new RollbackError("already_current", `environment ${env}: ${describe(target)} is the current revision`);
  return { current, target };
}
