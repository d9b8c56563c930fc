// Onion service keys: the 32-byte ed25519 seed of each account's onion address.
// The seed is the account's identity on the Tor network; the file's 0600 mode protects it.
import type Database from "better-sqlite3";
import { isForeignKeyViolation, unknownAccount } from "./errors.js";

export const ONION_SEED_BYTES = 32;

export class KeyRepo {
  private readonly setStmt: Database.Statement<[string, Buffer]>;
  private readonly getStmt: Database.Statement<[string], Buffer>;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.setStmt = db.prepare(
      "INSERT INTO onion_keys (owner, seed) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET seed = excluded.seed",
    );
    this.getStmt = db.prepare<[string], Buffer>("SELECT seed FROM onion_keys WHERE owner = ?").pluck();
  }

  /** Sets (or replaces) the account's seed. StoreError "not-found" for an unknown account. */
  setOnionSeed(jid: string, seed: Buffer): void {
    if (seed.length !== ONION_SEED_BYTES) {
      throw new RangeError(`an onion key seed is ${ONION_SEED_BYTES} bytes, got ${seed.length}`);
    }
    this.beforeWrite();
    try {
      this.setStmt.run(jid, seed);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw unknownAccount(jid, err);
      throw err;
    }
  }

  getOnionSeed(jid: string): Buffer | undefined {
    return this.getStmt.get(jid);
  }
}
