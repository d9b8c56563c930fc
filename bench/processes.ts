// Child processes of the benchmark (servers under test) and what we measure
// about them: free ports, readiness, memory, CPU time, and a stop that always
// happens — on success, on error, and when the benchmark itself is killed.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

/** A server process started by the benchmark. */
export interface ServerProcess {
  readonly pid: number;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<string>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. Safe to call more than once. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

function killAllAndClean(): void {
  for (const child of live) child.kill("SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

// If the benchmark dies (error, Ctrl-C, kill), its servers must not linger:
// an orphaned Prosody keeps its port and files; an orphaned daemon its socket.
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAllAndClean);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping the servers\n`);
      process.exit(130); // runs killAllAndClean
    });
  }
}

/** A fresh temp dir that is removed at exit even if nobody calls removeTempDir. */
export function makeTempDir(prefix: string): string {
  installExitHandlers();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Starts `command`, appending its stdout and stderr to `logFile`. */
export function startServerProcess(
  command: string,
  args: string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): ServerProcess {
  installExitHandlers();
  const logFd = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  live.add(child);
  let exited = false;
  const exitedPromise = new Promise<string>((resolve) => {
    child.once("error", (err) => {
      exited = true;
      live.delete(child);
      resolve(`spawn error: ${err.message}`);
    });
    child.once("exit", (code, signal) => {
      exited = true;
      live.delete(child);
      resolve(signal ?? String(code));
    });
  });
  if (child.pid === undefined) {
    // spawn() reports ENOENT asynchronously; a missing pid means it failed.
    throw new Error(`could not start ${command}: is it installed?`);
  }
  const pid = child.pid;
  return {
    pid,
    exited: exitedPromise,
    hasExited: () => exited,
    async stop(graceMs = 5000): Promise<void> {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
      if ((await Promise.race([exitedPromise, timer])) === "timeout") {
        child.kill("SIGKILL");
        await exitedPromise;
      }
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Polls until `ready()` holds, failing early with the log's tail if the server
 * exits (a config error should not look like a timeout).
 */
export async function waitUntil(
  what: string,
  server: ServerProcess,
  logFiles: string[],
  ready: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      throw new Error(`server exited (${await server.exited}) before ${what}\n${logFiles.map((f) => logTail(f)).join("\n")}`);
    }
    if (await ready()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${logFiles.map((f) => logTail(f)).join("\n")}`);
}

export function portAccepts(host: string, port: number): () => Promise<boolean> {
  return () => canConnect(host, port);
}

export function fileExists(path: string): () => boolean {
  return () => existsSync(path);
}

export function logHas(logFile: string, text: string): () => boolean {
  return () => existsSync(logFile) && readFileSync(logFile, "utf8").includes(text);
}

export function logTail(logFile: string, lines = 20): string {
  try {
    const text = readFileSync(logFile, "utf8").trimEnd().split("\n");
    return `--- last lines of ${logFile} ---\n${text.slice(-lines).join("\n")}`;
  } catch {
    return `(no log at ${logFile})`;
  }
}

/** Memory of a process and its descendants, from /proc/PID/status (kB). */
export interface MemoryReading {
  rssKb: number;
  /** RssAnon: the part of VmRSS that is not file-backed (heaps, stacks; not the node binary's pages). */
  anonKb: number;
  hwmKb: number;
  processes: number;
}

function statusFields(pid: number, fields: string[]): number[] {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return fields.map((field) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]);
  });
}

/** The process and every descendant (a daemon might fork helpers). */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 is the parent pid; the command name (field 2) may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process vanished while we looked.
    }
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Summed over `pids` (a tree found before with processTree; cheap enough to sample often). */
export function readTreeMemory(pids: number[]): MemoryReading {
  const sum = { rssKb: 0, anonKb: 0, hwmKb: 0, processes: pids.length };
  for (const p of pids) {
    const [rss, anon, hwm] = statusFields(p, ["VmRSS", "RssAnon", "VmHWM"]);
    sum.rssKb += rss!;
    sum.anonKb += anon!;
    sum.hwmKb += hwm!;
  }
  return sum;
}

export function readMemory(pid: number): MemoryReading {
  return readTreeMemory(processTree(pid));
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** user+system CPU time of one process, in milliseconds. */
export function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 10;
}
