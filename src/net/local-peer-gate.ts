// Admits a freshly accepted loopback TCP connection only when the socket at
// its other end belongs to an allowed local user (the daemon's own user for
// c2s; tor's user for an onion's TCP target). Everyone else is closed before
// a single byte is read or written.
//
// The check reads the kernel's socket tables (socket-owner.ts). A flood of
// connections must not turn into a flood of table reads (each costs time in
// proportion to the number of sockets on the machine), so reads are rate
// limited and every connection waiting at the time of a read is answered by
// that one read; past a small queue, connections are refused unread.
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { RepeatedLog } from "../daemon/repeated-log.js";
import { canReadSocketOwners, describeUid, readSocketTables, socketPeerUid, type TcpSocketEntry } from "./socket-owner.js";

export interface LocalPeerGateOptions {
  /** Whose sockets may connect. */
  allowedUid: number;
  /** What the listener is, for log lines ("c2s", "s2s target of <onion>"). */
  what: string;
  log: Logger;
  /** Shortest time between two table reads. Default 20 ms (at most 50 reads/s). */
  minReadIntervalMs?: number;
  /** Connections waiting for a read; more are refused at once. Default 64. */
  maxWaiting?: number;
  /** For tests: where the socket table comes from. */
  readTable?: () => TcpSocketEntry[];
  /** For tests: pretend the tables are (not) readable. */
  supported?: boolean;
}

export type GateVerdict = "admitted" | "other-user" | "unknown-peer" | "busy" | "closed";

interface Waiting {
  socket: Socket;
  resolve: (v: GateVerdict) => void;
}

export class LocalPeerGate {
  /** False where socket owners cannot be known (no /proc): every connection is admitted. */
  readonly supported: boolean;
  private readonly waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastReadAt = 0;
  private readonly repeated: RepeatedLog;
  private readonly minIntervalMs: number;
  private readonly maxWaiting: number;
  private readonly readTable: () => TcpSocketEntry[];

  constructor(private readonly opts: LocalPeerGateOptions) {
    this.supported = opts.supported ?? canReadSocketOwners();
    this.minIntervalMs = opts.minReadIntervalMs ?? 20;
    this.maxWaiting = opts.maxWaiting ?? 64;
    this.readTable = opts.readTable ?? (() => readSocketTables());
    this.repeated = new RepeatedLog(opts.log);
  }

  /**
   * Pauses the socket and decides. "admitted": the caller owns the (still paused) socket;
   * anything else: the socket has been destroyed without a byte written.
   */
  check(socket: Socket): Promise<GateVerdict> {
    socket.pause();
    if (!this.supported) return Promise.resolve("admitted");
    if (this.waiting.length >= this.maxWaiting) return Promise.resolve(this.refuse(socket, "busy"));
    return new Promise((resolve) => {
      this.waiting.push({ socket, resolve });
      this.schedule();
    });
  }

  /** Refuse everything still waiting (the listener is closing). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiting.splice(0)) {
      w.socket.destroy();
      w.resolve("closed");
    }
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastReadAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => this.decideWaiting(), wait);
  }

  private decideWaiting(): void {
    this.timer = undefined;
    this.lastReadAt = Date.now();
    const batch = this.waiting.splice(0);
    if (batch.length === 0) return;
    let table: TcpSocketEntry[];
    try {
      table = this.readTable();
    } catch {
      table = [];
    }
    for (const { socket, resolve } of batch) {
      if (socket.destroyed) {
        resolve("closed");
        continue;
      }
      const uid = socketPeerUid(socket, table);
      if (uid === this.opts.allowedUid) resolve("admitted");
      else resolve(this.refuse(socket, uid === undefined ? "unknown-peer" : "other-user", uid));
    }
  }

  private refuse(socket: Socket, verdict: Exclude<GateVerdict, "admitted" | "closed">, uid?: number): GateVerdict {
    socket.destroy();
    const why =
      verdict === "other-user"
        ? `its socket belongs to ${describeUid(uid!)}, not ${describeUid(this.opts.allowedUid)}`
        : verdict === "busy"
          ? "too many connections are waiting to be checked"
          : "the socket at its other end could not be found (not a local connection, or already gone)";
    this.repeated.report("warn", verdict, `refused a connection to the ${this.opts.what} listener: ${why}`);
    return verdict;
  }
}
