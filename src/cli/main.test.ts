import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { commands, type Io } from "./main.js";

describe("the command table of main.ts", () => {
  it("names every command its modules register, so `meshops NAME` loads the module that defines NAME", async () => {
    const program = new Command("meshops");
    const io: Io = { stdout: () => undefined, stderr: () => undefined, cwd: process.cwd(), isTty: false, env: {} };
    for (const c of commands) {
      const register = await c.load();
      const before = program.commands.length;
      register(program, io, () => undefined);
      expect(program.commands.slice(before).map((cmd) => cmd.name()).sort(), c.names.join(",")).toEqual([...c.names].sort());
    }
  });
});
