// Offline message storage (RFC 6121 8.5.2.2.1 / XEP-0160): stanzas for an account with no
// available resource, kept until its next login. push() runs once per stored stanza, so it
// is a single prepared statement: quota check and insert in one atomic step.
import type Database from "better-sqlite3";
import { StoreError, isForeignKeyViolation, unknownAccount } from "./errors.js";

export const DEFAULT_MAX_OFFLINE_PER_ACCOUNT = 1000;

export interface OfflineMessage {
  id: number;
  stanzaXml: string;
  /** When the stanza was stored (ms since the epoch), for the XEP-0203 delay stamp. */
  stampMs: number;
}

export class OfflineRepo {
  private readonly pushStmt: Database.Statement<[string, string, number, string, number]>;
  private readonly listStmt: Database.Statement<[string], { id: number; stanza_xml: string; stamp_ms: number }>;
  private readonly removeStmt: Database.Statement<[number]>;
  private readonly countStmt: Database.Statement<[string], number>;
  private readonly removeTx: (ids: readonly number[]) => void;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    readonly maxPerAccount: number = DEFAULT_MAX_OFFLINE_PER_ACCOUNT,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    if (!Number.isInteger(maxPerAccount) || maxPerAccount < 0) {
      throw new RangeError(`offline quota must be a non-negative integer, got ${maxPerAccount}`);
    }
    // Inserts nothing when the owner is at quota; an unknown owner fails the foreign key.
    this.pushStmt = db.prepare(
      `INSERT INTO offline_messages (owner, stanza_xml, stamp_ms)
       SELECT ?, ?, ? WHERE (SELECT count(*) FROM offline_messages WHERE owner = ?) < ?`,
    );
    this.listStmt = db.prepare("SELECT id, stanza_xml, stamp_ms FROM offline_messages WHERE owner = ? ORDER BY id");
    this.removeStmt = db.prepare("DELETE FROM offline_messages WHERE id = ?");
    this.countStmt = db.prepare<[string], number>("SELECT count(*) FROM offline_messages WHERE owner = ?").pluck();
    this.removeTx = db.transaction((ids: readonly number[]) => {
      for (const id of ids) this.removeStmt.run(id);
    });
  }

  /**
   * Stores a stanza and returns its id. StoreError "quota" when the owner already has
   * maxPerAccount messages (the caller bounces the stanza, RFC 6121 8.5.2.2.1 leaves that to
   * policy), "not-found" for an unknown owner.
   */
  push(owner: string, stanzaXml: string, stampMs: number): number {
    this.beforeWrite();
    let result: Database.RunResult;
    try {
      result = this.pushStmt.run(owner, stanzaXml, stampMs, owner, this.maxPerAccount);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw unknownAccount(owner, err);
      throw err;
    }
    if (result.changes === 0) {
      throw new StoreError("quota", `offline storage for ${owner} is full (${this.maxPerAccount} messages)`);
    }
    return Number(result.lastInsertRowid);
  }

  /** The owner's stored messages, oldest first. */
  list(owner: string): OfflineMessage[] {
    return this.listStmt.all(owner).map((r) => ({ id: r.id, stanzaXml: r.stanza_xml, stampMs: r.stamp_ms }));
  }

  /** Deletes the given messages (after delivery) in one transaction; unknown ids are ignored. */
  remove(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.beforeWrite();
    this.removeTx(ids);
  }

  count(owner: string): number {
    return this.countStmt.get(owner) ?? 0;
  }
}
