import { type Store, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir, errorOf } from "./fixtures.js";

let store: Store | undefined;
const ALICE = "alice@a.onion";
const BOB = "bob@b.onion";

function open(options = {}): Store {
  store = openStore(tempDir(), options);
  store.accounts.create(account("alice", "a.onion"));
  store.accounts.create(account("bob", "b.onion"));
  return store;
}

afterEach(() => {
  store?.close();
  store = undefined;
  cleanupTempDirs();
});

describe("OfflineRepo", () => {
  test("push, list oldest first, count and remove", () => {
    const s = open();
    const a1 = s.offline.push(ALICE, "<message id='1'/>", 3000);
    const b1 = s.offline.push(BOB, "<message id='b'/>", 1000);
    // Order is arrival order, not the stamp: a stanza stamped earlier but stored later comes later.
    const a2 = s.offline.push(ALICE, "<message id='2'/>", 2000);
    expect(a2).toBeGreaterThan(a1);
    expect(s.offline.list(ALICE)).toEqual([
      { id: a1, stanzaXml: "<message id='1'/>", stampMs: 3000 },
      { id: a2, stanzaXml: "<message id='2'/>", stampMs: 2000 },
    ]);
    expect(s.offline.count(ALICE)).toBe(2);
    expect(s.offline.count(BOB)).toBe(1);

    s.offline.remove([a1, 999_999]);
    expect(s.offline.list(ALICE).map((m) => m.id)).toEqual([a2]);
    s.offline.remove([]);
    s.offline.remove([a2, b1]);
    expect(s.offline.count(ALICE)).toBe(0);
    expect(s.offline.list(BOB)).toEqual([]);
  });

  test("ids are never reused, even after the newest message is removed", () => {
    const s = open();
    const first = s.offline.push(ALICE, "<message/>", 1);
    s.offline.remove([first]);
    expect(s.offline.push(ALICE, "<message/>", 2)).toBeGreaterThan(first);
  });

  test("the default quota is 1000 per account", () => {
    const s = open();
    expect(s.offline.maxPerAccount).toBe(1000);
    s.transaction(() => {
      for (let i = 0; i < 1000; i++) s.offline.push(ALICE, `<message id='${i}'/>`, i);
    });
    const err = errorOf(() => s.offline.push(ALICE, "<message id='over'/>", 0));
    expect(err.code).toBe("quota");
    expect(err.message).toBe("offline storage for alice@a.onion is full (1000 messages)");
    expect(s.offline.count(ALICE)).toBe(1000);
  });

  test("a configured quota is per account and frees up as messages are removed", () => {
    const s = open({ maxOfflinePerAccount: 3 });
    const ids = [1, 2, 3].map((i) => s.offline.push(ALICE, `<message id='${i}'/>`, i));
    expect(errorOf(() => s.offline.push(ALICE, "<message/>", 4)).code).toBe("quota");
    // bob is not affected by alice's full box
    s.offline.push(BOB, "<message/>", 4);
    s.offline.remove([ids[0]!]);
    s.offline.push(ALICE, "<message id='4'/>", 4);
    expect(s.offline.list(ALICE).map((m) => m.stanzaXml)).toEqual([
      "<message id='2'/>",
      "<message id='3'/>",
      "<message id='4'/>",
    ]);
  });

  test("a quota of 0 stores nothing", () => {
    const s = open({ maxOfflinePerAccount: 0 });
    expect(errorOf(() => s.offline.push(ALICE, "<message/>", 1)).code).toBe("quota");
  });

  test("an unknown owner gives not-found", () => {
    const s = open();
    const err = errorOf(() => s.offline.push("eve@e.onion", "<message/>", 1));
    expect(err.code).toBe("not-found");
    expect(s.offline.count("eve@e.onion")).toBe(0);
    expect(s.offline.list("eve@e.onion")).toEqual([]);
  });

  test("large and non-ASCII stanzas round-trip exactly", () => {
    const s = open();
    const body = "🧅 ünïcödé & <escaped> ".repeat(10_000);
    const id = s.offline.push(ALICE, `<message><body>${body}</body></message>`, 5);
    expect(s.offline.list(ALICE)).toEqual([{ id, stanzaXml: `<message><body>${body}</body></message>`, stampMs: 5 }]);
  });
});
