// Hosted accounts: one per domain, since every account is its own server.
import type Database from "better-sqlite3";
import type { ScramCredentials, ScramHash, StoredCredentials } from "../xmpp/sasl/credentials.js";
import { StoreError, isUniqueViolation } from "./errors.js";

export interface AccountRecord {
  /** Bare JID, localpart@domain, already normalised by the caller. */
  jid: string;
  localpart: string;
  domain: string;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  credentials: StoredCredentials;
}

interface AccountRow {
  jid: string;
  localpart: string;
  domain: string;
  created_at_ms: number;
  credentials: string;
}

const COLUMNS = "jid, localpart, domain, created_at_ms, credentials";
const SCRAM_HASHES: readonly ScramHash[] = ["SHA-1", "SHA-256"];

export class AccountRepo {
  private readonly insertStmt: Database.Statement<[string, string, string, number, string]>;
  private readonly getStmt: Database.Statement<[string], AccountRow>;
  private readonly getByDomainStmt: Database.Statement<[string], AccountRow>;
  private readonly listStmt: Database.Statement<[], AccountRow>;
  private readonly removeStmt: Database.Statement<[string]>;
  private readonly setCredentialsStmt: Database.Statement<[string, string]>;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.insertStmt = db.prepare(`INSERT INTO accounts (${COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
    this.getStmt = db.prepare(`SELECT ${COLUMNS} FROM accounts WHERE jid = ?`);
    this.getByDomainStmt = db.prepare(`SELECT ${COLUMNS} FROM accounts WHERE domain = ?`);
    this.listStmt = db.prepare(`SELECT ${COLUMNS} FROM accounts ORDER BY created_at_ms, jid`);
    // Keys, roster, pending subscriptions, offline messages and vCard go with it: ON DELETE CASCADE.
    this.removeStmt = db.prepare("DELETE FROM accounts WHERE jid = ?");
    this.setCredentialsStmt = db.prepare("UPDATE accounts SET credentials = ? WHERE jid = ?");
  }

  /** Throws StoreError "exists" if the JID or the domain already has an account. */
  create(rec: AccountRecord): void {
    if (rec.jid !== `${rec.localpart}@${rec.domain}`) {
      throw new RangeError(`account jid ${rec.jid} is not ${rec.localpart}@${rec.domain}`);
    }
    this.beforeWrite();
    try {
      this.insertStmt.run(rec.jid, rec.localpart, rec.domain, rec.createdAt, encodeCredentials(rec.credentials));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const holder = this.getByDomainStmt.get(rec.domain);
      const message =
        holder === undefined || holder.jid === rec.jid
          ? `account ${rec.jid} already exists`
          : `domain ${rec.domain} already hosts account ${holder.jid}`;
      throw new StoreError("exists", message, { cause: err });
    }
  }

  get(jid: string): AccountRecord | undefined {
    const row = this.getStmt.get(jid);
    return row === undefined ? undefined : toRecord(row);
  }

  getByDomain(domain: string): AccountRecord | undefined {
    const row = this.getByDomainStmt.get(domain);
    return row === undefined ? undefined : toRecord(row);
  }

  list(): AccountRecord[] {
    return this.listStmt.all().map(toRecord);
  }

  /** Removes the account and everything stored for it. False if there was no such account. */
  remove(jid: string): boolean {
    this.beforeWrite();
    return this.removeStmt.run(jid).changes > 0;
  }

  setCredentials(jid: string, credentials: StoredCredentials): void {
    this.beforeWrite();
    if (this.setCredentialsStmt.run(encodeCredentials(credentials), jid).changes === 0) {
      throw new StoreError("not-found", `no account ${jid} in the store`);
    }
  }
}

function toRecord(row: AccountRow): AccountRecord {
  return {
    jid: row.jid,
    localpart: row.localpart,
    domain: row.domain,
    createdAt: row.created_at_ms,
    credentials: decodeCredentials(row.credentials, row.jid),
  };
}

// Stored as JSON with base64 buffers: readable with the sqlite3 shell, and a new hash
// function is a new key rather than a new column.
function encodeCredentials(c: StoredCredentials): string {
  const out: Record<string, unknown> = {};
  for (const hash of SCRAM_HASHES) {
    const s = c[hash];
    out[hash] = {
      iterations: s.iterations,
      salt: s.salt.toString("base64"),
      storedKey: s.storedKey.toString("base64"),
      serverKey: s.serverKey.toString("base64"),
    };
  }
  return JSON.stringify(out);
}

function decodeCredentials(text: string, jid: string): StoredCredentials {
  const corrupt = (why: string) => new StoreError("corrupt", `stored credentials of ${jid} are unreadable: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw corrupt((err as Error).message);
  }
  if (typeof parsed !== "object" || parsed === null) throw corrupt("not an object");
  const decoded: Partial<Record<ScramHash, ScramCredentials>> = {};
  for (const hash of SCRAM_HASHES) {
    const s = (parsed as Record<string, unknown>)[hash] as Record<string, unknown> | undefined;
    if (typeof s !== "object" || s === null) throw corrupt(`${hash} missing`);
    const { iterations, salt, storedKey, serverKey } = s;
    if (typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1) {
      throw corrupt(`${hash} iterations invalid`);
    }
    if (typeof salt !== "string" || typeof storedKey !== "string" || typeof serverKey !== "string") {
      throw corrupt(`${hash} keys missing`);
    }
    decoded[hash] = {
      iterations,
      salt: Buffer.from(salt, "base64"),
      storedKey: Buffer.from(storedKey, "base64"),
      serverKey: Buffer.from(serverKey, "base64"),
    };
  }
  return decoded as StoredCredentials;
}
