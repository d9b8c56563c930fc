import Database from "better-sqlite3";
import * as path from "node:path";
import { DATABASE_FILE_NAME, type Store, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, credentials, tempDir, errorOf } from "./fixtures.js";

let dir: string;
let store: Store;

beforeEach(() => {
  dir = tempDir();
  store = openStore(dir);
});

afterEach(() => {
  store.close();
  cleanupTempDirs();
});

describe("AccountRepo", () => {
  test("create, get, getByDomain and list", () => {
    const alice = account("alice", "a.onion", 2000);
    const bob = account("bob", "b.onion", 1000);
    store.accounts.create(alice);
    store.accounts.create(bob);
    expect(store.accounts.get("alice@a.onion")).toEqual(alice);
    expect(store.accounts.getByDomain("b.onion")).toEqual(bob);
    expect(store.accounts.get("nobody@a.onion")).toBeUndefined();
    expect(store.accounts.getByDomain("c.onion")).toBeUndefined();
    // oldest first
    expect(store.accounts.list()).toEqual([bob, alice]);
  });

  test("credentials round-trip byte for byte", () => {
    const rec = { ...account("alice", "a.onion"), credentials: credentials(200) };
    rec.credentials["SHA-256"].iterations = 10_000;
    store.accounts.create(rec);
    const got = store.accounts.get("alice@a.onion")!.credentials;
    expect(got["SHA-256"].iterations).toBe(10_000);
    expect(got["SHA-1"].salt.equals(rec.credentials["SHA-1"].salt)).toBe(true);
    expect(got["SHA-256"].storedKey.equals(rec.credentials["SHA-256"].storedKey)).toBe(true);
    expect(got["SHA-256"].serverKey.equals(rec.credentials["SHA-256"].serverKey)).toBe(true);
  });

  test("a duplicate jid is refused with exists", () => {
    store.accounts.create(account("alice", "a.onion"));
    const err = errorOf(() => store.accounts.create(account("alice", "a.onion")));
    expect(err.code).toBe("exists");
    expect(err.message).toBe("account alice@a.onion already exists");
  });

  test("a second account on the same domain is refused with exists", () => {
    store.accounts.create(account("alice", "a.onion"));
    const err = errorOf(() => store.accounts.create(account("mallory", "a.onion")));
    expect(err.code).toBe("exists");
    expect(err.message).toBe("domain a.onion already hosts account alice@a.onion");
    expect(store.accounts.list()).toHaveLength(1);
  });

  test("a jid that does not match localpart@domain is a programming error", () => {
    expect(() => store.accounts.create({ ...account("alice", "a.onion"), jid: "eve@a.onion" })).toThrow(RangeError);
  });

  test("setCredentials replaces the hashes; unknown account gives not-found", () => {
    store.accounts.create(account("alice", "a.onion"));
    store.accounts.setCredentials("alice@a.onion", credentials(9));
    expect(store.accounts.get("alice@a.onion")!.credentials).toEqual(credentials(9));
    expect(errorOf(() => store.accounts.setCredentials("bob@b.onion", credentials())).code).toBe("not-found");
  });

  test("remove reports whether there was an account", () => {
    store.accounts.create(account("alice", "a.onion"));
    expect(store.accounts.remove("alice@a.onion")).toBe(true);
    expect(store.accounts.remove("alice@a.onion")).toBe(false);
    expect(store.accounts.get("alice@a.onion")).toBeUndefined();
    // the domain is free again
    store.accounts.create(account("alice2", "a.onion"));
  });

  test("remove deletes all the account's data and nobody else's", () => {
    for (const [local, domain] of [["alice", "a.onion"], ["bob", "b.onion"]] as const) {
      const jid = `${local}@${domain}`;
      store.accounts.create(account(local, domain));
      store.keys.setOnionSeed(jid, Buffer.alloc(32, 1));
      store.roster.put(jid, { jid: "x@x.onion", subscription: "to", ask: false, approved: false, groups: [] });
      store.roster.putPendingIn(jid, "y@y.onion", "<presence type='subscribe'/>");
      store.offline.push(jid, "<message/>", 1);
      store.vcards.set(jid, "<vCard/>");
    }
    store.accounts.remove("alice@a.onion");

    expect(store.keys.getOnionSeed("alice@a.onion")).toBeUndefined();
    expect(store.roster.list("alice@a.onion")).toEqual([]);
    expect(store.roster.listPendingIn("alice@a.onion")).toEqual([]);
    expect(store.offline.count("alice@a.onion")).toBe(0);
    expect(store.vcards.get("alice@a.onion")).toBeUndefined();

    expect(store.keys.getOnionSeed("bob@b.onion")).toBeDefined();
    expect(store.roster.list("bob@b.onion")).toHaveLength(1);
    expect(store.roster.listPendingIn("bob@b.onion")).toHaveLength(1);
    expect(store.offline.count("bob@b.onion")).toBe(1);
    expect(store.vcards.get("bob@b.onion")).toBe("<vCard/>");

    // Check the tables directly too: no orphan rows anywhere.
    store.close();
    const db = new Database(path.join(dir, DATABASE_FILE_NAME));
    for (const table of ["onion_keys", "roster_items", "pending_subscriptions_in", "offline_messages", "vcards"]) {
      const owners = db.prepare(`SELECT DISTINCT owner FROM ${table}`).pluck().all();
      expect({ table, owners }).toEqual({ table, owners: ["bob@b.onion"] });
    }
    db.close();
    store = openStore(dir);
  });

  test("unreadable stored credentials give corrupt, not a crash later in SASL", () => {
    store.accounts.create(account("alice", "a.onion"));
    store.close();
    const db = new Database(path.join(dir, DATABASE_FILE_NAME));
    db.prepare("UPDATE accounts SET credentials = '{\"SHA-1\": 5}'").run();
    db.close();
    store = openStore(dir);
    const err = errorOf(() => store.accounts.get("alice@a.onion"));
    expect(err.code).toBe("corrupt");
    expect(err.message).toMatch(/credentials of alice@a.onion/);
  });
});
