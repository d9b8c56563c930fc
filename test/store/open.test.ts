import Database from "better-sqlite3";
import * as fs from "node:fs";
import * as path from "node:path";
import { DATABASE_FILE_NAME, StoreError, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, isRoot, tempDir } from "./fixtures.js";

afterEach(cleanupTempDirs);

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function expectStoreError(fn: () => unknown, code: StoreError["code"], message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StoreError);
  expect((caught as StoreError).code).toBe(code);
  expect((caught as StoreError).message).toMatch(message);
}

describe("openStore", () => {
  test("creates purple-onion.sqlite and its -wal/-shm files with mode 0600, leaving the data dir alone", () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const store = openStore(dir);
    store.accounts.create(account("alice", "a.onion"));
    const file = path.join(dir, DATABASE_FILE_NAME);
    expect(store.path).toBe(file);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      expect(fs.existsSync(f)).toBe(true);
      expect(mode(f)).toBe(0o600);
    }
    expect(mode(dir)).toBe(0o755);
    store.close();
  });

  test.each([
    ["0000", 0o000],
    ["0277", 0o277],
  ])("creates the files 0600 under umask %s", (_label, umask) => {
    const dir = tempDir();
    const file = path.join(dir, DATABASE_FILE_NAME);
    const old = process.umask(umask);
    try {
      const store = openStore(dir);
      store.accounts.create(account("alice", "a.onion"));
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(mode(f)).toBe(0o600);
      store.close();
    } finally {
      process.umask(old);
    }
  });

  test("narrows an existing database file and stale -wal/-shm files that are too open", () => {
    const dir = tempDir();
    const file = path.join(dir, DATABASE_FILE_NAME);
    const first = openStore(dir);
    first.accounts.create(account("alice", "a.onion"));
    first.close();
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(`${file}-shm`, "");
    fs.chmodSync(`${file}-shm`, 0o666);
    const store = openStore(dir);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-shm`)).toBe(0o600);
    expect(store.accounts.get("alice@a.onion")?.domain).toBe("a.onion");
    store.close();
  });

  test("configures WAL, synchronous=FULL, foreign keys and a busy timeout", () => {
    const dir = tempDir();
    openStore(dir, { busyTimeoutMs: 1234 }).close();
    // journal_mode=WAL is stored in the file, so a plain second connection sees it; the other
    // pragmas are per connection and are read from the store's own.
    const db = new Database(path.join(dir, DATABASE_FILE_NAME));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    const store = openStore(dir, { busyTimeoutMs: 1234 });
    const raw = (store as unknown as { db: Database.Database }).db;
    expect(raw.pragma("synchronous", { simple: true })).toBe(2); // FULL
    expect(raw.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(raw.pragma("busy_timeout", { simple: true })).toBe(1234);
    store.close();
  });

  test("data survives close and reopen in every repository", () => {
    const dir = tempDir();
    const seed = Buffer.alloc(32, 7);
    let store = openStore(dir);
    store.accounts.create(account("alice", "a.onion"));
    store.keys.setOnionSeed("alice@a.onion", seed);
    const version = store.roster.put("alice@a.onion", {
      jid: "bob@b.onion",
      name: "Bob",
      subscription: "both",
      ask: false,
      approved: false,
      groups: ["Friends"],
    });
    store.roster.putPendingIn("alice@a.onion", "carol@c.onion", "<presence type='subscribe'/>");
    const id = store.offline.push("alice@a.onion", "<message>hi</message>", 42);
    store.vcards.set("alice@a.onion", "<vCard xmlns='vcard-temp'/>");
    store.settings.set("socks-port", "9050");
    store.close();
    expect(store.isOpen).toBe(false);
    store.close(); // twice is harmless

    store = openStore(dir);
    expect(store.accounts.list().map((a) => a.jid)).toEqual(["alice@a.onion"]);
    expect(store.accounts.get("alice@a.onion")).toEqual(account("alice", "a.onion"));
    expect(store.keys.getOnionSeed("alice@a.onion")).toEqual(seed);
    expect(store.roster.version("alice@a.onion")).toBe(version);
    expect(store.roster.get("alice@a.onion", "bob@b.onion")?.groups).toEqual(["Friends"]);
    expect(store.roster.listPendingIn("alice@a.onion")).toEqual([
      { contact: "carol@c.onion", stanzaXml: "<presence type='subscribe'/>" },
    ]);
    expect(store.offline.list("alice@a.onion")).toEqual([{ id, stanzaXml: "<message>hi</message>", stampMs: 42 }]);
    expect(store.vcards.get("alice@a.onion")).toBe("<vCard xmlns='vcard-temp'/>");
    expect(store.settings.get("socks-port")).toBe("9050");
    store.close();
  });

  test("a data dir that cannot be written gives not-writable with advice", () => {
    const dir = tempDir();
    let target: string;
    if (isRoot) {
      // root writes anywhere whatever the modes; a path below a regular file fails for everyone.
      const file = path.join(dir, "a-file");
      fs.writeFileSync(file, "");
      target = path.join(file, "sub");
    } else {
      target = path.join(dir, "locked");
      fs.mkdirSync(target, { mode: 0o500 });
    }
    expectStoreError(() => openStore(target), "not-writable", /data dir .* is not writable: .*--data-dir/);
    expect(fs.existsSync(path.join(dir, "locked", DATABASE_FILE_NAME))).toBe(false);
  });

  test("a missing data dir gives not-writable saying it does not exist (and it is not created)", () => {
    const missing = path.join(tempDir(), "nope");
    expectStoreError(() => openStore(missing), "not-writable", /does not exist — create it or choose another with --data-dir/);
    expect(fs.existsSync(missing)).toBe(false);
  });

  test("a data dir that is a file gives not-writable", () => {
    const file = path.join(tempDir(), "plain");
    fs.writeFileSync(file, "");
    expectStoreError(() => openStore(file), "not-writable", /is not a directory/);
  });

  test("a database file that is not SQLite gives corrupt and is left untouched", () => {
    const dir = tempDir();
    const file = path.join(dir, DATABASE_FILE_NAME);
    const junk = "this is not a database ".repeat(200);
    fs.writeFileSync(file, junk);
    expectStoreError(() => openStore(dir), "corrupt", /not a usable purple-onion database.*move it aside/);
    expect(fs.readFileSync(file, "utf8")).toBe(junk);
  });

  test("another program's SQLite file gives corrupt", () => {
    const dir = tempDir();
    const db = new Database(path.join(dir, DATABASE_FILE_NAME));
    db.pragma("application_id = 12345");
    db.close();
    expectStoreError(() => openStore(dir), "corrupt", /some other program/);
  });
});

describe("Store.transaction", () => {
  test("commits everything together", () => {
    const store = openStore(tempDir());
    const result = store.transaction(() => {
      store.accounts.create(account("alice", "a.onion"));
      store.settings.set("k", "v");
      return 7;
    });
    expect(result).toBe(7);
    expect(store.accounts.get("alice@a.onion")).toBeDefined();
    expect(store.settings.get("k")).toBe("v");
    store.close();
  });

  test("rolls everything back when fn throws, including nested transactions", () => {
    const store = openStore(tempDir());
    expect(() =>
      store.transaction(() => {
        store.accounts.create(account("alice", "a.onion"));
        store.transaction(() => store.settings.set("k", "v"));
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(store.accounts.list()).toEqual([]);
    expect(store.settings.get("k")).toBeUndefined();
    store.close();
  });

  test("refuses an async function and rolls back what it did synchronously", () => {
    const store = openStore(tempDir());
    expect(() =>
      store.transaction(async () => {
        store.settings.set("k", "v");
      }),
    ).toThrow(TypeError);
    expect(store.settings.get("k")).toBeUndefined();
    store.close();
  });
});
