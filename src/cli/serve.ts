// `purple-onion serve`: validate the options, then hand over to the daemon until it stops.
import { readFileSync } from "node:fs";
import type { DaemonOptions } from "../daemon/daemon.js";
import { isLogLevel, LOG_LEVELS } from "../daemon/logger.js";
import { uidOfUser } from "../net/socket-owner.js";
import { DATA_DIR_OPTION, EXIT_OK, parseCommandArgs, resolveDataDir, UsageError, type CliDeps, type CliIo } from "./common.js";

const OPTIONS = {
  ...DATA_DIR_OPTION,
  tor: { type: "string" },
  "tor-control": { type: "string" },
  "tor-socks": { type: "string" },
  "tor-password-file": { type: "string" },
  "tor-auth": { type: "string" },
  "tor-cookie-file": { type: "string" },
  "tor-user": { type: "string" },
  "tor-torrc-append": { type: "string" },
  "c2s-port": { type: "string" },
  "s2s-tls": { type: "string" },
  "log-level": { type: "string" },
} as const;

export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): DaemonOptions {
  const { values } = parseCommandArgs("serve", args, OPTIONS, []);

  const tor = values.tor ?? "launch";
  if (tor !== "launch" && tor !== "attach" && tor !== "none") {
    throw new UsageError(`--tor must be launch, attach or none, not '${tor}'`, "serve");
  }
  const torOptions = parseTorOptions(tor, values);

  let c2sPort: number | undefined;
  const portText = values["c2s-port"];
  if (portText !== undefined) {
    c2sPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(c2sPort >= 0 && c2sPort <= 65535)) {
      throw new UsageError(`--c2s-port must be a port number from 0 to 65535, not '${portText}'`, "serve");
    }
  }

  const logLevel = values["log-level"] ?? "info";
  if (!isLogLevel(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${logLevel}'`, "serve");
  }

  const s2sTls = values["s2s-tls"];
  if (s2sTls !== undefined) {
    if (s2sTls !== "when-required" && s2sTls !== "always") throw new UsageError(`--s2s-tls must be when-required or always, not '${s2sTls}'`, "serve");
    if (tor === "none") throw new UsageError("--s2s-tls makes no sense with --tor none (no federation)", "serve");
  }

  const opts: DaemonOptions = { dataDir: resolveDataDir(values["data-dir"], "serve", env), tor, logLevel, ...torOptions };
  if (s2sTls !== undefined) opts.s2sTls = s2sTls;
  if (c2sPort !== undefined) opts.c2sPort = c2sPort;
  return opts;
}

const TOR_FLAGS = ["tor-control", "tor-socks", "tor-password-file", "tor-auth", "tor-cookie-file", "tor-user", "tor-torrc-append"] as const;
const ATTACH_ONLY = ["tor-control", "tor-socks", "tor-password-file", "tor-auth", "tor-cookie-file", "tor-user"] as const;
type TorFlags = Partial<Record<(typeof TOR_FLAGS)[number], string>>;

/** The Tor flags, checked against the mode: each error says which flag goes with which mode. */
function parseTorOptions(mode: DaemonOptions["tor"], values: TorFlags): Partial<DaemonOptions> {
  const given = TOR_FLAGS.filter((f) => values[f] !== undefined);
  if (mode === "none") {
    if (given.length > 0) throw new UsageError(`--${given[0]} makes no sense with --tor none`, "serve");
    return {};
  }
  const out: Partial<DaemonOptions> = {};
  if (mode === "attach") {
    if (values["tor-torrc-append"] !== undefined) throw new UsageError("--tor-torrc-append is for --tor launch (an attached tor has its own torrc)", "serve");
    const control = values["tor-control"];
    if (control === undefined) throw new UsageError("--tor attach needs --tor-control HOST:PORT or unix:PATH (tor's ControlPort or ControlSocket)", "serve");
    out.torControl = endpoint(control, "--tor-control");
    if (values["tor-socks"] !== undefined) out.torSocks = endpoint(values["tor-socks"], "--tor-socks");
    const auth = torAuth(values, "path" in out.torControl);
    if (auth) out.torAuth = auth;
    const user = values["tor-user"];
    if (user !== undefined) {
      const uid = uidOfUser(user);
      if (uid === undefined) throw new UsageError(`--tor-user: no user '${user}' on this machine (give a name or a uid)`, "serve");
      out.torUid = uid;
    }
  } else {
    for (const f of ATTACH_ONLY)
      if (values[f] !== undefined) throw new UsageError(`--${f} is for --tor attach; a launched tor uses its own sockets and cookie`, "serve");
    const append = values["tor-torrc-append"];
    if (append !== undefined) out.torExtraTorrc = readLines(append, "--tor-torrc-append");
  }
  return out;
}

/** --tor-auth, --tor-password-file and --tor-cookie-file together: one way to authenticate. */
function torAuth(values: TorFlags, unixControl: boolean): DaemonOptions["torAuth"] {
  const pwFile = values["tor-password-file"];
  const cookieFile = values["tor-cookie-file"];
  const method = values["tor-auth"] ?? (pwFile !== undefined ? "password" : "safecookie");
  if (method === "password") {
    if (pwFile === undefined) throw new UsageError("--tor-auth password needs --tor-password-file FILE", "serve");
    if (cookieFile !== undefined) throw new UsageError("--tor-cookie-file is for --tor-auth safecookie", "serve");
    return { method: "HASHEDPASSWORD", password: readLines(pwFile, "--tor-password-file")[0] ?? "" };
  }
  if (pwFile !== undefined) throw new UsageError(`--tor-password-file is for --tor-auth password, not ${method}`, "serve");
  if (method === "none") {
    if (cookieFile !== undefined) throw new UsageError("--tor-cookie-file is for --tor-auth safecookie", "serve");
    if (!unixControl) throw new UsageError("--tor-auth none is accepted only with a Unix ControlSocket (--tor-control unix:PATH): over TCP any local user could pose as tor", "serve");
    return { method: "NULL" };
  }
  if (method !== "safecookie") throw new UsageError(`--tor-auth must be safecookie, password or none, not '${method}'`, "serve");
  return cookieFile !== undefined ? { method: "SAFECOOKIE", cookieFile } : undefined;
}

function endpoint(text: string, flag: string): { host: string; port: number } | { path: string } {
  if (!text.startsWith("unix:")) return hostPort(text, flag);
  const p = text.slice(5);
  if (!p.startsWith("/")) throw new UsageError(`${flag} unix:PATH needs an absolute path, not '${p}'`, "serve");
  return { path: p };
}

function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(127(?:\.\d{1,3}){3}|localhost|\[::1\]):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new UsageError(`${flag} must be a loopback HOST:PORT such as 127.0.0.1:9051, or unix:PATH, not '${text}'`, "serve");
  return { host: m[1] === "localhost" ? "127.0.0.1" : m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

function readLines(file: string, flag: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as Error).message}`, "serve");
  }
}

export async function serveCommand(args: string[], io: CliIo, deps: CliDeps): Promise<number> {
  const opts = parseServeArgs(args, io.env ?? process.env);
  if (deps.runDaemon) {
    await deps.runDaemon(opts);
    return EXIT_OK;
  }
  // This process is the daemon: main.ts has set up its heap before loading anything
  // (src/daemon/heap.ts); the rest of that setup follows once it runs.
  const heap = await import("../daemon/heap.js");
  const collector = new heap.IdleCollector(heap.DEFAULT_IDLE_COLLECTOR, heap.enableOptimizer);
  // Loaded only here, so that `--help` and the client commands do not load the whole server.
  const { runDaemon } = await import("../daemon/daemon.js");
  try {
    await runDaemon(opts, () => collector.start());
  } finally {
    collector.stop();
  }
  return EXIT_OK;
}
