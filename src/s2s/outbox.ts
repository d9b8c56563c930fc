// The durable s2s outbox (ARCHITECTURE.md, "Federation"): stanzas of the durable classes
// (messages, subscription presence and their answers) for another server are rows written in the
// unit that produced them, so they commit with the state change that caused them, and survive a
// restart and a peer that is down for days. They leave the table only when the peer confirms them
// or they expire (then the sender gets a bounce). Ephemeral presence and iqs never come here.
//
// Delivery is at least once, like offline storage (src/server/offline.ts): rows go out on an
// authenticated stream (an OutboxLink) in id order, a bounded batch at a time, each batch followed
// by an XEP-0199 ping; its answer proves the peer read everything before it, the stream being
// ordered (RFC 6120 10.1), and only then are the rows deleted. A row handed to a link is not
// handed to it again; a link that goes away leaves its unconfirmed rows for the next one.
import type { Logger } from "../daemon/logger.js";
import type { UnitOfWork, UnitsOfWork } from "../server/unit-of-work.js";
import { StoreError, type Store } from "../store/store.js";
import { parseTrustedXml, type Element } from "../xmpp/xml.js";
import type { OutboxLink } from "./outbox-link.js";
import { DEFAULT_OUTBOX_OPTIONS, type S2sOutboxOptions } from "./outbox-options.js";

export type { OutboxLink } from "./outbox-link.js";
export { DEFAULT_OUTBOX_OPTIONS, type S2sOutboxOptions } from "./outbox-options.js";

export interface S2sOutboxDeps {
  store: Pick<Store, "outbox">;
  units: UnitsOfWork;
  log: Logger;
  /** Open (or reuse) an authenticated stream local→remote; answer with attach() or connectFailed(). */
  needConnection(local: string, remote: string): void;
  /** A row expired undelivered: bounce it to its local sender, in `unit` (which deletes the row). */
  expired(unit: UnitOfWork, local: string, remote: string, stanza: Element, reason: string): void;
}

interface Attached {
  link: OutboxLink;
  /** Highest row id handed to this link: later flushes take only newer rows (the claim). */
  sentUpTo: number;
  batchesInFlight: number;
  flushing: boolean;
}

interface Pair {
  local: string;
  remote: string;
  attached: Attached | undefined;
  /** needConnection() was called and has not been answered. */
  connecting: NodeJS.Timeout | undefined;
  retry: NodeJS.Timeout | undefined;
  /** Failures since the last confirmed batch: the backoff exponent. */
  failures: number;
  lastError: string | undefined;
}

export class S2sOutbox {
  private readonly options: S2sOutboxOptions;
  private readonly pairs = new Map<string, Pair>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: S2sOutboxDeps, options: Partial<S2sOutboxOptions> = {}) {
    this.options = { ...DEFAULT_OUTBOX_OPTIONS, ...options };
    for (const name of ["batchSize", "maxBatchBytes", "maxBatchesInFlight", "backoffMinMs", "maxAgeMs", "expiryCheckMs"] as const) {
      if (!(this.options[name] > 0)) throw new RangeError(`outbox option ${name} must be positive, got ${this.options[name]}`);
    }
  }

  /**
   * Queue `stanza` from `local` to `remote` in the caller's unit; it is sent after the unit
   * commits. "full": a quota is reached and nothing was queued; the caller bounces the stanza.
   */
  enqueue(unit: UnitOfWork, local: string, remote: string, stanza: Element): "queued" | "full" {
    const now = this.options.now();
    try {
      this.deps.store.outbox.push(local, remote, stanza.toString(), now, now + this.options.maxAgeMs);
    } catch (err) {
      if (!(err instanceof StoreError) || err.code !== "quota") throw err;
      // The peer is a contact: named at debug level only.
      this.deps.log.warn("s2s outbox full; bouncing a stanza", { local });
      this.deps.log.debug("s2s outbox full", { local, remote, error: err.message });
      return "full";
    }
    unit.afterCommit(() => this.wake(local, remote));
    return "queued";
  }

  /** Rows may be waiting for the pair: send them if a link is attached, else ask for a connection. */
  wake(local: string, remote: string): void {
    if (this.closed) return;
    const pair = this.pair(local, remote);
    if (pair.attached) this.flushAfterUnit(pair);
    // A retry waiting out its backoff is not hurried: a new message must not hammer a dead peer.
    else if (!pair.connecting && !pair.retry) this.connect(pair);
  }

  /** A stream local→remote is authenticated: deliver through it (replacing any earlier link). */
  attach(local: string, remote: string, link: OutboxLink): void {
    if (this.closed) return;
    const pair = this.pair(local, remote);
    this.clearTimers(pair);
    pair.attached = { link, sentUpTo: 0, batchesInFlight: 0, flushing: false };
    this.flushAfterUnit(pair);
  }

  /** The link's stream closed. Its unconfirmed rows stay for the next link, tried after a backoff. */
  detach(local: string, remote: string, link: OutboxLink): void {
    const pair = this.pairs.get(key(local, remote));
    if (!pair || pair.attached?.link !== link) return;
    pair.attached = undefined;
    if (this.closed) return;
    if (this.deps.store.outbox.count(local, remote) > 0) this.scheduleRetry(pair, "the stream closed before its stanzas were confirmed");
    else this.forgetIfIdle(pair);
  }

  /**
   * needConnection(local, remote) failed: try again after a backoff (5 s doubling to 10 min).
   * Ignored unless a connection was asked for and not yet answered (a late or repeated report).
   */
  connectFailed(local: string, remote: string, reason: string): void {
    const pair = this.pairs.get(key(local, remote));
    if (this.closed || !pair?.connecting || pair.attached) return;
    this.clearTimers(pair);
    this.scheduleRetry(pair, reason);
  }

  /**
   * The peer just proved it is back (it authenticated a stream to us): a retry waiting out its
   * backoff goes now, so what waited is delivered as soon as the peer appears.
   */
  peerSeen(local: string, remote: string): void {
    const pair = this.pairs.get(key(local, remote));
    if (pair) this.retryNow(pair);
  }

  /** Tor is (back) up: every pair waiting out a backoff tries now; their failures were tor's absence. */
  retryWaiting(): void {
    for (const pair of this.pairs.values()) this.retryNow(pair);
  }

  /** A pair waiting out a backoff connects now. */
  private retryNow(pair: Pair): void {
    if (this.closed || !pair.retry || pair.attached) return;
    this.clearTimers(pair);
    this.connect(pair);
  }

  /** At start: expire what is too old, wake every pair with rows, and check for expiry periodically. */
  resume(): void {
    if (this.closed) return;
    this.expireNow();
    for (const { local, remote } of this.deps.store.outbox.pairs()) this.wake(local, remote);
    if (!this.expiryTimer) {
      this.expiryTimer = setInterval(() => this.expireNow(), this.options.expiryCheckMs);
      this.expiryTimer.unref();
    }
  }

  /** Stops every timer; rows stay in the store for the next start. */
  close(): void {
    this.closed = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const pair of this.pairs.values()) this.clearTimers(pair);
    this.pairs.clear();
  }

  /** Removes rows past their expiry and bounces each to its sender; rows on a link are left to it. */
  expireNow(): void {
    const limit = 500;
    for (;;) {
      const rows = this.deps.store.outbox.expired(this.options.now(), limit);
      const due = rows.filter((r) => !this.inFlight(r.local, r.remote, r.id));
      if (due.length === 0) return;
      this.runUnit("expiring outbox rows", (unit) => {
        for (const row of due) {
          this.deps.store.outbox.remove([row.id]);
          const pair = this.pairs.get(key(row.local, row.remote));
          const reason =
            `${row.remote} could not be reached for ${formatAge(this.options.now() - row.queuedAtMs)}` +
            (pair?.lastError ? ` (${pair.lastError})` : "");
          try {
            // A bounce that fails does not keep the row: it would fail again at every check.
            unit.attempt(() => this.deps.expired(unit, row.local, row.remote, parseTrustedXml(row.stanzaXml), reason));
          } catch (err) {
            this.deps.log.error("bouncing an expired s2s stanza failed", { local: row.local, error: String(err) });
          }
        }
        this.deps.log.info("s2s outbox rows expired", { count: due.length });
      });
      if (rows.length < limit) return;
    }
  }

  private flushAfterUnit(pair: Pair): void {
    // Only committed rows may go out: inside a unit we could see rows that it later rolls back,
    // whose ids a later push would reuse.
    this.afterUnit(() => this.flush(pair));
  }

  /**
   * fn once the open unit (if any) has ended: right after its commit, or on the next turn of the
   * event loop if it rolled back (units are synchronous), so a rollback cannot strand a link.
   */
  private afterUnit(fn: () => void): void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      fn();
    };
    this.runUnit("scheduling outbox work", (unit) => unit.afterCommit(once));
    if (!done) setImmediate(once).unref();
  }

  private flush(pair: Pair): void {
    const a = pair.attached;
    if (!a || a.flushing || this.closed) return;
    a.flushing = true;
    try {
      while (pair.attached === a && a.batchesInFlight < this.options.maxBatchesInFlight) {
        const rows = this.deps.store.outbox.list(pair.local, pair.remote, this.options.batchSize, a.sentUpTo);
        if (rows.length === 0) return;
        let bytes = 0;
        const ids: number[] = [];
        for (const row of rows) {
          bytes += Buffer.byteLength(row.stanzaXml);
          if (ids.length > 0 && bytes > this.options.maxBatchBytes) break;
          ids.push(row.id);
        }
        a.sentUpTo = ids[ids.length - 1]!;
        a.batchesInFlight++;
        for (let i = 0; i < ids.length; i++) a.link.send(rows[i]!.stanzaXml);
        a.link.confirm((ok) => this.confirmed(pair, a, ids, ok));
      }
    } finally {
      a.flushing = false;
    }
  }

  private confirmed(pair: Pair, a: Attached, ids: number[], ok: boolean): void {
    if (!ok) {
      this.deps.log.info("s2s batch not confirmed; kept for the next stream", { local: pair.local, count: ids.length });
      this.deps.log.debug("s2s batch not confirmed", { local: pair.local, remote: pair.remote });
      this.detach(pair.local, pair.remote, a.link);
      return;
    }
    // Deleted even if the link has gone since: the peer has them. If the unit this joins rolls
    // back, the rows stay claimed by the link and go again on the next one (at least once).
    this.runUnit("removing confirmed outbox rows", (unit) => {
      this.deps.store.outbox.remove(ids);
      unit.afterCommit(() => {
        pair.failures = 0;
        pair.lastError = undefined;
      });
    });
    this.afterUnit(() => {
      if (pair.attached !== a) return;
      a.batchesInFlight--;
      this.flush(pair);
    });
  }

  private connect(pair: Pair): void {
    pair.connecting = setTimeout(
      () => this.connectFailed(pair.local, pair.remote, `no stream after ${this.options.connectTimeoutMs / 1000} s`),
      this.options.connectTimeoutMs,
    );
    pair.connecting.unref();
    try {
      this.deps.needConnection(pair.local, pair.remote);
    } catch (err) {
      this.connectFailed(pair.local, pair.remote, String(err));
    }
  }

  private scheduleRetry(pair: Pair, reason: string): void {
    const o = this.options;
    const base = Math.min(o.backoffMaxMs, o.backoffMinMs * 2 ** Math.min(pair.failures, 30));
    const delay = Math.round(base * (1 - o.backoffJitter * o.random()));
    pair.failures++;
    pair.lastError = reason;
    // tor's reason names the peer onion: debug only.
    this.deps.log.info("s2s connection failed; retrying later", { local: pair.local, delayMs: delay });
    this.deps.log.debug("s2s connection failed", { local: pair.local, remote: pair.remote, reason });
    pair.retry = setTimeout(() => {
      pair.retry = undefined;
      if (this.deps.store.outbox.count(pair.local, pair.remote) > 0) this.connect(pair);
      else this.forgetIfIdle(pair);
    }, delay);
    pair.retry.unref();
  }

  private inFlight(local: string, remote: string, id: number): boolean {
    const a = this.pairs.get(key(local, remote))?.attached;
    return a !== undefined && id <= a.sentUpTo;
  }

  private pair(local: string, remote: string): Pair {
    const k = key(local, remote);
    let pair = this.pairs.get(k);
    if (!pair) {
      pair = { local, remote, attached: undefined, connecting: undefined, retry: undefined, failures: 0, lastError: undefined };
      this.pairs.set(k, pair);
    }
    return pair;
  }

  /** Nothing to send and nothing pending: the pair's state (and its backoff) can go. */
  private forgetIfIdle(pair: Pair): void {
    if (!pair.attached && !pair.connecting && !pair.retry) this.pairs.delete(key(pair.local, pair.remote));
  }

  private clearTimers(pair: Pair): void {
    if (pair.connecting) clearTimeout(pair.connecting);
    if (pair.retry) clearTimeout(pair.retry);
    pair.connecting = undefined;
    pair.retry = undefined;
  }

  private runUnit(what: string, fn: (unit: UnitOfWork) => void): void {
    try {
      this.deps.units.run(fn);
    } catch (err) {
      this.deps.log.error(`${what} failed`, { error: (err as Error).stack ?? String(err) });
    }
  }
}

function key(local: string, remote: string): string {
  return `${local} ${remote}`;
}

function formatAge(ms: number): string {
  const hours = Math.round(ms / 3_600_000);
  return hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${hours} hours` : `${Math.max(1, Math.round(ms / 60_000))} minutes`;
}
