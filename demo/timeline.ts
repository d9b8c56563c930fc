// The demo's output: one line per event, with the time since the demo started, and a heartbeat
// while something slow is awaited so that the user sees the demo is alive.

export class Timeline {
  private readonly started = Date.now();

  constructor(
    private readonly out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
    /** Seconds between "still waiting" lines. */
    private readonly heartbeatS = 5,
  ) {}

  /** Seconds since the start, as "  12.3 s". */
  stamp(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)} s`;
  }

  /** A line of the timeline. */
  event(text: string): void {
    this.out(`${this.stamp()}  ${text}`);
  }

  /** A detail under the last event (progress, a figure). */
  detail(text: string): void {
    this.out(`${" ".repeat(8)}    ${text}`);
  }

  /** Text without a time (the banner, the summary). */
  plain(text = ""): void {
    this.out(text);
  }

  /** Runs `fn`, printing "… still waiting for <what>" every few seconds until it settles. */
  async waiting<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const since = Date.now();
    const timer = setInterval(() => this.detail(`… still waiting for ${what} (${Math.round((Date.now() - since) / 1000)} s)`), this.heartbeatS * 1000);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
    }
  }
}

/** Milliseconds as "123 ms" or "4.5 s". */
export function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}
