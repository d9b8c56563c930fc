// Our daemon as the server under test: in this process (fast, limits can be
// shrunk) or as a real child process (for restarts and kill -9).
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connectControl } from "../../src/daemon/control-client.js";
import type { AccountAddResult } from "../../src/daemon/control-protocol.js";
import { Daemon, type DaemonOptions } from "../../src/daemon/daemon.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import type { ServerUnderTest, TestAccount } from "./server-under-test.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The compiled CLI (tests run from dist/test/...). */
export const CLI = path.resolve(here, "../../src/cli/main.js");

export function tempDataDir(): string {
  // Short: Unix socket paths are limited to 107 bytes.
  return mkdtempSync(path.join(tmpdir(), "po-"));
}

export async function addAccount(dataDir: string, localpart: string): Promise<AccountAddResult> {
  const control = await connectControl(controlSocketPath(dataDir));
  try {
    return await control.request<AccountAddResult>("account.add", { localpart });
  } finally {
    control.close();
  }
}

export interface InProcessDaemon extends ServerUnderTest {
  daemon: Daemon;
  dataDir: string;
  /** Everything the daemon logged so far. */
  logText(): string;
  stop(): Promise<void>;
}

/** Start a daemon in this process with the given accounts. */
export async function startDaemon(
  localparts: string[],
  opts: Partial<DaemonOptions> & { dataDir?: string } = {},
): Promise<InProcessDaemon> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const logStream = new PassThrough();
  let logged = "";
  logStream.on("data", (d: Buffer) => (logged += d.toString()));
  const daemon = new Daemon({ dataDir, tor: "none", c2sPort: 0, logLevel: "debug", logStream, ...opts });
  await daemon.start();
  const accounts: Record<string, TestAccount> = {};
  for (const lp of localparts) {
    const a = await addAccount(dataDir, lp);
    accounts[lp] = { jid: a.jid, password: a.password };
  }
  return {
    daemon,
    dataDir,
    host: "127.0.0.1",
    port: daemon.c2sPort,
    accounts,
    logText: () => logged,
    diagnostics: () => logged.split("\n").slice(-40).join("\n"),
    stop: async () => {
      await daemon.stop("test finished");
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The daemon as a separate process, started through the real CLI. */
export class DaemonProcess {
  child: ChildProcess | undefined;
  output = "";

  /**
   * `extraArgs` go to `serve`; without a --tor among them the daemon runs with --tor none.
   * `spawn` replaces how the process starts (e.g. under strace).
   */
  constructor(
    readonly dataDir: string,
    readonly extraArgs: string[] = [],
    private readonly spawnWith: (cmd: string, args: string[]) => ChildProcess = (cmd, args) => spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }),
  ) {}

  async start(timeoutMs = 15_000): Promise<void> {
    const tor = this.extraArgs.includes("--tor") ? [] : ["--tor", "none"];
    this.child = this.spawnWith(process.execPath, [CLI, "serve", "--data-dir", this.dataDir, ...tor, ...this.extraArgs]);
    this.child.stdout!.on("data", (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on("data", (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes("daemon ready")) {
      if (this.child.exitCode !== null) throw new Error(`daemon exited early:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`daemon did not start:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return runCli([...args, "--data-dir", this.dataDir]);
  }

  /** Stop the way users do (SIGTERM), or crash it (SIGKILL). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }
}

export async function runCli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 20_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : -1 };
  }
}
