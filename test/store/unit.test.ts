// Store.unit(): one transaction per unit of work, begun at its first write (deferred-transaction.ts).
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { openStore, type Store } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "./fixtures.js";

const ALICE = "alice@a.onion";
let store: Store;

const item = (jid: string) => ({ jid, subscription: "none" as const, ask: false, approved: false, groups: [] });

// Every statement the store executes, by its SQL (BEGIN and COMMIT are statements too).
const Database = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
const probe = new Database(":memory:");
const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, (...a: unknown[]) => unknown>;
probe.close();
const originals = Object.fromEntries(["run", "get", "all"].map((m) => [m, proto[m]!]));
let executed: string[] = [];

beforeAll(() => {
  for (const [m, original] of Object.entries(originals)) {
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      executed.push(this.source.trim().split(/\s+/)[0]!.toUpperCase());
      return original.apply(this, args);
    };
  }
});
afterAll(() => {
  for (const [m, original] of Object.entries(originals)) proto[m] = original;
});

beforeEach(() => {
  store = openStore(tempDir());
  store.accounts.create(account("alice", "a.onion"));
  executed = [];
});
afterEach(() => {
  store.close();
  cleanupTempDirs();
});

test("a unit that writes nothing runs no BEGIN and no COMMIT", () => {
  store.unit(() => store.roster.list(ALICE));
  expect(executed).toEqual(["SELECT"]);
});

test("a unit's transaction begins at its first write and commits once at the end", () => {
  store.unit(() => {
    store.roster.get(ALICE, "bob@b.onion");
    store.roster.putPendingIn(ALICE, "bob@b.onion", "<presence/>");
    store.roster.put(ALICE, item("bob@b.onion"));
  });
  // The roster put is a savepoint inside the unit's transaction, not a transaction of its own.
  expect(executed).toEqual(["SELECT", "BEGIN", "INSERT", "SAVEPOINT", "UPDATE", "INSERT", "RELEASE", "COMMIT"]);
  expect(store.roster.list(ALICE)).toHaveLength(1);
});

test("a unit that throws after writing leaves nothing", () => {
  expect(() =>
    store.unit(() => {
      store.roster.putPendingIn(ALICE, "bob@b.onion", "<presence/>");
      store.roster.put(ALICE, item("bob@b.onion"));
      throw new Error("boom");
    }),
  ).toThrow("boom");
  expect(store.roster.list(ALICE)).toEqual([]);
  expect(store.roster.listPendingIn(ALICE)).toEqual([]);
  expect(store.roster.version(ALICE)).toBe(0);
});

test("part(): a failing part is undone alone, before or after the unit's first write", () => {
  store.unit(() => {
    // Before any write of the unit.
    expect(() =>
      store.part(() => {
        store.roster.put(ALICE, item("undone-1@b.onion"));
        throw new Error("first part fails");
      }),
    ).toThrow();
    store.roster.put(ALICE, item("kept-1@b.onion"));
    // After the unit's first write: a savepoint.
    expect(() =>
      store.part(() => {
        store.roster.put(ALICE, item("undone-2@b.onion"));
        throw new Error("second part fails");
      }),
    ).toThrow();
    store.part(() => store.roster.put(ALICE, item("kept-2@b.onion")));
  });
  expect(store.roster.list(ALICE).map((i) => i.jid)).toEqual(["kept-1@b.onion", "kept-2@b.onion"]);
  expect(store.roster.version(ALICE)).toBe(2);
});

test("transaction() inside a unit joins the unit: a later throw undoes it too", () => {
  expect(() =>
    store.unit(() => {
      store.transaction(() => store.roster.put(ALICE, item("bob@b.onion")));
      throw new Error("after the inner transaction");
    }),
  ).toThrow();
  expect(store.roster.list(ALICE)).toEqual([]);
});

test("writes outside a unit commit on their own, as before", () => {
  store.roster.putPendingIn(ALICE, "bob@b.onion", "<presence/>");
  expect(executed).toEqual(["INSERT"]);
  expect(store.roster.listPendingIn(ALICE)).toHaveLength(1);
});
