/** Opening a repository (working tree or a revision) and resolving its environments. */
import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { CONFIG_FILE, ConfigError, implicitEnvironment, loadConfig, type Environment, type LoadedConfig } from "../config/load.js";
import { gitRoot, RevisionError, snapshot } from "./git.js";

export interface OpenOptions {
  /** Directory or file given on the command line (default: the current directory). */
  target?: string;
  /** Git revision to read instead of the working tree. */
  rev?: string;
  cwd: string;
}

export interface OpenRepository {
  /** Folder the files are read from (the working tree, or an extracted revision). */
  dir: string;
  loaded: LoadedConfig;
  /** Commit read, when --rev was given. */
  commit?: string;
  dispose(): void;
}

/** Thrown for a target that does not exist (exit 2). */
export class TargetError extends Error {
  readonly code = "target_missing";
}

/**
 * Finds the repository root and configuration: a target folder holding meshops.yaml is the root; without a
 * target, meshops.yaml is looked up from the current directory upwards to the git top level; a target
 * without meshops.yaml is one implicit environment "default".
 */
export async function openRepository(opts: OpenOptions): Promise<OpenRepository> {
  const target = resolve(opts.cwd, opts.target ?? ".");
  let root: string;
  let implicitTarget: string | undefined;
  if (opts.target !== undefined && !opts.rev && !existsSync(target)) throw new TargetError(`path "${opts.target}" does not exist`);
  if (opts.target !== undefined && existsSync(join(target, CONFIG_FILE))) {
    root = target;
  } else if (opts.target === undefined) {
    const found = await findConfigUpwards(opts.cwd);
    if (!found) {
      throw new TargetError(`no ${CONFIG_FILE} in ${opts.cwd} or its parents up to the repository root: give a path to check (meshops check DIR) or run \`meshops init\``);
    }
    root = found;
  } else {
    // implicit environment: paths are reported relative to the current directory when the target is below it
    const rel = relative(opts.cwd, target);
    root = rel.startsWith("..") || isAbsolute(rel) ? (existsSync(target) && statSync(target).isFile() ? dirname(target) : target) : opts.cwd;
    implicitTarget = target;
  }
  if (!opts.rev) {
    const loaded = implicitTarget ? implicitEnvironment(root, implicitTarget) : loadConfig(root);
    if (!loaded) throw new TargetError(`no ${CONFIG_FILE} in ${root}`);
    return { dir: root, loaded, dispose: () => undefined };
  }
  const top = await gitRoot(existsSync(root) ? root : opts.cwd);
  if (!top) throw new RevisionError(`--rev ${opts.rev}: ${root} is not inside a git repository`);
  const snap = await snapshot(top, opts.rev);
  try {
    const prefix = relative(top, root);
    const dir = join(snap.dir, prefix);
    let loaded: LoadedConfig | undefined;
    if (implicitTarget) {
      const t = join(snap.dir, relative(top, implicitTarget));
      if (!existsSync(t)) throw new TargetError(`path "${opts.target}" does not exist at revision ${opts.rev}`);
      loaded = implicitEnvironment(dir, t);
    } else {
      loaded = loadConfig(dir);
      if (!loaded) throw new TargetError(`no ${CONFIG_FILE} in ${prefix || "."} at revision ${opts.rev}`);
    }
    return { dir, loaded, commit: snap.commit, dispose: snap.dispose };
  } catch (e) {
    snap.dispose();
    if (e instanceof ConfigError) e.message = `at revision ${opts.rev}: ${e.message}`;
    throw e;
  }
}

async function findConfigUpwards(start: string): Promise<string | undefined> {
  const top = await gitRoot(start);
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    if (top && dir === top) return undefined;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Selects environments by name (--env), in promotion order; throws for unknown names. */
export function selectEnvironments(loaded: LoadedConfig, names: readonly string[] | undefined): Environment[] {
  if (!names || names.length === 0) return loaded.environments;
  const known = new Map(loaded.environments.map((e) => [e.name, e]));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new TargetError(`unknown environment${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}: ${loaded.file ?? "the implicit configuration"} defines ${[...known.keys()].join(", ")}`);
  }
  return loaded.environments.filter((e) => names.includes(e.name));
}

/** Repository-relative path with forward slashes. */
export function repoPath(root: string, abs: string): string {
  return relative(root, abs).split(sep).join("/");
}
