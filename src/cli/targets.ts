/** Choosing the environment a command works on and the cluster it reaches: the same rules for every command. */
import type { Environment, LoadedConfig } from "../config/load.js";
import type { ClusterTarget } from "../cluster/kubeconfig.js";
import { selectEnvironments } from "../source/repository.js";
import { UsageError } from "./errors.js";

/** The one environment a command acts on: `--env`, or the only one; several without `--env` is a usage error. */
export function oneEnvironment(loaded: LoadedConfig, name: string | undefined, verb: string): Environment {
  const all = loaded.environments;
  if (!name && all.length > 1) throw new UsageError(`several environments (${all.map((e) => e.name).join(", ")}): choose one with --env`);
  const [env] = selectEnvironments(loaded, name ? [name] : undefined);
  if (!env) throw new UsageError(`no environment to ${verb}`);
  return env;
}

/** The environment's cluster with `--context`/`--kubeconfig` overriding it. */
export function clusterTarget(env: Environment, flags: { context?: string | undefined; kubeconfig?: string | undefined }): ClusterTarget {
  return { ...env.cluster, ...(flags.context ? { context: flags.context } : {}), ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) };
}
