// A throwaway real tor (Debian's /usr/sbin/tor) for control-protocol tests.
//
// Every instance gets its own temp dir with its own torrc and DataDirectory, an empty
// defaults file (so /etc/tor/torrc-defaults is never read), and `DisableNetwork 1`: it
// never makes a network connection, only its control listeners are open. The pid we keep
// is tor's own (spawned directly, no shell), and stop() kills exactly that pid: SIGTERM,
// SIGKILL after 3 s.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TOR = "/usr/sbin/tor";

export type RealTorAuth = "cookie" | "password" | "none";

export interface RealTorOptions {
  /** cookie: CookieAuthentication 1 (tor offers COOKIE and SAFECOOKIE); password: HashedControlPassword; none: NULL. */
  auth: RealTorAuth;
  /** For auth "password"; default a random one. */
  password?: string;
  /** Also open a control Unix socket (in a 0700 directory). */
  controlSocket?: boolean;
  /** More torrc lines. */
  extraTorrc?: string[];
  /** How long to wait for the control port file. Default 15 s. */
  startTimeoutMs?: number;
}

export interface RealTor {
  pid: number;
  /** Temp dir holding torrc, data, log; removed by stop(). */
  dir: string;
  dataDir: string;
  control: { host: string; port: number };
  /** Path of the control Unix socket, when asked for. */
  controlSocket?: string;
  /** The cookie file tor reports in PROTOCOLINFO (auth "cookie"). */
  cookieFile?: string;
  password?: string;
  /** The last lines of tor's notice log. */
  logTail(lines?: number): string;
  /** SIGTERM, SIGKILL after 3 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

// A tor still running when the test process exits must not outlive it.
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export function hashPassword(password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TOR, ["--hash-password", password, "--quiet"], { timeout: 10_000 }, (err, stdout, stderr) => {
      const hash = stdout.trim().split("\n").pop() ?? "";
      if (err || !/^16:[0-9A-F]+$/.test(hash)) reject(new Error(`tor --hash-password failed: ${err?.message ?? ""} ${stderr}`));
      else resolve(hash);
    });
  });
}

export async function startRealTor(options: RealTorOptions): Promise<RealTor> {
  const dir = mkdtempSync(join(tmpdir(), "purple-onion-tor-"));
  try {
    const dataDir = join(dir, "data");
    mkdirSync(dataDir, { mode: 0o700 });
    const portFile = join(dir, "control-port");
    const logFile = join(dir, "notice.log");
    const password = options.auth === "password" ? (options.password ?? `pw-${Math.random().toString(36).slice(2)}`) : undefined;
    const lines = [
      `DataDirectory ${dataDir}`,
      // Never touch the network: no bootstrap, no directory fetches, no SOCKS listener.
      "DisableNetwork 1",
      "SocksPort 0",
      "ControlPort auto",
      `ControlPortWriteToFile ${portFile}`,
      `Log notice file ${logFile}`,
      "AvoidDiskWrites 1",
    ];
    let controlSocket: string | undefined;
    if (options.controlSocket) {
      const socketDir = join(dir, "ctl");
      mkdirSync(socketDir, { mode: 0o700 });
      chmodSync(socketDir, 0o700);
      controlSocket = join(socketDir, "control");
      lines.push(`ControlSocket ${controlSocket}`, "ControlSocketsGroupWritable 0");
    }
    if (options.auth === "cookie") lines.push("CookieAuthentication 1");
    if (password !== undefined) lines.push(`HashedControlPassword ${await hashPassword(password)}`);
    lines.push(...(options.extraTorrc ?? []));
    const torrc = join(dir, "torrc");
    writeFileSync(torrc, lines.join("\n") + "\n");
    const defaults = join(dir, "torrc-defaults");
    writeFileSync(defaults, "");

    const child = spawn(TOR, ["-f", torrc, "--defaults-torrc", defaults], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    let exited: string | undefined;
    child.once("error", (err) => (exited = `cannot run ${TOR}: ${err.message}`));
    const exit = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        running.delete(child);
        exited = `tor exited (${signal ?? `code ${code}`})`;
        resolve();
      }),
    );
    const logTail = (n = 30) => (existsSync(logFile) ? readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-n).join("\n") : "");

    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        if (!exited) {
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
          await exit;
          clearTimeout(killer);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    };

    const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
    for (;;) {
      const text = existsSync(portFile) ? readFileSync(portFile, "utf8") : "";
      const m = /^PORT=([0-9.]+):(\d+)$/m.exec(text);
      const socketReady = !controlSocket || /^UNIX_PORT=/m.test(text);
      if (m && socketReady) {
        return {
          pid: child.pid!,
          dir,
          dataDir,
          control: { host: m[1]!, port: Number(m[2]) },
          ...(controlSocket ? { controlSocket } : {}),
          ...(options.auth === "cookie" ? { cookieFile: join(dataDir, "control_auth_cookie") } : {}),
          ...(password !== undefined ? { password } : {}),
          logTail,
          stop,
        };
      }
      if (exited || Date.now() > deadline) {
        const why = exited ?? `tor wrote no control port file within ${options.startTimeoutMs ?? 15_000} ms`;
        const log = logTail();
        await stop();
        throw new Error(`${why}\n--- tor output ---\n${output}\n--- log tail ---\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
