// A problem that repeats (a refused connection every second, tor failing to
// reach a relay every few seconds) is logged at most once per interval, with
// how many times it happened since the last line: the log stays readable and
// a local user cannot flood it.
import type { LogFields, Logger } from "./logger.js";

type Level = "error" | "warn" | "info" | "debug";

interface Seen {
  lastAt: number;
  /** Occurrences since the last line written for this key. */
  unlogged: number;
}

export class RepeatedLog {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Log `msg` for `key` unless a line for that key went out less than the interval ago; the
   * next line that does go out carries `count`, the occurrences it stands for.
   */
  report(level: Level, key: string, msg: string, fields: LogFields = {}): void {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.lastAt < this.intervalMs) {
      s.unlogged++;
      return;
    }
    const count = (s?.unlogged ?? 0) + 1;
    this.seen.set(key, { lastAt: t, unlogged: 0 });
    this.log[level](msg, count > 1 ? { ...fields, count } : fields);
    // Keys are few (one per kind of problem), but never let them grow without bound.
    if (this.seen.size > 1000) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Forget a key (the problem went away): its next occurrence is logged at once. */
  clear(key: string): void {
    this.seen.delete(key);
  }
}
