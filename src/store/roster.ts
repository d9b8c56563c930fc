// Roster items, roster versions and pending inbound subscription requests (RFC 6121).
import type Database from "better-sqlite3";
import { StoreError, isForeignKeyViolation, unknownAccount } from "./errors.js";

// https://www.rfc-editor.org/rfc/rfc6121#section-2.1.2.5
export type Subscription = "none" | "to" | "from" | "both";

export interface RosterItem {
  /** Bare JID of the contact. */
  jid: string;
  name?: string;
  subscription: Subscription;
  /** An outbound subscribe is pending (RFC 6121 2.1.2.2, ask="subscribe"). */
  ask: boolean;
  /** The user pre-approved the contact's subscription (RFC 6121 3.4). */
  approved: boolean;
  groups: string[];
}

export interface PendingSubscription {
  contact: string;
  /** The <presence type="subscribe"/> as received, to present to the user again on next login. */
  stanzaXml: string;
}

interface RosterRow {
  contact: string;
  name: string | null;
  subscription: string;
  ask: number;
  approved: number;
  groups_json: string;
}

const ITEM_COLUMNS = "contact, name, subscription, ask, approved, groups_json";
const SUBSCRIPTIONS: readonly string[] = ["none", "to", "from", "both"];

export class RosterRepo {
  private readonly listStmt: Database.Statement<[string], RosterRow>;
  private readonly getStmt: Database.Statement<[string, string], RosterRow>;
  private readonly upsertStmt: Database.Statement<[string, string, string | null, string, number, number, string]>;
  private readonly deleteStmt: Database.Statement<[string, string]>;
  private readonly bumpVersionStmt: Database.Statement<[string], number>;
  private readonly versionStmt: Database.Statement<[string], number>;
  private readonly putPendingStmt: Database.Statement<[string, string, string]>;
  private readonly removePendingStmt: Database.Statement<[string, string]>;
  private readonly listPendingStmt: Database.Statement<[string], { contact: string; stanza_xml: string }>;
  private readonly putTx: (owner: string, item: RosterItem) => number;
  private readonly removeTx: (owner: string, contact: string) => number | undefined;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.listStmt = db.prepare(`SELECT ${ITEM_COLUMNS} FROM roster_items WHERE owner = ? ORDER BY contact`);
    this.getStmt = db.prepare(`SELECT ${ITEM_COLUMNS} FROM roster_items WHERE owner = ? AND contact = ?`);
    this.upsertStmt = db.prepare(
      `INSERT INTO roster_items (owner, ${ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner, contact) DO UPDATE SET
         name = excluded.name, subscription = excluded.subscription, ask = excluded.ask,
         approved = excluded.approved, groups_json = excluded.groups_json`,
    );
    this.deleteStmt = db.prepare("DELETE FROM roster_items WHERE owner = ? AND contact = ?");
    this.bumpVersionStmt = db
      .prepare<[string], number>(
        "UPDATE accounts SET roster_version = roster_version + 1 WHERE jid = ? RETURNING roster_version",
      )
      .pluck();
    this.versionStmt = db.prepare<[string], number>("SELECT roster_version FROM accounts WHERE jid = ?").pluck();
    this.putPendingStmt = db.prepare(
      `INSERT INTO pending_subscriptions_in (owner, contact, stanza_xml) VALUES (?, ?, ?)
       ON CONFLICT (owner, contact) DO UPDATE SET stanza_xml = excluded.stanza_xml`,
    );
    this.removePendingStmt = db.prepare("DELETE FROM pending_subscriptions_in WHERE owner = ? AND contact = ?");
    this.listPendingStmt = db.prepare(
      "SELECT contact, stanza_xml FROM pending_subscriptions_in WHERE owner = ? ORDER BY rowid",
    );

    // The item and the version change together or not at all (RFC 6121 2.6: a version names one roster state).
    this.putTx = db.transaction((owner: string, item: RosterItem): number => {
      const version = this.bumpVersion(owner);
      this.upsertStmt.run(
        owner,
        item.jid,
        item.name ?? null,
        item.subscription,
        item.ask ? 1 : 0,
        item.approved ? 1 : 0,
        JSON.stringify(item.groups),
      );
      return version;
    });
    this.removeTx = db.transaction((owner: string, contact: string): number | undefined => {
      if (this.deleteStmt.run(owner, contact).changes === 0) return undefined;
      return this.bumpVersion(owner);
    });
  }

  /** All items of the owner's roster, ordered by contact JID. Empty for an unknown owner. */
  list(owner: string): RosterItem[] {
    return this.listStmt.all(owner).map((row) => toItem(row, owner));
  }

  get(owner: string, contact: string): RosterItem | undefined {
    const row = this.getStmt.get(owner, contact);
    return row === undefined ? undefined : toItem(row, owner);
  }

  /** Adds or replaces an item; returns the new roster version. StoreError "not-found" for an unknown owner. */
  put(owner: string, item: RosterItem): number {
    if (!SUBSCRIPTIONS.includes(item.subscription)) {
      throw new RangeError(`invalid roster subscription ${String(item.subscription)}`);
    }
    this.beforeWrite();
    return this.putTx(owner, item);
  }

  /** Removes an item; returns the new roster version, or undefined if there was no such item. */
  remove(owner: string, contact: string): number | undefined {
    this.beforeWrite();
    return this.removeTx(owner, contact);
  }

  /** The owner's current roster version (0 before any change, and for an unknown owner). */
  version(owner: string): number {
    return this.versionStmt.get(owner) ?? 0;
  }

  /** Remembers an inbound subscription request until the user answers it (RFC 6121 3.1.3); a repeat replaces it. */
  putPendingIn(owner: string, contact: string, stanzaXml: string): void {
    this.beforeWrite();
    try {
      this.putPendingStmt.run(owner, contact, stanzaXml);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw unknownAccount(owner, err);
      throw err;
    }
  }

  /** False if there was no pending request from the contact. */
  removePendingIn(owner: string, contact: string): boolean {
    this.beforeWrite();
    return this.removePendingStmt.run(owner, contact).changes > 0;
  }

  /** Pending requests in the order they arrived. */
  listPendingIn(owner: string): PendingSubscription[] {
    return this.listPendingStmt.all(owner).map((r) => ({ contact: r.contact, stanzaXml: r.stanza_xml }));
  }

  private bumpVersion(owner: string): number {
    const version = this.bumpVersionStmt.get(owner);
    if (version === undefined) throw unknownAccount(owner);
    return version;
  }
}

function toItem(row: RosterRow, owner: string): RosterItem {
  let groups: unknown;
  try {
    groups = JSON.parse(row.groups_json);
  } catch {
    groups = undefined;
  }
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) {
    throw new StoreError("corrupt", `roster item ${row.contact} of ${owner} has unreadable groups`);
  }
  const item: RosterItem = {
    jid: row.contact,
    subscription: row.subscription as Subscription,
    ask: row.ask === 1,
    approved: row.approved === 1,
    groups,
  };
  if (row.name !== null) item.name = row.name;
  return item;
}
