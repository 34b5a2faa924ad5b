import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { formatStamp, holderGone, parseStamp, procStartTime, selfStamp, type ProcessStamp } from "./lease.js";

const linux = process.platform === "linux";

/** A real child process (a sleeping node), and a way to end it and wait until it is reaped. */
function sleeper(): { pid: number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

describe("the lease holder's process stamp", () => {
  it("formats and parses, and rejects anything else", () => {
    const s: ProcessStamp = { bootId: "0f4e6d1c-8a41-4b7e-9a57-3c1d2e9f0a11", pidNamespace: "4026531836", pid: 4242, startTime: "123456" };
    expect(parseStamp(formatStamp(s))).toEqual(s);
    for (const bad of [undefined, "", "x/1/2/3", "0f4e/abc/2/3", "0f4e/1/2", "0f4e/1/2/3/4"]) expect(parseStamp(bad)).toBeUndefined();
  });

  it.runIf(linux)("reads this process's stamp from /proc", () => {
    const self = selfStamp()!;
    expect(self.pid).toBe(process.pid);
    expect(self.startTime).toBe(procStartTime(process.pid));
    expect(self.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(parseStamp(formatStamp(self))).toEqual(self);
  });

  it.runIf(linux)("calls a holder gone only when its process provably no longer runs on this host", async () => {
    const self = selfStamp()!;
    const me = `alice@host-1/${process.pid}`;
    const child = sleeper();
    const stamp: ProcessStamp = { ...self, pid: child.pid, startTime: procStartTime(child.pid)! };
    const holder = `alice@host-1/${child.pid}`;
    expect(holderGone(holder, me, stamp, self, procStartTime)).toBe(false);
    await child.stop();
    expect(procStartTime(child.pid)).toBeUndefined();
    expect(holderGone(holder, me, stamp, self, procStartTime)).toBe(true);
    // a reused pid: another process with the holder's pid but a later start time
    expect(holderGone(holder, me, stamp, self, () => String(Number(stamp.startTime) + 1))).toBe(true);
    // nothing is proven about another user or host, another boot or pid namespace, a lease without a stamp, a process without /proc
    expect(holderGone(`bob@host-1/${child.pid}`, me, stamp, self, procStartTime)).toBe(false);
    expect(holderGone(`alice@host-2/${child.pid}`, me, stamp, self, procStartTime)).toBe(false);
    expect(holderGone(holder, me, { ...stamp, bootId: "00000000-0000-4000-8000-000000000000" }, self, procStartTime)).toBe(false);
    expect(holderGone(holder, me, { ...stamp, pidNamespace: "1" }, self, procStartTime)).toBe(false);
    expect(holderGone(holder, me, undefined, self, procStartTime)).toBe(false);
    expect(holderGone(holder, me, stamp, undefined, procStartTime)).toBe(false);
    // never itself
    expect(holderGone(me, me, self, self, () => undefined)).toBe(false);
  });
});
