/** `meshops render --env E`: print the rendered objects of an environment (YAML stream or JSON). */
import { Option, type Command } from "commander";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { openRepository } from "../source/repository.js";
import { renderEnvironment } from "../source/render.js";
import { renderText } from "../report/formats.js";
import { ExitCode } from "./errors.js";
import { oneEnvironment } from "./targets.js";
import { addCommonOptions, type Io } from "./main.js";

interface RenderFlags {
  env?: string;
  rev?: string;
  format: "yaml" | "json";
  origins: boolean;
  chdir?: string;
}

export function registerRender(program: Command, io: Io, setExit: (code: number) => void): void {
  addCommonOptions(program.command("render").description("print the rendered objects of one environment").argument("[path]", "repository folder or manifests"))
    .option("-e, --env <name>", "environment to render (required when meshops.yaml has several)")
    .option("--rev <rev>", "render the repository at this git revision")
    .addOption(new Option("-f, --format <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .option("--origins", "precede each object with a '# Source: file:line' comment")
    .action(async (path: string | undefined, flags: RenderFlags) => {
      const cwd = flags.chdir ? resolve(io.cwd, flags.chdir) : io.cwd;
      const repo = await openRepository({ cwd, ...(path !== undefined ? { target: path } : {}), ...(flags.rev ? { rev: flags.rev } : {}) });
      try {
        const env = oneEnvironment(repo.loaded, flags.env, "render");
        const r = await renderEnvironment(repo.dir, env);
        if (r.findings.some((f) => f.severity === "error")) {
          io.stderr(renderText({ findings: r.findings.map((f) => ({ ...f, env: env.name })), objects: [], environments: [env.name] }, { color: false }));
          setExit(ExitCode.input);
          return;
        }
        if (flags.format === "json") {
          io.stdout(`${JSON.stringify({ apiVersion: "v1", kind: "List", items: r.manifests.map((m) => m.object) }, null, 2)}\n`);
        } else {
          io.stdout(
            r.manifests
              .map((m) => `---\n${flags.origins ? `# Source: ${m.origin.file}:${m.origin.line}\n` : ""}${stringify(m.object, { lineWidth: 0 })}`)
              .join(""),
          );
        }
      } finally {
        repo.dispose();
      }
    });
}
