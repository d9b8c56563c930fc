// Running a program under strace and reporting where it tried to connect, to prove at the
// system-call level that nothing resolves names or leaves the machine.
//
//   strace -f -qq [--seccomp-bpf] -e signal=none -s 256
//          -e trace=connect,sendto,sendmsg,sendmmsg,close,execve,clone,clone3,fork,vfork -o FILE
//
// connect() gives every destination; sends give UDP datagrams, addressed explicitly or on
// a connected socket (glibc's resolver connect()s its UDP socket to the nameserver, then
// sendmmsg()s the A and AAAA queries). close() forgets a connected fd; execve/clone say
// which program (and which process, for threads) made each call.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { findProgram, straceProbe } from "./prerequisites.js";

export { parseStrace, type StraceReport, type TracedConnect, type TracedSend } from "./strace-parse.js";
import { parseStrace, type StraceReport } from "./strace-parse.js";

const TRACED_CALLS = "connect,sendto,sendmsg,sendmmsg,close,execve,clone,clone3,fork,vfork";

export interface TraceOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdin, stdout, stderr of the traced program (the first three entries). Default: ignore, pipe, pipe. */
  stdio?: Exclude<StdioOptions, string> | "pipe" | "ignore" | "inherit";
  /** Where strace writes. Default: a temp file, removed by stop(). */
  traceFile?: string;
  /** How long stop() waits for the program to exit after its signal, before SIGKILL. Default 5000. */
  stopTimeoutMs?: number;
}

export interface TracedProcess {
  /** strace itself; its stdio are the traced program's. */
  readonly child: ChildProcess;
  /** The traced program's PID (strace's child; the program keeps it across its execve). */
  readonly pid: Promise<number>;
  /** When strace exits: after the program and every process it started (and did not detach) exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Ends the program (if still running) with `signal` (default SIGTERM; SIGKILL after
   * stopTimeoutMs), waits for strace, and parses what it wrote.
   */
  stop(signal?: NodeJS.Signals): Promise<StraceReport>;
}

/** Starts `cmd args` under strace. Gate the test with requires("strace"). */
export function traceProcess(cmd: string, args: readonly string[], opts: TraceOptions = {}): TracedProcess {
  const { reason, seccomp } = straceProbe();
  if (reason) throw new Error(reason);
  const ownFile = opts.traceFile === undefined;
  const dir = ownFile ? mkdtempSync(path.join(tmpdir(), "purple-onion-strace-")) : undefined;
  const traceFile = opts.traceFile ?? path.join(dir!, "trace.txt");
  const stdio = typeof opts.stdio === "string" ? [opts.stdio, opts.stdio, opts.stdio] : (opts.stdio ?? ["ignore", "pipe", "pipe"]).slice(0, 3);

  // A shell between strace and the program tells us the program's PID on fd 3, closes
  // fd 3, then execs the program in place (same PID).
  const child = spawn(
    findProgram("strace")!,
    [
      "-f",
      "-qq",
      ...(seccomp ? ["--seccomp-bpf"] : []),
      "-e", "signal=none",
      "-s", "256",
      "-e", `trace=${TRACED_CALLS}`,
      "-o", traceFile,
      "/bin/sh", "-c", 'echo $$ >&3; exec 3>&-; exec "$0" "$@"', cmd, ...args,
    ],
    { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [...stdio, "pipe"] },
  );
  const entry: { child: ChildProcess; programPid?: number } = { child };
  running.add(entry);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(entry);
      resolve({ code, signal });
    });
  });
  const pid = new Promise<number>((resolve, reject) => {
    // strace keeps its own copy of fd 3 open, so the pipe ends only when strace exits:
    // the PID is complete at the newline.
    let text = "";
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    if (!pipe) return reject(new Error("no pid pipe"));
    pipe.on("data", (d: Buffer) => {
      text += d.toString();
      const line = /^(\d+)\n/.exec(text);
      if (line) {
        entry.programPid = Number(line[1]);
        resolve(entry.programPid);
      }
    });
    pipe.on("end", () => reject(new Error(`the traced program did not start (strace exited first; output: ${JSON.stringify(text)})`)));
    child.once("error", reject);
  });
  pid.catch(() => {});

  let stopping: Promise<StraceReport> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM"): Promise<StraceReport> => {
    stopping ??= (async () => {
      const stopTimeout = opts.stopTimeoutMs ?? 5000;
      if (child.exitCode === null && child.signalCode === null) {
        const programPid = await pid.catch(() => undefined);
        const signalProgram = (s: NodeJS.Signals): void => {
          try {
            if (programPid !== undefined) process.kill(programPid, s);
          } catch {
            // already gone
          }
        };
        signalProgram(signal);
        if (!(await within(exited, stopTimeout))) {
          signalProgram("SIGKILL");
          // Still running: children of the program outlive it. strace detaches from them on SIGTERM.
          if (!(await within(exited, 2000))) child.kill("SIGTERM");
          await within(exited, 5000);
        }
      }
      const report = parseStrace(readFileSync(traceFile, "utf8"));
      if (ownFile) rmSync(dir!, { recursive: true, force: true });
      return report;
    })();
    return stopping;
  };

  return { child, pid, exited, stop };
}

function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// Traced programs still running if the test process exits without stopping them.
const running = new Set<{ child: ChildProcess; programPid?: number }>();
process.on("exit", () => {
  for (const { child, programPid } of running) {
    try {
      if (programPid !== undefined) process.kill(programPid, "SIGKILL");
    } catch {
      // already gone
    }
    child.kill("SIGKILL");
  }
});
