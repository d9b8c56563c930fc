// Which daemon account a client's account is linked to (account.ensure): a stable key chosen by
// the client, never the localpart (alice@a.org and alice@b.org must not end up as one account).
import type Database from "better-sqlite3";

export class AccountLinkRepo {
  private readonly getStmt: Database.Statement<[string], { jid: string }>;
  private readonly insertStmt: Database.Statement<[string, string]>;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.getStmt = db.prepare("SELECT jid FROM account_links WHERE link_key = ?");
    this.insertStmt = db.prepare("INSERT INTO account_links (link_key, jid) VALUES (?, ?)");
  }

  /** The JID linked to `key`; undefined when none is (or its account was removed: the link went with it). */
  get(key: string): string | undefined {
    return this.getStmt.get(key)?.jid;
  }

  /** Link `key` to an existing account; a key or an account already linked is a constraint error. */
  link(key: string, jid: string): void {
    this.beforeWrite();
    this.insertStmt.run(key, jid);
  }
}
