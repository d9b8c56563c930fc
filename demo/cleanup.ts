// Everything the demo starts is registered here as it starts, and undone in reverse order: at the
// end, on a failure, and on Ctrl-C / SIGTERM. Processes are also remembered by pid, so that a
// second Ctrl-C (or any exit before the cleanup finished) still SIGKILLs each of them. A pid is
// only ever signalled while /proc shows it is still ours (its command line or environment names
// the demo's root dir), never a stranger that reused the number.
import { readFileSync, rmSync } from "node:fs";

interface Step {
  what: string;
  undo: () => Promise<unknown>;
}

export class Cleanup {
  private readonly steps: Step[] = [];
  private readonly pids = new Map<number, string>();
  private running: Promise<string[]> | undefined;

  /** `root`: the demo's temp dir; every process it starts has it in its environment (TMPDIR, HOME) or arguments. */
  constructor(private readonly root: string) {
    // Last resort, synchronous: whatever is still registered dies with us.
    process.on("exit", () => this.killRemaining());
  }

  /** Undo `undo` at cleanup (later registrations are undone first). */
  add(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** A directory removed at cleanup (after everything registered later). */
  dir(path: string): void {
    this.add(`remove ${path}`, async () => rmSync(path, { recursive: true, force: true }));
  }

  /** A process the demo started, killed at exit if the cleanup did not stop it. */
  process(pid: number | undefined, what: string): void {
    if (pid !== undefined) this.pids.set(pid, what);
  }

  /** Processes registered, by pid. */
  processes(): ReadonlyMap<number, string> {
    return this.pids;
  }

  /** Runs every step once (concurrent calls share it); resolves with the failures, in words. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step.undo();
        } catch (err) {
          failures.push(`${step.what}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
        }
      }
      // Whatever a step did not stop (it failed, or the process outlived it) is killed now.
      const survivors = [...this.pids].filter(([pid]) => this.ours(pid));
      for (const [pid, what] of survivors) failures.push(`${what} (pid ${pid}) was still running: killed`);
      this.killRemaining();
      return failures;
    })();
    return this.running;
  }

  private killRemaining(): void {
    for (const pid of this.pids.keys()) {
      if (!this.ours(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
  }

  /** Is `pid` running and one of the demo's processes (not a zombie, not a reused number)? */
  ours(pid: number): boolean {
    return mentions(pid, this.root);
  }
}

/** Does process `pid` exist (not a zombie) with `text` in its command line or environment? */
export function mentions(pid: number, text: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/^\d+ \(.*\) Z /s.test(stat)) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmdline.includes(text)) return true;
    return readFileSync(`/proc/${pid}/environ`, "utf8").includes(text);
  } catch {
    return false;
  }
}
