// The s2s outbox table: queue order per pair, both quotas, expiry, and writes that belong to the unit.
import { type Store, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir, errorOf } from "./fixtures.js";

let store: Store | undefined;
const A = "a.onion";
const B = "b.onion";
const X = "x.onion";
const Y = "y.onion";

function open(options = {}): Store {
  store = openStore(tempDir(), options);
  store.accounts.create(account("alice", A));
  store.accounts.create(account("bob", B));
  return store;
}

afterEach(() => {
  store?.close();
  store = undefined;
  cleanupTempDirs();
});

describe("OutboxRepo", () => {
  test("push, list oldest first per pair, count, pairs and remove", () => {
    const s = open();
    const ax1 = s.outbox.push(A, X, "<message id='1'/>", 10, 100);
    const ay1 = s.outbox.push(A, Y, "<message id='y'/>", 11, 100);
    const ax2 = s.outbox.push(A, X, "<message id='2'/>", 5, 50);
    const bx1 = s.outbox.push(B, X, "<presence type='subscribe'/>", 12, 100);
    expect(s.outbox.list(A, X, 10)).toEqual([
      { id: ax1, local: A, remote: X, stanzaXml: "<message id='1'/>", queuedAtMs: 10, expiresAtMs: 100 },
      { id: ax2, local: A, remote: X, stanzaXml: "<message id='2'/>", queuedAtMs: 5, expiresAtMs: 50 },
    ]);
    expect(s.outbox.list(A, X, 1).map((r) => r.id)).toEqual([ax1]);
    expect(s.outbox.list(A, X, 10, ax1).map((r) => r.id)).toEqual([ax2]);
    expect(s.outbox.count(A, X)).toBe(2);
    expect(s.outbox.count(A)).toBe(3);
    expect(s.outbox.pairs()).toEqual([
      { local: A, remote: X },
      { local: A, remote: Y },
      { local: B, remote: X },
    ]);

    s.outbox.remove([ax1, ay1, 999_999]);
    s.outbox.remove([]);
    expect(s.outbox.list(A, X, 10).map((r) => r.id)).toEqual([ax2]);
    expect(s.outbox.pairs()).toEqual([
      { local: A, remote: X },
      { local: B, remote: X },
    ]);
    s.outbox.remove([ax2, bx1]);
    expect(s.outbox.pairs()).toEqual([]);
  });

  test("ids are never reused, so id order is queue order", () => {
    const s = open();
    const first = s.outbox.push(A, X, "<message/>", 1, 2);
    s.outbox.remove([first]);
    expect(s.outbox.push(A, X, "<message/>", 1, 2)).toBeGreaterThan(first);
  });

  test("expired() lists rows whose expiry has come, oldest first, up to a limit", () => {
    const s = open();
    const late = s.outbox.push(A, X, "<message id='late'/>", 0, 300);
    const soon = s.outbox.push(B, Y, "<message id='soon'/>", 0, 100);
    const exact = s.outbox.push(A, Y, "<message id='exact'/>", 0, 200);
    expect(s.outbox.expired(99)).toEqual([]);
    expect(s.outbox.expired(200).map((r) => r.id)).toEqual([soon, exact]);
    expect(s.outbox.expired(1000, 2).map((r) => r.id)).toEqual([late, soon]);
  });

  test("the defaults are 10000 per pair and 50000 per local domain", () => {
    const s = open();
    expect(s.outbox.maxPerPair).toBe(10_000);
    expect(s.outbox.maxPerLocal).toBe(50_000);
  });

  test("the per-pair quota refuses the next stanza for that pair only", () => {
    const s = open({ maxOutboxPerPair: 2 });
    const first = s.outbox.push(A, X, "<message id='1'/>", 1, 9);
    s.outbox.push(A, X, "<message id='2'/>", 1, 9);
    const err = errorOf(() => s.outbox.push(A, X, "<message id='3'/>", 1, 9));
    expect(err.code).toBe("quota");
    expect(err.message).toBe("the outbox from a.onion to x.onion is full (2 stanzas)");
    // Other peers and other accounts are not affected.
    s.outbox.push(A, Y, "<message/>", 1, 9);
    s.outbox.push(B, X, "<message/>", 1, 9);
    s.outbox.remove([first]);
    s.outbox.push(A, X, "<message id='3'/>", 1, 9);
    expect(s.outbox.list(A, X, 10).map((r) => r.stanzaXml)).toEqual(["<message id='2'/>", "<message id='3'/>"]);
  });

  test("the per-local quota counts every peer of one domain together", () => {
    const s = open({ maxOutboxPerPair: 10, maxOutboxPerLocal: 3 });
    s.outbox.push(A, X, "<message/>", 1, 9);
    s.outbox.push(A, Y, "<message/>", 1, 9);
    s.outbox.push(A, "z.onion", "<message/>", 1, 9);
    const err = errorOf(() => s.outbox.push(A, "w.onion", "<message/>", 1, 9));
    expect(err.code).toBe("quota");
    expect(err.message).toBe("the outbox of a.onion is full (3 stanzas for all servers)");
    s.outbox.push(B, X, "<message/>", 1, 9);
    expect(s.outbox.count(A)).toBe(3);
  });

  test("a quota of 0 queues nothing; a bad quota is refused", () => {
    const s = open({ maxOutboxPerPair: 0 });
    expect(errorOf(() => s.outbox.push(A, X, "<message/>", 1, 9)).code).toBe("quota");
    expect(() => openStore(tempDir(), { maxOutboxPerLocal: -1 })).toThrow(RangeError);
  });

  test("an unknown local domain gives not-found", () => {
    const s = open();
    const err = errorOf(() => s.outbox.push("eve.onion", X, "<message/>", 1, 9));
    expect(err.code).toBe("not-found");
    expect(s.outbox.pairs()).toEqual([]);
  });

  test("deleting the account drops its queue", () => {
    const s = open();
    s.outbox.push(A, X, "<message/>", 1, 9);
    s.outbox.push(B, X, "<message/>", 1, 9);
    s.accounts.remove(`alice@${A}`);
    expect(s.outbox.pairs()).toEqual([{ local: B, remote: X }]);
  });

  test("writes belong to the open unit: a unit that throws leaves no row, and removes come back", () => {
    const s = open();
    const kept = s.outbox.push(A, X, "<message id='kept'/>", 1, 9);
    expect(() =>
      s.unit(() => {
        s.outbox.push(A, X, "<message id='gone'/>", 1, 9);
        s.outbox.remove([kept]);
        throw new Error("handler failed");
      }),
    ).toThrow("handler failed");
    expect(s.outbox.list(A, X, 10).map((r) => r.id)).toEqual([kept]);
  });

  test("rows survive closing and reopening the store", () => {
    const dir = tempDir();
    store = openStore(dir);
    store.accounts.create(account("alice", A));
    store.outbox.push(A, X, "<message><body>🧅 &amp; ünï</body></message>", 1, 9);
    store.close();
    store = openStore(dir);
    expect(store.outbox.list(A, X, 10).map((r) => r.stanzaXml)).toEqual(["<message><body>🧅 &amp; ünï</body></message>"]);
  });
});
