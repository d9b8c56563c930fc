// A throwaway tor (Debian's /usr/sbin/tor) for the "attached to tor" target,
// like test/support/real-tor.ts: its own temp dir with its own torrc,
// DataDirectory and empty defaults file (/etc/tor/torrc-defaults is never
// read), `DisableNetwork 1` (it never makes a network connection and opens no
// SOCKS listener), a ControlSocket in a 0700 directory with
// CookieAuthentication 1. The daemon attaches to it, loads its Tor half and
// ADD_ONIONs every account's onion; nothing is ever published.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileExists, makeTempDir, removeTempDir, startServerProcess, waitUntil, type ServerProcess } from "./processes.js";

const TOR = "/usr/sbin/tor";

export class ThrowawayTor {
  private dir = "";
  private process: ServerProcess | undefined;
  /** The control socket to pass as `--tor-control unix:PATH`. */
  controlSocket = "";

  async start(): Promise<void> {
    if (!existsSync(TOR)) throw new Error(`tor is not installed (${TOR}): apt-get install tor`);
    this.dir = makeTempDir("purple-onion-bench-tor-");
    const dataDir = join(this.dir, "data");
    mkdirSync(dataDir, { mode: 0o700 });
    const socketDir = join(this.dir, "ctl");
    mkdirSync(socketDir, { mode: 0o700 });
    chmodSync(socketDir, 0o700);
    this.controlSocket = join(socketDir, "control");
    const portFile = join(this.dir, "control-port");
    const torrc = join(this.dir, "torrc");
    const defaults = join(this.dir, "torrc-defaults");
    writeFileSync(
      torrc,
      [
        `DataDirectory ${dataDir}`,
        "DisableNetwork 1",
        "SocksPort 0",
        "ControlPort 0",
        `ControlSocket ${this.controlSocket}`,
        "ControlSocketsGroupWritable 0",
        `ControlPortWriteToFile ${portFile}`,
        "CookieAuthentication 1",
        `Log notice file ${join(this.dir, "notice.log")}`,
        "AvoidDiskWrites 1",
      ].join("\n") + "\n",
    );
    writeFileSync(defaults, "");
    const logFile = join(this.dir, "stdout.log");
    this.process = startServerProcess(TOR, ["-f", torrc, "--defaults-torrc", defaults], { logFile, cwd: this.dir });
    await waitUntil(`tor's control socket ${this.controlSocket}`, this.process, [logFile, join(this.dir, "notice.log")], fileExists(portFile));
  }

  pid(): number | undefined {
    return this.process?.pid;
  }

  async stop(): Promise<void> {
    await this.process?.stop(3000);
    this.process = undefined;
    if (this.dir) {
      removeTempDir(this.dir);
      this.dir = "";
    }
  }
}
