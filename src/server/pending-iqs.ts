// iqs the server itself sends and whose answer it waits for (RFC 6120 8.2.3: every get/set gets
// exactly one result or error, with the same id, from the entity it was sent to). The offline
// store uses one to learn that a client received its messages (XEP-0199 ping); federation will
// use the same registry for iqs to other servers and their 30 s timeout.
import type { Logger } from "../daemon/logger.js";
import type { Element } from "../xmpp/xml.js";
import type { StanzaSink, UnitOfWork, UnitsOfWork } from "./unit-of-work.js";

export type NoAnswer = "gone" | "timeout";

export interface IqWaiter {
  /** The answer (type result or error) arrived; runs in the unit that handles it. */
  answered(unit: UnitOfWork, reply: Element): void;
  /** No answer will come: the stream it went out on closed, or the timeout passed. */
  abandoned(unit: UnitOfWork, why: NoAnswer): void;
}

interface Waiting {
  /** The JID the iq was sent to: only that entity may answer it. */
  to: string;
  /** The stream it went out on: closing it abandons the iq. */
  sink: StanzaSink;
  waiter: IqWaiter;
  timer: NodeJS.Timeout | undefined;
}

export class PendingIqs {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly units: UnitsOfWork,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Queue `iq` (a get or set with a fresh, unguessable id and a `to`) for `sink` in `unit`. The
   * wait starts when the unit commits; if it rolls back, neither the iq nor the wait exist.
   */
  send(unit: UnitOfWork, sink: StanzaSink, iq: Element, waiter: IqWaiter, timeoutMs?: number): void {
    const id = iq.attrs.id;
    const to = iq.attrs.to;
    if (!id || !to || (iq.attrs.type !== "get" && iq.attrs.type !== "set")) throw new Error("an awaited iq is a get or set with an id and a to");
    unit.send(sink, iq);
    unit.afterCommit(() => {
      if (this.waiting.has(id)) throw new Error(`iq id ${id} is already awaited`);
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.timedOut(id), timeoutMs);
      timer?.unref();
      this.waiting.set(id, { to, sink, waiter, timer });
    });
  }

  /**
   * An iq result or error arrived, `from` already checked by its stream (a c2s session stamps its
   * own full JID). True if it answered one of ours; the wait ends when `unit` commits.
   */
  answer(unit: UnitOfWork, reply: Element): boolean {
    const id = reply.attrs.id;
    const type = reply.attrs.type;
    if (id === undefined || (type !== "result" && type !== "error")) return false;
    const w = this.waiting.get(id);
    // Only the addressee answers: another client that learnt the id cannot.
    if (!w || reply.attrs.from !== w.to) return false;
    w.waiter.answered(unit, reply);
    unit.afterCommit(() => this.end(id, w));
    return true;
  }

  /** The stream closed: what went out on it will never be answered. */
  sinkClosed(unit: UnitOfWork, sink: StanzaSink): void {
    for (const [id, w] of [...this.waiting]) {
      if (w.sink !== sink) continue;
      // At once, not after the commit: the stream is gone whether or not this unit commits.
      this.end(id, w);
      w.waiter.abandoned(unit, "gone");
    }
  }

  private timedOut(id: string): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.end(id, w);
    try {
      this.units.run((unit) => w.waiter.abandoned(unit, "timeout"));
    } catch (err) {
      this.log.error("handling an iq timeout failed", { error: (err as Error).stack ?? String(err) });
    }
  }

  private end(id: string, w: Waiting): void {
    if (this.waiting.get(id) !== w) return;
    this.waiting.delete(id);
    if (w.timer) clearTimeout(w.timer);
  }
}
