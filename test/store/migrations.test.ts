import Database from "better-sqlite3";
import * as path from "node:path";
import { MIGRATIONS, type Migration, migrate, schemaVersion } from "../../src/store/migrations.js";
import { DATABASE_FILE_NAME, StoreError, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "./fixtures.js";

afterEach(cleanupTempDirs);

function rawDb(dir: string): Database.Database {
  return new Database(path.join(dir, DATABASE_FILE_NAME));
}

function tables(db: Database.Database): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[]
  ).filter((n) => !n.startsWith("sqlite_"));
}

describe("migrations", () => {
  test("a fresh database gets the whole schema and the latest user_version", () => {
    const dir = tempDir();
    openStore(dir).close();
    const db = rawDb(dir);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual([
      "account_links",
      "accounts",
      "offline_messages",
      "onion_keys",
      "pending_subscriptions_in",
      "roster_items",
      "s2s_outbox",
      "settings",
      "vcards",
    ]);
    db.close();
  });

  test("reopening a current database runs nothing and keeps the data", () => {
    const dir = tempDir();
    const store = openStore(dir);
    store.accounts.create(account("alice", "a.onion"));
    store.close();
    const again = openStore(dir);
    expect(again.accounts.list()).toHaveLength(1);
    again.close();
  });

  test("a database at an older version is upgraded step by step, keeping its data", () => {
    const steps: Migration[] = [
      { name: "notes table", sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);" },
      { name: "notes.author", sql: "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'nobody';" },
      { name: "tags table", sql: "CREATE TABLE tags (name TEXT PRIMARY KEY);" },
    ];
    const db = new Database(path.join(tempDir(), "t.sqlite"));
    expect(migrate(db, steps.slice(0, 1))).toBe(1);
    db.prepare("INSERT INTO notes (text) VALUES ('kept')").run();

    expect(migrate(db, steps)).toBe(3);
    expect(db.prepare("SELECT text, author FROM notes").all()).toEqual([{ text: "kept", author: "nobody" }]);
    expect(tables(db)).toEqual(["notes", "tags"]);
    db.close();
  });

  test("the real schema upgrades from every older version", () => {
    for (let from = 0; from < MIGRATIONS.length; from++) {
      const dir = tempDir();
      const db = rawDb(dir);
      migrate(db, MIGRATIONS.slice(0, from));
      db.close();
      const store = openStore(dir);
      store.accounts.create(account("alice", "a.onion"));
      store.close();
      const check = rawDb(dir);
      expect(schemaVersion(check)).toBe(MIGRATIONS.length);
      check.close();
    }
  });

  test("a failing migration rolls back completely and leaves the version unchanged", () => {
    const steps: Migration[] = [
      { name: "one", sql: "CREATE TABLE one (x INTEGER);" },
      { name: "broken", sql: "CREATE TABLE two (x INTEGER); INSERT INTO nowhere VALUES (1);" },
    ];
    const db = new Database(path.join(tempDir(), "t.sqlite"));
    let caught: unknown;
    try {
      migrate(db, steps);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect((caught as StoreError).message).toMatch(/schema version 2 \(broken\).*nowhere/);
    expect(schemaVersion(db)).toBe(1);
    expect(tables(db)).toEqual(["one"]);
    db.close();
  });

  test("a database newer than the code is refused with too-new and not modified", () => {
    const dir = tempDir();
    openStore(dir).close();
    let db = rawDb(dir);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();

    let caught: unknown;
    try {
      openStore(dir);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect((caught as StoreError).code).toBe("too-new");
    expect((caught as StoreError).message).toMatch(
      new RegExp(`schema version ${MIGRATIONS.length + 1}, but .* up to ${MIGRATIONS.length}: upgrade purple-onion`),
    );

    db = rawDb(dir);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length + 1);
    db.close();
  });
});
