// A unit's transaction begins at its first write. Most stanzas (a chat message between two
// online clients) read nothing and write nothing; BEGIN and COMMIT alone cost about 1 µs, some
// 5% of what routing a message costs, so a unit that never writes never opens one. Its reads
// before the first write see the same state a transaction would: the daemon is the only writer
// of its file (one daemon per data dir), and a unit runs synchronously, start to end.
//
// Every write method of every repository calls beforeWrite() first; a new repository (the s2s
// outbox) must too.
import type Database from "better-sqlite3";

export class DeferredTransactions {
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;
  /** A unit is open; its transaction may not have begun yet. */
  private deferred = false;

  constructor(private readonly db: Database.Database) {
    this.begin = db.prepare("BEGIN");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
  }

  /** Called by every write: opens the unit's transaction if it has not begun. Free outside a unit. */
  readonly beforeWrite = (): void => {
    if (this.deferred && !this.db.inTransaction) this.begin.run();
  };

  /**
   * fn as one unit: its writes commit together when it returns (nothing at all happens if it
   * wrote nothing), or roll back if it throws. Inside a transaction, it is a savepoint of it.
   */
  unit<T>(fn: () => T, savepoint: (fn: () => T) => T): T {
    if (this.deferred || this.db.inTransaction) return savepoint(fn);
    this.deferred = true;
    try {
      const result = fn();
      if (this.db.inTransaction) this.commit.run();
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.rollback.run();
      throw err;
    } finally {
      this.deferred = false;
    }
  }

  /**
   * fn as a part of the open unit that may fail alone: if it throws, its writes are undone and
   * the unit goes on. A savepoint once the unit's transaction has begun; before that, fn's
   * writes are the only ones, and a rollback undoes exactly them.
   */
  part<T>(fn: () => T, savepoint: (fn: () => T) => T): T {
    if (!this.deferred || this.db.inTransaction) return savepoint(fn);
    try {
      return fn();
    } catch (err) {
      if (this.db.inTransaction) this.rollback.run();
      throw err;
    }
  }
}
