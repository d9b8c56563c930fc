// One tor process of the private network: started directly (no shell, so the
// PID we keep is tor's), its notice log read from its log file, stopped by
// PID. Every live tor is SIGKILLed if this Node process exits without
// stopping it; torrc's __OwningControllerProcess covers a SIGKILLed Node.
import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { TOR } from "./tor-binaries.js";

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killAllLive(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAllLive);
  // A signal that kills Node by default skips "exit" handlers. If nobody else
  // handles it (they then own the shutdown), kill the tors and re-raise it.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(signal) > 1) return;
      killAllLive();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Thrown when tor could not bind a port someone else took meanwhile. */
export class PortInUseError extends Error {}

export interface TorProcessOptions {
  name: string;
  torrcPath: string;
  torrcLines: string[];
  logFile: string;
  /** tor's stdout/stderr (messages from before the log file is open). */
  stdoutFile: string;
  /** An empty file for --defaults-torrc, so /etc/tor/torrc-defaults is never read. */
  emptyTorrc: string;
  /** Ports tor must report as listening before start() resolves (none: waits for "Bootstrapped 0%"). */
  ports: number[];
  /**
   * Run tor as another user: a command prefix that execs it (prerequisites.ts asUser(), which
   * keeps the pid), and that user's uid/gid, who then owns the torrc we write.
   */
  runAs?: { prefix: string[]; uid: number; gid: number };
}

export class TorProcess {
  private child: ChildProcess | undefined;
  /** Where this run's lines start in the (appended) log file. */
  private logStart = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly options: TorProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts tor and waits until every configured port is listening. */
  async start(timeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    installExitHandlers();
    writeFileSync(this.options.torrcPath, this.options.torrcLines.join("\n") + "\n", { mode: 0o600 });
    const runAs = this.options.runAs;
    if (runAs) chownSync(this.options.torrcPath, runAs.uid, runAs.gid);
    this.logStart = existsSync(this.options.logFile) ? statSync(this.options.logFile).size : 0;
    const out = openSync(this.options.stdoutFile, "a");
    let child: ChildProcess;
    try {
      const torArgs = ["-f", this.options.torrcPath, "--defaults-torrc", this.options.emptyTorrc];
      const [cmd, ...args] = runAs ? [...runAs.prefix, TOR, ...torArgs] : [TOR, ...torArgs];
      child = spawn(cmd!, args, {
        stdio: ["ignore", out, out],
        // One malloc arena instead of one per thread: relays then settle at
        // ~40 MB instead of ~73 MB (measured with tor 0.4.9, glibc 2.36).
        env: { ...process.env, MALLOC_ARENA_MAX: "1" },
      });
    } finally {
      closeSync(out);
    }
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once("exit", () => {
        live.delete(child);
        resolve();
      });
      child.once("error", () => {
        live.delete(child);
        resolve();
      });
    });
    const opened = this.options.ports.map((p) => new RegExp(`Opened \\w+ listener connection \\(ready\\) on 127\\.0\\.0\\.1:${p}$`, "m"));
    try {
      if (opened.length > 0) await this.waitForLog((log) => opened.every((re) => re.test(log)), timeoutMs, "all its listeners to open");
      else await this.waitForLog((log) => /Bootstrapped 0%/.test(log), timeoutMs, "start");
    } catch (err) {
      await this.stop();
      if (/Address already in use/.test(this.tail(1000))) {
        throw new PortInUseError(`${this.name}: a port was taken meanwhile\n${this.tail()}`);
      }
      throw err;
    }
  }

  /** This run's log so far (notice level). */
  log(): string {
    if (!existsSync(this.options.logFile)) return "";
    return readFileSync(this.options.logFile).subarray(this.logStart).toString("utf8");
  }

  /** The last lines of this run's log, and what tor printed elsewhere (config errors), for error messages. */
  tail(lines = 25): string {
    const log = this.log();
    const last = (text: string): string => text.trimEnd().split("\n").slice(-lines).join("\n");
    // tor prints to stdout until its log file is open: only the lines the log lacks.
    const stdout = existsSync(this.options.stdoutFile) ? readFileSync(this.options.stdoutFile, "utf8") : "";
    const extra = stdout.split("\n").filter((line) => line.trim() !== "" && !log.includes(line)).join("\n");
    const parts = [`--- ${this.options.logFile} (last ${lines} lines) ---`, last(log)];
    if (extra) parts.push(`--- ${this.options.stdoutFile} ---`, last(extra));
    return parts.join("\n");
  }

  /** Polls the log until `done(log)` holds; throws (with the log tail) on timeout or if tor exits. */
  async waitForLog(done: (log: string) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done(this.log())) return;
      if (!this.running) {
        const how = this.child ? `exit ${this.child.exitCode ?? this.child.signalCode}` : "never started";
        throw new Error(`${this.name} (tor) stopped (${how}) while waiting for ${what}\n${this.tail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} (tor) did not get to ${what} within ${timeoutMs} ms\n${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` (SIGTERM: tor exits at once), SIGKILL after `killAfterMs`. Idempotent. */
  async stop(signal: NodeJS.Signals = "SIGTERM", killAfterMs = 3000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill(signal);
    // Roughly 1 shutdown in 35, tor hangs after "exiting cleanly".
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident memory in kB (0 when not running). */
  rssKb(): number {
    if (!this.running) return 0;
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  }
}
