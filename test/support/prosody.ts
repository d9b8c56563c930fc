// A throwaway Prosody (Debian's prosody 0.12) as a reference server for the
// test harness: its own config, data, pid and log in a temp dir, c2s on a free
// loopback port, plain TCP only, accounts created with prosodyctl.
//
// Only ever run as `prosody -F --config FILE`: a bare `prosody` (or
// `prosody --version`) reads /etc/prosody and starts the system server.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missing, PROSODY, PROSODYCTL } from "./prerequisites.js";
import { fakeOnionDomain, type ServerUnderTest, type TestAccount } from "./server-under-test.js";

/** Modules this harness relies on; all ship with Prosody 0.12 in /usr/lib/prosody/modules. */
export const PROSODY_MODULES = [
  "roster", // RFC 6121 roster
  "saslauth", // RFC 6120 SASL
  "disco", // XEP-0030
  "ping", // XEP-0199
  "vcard", // XEP-0054 (stored as-is, no PEP needed)
  "offline", // XEP-0160, stamps XEP-0203 delay
  "carbons", // XEP-0280
  "version", // XEP-0092
  "time", // XEP-0202
  "presence", // RFC 6121 presence (autoloaded anyway)
  "message",
  "iq",
];

export interface ProsodyOptions {
  /** Account names to create (password generated) or name → password. Default alice, bob, carol. */
  accounts?: string[] | Record<string, string>;
  /** Virtual host; default a fresh fake .onion name. */
  domain?: string;
  /** Prosody log level for the log file. Default "debug" (it logs every stanza). */
  logLevel?: "debug" | "info" | "warn";
  /** How long to wait for the c2s port to be listening. Default 10 s. */
  startTimeoutMs?: number;
  /** A XEP-0045 chat service (Prosody's muc component) at rooms.<domain>. */
  muc?: boolean;
}

export interface ProsodyServer extends ServerUnderTest {
  domain: string;
  /** Temp dir with config, data, pid and log; removed by stop(). */
  dir: string;
  logFile: string;
  pid: number;
  /** The last lines of Prosody's log. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after timeoutMs; removes the temp dir. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

// Children still running when the test process exits (crash, jest killing a
// worker) must not outlive it. Shared with prosody-peer.ts through launch().
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startProsody(options: ProsodyOptions = {}): Promise<ProsodyServer> {
  const absent = missing("prosody");
  if (absent) throw new Error(`${absent} (gate the test with requires("prosody"))`);
  const domain = options.domain ?? fakeOnionDomain();
  const passwords = normaliseAccounts(options.accounts ?? ["alice", "bob", "carol"]);
  const dir = mkdtempSync(join(tmpdir(), "purple-onion-prosody-"));
  try {
    mkdirSync(join(dir, "data"));
    mkdirSync(join(dir, "certs"));
    const accounts: Record<string, TestAccount> = {};
    // Each attempt picks a fresh port: another process may take a "free" port
    // between our probe and Prosody's bind.
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const configFile = writeConfig(dir, domain, port, options.logLevel ?? "debug", options.muc ?? false);
      if (attempt === 1) {
        for (const [name, password] of Object.entries(passwords)) {
          await register(configFile, name, domain, password);
          accounts[name] = { jid: `${name}@${domain}`, password };
        }
      }
      const started = await launch(dir, configFile, port, options.startTimeoutMs ?? 10_000);
      if (started.ok) return serverHandle(dir, domain, port, accounts, started.child);
      if (!started.portTaken || attempt >= 3) throw new Error(started.reason);
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export function normaliseAccounts(accounts: string[] | Record<string, string>): Record<string, string> {
  if (!Array.isArray(accounts)) return { ...accounts };
  return Object.fromEntries(accounts.map((name) => [name, randomBytes(9).toString("base64url")]));
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error("could not pick a free port"))));
    });
  });
}

export function luaString(value: string): string {
  if (/[\0-\x1f]/.test(value)) throw new Error(`cannot put control characters in a Lua string: ${JSON.stringify(value)}`);
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The lines every throwaway Prosody of the tests starts with: its files in `dir`, c2s on loopback. */
export function throwawayConfigLines(writer: string, dir: string, c2sPort: number, logLevel: string): string[] {
  return [
    `-- Throwaway config written by ${writer}`,
    // The harness may run as root (CI does); Prosody must not try to switch user.
    "run_as_root = true",
    `pidfile = ${luaString(join(dir, "prosody.pid"))}`,
    `data_path = ${luaString(join(dir, "data"))}`,
    `certificates = ${luaString(join(dir, "certs"))}`,
    `log = { { levels = { min = ${luaString(logLevel)} }, to = "file", filename = ${luaString(join(dir, "prosody.log"))} } }`,
    'interfaces = { "127.0.0.1" }',
    'local_interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${c2sPort} }`,
    'c2s_interfaces = { "127.0.0.1" }',
  ];
}

function writeConfig(dir: string, domain: string, port: number, logLevel: string, muc: boolean): string {
  const file = join(dir, "prosody.cfg.lua");
  const lines = [
    ...throwawayConfigLines("test/support/prosody.ts", dir, port, logLevel),
    "c2s_direct_tls_ports = { }",
    "legacy_ssl_ports = { }",
    `modules_enabled = { ${PROSODY_MODULES.map(luaString).join(", ")} }`,
    // No federation in these tests: nothing may listen or resolve for s2s.
    'modules_disabled = { "s2s", "s2s_auth_certs", "dialback", "tls" }',
    "c2s_require_encryption = false",
    "allow_unencrypted_plain_auth = true",
    'authentication = "internal_hashed"',
    'storage = "internal"',
    `VirtualHost ${luaString(domain)}`,
    ...(muc ? [`Component ${luaString(`rooms.${domain}`)} "muc"`] : []),
    "",
  ];
  writeFileSync(file, lines.join("\n"));
  return file;
}

export function register(configFile: string, user: string, domain: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      PROSODYCTL,
      ["--config", configFile, "register", user, domain, password],
      { timeout: 15_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`prosodyctl register ${user}@${domain} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve();
      },
    );
  });
}

export type LaunchResult = { ok: true; child: ChildProcess } | { ok: false; reason: string; portTaken: boolean };

function launch(dir: string, configFile: string, port: number, timeoutMs: number): Promise<LaunchResult> {
  return launchProsody(dir, configFile, [`Activated service 'c2s' on [127.0.0.1]:${port}`], `127.0.0.1:${port}`, timeoutMs);
}

/**
 * Runs `prosody -F --config configFile` in `dir` until its log (dir/prosody.log) has every line
 * of `ready`. Only what the log gains from now counts: after a restart the file still holds the
 * previous run's lines.
 */
export function launchProsody(dir: string, configFile: string, ready: string[], listening: string, timeoutMs: number): Promise<LaunchResult> {
  const logFile = join(dir, "prosody.log");
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const child = spawn(PROSODY, ["-F", "--config", configFile], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    running.delete(child);
    exited = `prosody exited (${signal ?? `code ${code}`})`;
  });
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const poll = () => {
      const log = existsSync(logFile) ? readFileSync(logFile).subarray(logStart).toString("utf8") : "";
      const fail = (reason: string, portTaken = false) => {
        if (!exited) child.kill("SIGKILL");
        resolve({ ok: false, portTaken, reason: `${reason}\n--- prosody output ---\n${output}\n--- log tail ---\n${tail(log, 30)}` });
      };
      if (ready.every((line) => log.includes(line))) return resolve({ ok: true, child });
      if (/Failed to open server port|Address already in use/.test(log)) return fail(`prosody could not listen on ${listening}`, true);
      if (exited) return fail(`${exited} before listening on ${listening}`);
      if (Date.now() > deadline) return fail(`prosody did not listen on ${listening} within ${timeoutMs} ms`);
      setTimeout(poll, 50);
    };
    poll();
  });
}

function serverHandle(
  dir: string,
  domain: string,
  port: number,
  accounts: Record<string, TestAccount>,
  child: ChildProcess,
): ProsodyServer {
  const logFile = join(dir, "prosody.log");
  let stopping: Promise<void> | undefined;
  const logTail = (lines = 40) => (existsSync(logFile) ? tail(readFileSync(logFile, "utf8"), lines) : "(no log)");
  return {
    host: "127.0.0.1",
    port,
    domain,
    accounts,
    dir,
    logFile,
    pid: child.pid ?? -1,
    logTail,
    diagnostics: () => `--- Prosody log tail (${logFile}) ---\n${logTail(40)}`,
    stop(timeoutMs = 5000) {
      stopping ??= stopChild(child, timeoutMs).finally(() => {
        if (process.env.PURPLE_ONION_KEEP_PROSODY !== "1") rmSync(dir, { recursive: true, force: true });
      });
      return stopping;
    },
  };
}

export async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), timeoutMs);
  });
  if (await Promise.race([exited.then(() => false), timedOut])) {
    child.kill("SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}

export function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines - 1).join("\n");
}
