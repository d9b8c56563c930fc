// Schema migrations. The schema version lives in the database header as PRAGMA user_version
// (https://www.sqlite.org/pragma.html#pragma_user_version); migration N moves a database from
// version N-1 to N. Append new migrations at the end; never edit one that has shipped.
import type Database from "better-sqlite3";
import { StoreError } from "./errors.js";

export interface Migration {
  /** What the migration does, for error messages. */
  readonly name: string;
  /** SQL run with Database.exec inside the migration's transaction. */
  readonly sql: string;
}

/** Marks the file as ours in the header (PRAGMA application_id), so a stranger's SQLite file is refused. */
export const APPLICATION_ID = 0x706f6e69; // "poni"

export const MIGRATIONS: readonly Migration[] = [
  {
    name: "initial schema",
    sql: `
      PRAGMA application_id = ${APPLICATION_ID};

      -- One account per hosted domain: every account is its own server.
      CREATE TABLE accounts (
        jid            TEXT    NOT NULL PRIMARY KEY,
        localpart      TEXT    NOT NULL,
        domain         TEXT    NOT NULL UNIQUE,
        created_at_ms  INTEGER NOT NULL,
        credentials    TEXT    NOT NULL,           -- JSON of SCRAM hashes, see accounts.ts
        roster_version INTEGER NOT NULL DEFAULT 0  -- RFC 6121 2.6 roster versioning counter
      ) STRICT;

      CREATE TABLE onion_keys (
        owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
        seed  BLOB NOT NULL CHECK (length(seed) = 32)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE roster_items (
        owner        TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        contact      TEXT    NOT NULL,
        name         TEXT,
        subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
        ask          INTEGER NOT NULL CHECK (ask IN (0, 1)),
        approved     INTEGER NOT NULL CHECK (approved IN (0, 1)),
        groups_json  TEXT    NOT NULL DEFAULT '[]',
        PRIMARY KEY (owner, contact)
      ) STRICT, WITHOUT ROWID;

      -- Inbound subscription requests the user has not answered yet (RFC 6121 3.1.3).
      -- A rowid table so they list in arrival order.
      CREATE TABLE pending_subscriptions_in (
        owner      TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        contact    TEXT NOT NULL,
        stanza_xml TEXT NOT NULL,
        UNIQUE (owner, contact)
      ) STRICT;

      -- AUTOINCREMENT: an id handed out is never reused, so a late remove() cannot hit a newer message.
      CREATE TABLE offline_messages (
        id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        owner      TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        stanza_xml TEXT    NOT NULL,
        stamp_ms   INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX offline_messages_by_owner ON offline_messages (owner, id);

      CREATE TABLE vcards (
        owner     TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
        vcard_xml TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE settings (
        key   TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    name: "s2s outbox",
    sql: `
      -- Stanzas of the durable classes (messages, subscription presence) waiting for delivery to
      -- another server, oldest first per (local, remote) pair; see src/s2s/outbox.ts. A row goes
      -- when the peer confirms it, or when it expires (expires_at_ms) and is bounced to the sender.
      -- local_domain references the account's UNIQUE domain: deleting the account drops its queue.
      -- AUTOINCREMENT: ids are never reused, so id order is queue order and a late remove() cannot
      -- hit a newer row.
      CREATE TABLE s2s_outbox (
        id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        local_domain  TEXT    NOT NULL REFERENCES accounts (domain) ON DELETE CASCADE,
        remote_domain TEXT    NOT NULL,
        stanza_xml    TEXT    NOT NULL,
        queued_at_ms  INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
      ) STRICT;
      -- Serves list() and count() per pair, the per-local quota (a prefix) and pairs().
      CREATE INDEX s2s_outbox_by_pair ON s2s_outbox (local_domain, remote_domain, id);
      CREATE INDEX s2s_outbox_by_expiry ON s2s_outbox (expires_at_ms);
    `,
  },
  {
    name: "account links",
    sql: `
      -- A client's stable key for one of its accounts (the plugin keeps it in the settings of the
      -- libpurple account that was ticked) -> the daemon account made for it: ticking the same
      -- account again finds the same onion, and two client accounts never share one.
      CREATE TABLE account_links (
        link_key TEXT NOT NULL PRIMARY KEY,
        jid      TEXT NOT NULL UNIQUE REFERENCES accounts (jid) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
    `,
  },
];

export function schemaVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Brings the database up to the newest version in `migrations`, one transaction per migration.
 * Returns the resulting version. Refuses a database written by newer code ("too-new"): running
 * old code on it could silently drop data it does not know about.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.length;
  const found = schemaVersion(db);
  if (found > latest) {
    throw new StoreError(
      "too-new",
      `${db.name} has schema version ${found}, but this purple-onion only knows up to ${latest}: ` +
        "upgrade purple-onion, or choose another --data-dir",
    );
  }
  const appId = db.pragma("application_id", { simple: true }) as number;
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new StoreError(
      "corrupt",
      `${db.name} is an SQLite database of some other program (application_id ${appId}): choose another --data-dir`,
    );
  }

  for (let version = found + 1; version <= latest; version++) {
    const migration = migrations[version - 1]!;
    // IMMEDIATE takes the write lock before re-reading the version, so two processes opening the
    // same fresh file cannot both run a migration.
    const apply = db.transaction(() => {
      if (schemaVersion(db) >= version) return;
      db.exec(migration.sql);
      // user_version is in the header page, so setting it commits or rolls back with the migration.
      db.pragma(`user_version = ${version}`);
    });
    try {
      apply.immediate();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        "corrupt",
        `cannot upgrade ${db.name} to schema version ${version} (${migration.name}): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return schemaVersion(db);
}
