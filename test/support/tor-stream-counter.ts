// Counts the Tor streams a tornet client tor opens toward given onions, from
// its own STREAM events (control-spec 4.1.2):
//
//   650 STREAM <StreamID> <StreamStatus> <CircuitID> <Target> [REASON=...] ...
//
// Every new stream starts with NEW (or NEWRESOLVE) and ends with CLOSED or
// FAILED; SUCCEEDED means tor attached it to a circuit and the onion service
// accepted it. A stream is one TCP connection through Tor, so "how many
// connections did federation need" is the number of distinct NEW stream ids
// whose target is the onion (or a subdomain of it) on port 5269.
import { TorControlConnection, type ControlTarget } from "../../src/tor/control-connection.js";
import type { TorNetClient } from "./tornet/tornet.js";

export interface StreamEvent {
  id: string;
  status: string;
  circuit: string;
  /** host:port as tor reports it, e.g. "<56 chars>.onion:5269". */
  target: string;
  /** Milliseconds since the counter started. */
  at: number;
  line: string;
}

/** Does `target` ("host:port") name `onion` (with or without ".onion", or a subdomain of it), on `port` if given? */
export function targetsOnion(target: string, onion: string, port?: number): boolean {
  const colon = target.lastIndexOf(":");
  const host = (colon === -1 ? target : target.slice(0, colon)).toLowerCase();
  const targetPort = colon === -1 ? undefined : Number(target.slice(colon + 1));
  const name = onion.toLowerCase().endsWith(".onion") ? onion.toLowerCase() : `${onion.toLowerCase()}.onion`;
  if (port !== undefined && targetPort !== port) return false;
  return host === name || host.endsWith(`.${name}`);
}

export class TorStreamCounter {
  readonly events: StreamEvent[] = [];
  private readonly started = Date.now();

  private constructor(
    private readonly control: TorControlConnection,
    readonly client: string,
  ) {
    control.onEvent((e) => {
      const line = e.lines.map((l) => l.text).join(" ");
      const m = /^STREAM (\S+) (\S+) (\S+) (\S+)/.exec(line);
      if (m) this.events.push({ id: m[1]!, status: m[2]!, circuit: m[3]!, target: m[4]!, at: Date.now() - this.started, line });
    });
  }

  /**
   * Connects to a tornet client's control port, or any tor's control endpoint (e.g. the tor a
   * daemon launched: its control socket and cookie in the data dir), with SAFECOOKIE, and
   * subscribes to STREAM events.
   */
  static async start(tor: TorNetClient | { name: string; control: ControlTarget; cookieFile: string }): Promise<TorStreamCounter> {
    const target: ControlTarget = "control" in tor ? tor.control : { host: "127.0.0.1", port: tor.controlPort };
    const control = await TorControlConnection.connect(target);
    try {
      await control.authenticate({ method: "SAFECOOKIE", cookieFile: tor.cookieFile });
      const counter = new TorStreamCounter(control, tor.name);
      await control.setEvents(["STREAM"]);
      return counter;
    } catch (err) {
      control.close();
      throw err;
    }
  }

  /** A position in the event list, for counting only what happens after it. */
  mark(): number {
    return this.events.length;
  }

  private matching(onion: string, statuses: string[], since: number, port?: number): Set<string> {
    const ids = new Set<string>();
    for (const e of this.events.slice(since)) {
      if (statuses.includes(e.status) && targetsOnion(e.target, onion, port)) ids.add(e.id);
    }
    return ids;
  }

  /** Distinct streams toward `onion` that tor opened (NEW) since `since`. */
  newStreams(onion: string, since = 0, port = 5269): number {
    return this.matching(onion, ["NEW", "NEWRESOLVE"], since, port).size;
  }

  /** Distinct streams toward `onion` that the onion service accepted (SUCCEEDED) since `since`. */
  succeeded(onion: string, since = 0, port = 5269): number {
    return this.matching(onion, ["SUCCEEDED"], since, port).size;
  }

  /** The raw event lines toward `onion` since `since`, for failure messages. */
  describe(onion: string, since = 0): string {
    const lines = this.events.slice(since).filter((e) => targetsOnion(e.target, onion));
    return lines.length ? lines.map((e) => `  +${e.at} ms ${this.client}: ${e.line}`).join("\n") : `  (${this.client}: no STREAM events toward ${onion})`;
  }

  /** Waits until at least `n` NEW streams toward `onion` were seen since `since`. */
  async waitForNew(onion: string, n: number, since = 0, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.newStreams(onion, since) < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} NEW stream(s) toward ${onion}:\n${this.describe(onion, since)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.control.close();
  }
}
