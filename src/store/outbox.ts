// The s2s outbox: stanzas of the durable classes (messages, subscription presence) on their way
// to another server, kept until the peer confirms them or they expire. Delivery logic lives in
// src/s2s/outbox.ts; this is only the table. push() runs once per queued stanza, so, like
// offline.ts, it is one prepared statement: both quota checks and the insert in one atomic step.
import type Database from "better-sqlite3";
import { StoreError, isForeignKeyViolation } from "./errors.js";

/** Rows kept for one (local, remote) pair: a peer that is down for days still gets its backlog. */
export const DEFAULT_MAX_OUTBOX_PER_PAIR = 10_000;
/** Rows kept for one of our domains, all peers together: many dead peers cannot fill the disk. */
export const DEFAULT_MAX_OUTBOX_PER_LOCAL = 50_000;

export interface OutboxRow {
  id: number;
  local: string;
  remote: string;
  stanzaXml: string;
  queuedAtMs: number;
  expiresAtMs: number;
}

export interface OutboxPair {
  local: string;
  remote: string;
}

interface Row {
  id: number;
  local_domain: string;
  remote_domain: string;
  stanza_xml: string;
  queued_at_ms: number;
  expires_at_ms: number;
}

interface PushParams {
  local: string;
  remote: string;
  xml: string;
  now: number;
  expires: number;
  perPair: number;
  perLocal: number;
}

const COLUMNS = "id, local_domain, remote_domain, stanza_xml, queued_at_ms, expires_at_ms";

export class OutboxRepo {
  private readonly pushStmt: Database.Statement<[PushParams]>;
  private readonly listStmt: Database.Statement<[string, string, number, number], Row>;
  private readonly removeStmt: Database.Statement<[number]>;
  private readonly countStmt: Database.Statement<[string, string], number>;
  private readonly countLocalStmt: Database.Statement<[string], number>;
  private readonly pairsStmt: Database.Statement<[], { local_domain: string; remote_domain: string }>;
  private readonly expiredStmt: Database.Statement<[number, number], Row>;
  private readonly removeTx: (ids: readonly number[]) => void;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    readonly maxPerPair: number = DEFAULT_MAX_OUTBOX_PER_PAIR,
    readonly maxPerLocal: number = DEFAULT_MAX_OUTBOX_PER_LOCAL,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    for (const [what, n] of [["per-pair", maxPerPair], ["per-domain", maxPerLocal]] as const) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`outbox ${what} quota must be a non-negative integer, got ${n}`);
    }
    // Inserts nothing when either quota is reached; an unknown local domain fails the foreign key.
    this.pushStmt = db.prepare(
      `INSERT INTO s2s_outbox (local_domain, remote_domain, stanza_xml, queued_at_ms, expires_at_ms)
       SELECT @local, @remote, @xml, @now, @expires
       WHERE (SELECT count(*) FROM s2s_outbox WHERE local_domain = @local AND remote_domain = @remote) < @perPair
         AND (SELECT count(*) FROM s2s_outbox WHERE local_domain = @local) < @perLocal`,
    );
    this.listStmt = db.prepare(
      `SELECT ${COLUMNS} FROM s2s_outbox WHERE local_domain = ? AND remote_domain = ? AND id > ? ORDER BY id LIMIT ?`,
    );
    this.removeStmt = db.prepare("DELETE FROM s2s_outbox WHERE id = ?");
    this.countStmt = db
      .prepare<[string, string], number>("SELECT count(*) FROM s2s_outbox WHERE local_domain = ? AND remote_domain = ?")
      .pluck();
    this.countLocalStmt = db.prepare<[string], number>("SELECT count(*) FROM s2s_outbox WHERE local_domain = ?").pluck();
    this.pairsStmt = db.prepare("SELECT DISTINCT local_domain, remote_domain FROM s2s_outbox ORDER BY local_domain, remote_domain");
    this.expiredStmt = db.prepare(`SELECT ${COLUMNS} FROM s2s_outbox WHERE expires_at_ms <= ? ORDER BY id LIMIT ?`);
    this.removeTx = db.transaction((ids: readonly number[]) => {
      for (const id of ids) this.removeStmt.run(id);
    });
  }

  /**
   * Queues a stanza from `local` (one of our domains) to `remote` and returns its id. StoreError
   * "quota" when the pair or the local domain is full (the caller bounces the stanza),
   * "not-found" when `local` is no account's domain.
   */
  push(local: string, remote: string, stanzaXml: string, nowMs: number, expiresAtMs: number): number {
    this.beforeWrite();
    let result: Database.RunResult;
    try {
      result = this.pushStmt.run({
        local, remote, xml: stanzaXml, now: nowMs, expires: expiresAtMs, perPair: this.maxPerPair, perLocal: this.maxPerLocal,
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new StoreError("not-found", `no account with domain ${local} in the store`, { cause: err });
      throw err;
    }
    if (result.changes === 0) {
      // Only on the refusal: say which quota, so the log tells the user what filled up.
      const message =
        this.count(local, remote) >= this.maxPerPair
          ? `the outbox from ${local} to ${remote} is full (${this.maxPerPair} stanzas)`
          : `the outbox of ${local} is full (${this.maxPerLocal} stanzas for all servers)`;
      throw new StoreError("quota", message);
    }
    return Number(result.lastInsertRowid);
  }

  /** Up to `limit` rows of the pair, oldest first; with `afterId`, only rows queued after that one. */
  list(local: string, remote: string, limit: number, afterId = 0): OutboxRow[] {
    return this.listStmt.all(local, remote, afterId, limit).map(toRow);
  }

  /** Deletes the given rows in one transaction; unknown ids are ignored. */
  remove(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.beforeWrite();
    this.removeTx(ids);
  }

  /** Rows of one pair, or with `remote` omitted, of one local domain. */
  count(local: string, remote?: string): number {
    return (remote === undefined ? this.countLocalStmt.get(local) : this.countStmt.get(local, remote)) ?? 0;
  }

  /** Every pair that has rows. */
  pairs(): OutboxPair[] {
    return this.pairsStmt.all().map((r) => ({ local: r.local_domain, remote: r.remote_domain }));
  }

  /** Up to `limit` rows whose expiry is at or before nowMs, oldest first. */
  expired(nowMs: number, limit = 1000): OutboxRow[] {
    return this.expiredStmt.all(nowMs, limit).map(toRow);
  }
}

function toRow(r: Row): OutboxRow {
  return {
    id: r.id,
    local: r.local_domain,
    remote: r.remote_domain,
    stanzaXml: r.stanza_xml,
    queuedAtMs: r.queued_at_ms,
    expiresAtMs: r.expires_at_ms,
  };
}
