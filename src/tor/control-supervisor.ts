// Keeps one authenticated Tor control connection alive for a long-running daemon.
//
// Tor can restart, be reloaded by its init system, or drop us; onion services added without
// "Detach" vanish with the connection that added them (control-spec 3.27), so every new
// connection runs onReady (e.g. re-add the onions) before it is reported "ready". Failed
// attempts are retried with exponential backoff; a connection that reached "ready" resets it.
import type { Logger } from "../daemon/logger.js";
import { RepeatedLog } from "../daemon/repeated-log.js";
import type { TorReply } from "./control-reply.js";
import type { AuthMethod, TorControlConnection } from "./control-connection.js";

/** An authenticated connection, from whatever decides whom to trust (tor-trust.ts). */
export interface OpenedConnection {
  conn: TorControlConnection;
  method: AuthMethod;
  /** The endpoint, for log lines. */
  where: string;
}

export type SupervisorStateName = "connecting" | "ready" | "disconnected";
export interface SupervisorState {
  state: SupervisorStateName;
  /** Why the last attempt or connection ended (a sentence for a human). */
  error?: string;
}

export interface TorControlSupervisorOptions {
  /** Connect and authenticate (or throw why not); called again for every attempt. */
  open: () => Promise<OpenedConnection>;
  /** Events to SETEVENTS on every new connection; delivered through onEvent(). */
  events: string[];
  /** Runs on each new authenticated connection before it counts as ready; a throw drops it. */
  onReady: (c: TorControlConnection) => Promise<void>;
  log: Logger;
  /** Delay before the first retry. Default 500 ms. */
  minBackoffMs?: number;
  /** Longest delay between retries. Default 30 s. */
  maxBackoffMs?: number;
}

export class TorControlSupervisor {
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private running: Promise<void> | undefined;
  private stopping = false;
  /** The connection of the attempt in progress or the ready one. */
  private current: TorControlConnection | undefined;
  private ready: TorControlConnection | undefined;
  private wakeUp: (() => void) | undefined;
  /** reconnectNow() asked for the next attempt without backoff. */
  private immediate = false;
  private state: SupervisorState = { state: "disconnected" };
  private readonly stateListeners = new Set<(s: SupervisorState) => void>();
  private readonly eventListeners = new Set<(e: TorReply) => void>();

  private readonly repeated: RepeatedLog;

  constructor(private readonly opts: TorControlSupervisorOptions) {
    this.repeated = new RepeatedLog(opts.log);
    this.minBackoffMs = opts.minBackoffMs ?? 500;
    this.maxBackoffMs = Math.max(opts.maxBackoffMs ?? 30_000, this.minBackoffMs);
  }

  /** The ready connection, or undefined while (re)connecting. */
  get connection(): TorControlConnection | undefined {
    return this.ready;
  }

  get currentState(): SupervisorState {
    return this.state;
  }

  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.run().finally(() => (this.running = undefined));
  }

  /** Stops retrying, closes the connection and resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    this.current?.close();
    await this.running;
  }

  /**
   * Drop the connection (or cut the wait before the next attempt) and connect again at once;
   * resolves with how the first attempt that starts after this call ended ("ready" or
   * "disconnected" with its error).
   */
  reconnectNow(): Promise<SupervisorState> {
    this.immediate = true;
    const settled = new Promise<SupervisorState>((resolve) => {
      let started = false;
      const off = this.onState((s) => {
        if (s.state === "connecting") started = true;
        else if (started) {
          off();
          resolve(s);
        }
      });
    });
    if (this.ready) this.ready.close();
    else this.wakeUp?.();
    return settled;
  }

  onState(fn: (s: SupervisorState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Asynchronous events from whichever connection is current; survives reconnects. */
  onEvent(fn: (e: TorReply) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  private async run(): Promise<void> {
    const log = this.opts.log;
    let failures = 0;
    while (!this.stopping) {
      this.setState({ state: "connecting" });
      let error: string;
      let where = "tor";
      let wasReady = false;
      try {
        const opened = await this.opts.open();
        const { conn, method } = opened;
        where = opened.where;
        this.current = conn;
        if (this.stopping) break;
        // Subscribe before SETEVENTS so not even the first event is missed.
        conn.onEvent((e) => this.emitEvent(e));
        if (this.opts.events.length) await conn.setEvents(this.opts.events);
        await this.opts.onReady(conn);
        if (this.stopping) break;
        if (!conn.isOpen) throw (await conn.closed) ?? new Error("the control connection closed");
        this.ready = conn;
        failures = 0;
        log.info("connected to tor's control port", { target: where, auth: method });
        this.setState({ state: "ready" });
        const reason = await conn.closed;
        this.ready = undefined;
        if (this.stopping) break;
        error = reason?.message ?? "the control connection was closed";
        wasReady = true;
      } catch (err) {
        this.current?.close();
        if (this.stopping) break;
        error = err instanceof Error ? err.message : String(err);
      }
      this.current = undefined;
      this.ready = undefined;
      let delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(failures, 30));
      failures++;
      if (this.immediate) {
        this.immediate = false;
        delay = 0;
      }
      // A tor that stays away (or a refused impostor) would otherwise log a line at every retry.
      this.repeated.report("warn", `${wasReady}:${error}`, wasReady ? "lost tor's control connection; reconnecting" : "cannot use tor's control port; will retry", {
        target: where,
        error,
        retryInMs: delay,
      });
      this.setState({ state: "disconnected", error });
      await this.sleep(delay);
    }
    this.current?.close();
    this.current = undefined;
    this.ready = undefined;
    if (this.state.state !== "disconnected") this.setState({ state: "disconnected" });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    }).finally(() => (this.wakeUp = undefined));
  }

  private setState(s: SupervisorState): void {
    this.state = s;
    for (const fn of [...this.stateListeners]) {
      try {
        fn(s);
      } catch (err) {
        this.opts.log.error("tor control state listener failed", { error: err instanceof Error ? err : String(err) });
      }
    }
  }

  private emitEvent(e: TorReply): void {
    for (const fn of [...this.eventListeners]) {
      try {
        fn(e);
      } catch (err) {
        this.opts.log.error("tor event listener failed", { error: err instanceof Error ? err : String(err) });
      }
    }
  }
}
