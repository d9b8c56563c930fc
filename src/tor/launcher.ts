// Launch mode: our own tor process with a private DataDirectory under the
// purple-onion data dir, and its control and SOCKS listeners as Unix sockets
// inside that 0700 folder: no other local user can reach them, and none can
// take their place while tor restarts (a TCP port left free for a moment can
// be bound by anyone). Nothing here needs a torrc from the user.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../daemon/logger.js";
import { MAX_SOCKET_PATH_BYTES } from "../daemon/paths.js";
import type { ControlTarget } from "./control-connection.js";

export class TorNotInstalledError extends Error {
  constructor(binary: string) {
    super(`tor is not installed (no '${binary}' on PATH): install it with 'apt-get install tor', or run with --tor attach or --tor none`);
  }
}

export class TorStartError extends Error {}

export interface TorLaunchOptions {
  /** Folder for tor's torrc, DataDirectory and log (created 0700). */
  torDir: string;
  /** The tor program; default "tor" from PATH. */
  binary?: string;
  /** Extra torrc lines (private test networks; experts). */
  extraTorrc?: string[];
  log: Logger;
  startTimeoutMs?: number;
}

/** Where tor listens, inside the 0700 tor folder. */
export function launchedTorPaths(torDir: string): { controlSocket: string; socksSocket: string; cookieFile: string; dataDir: string } {
  const dataDir = path.join(torDir, "data");
  return {
    controlSocket: path.join(torDir, "control.sock"),
    socksSocket: path.join(torDir, "socks.sock"),
    // tor's default place for it: DataDirectory/control_auth_cookie.
    cookieFile: path.join(dataDir, "control_auth_cookie"),
    dataDir,
  };
}

export class TorLauncher {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly exitListeners = new Set<(code: number | null, signal: NodeJS.Signals | null) => void>();

  constructor(private readonly opts: TorLaunchOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get logFile(): string {
    return path.join(this.opts.torDir, "tor.log");
  }

  onExit(fn: (code: number | null, signal: NodeJS.Signals | null) => void): () => void {
    this.exitListeners.add(fn);
    return () => this.exitListeners.delete(fn);
  }

  /** The control socket of a running tor, starting one if none runs (or the last one died). */
  async ensureRunning(): Promise<ControlTarget> {
    if (!this.running) await this.start();
    return { path: this.paths.controlSocket };
  }

  get paths(): ReturnType<typeof launchedTorPaths> {
    return launchedTorPaths(this.opts.torDir);
  }

  private torrc(): string {
    const p = this.paths;
    return [
      "# Written by purple-onion at every start; edits are lost.",
      `DataDirectory ${p.dataDir}`,
      // No TCP listeners at all: Unix sockets in our 0700 folder.
      "ControlPort 0",
      `ControlSocket ${p.controlSocket}`,
      "ControlSocketsGroupWritable 0",
      "CookieAuthentication 1",
      "CookieAuthFileGroupReadable 0",
      // Per-account SOCKS credentials keep accounts on separate circuits.
      `SocksPort unix:${p.socksSocket} IsolateSOCKSAuth ExtendedErrors`,
      // tor exits by itself if the daemon dies without stopping it.
      `__OwningControllerProcess ${process.pid}`,
      `Log notice file ${this.logFile}`,
      "SafeLogging 1",
      "ClientOnly 1",
      "AvoidDiskWrites 1",
      ...(this.opts.extraTorrc ?? []),
      "",
    ].join("\n");
  }

  private async start(): Promise<void> {
    const dir = this.opts.torDir;
    const p = this.paths;
    for (const sock of [p.controlSocket, p.socksSocket]) {
      if (Buffer.byteLength(sock) > MAX_SOCKET_PATH_BYTES) {
        throw new TorStartError(`the data dir's path is too long for tor's Unix sockets (${sock} is over ${MAX_SOCKET_PATH_BYTES} bytes): choose a shorter --data-dir`);
      }
    }
    mkdirSync(p.dataDir, { recursive: true, mode: 0o700 });
    // tor refuses Unix sockets in a folder others can enter; so do we.
    chmodSync(dir, 0o700);
    const torrcPath = path.join(dir, "torrc");
    writeFileSync(torrcPath, this.torrc(), { mode: 0o600 });
    rmSync(p.controlSocket, { force: true });
    const binary = this.opts.binary ?? "tor";
    this.stopping = false;
    const child = spawn(binary, ["-f", torrcPath, "--defaults-torrc", "/dev/null"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", (err) => resolve(err));
    });
    if (spawned) {
      if ((spawned as NodeJS.ErrnoException).code === "ENOENT") throw new TorNotInstalledError(binary);
      throw new TorStartError(`could not start tor: ${spawned.message}`);
    }
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        if (!this.stopping) this.opts.log.warn("tor exited", { code, signal: signal ?? undefined });
        for (const fn of this.exitListeners) fn(code, signal);
        resolve();
      }),
    );
    this.opts.log.info("tor started", { pid: child.pid });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    while (!existsSync(p.controlSocket)) {
      if (!this.running) throw new TorStartError(`tor exited while starting: ${this.tail(stderr)}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new TorStartError(`tor did not open its control socket in time: ${this.tail(stderr)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private tail(stderr: string): string {
    let log = "";
    try {
      log = readFileSync(this.logFile, "utf8");
    } catch {
      // no log yet
    }
    const lines = (log || stderr).trim().split("\n");
    return lines.slice(-5).join(" | ") || "(tor printed nothing)";
  }

  /** Stop tor: SIGTERM, then SIGKILL if it does not go within 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
    this.opts.log.info("tor stopped");
  }
}
