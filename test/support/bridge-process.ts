// A libpurple client for tests: one bridge (src/bridge/) in a child Node process, since
// libpurple runs once per process and each client needs its own HOME, user dir and env.
//
//   const alice = await startBridgeProcess({ home, userDir });
//   await alice.call("addAccount", { username: "alice@example" });
//   await alice.waitFor("signed-on", (e) => e.account.username === "alice@example", 10_000, "alice signs on");
//   await alice.stop();
//
// `wrap` prefixes the command (e.g. ["nsenter", "--net=/proc/PID/ns/net", "--"]) so the client
// can run inside a network namespace; the IPC channel is an inherited fd and survives the exec.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Bridge, BridgeEventName, BridgeEvents, BridgeMethod } from "../../src/bridge/api.js";
import type { FromChild, ToChild } from "./bridge-child.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "bridge-child.js");

export interface BridgeProcessOptions {
  /** HOME of the child (XDG dirs go under it). Created if missing. */
  home: string;
  /** libpurple's user dir (like ~/.purple). Default <home>/.purple. */
  userDir?: string;
  pluginDirs?: string[];
  /** Added to (and overriding) the child's small, isolated environment. */
  env?: Record<string, string>;
  /** libpurple debug output on the child's stderr (kept in output()). */
  debug?: boolean;
  ui?: string;
  /** A command prefix, e.g. ["nsenter", "--net=/proc/PID/ns/net", "--"]. */
  wrap?: string[];
  /** Name in failure messages. Default the home's base name. */
  name?: string;
  /** BridgeOptions.libpurpleNetworkDefaults: map_ports and auto_ip left at libpurple's TRUE. */
  libpurpleNetworkDefaults?: boolean;
  /** How long to wait for the bridge to open. Default 15 s. */
  startTimeoutMs?: number;
}

export interface BridgeEvent<E extends BridgeEventName = BridgeEventName> {
  name: E;
  data: BridgeEvents[E];
  at: number;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child did not exit by itself after close and was killed. */
  killed: boolean;
}

type Result<M extends BridgeMethod> = ReturnType<Bridge[M]>;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

export class BridgeProcess {
  readonly name: string;
  version = "";
  /** Every event so far, in order (waitFor looks here first). */
  readonly events: BridgeEvent[] = [];
  private output_ = "";
  private stderr_ = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  private readonly listeners = new Set<(e: BridgeEvent) => void>();
  /** waitFor calls to fail at once when the child exits. */
  private readonly exitWaiters = new Set<() => void>();
  private readonly exited: Promise<StopResult>;
  private exitInfo: StopResult | undefined;
  private stopping: Promise<StopResult> | undefined;
  private killedByUs = false;

  constructor(readonly child: ChildProcess, name: string) {
    this.name = name;
    child.stdout?.on("data", (d: Buffer) => (this.output_ += d.toString()));
    child.stderr?.on("data", (d: Buffer) => {
      this.output_ += d.toString();
      this.stderr_ += d.toString();
    });
    child.on("message", (m: FromChild) => this.onMessage(m));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal, killed: this.killedByUs };
        const why = new Error(`${this.name}: bridge process exited (code ${code}, signal ${signal})${this.tail()}`);
        for (const p of this.pending.values()) p.reject(why);
        this.pending.clear();
        for (const fn of this.exitWaiters) fn();
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything the child wrote on stdout and stderr (libpurple's debug log with debug: true). */
  output(): string {
    return this.output_;
  }

  /**
   * What the child wrote on stderr alone: with debug: true, each libpurple debug line once, whole
   * ("category: text"; libpurple also prints a timestamped copy on stdout, block-buffered, which
   * output() interleaves with these).
   */
  stderr(): string {
    return this.stderr_;
  }

  private tail(lines = 40): string {
    const text = this.output_.trimEnd().split("\n").slice(-lines).join("\n");
    return text ? `\n--- ${this.name} output (last ${lines} lines) ---\n${text}` : "";
  }

  private onMessage(m: FromChild): void {
    if (m.type === "event") {
      const event = { name: m.name as BridgeEventName, data: m.data as never, at: Date.now() };
      this.events.push(event);
      for (const fn of this.listeners) fn(event);
    } else if (m.type === "result") {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) {
        p.resolve(m.value);
      } else {
        // Same class and text as in-process, so tests can match TypeError vs Error.
        const error = m.name === "TypeError" ? new TypeError(m.message) : new Error(m.message);
        p.reject(error);
      }
    }
  }

  private send(message: ToChild): void {
    if (!this.child.connected) throw new Error(`${this.name}: the bridge process is not connected${this.tail()}`);
    this.child.send(message);
  }

  /** Calls a Bridge method in the child; rejects with the child's error (TypeError or Error). */
  call<M extends BridgeMethod>(method: M, ...args: Parameters<Bridge[M]>): Promise<Result<M>> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      try {
        this.send({ type: "call", id, method, args });
      } catch (err) {
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  on<E extends BridgeEventName>(event: E, fn: (data: BridgeEvents[E]) => void): () => void {
    const listener = (e: BridgeEvent): void => {
      if (e.name === event) fn(e.data as BridgeEvents[E]);
    };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The first event named `event` (already seen or still to come) for which `predicate` holds.
   * Fails after `timeoutMs`, or at once if the child exits, with `what`, the events seen and
   * the child's output.
   */
  waitFor<E extends BridgeEventName>(
    event: E,
    predicate: (data: BridgeEvents[E]) => boolean = () => true,
    timeoutMs = 10_000,
    what: string = event,
  ): Promise<BridgeEvents[E]> {
    const matches = (e: BridgeEvent): boolean => e.name === event && predicate(e.data as BridgeEvents[E]);
    const seen = this.events.find(matches);
    if (seen) return Promise.resolve(seen.data as BridgeEvents[E]);
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        const recent = this.events.slice(-15).map((e) => `  ${e.name} ${JSON.stringify(e.data)}`).join("\n");
        reject(new Error(`${this.name}: ${why} waiting for ${what}\n--- last events ---\n${recent || "  (none)"}${this.tail()}`));
      };
      const onExit = (): void => fail(`the bridge process exited (code ${this.exitInfo?.code}, signal ${this.exitInfo?.signal})`);
      const listener = (e: BridgeEvent): void => {
        if (matches(e)) {
          cleanup();
          resolve(e.data as BridgeEvents[E]);
        }
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.exitWaiters.delete(onExit);
      };
      if (this.exitInfo) return fail("the bridge process had exited");
      this.listeners.add(listener);
      this.exitWaiters.add(onExit);
    });
  }

  /**
   * Closes the bridge (libpurple quits, saves its files) and waits for the child to exit by
   * itself; kills it after `timeoutMs`. Idempotent.
   */
  stop(timeoutMs = 5_000): Promise<StopResult> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    this.stopping ??= (async () => {
      try {
        this.send({ type: "close" });
      } catch {
        // not connected: the kill below ends it
      }
      const timer = setTimeout(() => {
        this.killedByUs = true;
        this.child.kill("SIGKILL");
      }, timeoutMs);
      const result = await this.exited;
      clearTimeout(timer);
      return result;
    })();
    return this.stopping;
  }
}

/** The small environment a client gets: its own HOME and XDG dirs, no D-Bus to reach. */
function childEnv(home: string, extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    USER: process.env.USER ?? "root",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TMPDIR: path.join(home, "tmp"),
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local/share"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_RUNTIME_DIR: path.join(home, "run"),
    // libpurple asks NetworkManager over the system bus whether we are online; nothing to reach.
    DBUS_SESSION_BUS_ADDRESS: "disabled:",
    DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(home, "no-system-bus")}`,
    GSETTINGS_BACKEND: "memory",
    ...extra,
  };
}

/** Starts a child process with an open bridge (not started: load plugins, then call("start")). */
export async function startBridgeProcess(options: BridgeProcessOptions): Promise<BridgeProcess> {
  installExitHook();
  const home = options.home;
  for (const dir of [home, path.join(home, "tmp"), path.join(home, "run")]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const userDir = options.userDir ?? path.join(home, ".purple");
  const wrap = options.wrap ?? [];
  const command = wrap.length > 0 ? wrap[0]! : process.execPath;
  const args = wrap.length > 0 ? [...wrap.slice(1), process.execPath, CHILD] : [CHILD];
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
    env: childEnv(home, options.env),
  });
  live.add(child);
  const bp = new BridgeProcess(child, options.name ?? path.basename(home));
  const opened = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bp.name}: the bridge did not open in ${options.startTimeoutMs ?? 15_000} ms`)), options.startTimeoutMs ?? 15_000);
    child.on("message", (m: FromChild) => {
      if (m.type === "opened") {
        clearTimeout(timer);
        resolve(m.version);
      } else if (m.type === "open-failed") {
        clearTimeout(timer);
        reject(new Error(`${bp.name}: the bridge did not open: ${m.message}`));
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${bp.name}: the bridge process exited before opening (code ${code}, signal ${signal})`));
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${bp.name}: cannot start ${command}: ${err.message}`));
    });
  });
  child.send({ type: "open", options: { userDir, pluginDirs: options.pluginDirs ?? [], debug: options.debug ?? false, ...(options.ui ? { ui: options.ui } : {}), ...(options.libpurpleNetworkDefaults ? { libpurpleNetworkDefaults: true } : {}) } } satisfies ToChild);
  try {
    bp.version = await opened;
  } catch (err) {
    await bp.stop(1_000);
    throw new Error(`${(err as Error).message}\n${bp.output()}`);
  }
  return bp;
}
