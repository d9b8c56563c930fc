// The control socket answers while the daemon is still starting (here: waiting for a tor that
// never opens its control socket). Ops that need the accounts say so with the code "starting"
// instead of failing inside the daemon; hello and shutdown work.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectControl } from "../../src/daemon/control-client.js";
import { ControlError } from "../../src/daemon/control-protocol.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import { CLI, tempDataDir } from "../support/daemon.js";

test("account.add and status while tor is being launched: 'starting', then shutdown works", async () => {
  const bin = mkdtempSync(path.join(tmpdir(), "po-slowtor-"));
  const dir = tempDataDir();
  // A "tor" that starts and never opens its control socket: the daemon waits for it.
  writeFileSync(path.join(bin, "tor"), "#!/bin/sh\nexec sleep 60\n");
  chmodSync(path.join(bin, "tor"), 0o755);
  const child = spawn(process.execPath, [CLI, "serve", "--data-dir", dir, "--tor", "launch"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    while (!output.includes("tor started")) {
      if (child.exitCode !== null) throw new Error(`daemon exited:\n${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(existsSync(controlSocketPath(dir))).toBe(true);
    const control = await connectControl(controlSocketPath(dir));
    try {
      for (const [op, args] of [["account.add", { localpart: "early" }], ["status", {}]] as const) {
        const err = await control.request(op, args).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ControlError);
        expect((err as ControlError).code).toBe("starting");
        expect((err as Error).message).toBe("the daemon is still starting: try again in a moment");
      }
      expect(output).not.toMatch(/internal error/i);
      await control.request("shutdown");
    } finally {
      control.close();
    }
    await exited;
    expect(output).not.toContain("daemon ready");
  } finally {
    child.kill("SIGKILL");
    rmSync(bin, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
