// Handling one stanza is one unit of work (ARCHITECTURE.md): everything it changes in the store
// commits in one transaction, and what it sends leaves only after that commit. A crash at any
// point leaves the old state or the new one, and no client ever saw the effect of a change that
// did not commit. If the handling throws, the transaction rolls back and nothing it queued is
// sent. The transaction begins at the unit's first write (src/store/deferred-transaction.ts):
// routing a chat message between online clients writes nothing and costs no BEGIN or COMMIT.
//
// Federation extends the same unit with a durable outbox: the stanzas a unit sends to other
// servers are rows written inside its transaction (durable classes) or, like the local sends
// here, handed over after the commit (ephemeral classes). A unit has no origin of its own: the
// caller that opens it knows where the stanza came from.
import type { Logger } from "../daemon/logger.js";
import type { Element } from "../xmpp/xml.js";

/** Where a unit hands its stanzas after the commit: a c2s session (later also an s2s stream). */
export interface StanzaSink {
  send(stanza: Element | string): void;
}

/** What a unit needs from the store (Store). */
export interface Transactional {
  /** fn's writes commit together, or not at all if it throws; a transaction begins at the first write. */
  unit<T>(fn: () => T): T;
  /** Inside a unit: fn's writes alone are undone if it throws. */
  part<T>(fn: () => T): T;
}

export class UnitOfWork {
  private readonly sinks: StanzaSink[] = [];
  private readonly stanzas: (Element | string)[] = [];
  private readonly hooks: (() => void)[] = [];

  constructor(private readonly store: Transactional) {}

  /** Queue a stanza for a local session; it is handed over only if the unit commits, in queue order. */
  send(to: StanzaSink, stanza: Element | string): void {
    this.sinks.push(to);
    this.stanzas.push(stanza);
  }

  /**
   * Run fn after the commit, before the queued stanzas are handed over: in-memory state that
   * must follow the store (a claim, an iq awaiting its answer) changes here, so that a unit that
   * rolls back leaves it as it was.
   */
  afterCommit(fn: () => void): void {
    this.hooks.push(fn);
  }

  /**
   * Run fn as a part of the unit that may fail on its own (a savepoint): if it throws, its store
   * writes, its queued stanzas and its hooks are undone and the error is rethrown; the rest of the
   * unit goes on if the caller catches it.
   */
  attempt<T>(fn: () => T): T {
    const sent = this.stanzas.length;
    const hooked = this.hooks.length;
    try {
      return this.store.part(fn);
    } catch (err) {
      this.sinks.length = sent;
      this.stanzas.length = sent;
      this.hooks.length = hooked;
      throw err;
    }
  }

  /** After the commit: hooks first, then every stanza to its session. */
  finish(log: Logger): void {
    for (const hook of this.hooks) {
      try {
        hook();
      } catch (err) {
        // The state is committed; a failing hook must not keep the others or the stanzas back.
        log.error("after-commit hook failed", { error: (err as Error).stack ?? String(err) });
      }
    }
    for (let i = 0; i < this.stanzas.length; i++) this.sinks[i]!.send(this.stanzas[i]!);
  }
}

/** Opens units of work: one at a time, one store transaction each. */
export class UnitsOfWork {
  private open: UnitOfWork | undefined;

  constructor(
    private readonly store: Transactional,
    private readonly log: Logger,
  ) {}

  /**
   * Run fn as one unit: commit, then hand over what it queued; on a throw, roll back, drop what
   * it queued and rethrow. Called while a unit is open (a session closing during another unit),
   * fn joins that unit instead: its changes commit or roll back with it.
   */
  run<T>(fn: (unit: UnitOfWork) => T): T {
    if (this.open) return fn(this.open);
    const unit = new UnitOfWork(this.store);
    this.open = unit;
    let result: T;
    try {
      result = this.store.unit(() => fn(unit));
    } finally {
      this.open = undefined;
    }
    // Outside the unit: a session that a send closes (it stopped reading) opens its own.
    unit.finish(this.log);
    return result;
  }
}
