/** `meshops diff`: what a change does — the semantic diff of the MeshModels of two revisions. */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import type { Environment } from "../config/load.js";
import { renderDiffJson, renderDiffMarkdown, renderDiffText, semanticDiff, type EnvDiffLine } from "../diff/index.js";
import { buildMeshModel, type MeshModel } from "../model/mesh-model.js";
import { renderEnvironment, type ParseCache } from "../source/render.js";
import { openRepository, selectEnvironments, type OpenRepository } from "../source/repository.js";
import { ExitCode, UsageError } from "./errors.js";
import { addCommonOptions, type Io } from "./main.js";

interface DiffFlags {
  base?: string;
  head?: string;
  env: string[];
  format: "text" | "markdown" | "json";
  chdir?: string;
  color: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Registers `meshops diff`. */
export function registerDiff(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(
    program
      .command("diff")
      .description("show what a change does to traffic, routes, access and mTLS between two revisions (reformatting produces no line)")
      .argument("[path]", "repository folder with meshops.yaml, or a folder/file of manifests (one implicit environment)"),
  )
    .option("--base <rev>", "the revision to compare against (e.g. main)")
    .option("--head <rev>", "the revision to compare (default: the working tree)")
    .option("-e, --env <name>", "only this environment (repeatable)", collect, [])
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "markdown", "json"]).default("text"))
    .action(async (path: string | undefined, flags: DiffFlags) => {
      if (!flags.base) throw new UsageError("diff: --base REV is required (the revision to compare against, e.g. --base main)");
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const target = path !== undefined ? { target: path } : {};
      // both revisions are extracted at once (git archive runs while the other is read)
      const [baseOpened, headOpened] = await Promise.allSettled([openRepository({ cwd, ...target, rev: flags.base }), openRepository({ cwd, ...target, ...(flags.head ? { rev: flags.head } : {}) })]);
      if (baseOpened.status === "rejected") {
        if (headOpened.status === "fulfilled") headOpened.value.dispose();
        throw baseOpened.reason;
      }
      const base = baseOpened.value;
      let head: OpenRepository | undefined;
      try {
        if (headOpened.status === "rejected") throw headOpened.reason;
        head = headOpened.value;
        const envs = selectEnvironments(head.loaded, flags.env.length ? flags.env : undefined);
        const baseEnvs = new Map(base.loaded.environments.map((e) => [e.name, e]));
        const lines: EnvDiffLine[] = [];
        // files unchanged between the revisions are parsed once
        const cache: ParseCache = new Map();
        for (const env of envs) {
          const baseEnv = baseEnvs.get(env.name);
          const headModel = await modelOf(head, env, cache);
          // An environment new in head is compared against an empty mesh.
          const baseModel = baseEnv ? await modelOf(base, baseEnv, cache) : buildMeshModel([]);
          for (const l of semanticDiff(baseModel, headModel)) lines.push(envs.length > 1 ? { ...l, env: env.name } : l);
        }
        io.stdout(flags.format === "json" ? renderDiffJson(lines) : flags.format === "markdown" ? renderDiffMarkdown(lines) : renderDiffText(lines));
        setExit(ExitCode.ok);
      } finally {
        head?.dispose();
        base.dispose();
      }
    });
}

/** Renders one environment of an opened revision and builds its MeshModel. */
async function modelOf(repo: OpenRepository, env: Environment, cache: ParseCache): Promise<MeshModel> {
  const rendered = await renderEnvironment(repo.dir, env, undefined, cache);
  return buildMeshModel(rendered.manifests);
}
