// The runtime's persistent state: one SQLite file per data dir, behind small typed repositories.
import type Database from "better-sqlite3";
import { AccountRepo, type AccountRecord } from "./accounts.js";
import { databasePath, openDatabaseFile, restrictSidecarModes } from "./database-file.js";
import { DeferredTransactions } from "./deferred-transaction.js";
import { KeyRepo } from "./keys.js";
import { migrate } from "./migrations.js";
import { DEFAULT_MAX_OFFLINE_PER_ACCOUNT, OfflineRepo } from "./offline.js";
import { AccountLinkRepo } from "./account-links.js";
import { DEFAULT_MAX_OUTBOX_PER_LOCAL, DEFAULT_MAX_OUTBOX_PER_PAIR, OutboxRepo } from "./outbox.js";
import { RosterRepo } from "./roster.js";
import { SettingsRepo } from "./settings.js";
import { VcardRepo } from "./vcards.js";

export { StoreError, type StoreErrorCode } from "./errors.js";
export { DATABASE_FILE_NAME } from "./database-file.js";
export { AccountRepo, type AccountRecord };
export { KeyRepo };
export { OfflineRepo, type OfflineMessage } from "./offline.js";
export { OutboxRepo, type OutboxPair, type OutboxRow } from "./outbox.js";
export { RosterRepo, type PendingSubscription, type RosterItem, type Subscription } from "./roster.js";
export { SettingsRepo, VcardRepo };

export interface StoreOptions {
  /** Offline messages kept per account before push() fails with "quota". Default 1000. */
  maxOfflinePerAccount?: number;
  /** s2s outbox rows kept per (our domain, remote domain) pair before push() fails with "quota". Default 10000. */
  maxOutboxPerPair?: number;
  /** s2s outbox rows kept per domain of ours, all peers together. Default 50000. */
  maxOutboxPerLocal?: number;
  /** How long a statement waits for another connection's lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export class Store {
  readonly accounts: AccountRepo;
  readonly links: AccountLinkRepo;
  readonly keys: KeyRepo;
  readonly roster: RosterRepo;
  readonly offline: OfflineRepo;
  readonly outbox: OutboxRepo;
  readonly vcards: VcardRepo;
  readonly settings: SettingsRepo;

  // Built once: better-sqlite3's db.transaction() makes four wrappers per call.
  private readonly inTransaction: <T>(fn: () => T) => T;
  private readonly units: DeferredTransactions;

  constructor(
    private readonly db: Database.Database,
    options: StoreOptions = {},
  ) {
    this.inTransaction = db.transaction(<T>(fn: () => T): T => {
      const result = fn();
      if (isPromiseLike(result)) {
        throw new TypeError("Store.transaction() needs a synchronous function; it got a promise");
      }
      return result;
    }) as <T>(fn: () => T) => T;
    this.units = new DeferredTransactions(db);
    const beforeWrite = this.units.beforeWrite;
    this.accounts = new AccountRepo(db, beforeWrite);
    this.links = new AccountLinkRepo(db, beforeWrite);
    this.keys = new KeyRepo(db, beforeWrite);
    this.roster = new RosterRepo(db, beforeWrite);
    this.offline = new OfflineRepo(db, options.maxOfflinePerAccount ?? DEFAULT_MAX_OFFLINE_PER_ACCOUNT, beforeWrite);
    this.outbox = new OutboxRepo(
      db,
      options.maxOutboxPerPair ?? DEFAULT_MAX_OUTBOX_PER_PAIR,
      options.maxOutboxPerLocal ?? DEFAULT_MAX_OUTBOX_PER_LOCAL,
      beforeWrite,
    );
    this.vcards = new VcardRepo(db, beforeWrite);
    this.settings = new SettingsRepo(db, beforeWrite);
  }

  /** Path of the database file. */
  get path(): string {
    return this.db.name;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /**
   * Runs fn in one transaction: everything it stores commits together, or nothing does if it
   * throws. Nests (inner calls become savepoints). fn must be synchronous: a transaction cannot
   * stay open across an await.
   */
  transaction<T>(fn: () => T): T {
    // Inside a unit that has not written yet, this begins the unit's transaction: fn's writes are the unit's.
    this.units.beforeWrite();
    return this.inTransaction(fn);
  }

  /**
   * Runs fn as one unit of work: everything it stores commits together when it returns, or
   * nothing does if it throws, like transaction(); but the transaction begins only at fn's first
   * write, so a unit that writes nothing costs no BEGIN and no COMMIT. Inside a transaction, a
   * savepoint of it.
   */
  unit<T>(fn: () => T): T {
    return this.units.unit(() => synchronous(fn()), this.inTransaction);
  }

  /**
   * Inside a unit: runs fn so that if it throws, its writes alone are undone and the unit can go
   * on (a savepoint, or nothing to undo but fn's own writes if the unit had not written yet).
   * Outside a unit: transaction().
   */
  part<T>(fn: () => T): T {
    return this.units.part(fn, this.inTransaction);
  }

  /** Closes the file (checkpointing the WAL). Safe to call twice. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens <dataDir>/purple-onion.sqlite (mode 0600, created if missing) and upgrades its schema.
 * dataDir must exist and be writable; this does not create it or change its mode.
 * Throws StoreError: "not-writable", "corrupt" or "too-new", each with a message saying what to do.
 */
export function openStore(dataDir: string, options: StoreOptions = {}): Store {
  const db = openDatabaseFile(dataDir, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  try {
    migrate(db);
    restrictSidecarModes(databasePath(dataDir));
    return new Store(db, options);
  } catch (err) {
    db.close();
    throw err;
  }
}

function synchronous<T>(result: T): T {
  if (isPromiseLike(result)) throw new TypeError("Store.unit() needs a synchronous function; it got a promise");
  return result;
}

function isPromiseLike(value: unknown): boolean {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
