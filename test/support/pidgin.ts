// Pidgin (GTK 2) on a private X server (Xvfb), driven as a person would with
// xdotool: find a window by its title, move it, click, type; and
// photographed with ImageMagick's `import -window`.
//
// Isolation as for Finch (finch.ts): Pidgin runs in a loopback-only network
// namespace (loopback-netns.ts), with HOME, XDG dirs and its config dir
// (`pidgin -c`) in a temp dir, and D-Bus addresses that lead nowhere. The X
// server runs outside the namespace (Pidgin reaches it through its socket
// file in /tmp/.X11-unix) on a display number it picks itself (-displayfd).
// Whatever Pidgin starts (the plugin's daemon) is in the namespace too.
//
// There is no window manager: every window opens at 0,0 over the others, has
// no decorations, and keeps the keyboard focus only when given it
// (focus(), which keys() and type() call first).
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { prefsXml, QUIET_PREFS, pluginPrefs, type Pref } from "./finch-config.js";
import { startLoopbackNetns, type LoopbackNetns } from "./loopback-netns.js";
import { findProgram, missing } from "./prerequisites.js";
import { freePorts } from "./tornet/ports.js";

const run = promisify(execFile);

/** libpurple's id of Pidgin's UI: account settings under it (auto-login = "Enabled") are Pidgin's. */
export const PIDGIN_UI = "gtk-gaim";

export interface PidginOptions {
  /** accounts.xml to start with (finch-config.ts writes one); none by default. */
  accountsXml?: string;
  /** Plugins to load: each is copied into <configDir>/plugins and listed in /pidgin/plugins/loaded. */
  plugins?: string[];
  /** More files for <configDir>/plugins (name → content), e.g. purple-onion.ini. */
  pluginFiles?: Record<string, string>;
  /** Preferences beyond the quiet defaults (finch-config.ts's QUIET_PREFS). */
  prefs?: Record<string, Pref>;
  /** Where 127.0.0.1:<port> inside the namespace leads (a daemon outside); default: nowhere. */
  relay?: { port: number; target: { host: string; port: number } };
  /** More environment for Pidgin. */
  env?: Record<string, string>;
  /** Screen size; default 1280x1024. */
  width?: number;
  height?: number;
}

export interface XWindow {
  id: string;
  title: string;
}

export interface Pidgin {
  /** Temp dir holding the config dir, HOME and the debug log. */
  readonly dir: string;
  /** `pidgin -c` this. */
  readonly configDir: string;
  /** ":N" */
  readonly display: string;
  /** The namespace Pidgin runs in (nsenter --net=...). */
  readonly nsPath: string;
  /** libpurple's debug output so far (`pidgin -d`). */
  debugLog(): string;
  debugTail(lines?: number): string;
  /** accounts.xml as Pidgin last wrote it ("" before it exists). */
  accountsXml(): string;
  /** The visible windows with a title. */
  windows(): Promise<XWindow[]>;
  /** The id of the visible window whose whole title matches (a string matches exactly). */
  waitForWindow(title: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Wait until no visible window's title matches. */
  waitForNoWindow(title: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Move a window's top-left corner to x,y (no window manager: they all open at 0,0). */
  move(id: string, x: number, y: number): Promise<void>;
  /** Give a window the keyboard focus. */
  focus(id: string): Promise<void>;
  /** Click at x,y inside a window (button 1 by default). */
  click(id: string, x: number, y: number, button?: number): Promise<void>;
  /** Key names as xdotool knows them ("ctrl+Page_Down", "Tab", "Return"), sent in order to the focused window. */
  keys(id: string, ...keys: string[]): Promise<void>;
  /** Literal text, typed into the window. */
  type(id: string, text: string): Promise<void>;
  /** A PNG of one window (as `import -window`); returns the file. */
  screenshot(id: string, file: string): Promise<string>;
  /** Poll `probe` until it returns something other than undefined/false. */
  waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Quit Pidgin (SIGTERM, then SIGKILL), the X server and the namespace; remove the temp dir. Idempotent. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

const cleanups = new Set<() => void>();
process.on("exit", () => {
  for (const cleanup of cleanups) cleanup();
});

const POLL_MS = 100;

export async function startPidgin(options: PidginOptions = {}): Promise<Pidgin> {
  const reason = missing("pidgin") ?? missing("netns");
  if (reason) throw new Error(`${reason} (gate the test with requires("pidgin", "netns"))`);
  const dir = mkdtempSync(path.join(tmpdir(), "po-pidgin-"));
  const configDir = path.join(dir, "purple");
  const pluginsDir = path.join(configDir, "plugins");
  const home = path.join(dir, "home");
  const debugLogPath = path.join(dir, "debug.log");
  for (const d of [configDir, pluginsDir, home, path.join(dir, "tmp"), path.join(dir, "run")]) mkdirSync(d, { mode: 0o700 });
  if (options.accountsXml !== undefined) writeFileSync(path.join(configDir, "accounts.xml"), options.accountsXml, { mode: 0o600 });
  const loaded: string[] = [];
  for (const plugin of options.plugins ?? []) {
    const target = path.join(pluginsDir, path.basename(plugin));
    copyFileSync(plugin, target);
    loaded.push(target);
  }
  for (const [name, content] of Object.entries(options.pluginFiles ?? {})) writeFileSync(path.join(pluginsDir, name), content);
  writeFileSync(path.join(configDir, "prefs.xml"), prefsXml({ ...QUIET_PREFS, ...PIDGIN_PREFS, ...pluginPrefs("pidgin", loaded), ...options.prefs }), {
    mode: 0o600,
  });

  let xvfb: ChildProcess | undefined;
  let pidgin: ChildProcess | undefined;
  let netns: LoopbackNetns | undefined;
  let stopped = false;
  const killNow = () => {
    pidgin?.kill("SIGKILL");
    xvfb?.kill("SIGKILL");
  };
  cleanups.add(killNow);
  const stop = async (stopOptions: { keepDir?: boolean } = {}): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (pidgin) await terminate(pidgin);
    if (xvfb) await terminate(xvfb);
    cleanups.delete(killNow);
    await netns?.close();
    if (!stopOptions.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  let display = "";
  try {
    const started = await startXvfb(options.width ?? 1280, options.height ?? 1024);
    xvfb = started.child;
    display = started.display;
    const relay = options.relay ?? { port: (await freePorts(1))[0]!, target: { host: "127.0.0.1", port: 9 } };
    netns = await startLoopbackNetns({ dir, port: relay.port, target: relay.target });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      USER: process.env.USER ?? "root",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      DISPLAY: display,
      TMPDIR: path.join(dir, "tmp"),
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_DATA_HOME: path.join(home, ".local/share"),
      XDG_CACHE_HOME: path.join(home, ".cache"),
      XDG_RUNTIME_DIR: path.join(dir, "run"),
      // No session bus (and no autolaunch), no system bus, no accessibility bus.
      DBUS_SESSION_BUS_ADDRESS: "disabled:",
      DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(dir, "no-system-bus")}`,
      GSETTINGS_BACKEND: "memory",
      NO_AT_BRIDGE: "1",
      ...options.env,
    };
    // `-d`: libpurple's debug log, on stdout. `-m`: no single-instance check (over D-Bus).
    const log = openSync(debugLogPath, "a");
    pidgin = spawn(findProgram("nsenter")!, [`--net=${netns.nsPath}`, "--", findProgram("pidgin")!, "-m", "-d", "-c", configDir], {
      env,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
  } catch (err) {
    await stop();
    throw err;
  }

  const x = (...args: string[]) => run(findProgram("xdotool")!, args, { env: { ...process.env, DISPLAY: display }, encoding: "utf8" });
  const debugLog = () => {
    try {
      return readFileSync(debugLogPath, "utf8");
    } catch {
      return "";
    }
  };
  const waitFor = async <T>(
    what: string,
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 15_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await probe();
      if (found !== undefined && found !== false) return found;
      if (Date.now() > deadline) throw new Error(`Pidgin: ${what} did not happen within ${timeoutMs} ms\n${tail(debugLog(), 30)}`);
      if (pidgin!.exitCode !== null || pidgin!.signalCode !== null) {
        throw new Error(`Pidgin exited (${pidgin!.exitCode ?? pidgin!.signalCode}) while waiting for ${what}\n${tail(debugLog(), 30)}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  const windows = async (): Promise<XWindow[]> => {
    // xdotool exits 1 when nothing matches.
    const ids = (await x("search", "--onlyvisible", "--name", ".").catch(() => ({ stdout: "" }))).stdout.split("\n").filter(Boolean);
    const found: XWindow[] = [];
    for (const id of ids) {
      const title = (await x("getwindowname", id).catch(() => ({ stdout: "" }))).stdout.replace(/\n$/, "");
      if (title) found.push({ id, title });
    }
    return found;
  };
  const matches = (title: string | RegExp, w: XWindow) => (typeof title === "string" ? w.title === title : title.test(w.title));
  const focus = async (id: string) => void (await x("windowfocus", "--sync", id));

  return {
    dir,
    configDir,
    display,
    nsPath: netns!.nsPath,
    debugLog,
    debugTail: (lines = 40) => tail(debugLog(), lines),
    accountsXml: () => {
      try {
        return readFileSync(path.join(configDir, "accounts.xml"), "utf8");
      } catch {
        return "";
      }
    },
    windows,
    waitForWindow: (title, timeoutMs = 15_000) =>
      waitFor(`a window "${title}"`, async () => (await windows()).find((w) => matches(title, w))?.id, timeoutMs),
    waitForNoWindow: async (title, timeoutMs = 15_000) =>
      void (await waitFor(`no window "${title}"`, async () => !(await windows()).some((w) => matches(title, w)), timeoutMs)),
    move: async (id, left, top) => void (await x("windowmove", "--sync", id, String(left), String(top)).catch(() => x("windowmove", id, String(left), String(top)))),
    focus,
    click: async (id, left, top, button = 1) => {
      await focus(id);
      await x("mousemove", "--window", id, String(left), String(top), "click", String(button));
    },
    keys: async (id, ...keys) => {
      await focus(id);
      // One at a time, with a breath between: GTK acts on some keys (tab switches, mnemonics) in idle callbacks.
      for (const key of keys) {
        await x("key", "--clearmodifiers", key);
        await new Promise((r) => setTimeout(r, 80));
      }
    },
    type: async (id, text) => {
      await focus(id);
      await x("type", "--delay", "20", text);
    },
    screenshot: async (id, file) => {
      mkdirSync(path.dirname(file), { recursive: true });
      await run(findProgram("import")!, ["-window", id, file], { env: { ...process.env, DISPLAY: display } });
      return file;
    },
    waitFor,
    stop,
  };
}

// What differs from Pidgin's defaults: quiet, nothing remembered from a previous run.
const PIDGIN_PREFS: Record<string, Pref> = {
  "/pidgin/sound/method": { type: "string", value: "none" },
  "/pidgin/sound/mute": { type: "bool", value: true },
  "/pidgin/debug/enabled": { type: "bool", value: false },
};

/** Xvfb on a display number it chooses (-displayfd), no TCP. */
async function startXvfb(width: number, height: number): Promise<{ child: ChildProcess; display: string }> {
  const child = spawn(findProgram("Xvfb")!, ["-displayfd", "3", "-screen", "0", `${width}x${height}x24`, "-nolisten", "tcp", "-noreset"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  let errors = "";
  child.stderr!.on("data", (d: Buffer) => (errors += d.toString()));
  const display = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb did not say its display within 10 s: ${errors}`)), 10_000);
    child.stdio[3]!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve(`:${out.trim()}`);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code ?? signal}): ${errors}`));
    });
  });
  return { child, display };
}

/** SIGTERM, SIGKILL after 5 s; resolves when the process is gone. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** Whether xdotool, Xvfb and import are usable here (for scripts outside jest). */
export function pidginMissing(): string | undefined {
  return missing("pidgin") ?? missing("netns") ?? (spawnSync(findProgram("xdotool") ?? "xdotool", ["version"]).status === 0 ? undefined : "xdotool does not run");
}
