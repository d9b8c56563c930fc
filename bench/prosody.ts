// Prosody (Debian package) as the reference server. It runs ONLY as
// `prosody -F --config FILE` with a throwaway config on free loopback ports and
// a temp data dir: bare `prosody` (or `--version`) would start the system server.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  freePort,
  makeTempDir,
  portAccepts,
  removeTempDir,
  startServerProcess,
  waitUntil,
  type ServerProcess,
} from "./processes.js";
import type { BenchAccount, BenchTarget } from "./target.js";

const execFileP = promisify(execFile);

const PROSODY = "/usr/bin/prosody";
const PROSODYCTL = "/usr/bin/prosodyctl";
const VERSION_FILE = "/usr/lib/prosody/prosody.version";
const HOST = "bench.localhost";

// Lua string literal; paths come from mkdtemp, but quote properly anyway.
function lua(s: string): string {
  return JSON.stringify(s);
}

// BENCH_PROSODY_CONFIG: extra global Lua config lines, for experiments such as
// 'network_settings = { nagle = false }'. The default is Prosody's defaults.
function extraConfig(): string {
  const extra = process.env.BENCH_PROSODY_CONFIG;
  return extra ? `-- from BENCH_PROSODY_CONFIG\n${extra}\n` : "";
}

function prosodyConfig(dir: string, c2sPort: number, s2sPort: number): string {
  return `-- Throwaway config written by purple-onion's bench/prosody.ts.
-- mod_posix is autoloaded and refuses to run as root without this; the
-- benchmark may run as root inside a container.
run_as_root = true
daemonize = false
pidfile = ${lua(join(dir, "prosody.pid"))}
data_path = ${lua(join(dir, "data"))}
certificates = ${lua(join(dir, "certs"))}
log = { info = ${lua(join(dir, "prosody.log"))} }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${c2sPort} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
-- s2s is not loaded (modules_disabled); the port is still pinned to loopback.
s2s_ports = { ${s2sPort} }
s2s_interfaces = { "127.0.0.1" }
component_ports = { }
component_interface = "127.0.0.1"
http_ports = { }
https_ports = { }

modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "s2s", "s2s_auth_certs", "offline", "tls", "limits" }

c2s_require_encryption = false
-- The benchmark logs in with SCRAM-SHA-256 (bench/scram-client.ts), which
-- internal_plain offers without TLS; PLAIN is never used.
authentication = "internal_plain"
storage = "internal"
-- mod_limits is not loaded; should it ever be, do not let it throttle us.
limits = { c2s = { rate = "100mb/s" } }

${extraConfig()}
VirtualHost ${lua(HOST)}
`;
}

export class ProsodyTarget implements BenchTarget {
  readonly name = "prosody";
  version = "prosody";
  private dir = "";
  private configFile = "";
  private c2sPort = 0;
  private server: ServerProcess | undefined;

  async start(): Promise<void> {
    if (!existsSync(PROSODY) || !existsSync(PROSODYCTL)) {
      throw new Error(`Prosody is not installed (${PROSODY}): apt-get install prosody`);
    }
    // Read the version from the package's file: running `prosody --version` starts a server.
    this.version = `prosody ${readFileSync(VERSION_FILE, "utf8").trim()}`;
    this.dir = makeTempDir("purple-onion-bench-prosody-");
    mkdirSync(join(this.dir, "data"), { mode: 0o750 });
    mkdirSync(join(this.dir, "certs"));
    this.c2sPort = await freePort();
    const s2sPort = await freePort();
    this.configFile = join(this.dir, "prosody.cfg.lua");
    writeFileSync(this.configFile, prosodyConfig(this.dir, this.c2sPort, s2sPort));
    const logFile = join(this.dir, "stdout.log");
    this.server = startServerProcess(PROSODY, ["-F", "--config", this.configFile], {
      logFile,
      cwd: this.dir,
    });
    await waitUntil(
      `Prosody to accept c2s on 127.0.0.1:${this.c2sPort}`,
      this.server,
      [logFile, join(this.dir, "prosody.log")],
      portAccepts("127.0.0.1", this.c2sPort),
    );
  }

  async createAccount(localpart: string): Promise<BenchAccount> {
    const password = randomBytes(12).toString("hex");
    // prosodyctl `register` only writes through the storage layer of the
    // config it is given (checked: util/prosodyctl.lua adduser); it does not
    // contact any running server.
    try {
      await execFileP(
        PROSODYCTL,
        ["--config", this.configFile, "register", localpart, HOST, password],
        { cwd: this.dir, timeout: 15_000 },
      );
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`prosodyctl register ${localpart} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
    // Make sure the account landed in OUR data dir (host "." is escaped as %2e).
    const stored = join(this.dir, "data", HOST.replace(/\./g, "%2e"), "accounts", `${localpart}.dat`);
    if (!existsSync(stored)) throw new Error(`prosodyctl did not create ${stored}`);
    return {
      jid: `${localpart}@${HOST}`,
      username: localpart,
      domain: HOST,
      password,
      host: "127.0.0.1",
      port: this.c2sPort,
    };
  }

  pid(): number {
    if (!this.server) throw new Error("prosody is not running");
    return this.server.pid;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
    if (this.dir) {
      removeTempDir(this.dir);
      this.dir = "";
    }
  }
}
