// Keeps one authenticated Tor control connection alive for a long-running daemon.
//
// Tor can restart, be reloaded by its init system, or drop us; onion services added without
// "Detach" vanish with the connection that added them (control-spec 3.27), so every new
// connection runs onReady (e.g. re-add the onions) before it is reported "ready". Failed
// attempts are retried with exponential backoff; a connection that reached "ready" resets it.
import type { Logger } from "../daemon/logger.js";
import type { TorReply } from "./control-reply.js";
import { TorControlConnection, describeTarget, type AuthOptions, type ControlTarget } from "./control-connection.js";

export type SupervisorStateName = "connecting" | "ready" | "disconnected";
export interface SupervisorState {
  state: SupervisorStateName;
  /** Why the last attempt or connection ended (a sentence for a human). */
  error?: string;
}

export interface TorControlSupervisorOptions {
  /** Where tor's control port is; asked again before every attempt (tor may move it). */
  target: () => ControlTarget | Promise<ControlTarget>;
  auth?: AuthOptions;
  /** Events to SETEVENTS on every new connection; delivered through onEvent(). */
  events: string[];
  /** Runs on each new authenticated connection before it counts as ready; a throw drops it. */
  onReady: (c: TorControlConnection) => Promise<void>;
  log: Logger;
  /** Delay before the first retry. Default 500 ms. */
  minBackoffMs?: number;
  /** Longest delay between retries. Default 30 s. */
  maxBackoffMs?: number;
  /** Socket connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
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
  private state: SupervisorState = { state: "disconnected" };
  private readonly stateListeners = new Set<(s: SupervisorState) => void>();
  private readonly eventListeners = new Set<(e: TorReply) => void>();

  constructor(private readonly opts: TorControlSupervisorOptions) {
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
        const target = await this.opts.target();
        where = describeTarget(target);
        if (this.stopping) break;
        const conn = await TorControlConnection.connect(target, { timeoutMs: this.opts.connectTimeoutMs });
        this.current = conn;
        if (this.stopping) break;
        const method = await conn.authenticate(this.opts.auth);
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
      const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(failures, 30));
      failures++;
      log.warn(wasReady ? "lost tor's control connection; reconnecting" : "cannot use tor's control port; will retry", {
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
