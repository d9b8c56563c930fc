// Finch (libpurple's terminal client, the XMPP code Pidgin uses) driven in a
// detached tmux session, as a person would: it reads its own config dir, signs
// on by itself, and the test reads the screen (capture-pane), types
// (send-keys) and reads libpurple's debug log (every stanza sent and received).
//
// Isolation: Finch runs in a network namespace with only loopback (see
// loopback-netns.ts), with HOME, XDG dirs and the config dir in a temp dir
// (it never sees the real ~/.purple), and with D-Bus addresses that lead
// nowhere (it cannot reach or auto-launch a session bus, NetworkManager or
// any other system service).
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { accountsXml, pluginPrefs, prefsXml, QUIET_PREFS, type Pref } from "./finch-config.js";
import { startLoopbackNetns, type LoopbackNetns } from "./loopback-netns.js";
import { findProgram, missing } from "./prerequisites.js";

const run = promisify(execFile);

export interface FinchOptions {
  /** Bare JID of the account to sign on. */
  jid: string;
  password: string;
  /** Default "finch". */
  resource?: string;
  /** The daemon's c2s address (in the test's namespace). */
  server: { host: string; port: number };
  /** More environment for Finch (e.g. SASL_PATH, where Cyrus SASL looks for its mechanisms). */
  env?: Record<string, string>;
  /** accounts.xml to use instead of the one made from jid/password/server (finch-config.ts). */
  accountsXml?: string;
  /** Plugins to load: each is copied into <configDir>/plugins and listed in /finch/plugins/loaded. */
  plugins?: string[];
  /** More files for <configDir>/plugins (name → content), e.g. purple-onion.ini. */
  pluginFiles?: Record<string, string>;
  /** Preferences beyond the quiet defaults (finch-config.ts's QUIET_PREFS). */
  prefs?: Record<string, Pref>;
  /** Terminal size. Default 100x40. */
  cols?: number;
  rows?: number;
}

export interface Finch {
  /** Temp dir holding config, HOME, sockets and the debug log. */
  readonly dir: string;
  readonly fullJid: string;
  /** `finch -c` this. */
  readonly configDir: string;
  /** The network namespace Finch runs in (nsenter --net=...). */
  readonly nsPath: string;
  /** libpurple's debug output so far (`finch -d`, sent to a file). */
  debugLog(): string;
  /** TCP connections Finch has made to the daemon so far (reconnects count). */
  connections(): number;
  /** The last lines of the debug log, for failure messages. */
  debugTail(lines?: number): string;
  /** The terminal as text, one string per row. */
  screen(): Promise<string[]>;
  /** tmux key names ("Enter", "M-3"), sent in order. */
  keys(...keys: string[]): Promise<void>;
  /** Literal text, typed as is. */
  type(text: string): Promise<void>;
  /** Poll `probe` until it returns something other than undefined/false. */
  waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Raise and focus the window whose taskbar entry starts with `titlePrefix`. */
  focusWindow(titlePrefix: string, timeoutMs?: number): Promise<void>;
  /** Kill Finch, the tmux server and the relay; remove the temp dir (unless keepDir). Idempotent. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

// tmux servers and Finch processes still running if the test process dies.
const cleanups = new Set<() => void>();
process.on("exit", () => {
  for (const cleanup of cleanups) cleanup();
});

const POLL_MS = 100;

export async function startFinch(options: FinchOptions): Promise<Finch> {
  const reason = missing("finch") ?? missing("netns");
  if (reason) throw new Error(`${reason} (gate the test with requires("finch", "netns"))`);
  const resource = options.resource ?? "finch";
  // Short: the Unix socket paths inside must stay under 108 bytes.
  const dir = mkdtempSync(path.join(tmpdir(), "po-finch-"));
  const configDir = path.join(dir, "purple");
  const home = path.join(dir, "home");
  const debugLogPath = path.join(dir, "debug.log");
  const tmuxSocket = path.join(dir, "tmux.sock");
  const tmuxConf = path.join(dir, "tmux.conf");
  for (const d of [configDir, home, path.join(dir, "tmp"), path.join(dir, "run")]) mkdirSync(d, { mode: 0o700 });
  // libpurple's own layout; 0600 like the files it writes itself.
  writeFileSync(path.join(configDir, "accounts.xml"),
    options.accountsXml ??
      accountsXml({ jid: options.jid, password: options.password, resource, connectServer: "127.0.0.1", port: options.server.port }),
    { mode: 0o600 });
  const loaded: string[] = [];
  if (options.plugins?.length || options.pluginFiles) {
    const pluginsDir = path.join(configDir, "plugins");
    mkdirSync(pluginsDir, { mode: 0o700 });
    for (const plugin of options.plugins ?? []) {
      const target = path.join(pluginsDir, path.basename(plugin));
      copyFileSync(plugin, target);
      loaded.push(target);
    }
    for (const [name, content] of Object.entries(options.pluginFiles ?? {})) writeFileSync(path.join(pluginsDir, name), content);
  }
  writeFileSync(path.join(configDir, "prefs.xml"), prefsXml({ ...QUIET_PREFS, ...(loaded.length ? pluginPrefs("finch", loaded) : {}), ...options.prefs }), { mode: 0o600 });
  // No status line: the whole terminal is Finch's, its taskbar is the last row.
  writeFileSync(tmuxConf, "set -g status off\nset -g history-limit 0\n");

  let netns: LoopbackNetns | undefined;
  let finchPid: number | undefined;
  let stopped = false;
  const tmux = (...args: string[]) => run(findProgram("tmux")!, ["-S", tmuxSocket, ...args], { encoding: "utf8" });

  const killNow = () => {
    if (finchPid !== undefined) {
      try {
        process.kill(finchPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    spawnSync(findProgram("tmux")!, ["-S", tmuxSocket, "kill-server"], { stdio: "ignore", timeout: 5000 });
  };
  cleanups.add(killNow);

  const stop = async (stopOptions: { keepDir?: boolean } = {}): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (finchPid !== undefined) await terminate(finchPid);
    await tmux("kill-server").catch(() => undefined);
    cleanups.delete(killNow);
    await netns?.close();
    if (!stopOptions.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    // Inside the namespace the relay listens on the daemon's port number, so
    // the account settings show the real port a user would type.
    netns = await startLoopbackNetns({ dir, port: options.server.port, target: options.server });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      USER: process.env.USER ?? "root",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      TERM: "xterm-256color",
      TMPDIR: path.join(dir, "tmp"),
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_DATA_HOME: path.join(home, ".local/share"),
      XDG_CACHE_HOME: path.join(home, ".cache"),
      XDG_RUNTIME_DIR: path.join(dir, "run"),
      // A bus address of an unknown transport: no session bus, and no
      // dbus-launch/autolaunch either. The system bus points at nothing.
      DBUS_SESSION_BUS_ADDRESS: "disabled:",
      DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(dir, "no-system-bus")}`,
      GSETTINGS_BACKEND: "memory",
      NO_AT_BRIDGE: "1",
      ...options.env,
    };
    // `-d`: libpurple's debug log, on stderr; into a file, or it draws over the screen.
    const command = `exec finch -c ${shellQuote(configDir)} -d 2>${shellQuote(debugLogPath)}`;
    const cols = options.cols ?? 100;
    const rows = options.rows ?? 40;
    await run(
      findProgram("nsenter")!,
      [`--net=${netns.nsPath}`, "--", findProgram("tmux")!, "-S", tmuxSocket, "-f", tmuxConf,
        "new-session", "-d", "-s", "finch", "-x", String(cols), "-y", String(rows), command],
      { env },
    );
    const { stdout } = await tmux("display-message", "-p", "-t", "finch", "#{pane_pid}");
    finchPid = Number(stdout.trim());
  } catch (err) {
    await stop();
    throw err;
  }

  const debugLog = () => {
    try {
      return readFileSync(debugLogPath, "utf8");
    } catch {
      return "";
    }
  };
  const screen = async () => (await tmux("capture-pane", "-p", "-t", "finch")).stdout.replace(/\n$/, "").split("\n");
  const waitFor = async <T>(
    what: string,
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 15_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await probe();
      if (found !== undefined && found !== false) return found;
      if (Date.now() > deadline) throw new Error(`Finch: ${what} did not happen within ${timeoutMs} ms`);
      if (finchPid !== undefined && !isRunning(finchPid)) throw new Error(`Finch exited while waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  return {
    dir,
    fullJid: `${options.jid}/${resource}`,
    configDir,
    nsPath: netns!.nsPath,
    debugLog,
    connections: () => netns?.forwarded() ?? 0,
    debugTail: (lines = 40) => debugLog().split("\n").slice(-lines).join("\n"),
    screen,
    keys: async (...keys) => void (await tmux("send-keys", "-t", "finch", ...keys)),
    type: async (text) => void (await tmux("send-keys", "-t", "finch", "-l", text)),
    waitFor,
    focusWindow: async (titlePrefix, timeoutMs = 10_000) => {
      // gnt's taskbar (last row) lists the windows in order; M-<n> switches
      // to the n-th, which raises it: its title is then drawn in full.
      const index = await waitFor(`a window "${titlePrefix}..." in the taskbar`, async () => {
        const i = taskbarEntries((await screen()).at(-1) ?? "").findIndex((t) => t.startsWith(titlePrefix));
        return i >= 0 && i < 9 ? i : undefined;
      }, timeoutMs);
      await tmux("send-keys", "-t", "finch", `M-${index + 1}`);
      await waitFor(`window "${titlePrefix}..." on top`, async () => {
        const [top] = await screen();
        return top?.includes(`┤${titlePrefix}`) ?? false;
      }, timeoutMs);
    },
    stop,
  };
}

/** The window titles in gnt's taskbar row. */
export function taskbarEntries(row: string): string[] {
  return row.split("│").map((t) => t.trim()).filter(Boolean);
}

/**
 * The screen's text with window borders and all whitespace removed, so text
 * that gnt wrapped at a window's edge (even mid-word) can be searched for with
 * compactText(needle).
 */
export function compactText(rows: string[] | string): string {
  const text = Array.isArray(rows) ? rows.join("") : rows;
  return text.replace(/[\s│┌┐└┘─├┤┬┴┼▒↑↓_]/g, "");
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Alive and not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** SIGTERM (libpurple then closes its stream), SIGKILL after 3 s. */
async function terminate(pid: number): Promise<void> {
  if (!isRunning(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + 3000;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isRunning(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
