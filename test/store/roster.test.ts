import { type RosterItem, StoreError, type Store, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "./fixtures.js";

let store: Store;
const ALICE = "alice@a.onion";
const BOB = "bob@b.onion";

beforeEach(() => {
  store = openStore(tempDir());
  store.accounts.create(account("alice", "a.onion"));
  store.accounts.create(account("bob", "b.onion"));
});

afterEach(() => {
  store.close();
  cleanupTempDirs();
});

function item(jid: string, extra: Partial<RosterItem> = {}): RosterItem {
  return { jid, subscription: "none", ask: false, approved: false, groups: [], ...extra };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError) return err.code;
    throw err;
  }
  return "no error";
}

describe("RosterRepo items and versions", () => {
  test("a new roster is empty at version 0", () => {
    expect(store.roster.list(ALICE)).toEqual([]);
    expect(store.roster.version(ALICE)).toBe(0);
    expect(store.roster.get(ALICE, "carol@c.onion")).toBeUndefined();
  });

  test("put adds and replaces items, each put bumping the version", () => {
    const carol = item("carol@c.onion", { name: "Carol", subscription: "to", groups: ["Friends", "Work"] });
    expect(store.roster.put(ALICE, carol)).toBe(1);
    expect(store.roster.put(ALICE, item("dave@d.onion", { ask: true }))).toBe(2);
    expect(store.roster.version(ALICE)).toBe(2);
    expect(store.roster.get(ALICE, "carol@c.onion")).toEqual(carol);
    expect(store.roster.get(ALICE, "dave@d.onion")).toEqual(item("dave@d.onion", { ask: true }));

    const updated = item("carol@c.onion", { subscription: "both", approved: true, groups: [] });
    expect(store.roster.put(ALICE, updated)).toBe(3);
    // the name is gone, not left over from before
    expect(store.roster.get(ALICE, "carol@c.onion")).toEqual(updated);
    expect(store.roster.list(ALICE).map((i) => i.jid)).toEqual(["carol@c.onion", "dave@d.onion"]);
  });

  test("remove deletes an item and bumps the version; removing a missing item changes nothing", () => {
    store.roster.put(ALICE, item("carol@c.onion"));
    expect(store.roster.remove(ALICE, "carol@c.onion")).toBe(2);
    expect(store.roster.get(ALICE, "carol@c.onion")).toBeUndefined();
    expect(store.roster.remove(ALICE, "carol@c.onion")).toBeUndefined();
    expect(store.roster.version(ALICE)).toBe(2);
  });

  test("rosters and versions are per owner", () => {
    store.roster.put(ALICE, item("carol@c.onion"));
    store.roster.put(ALICE, item("dave@d.onion"));
    expect(store.roster.put(BOB, item("carol@c.onion", { subscription: "from" }))).toBe(1);
    expect(store.roster.version(ALICE)).toBe(2);
    expect(store.roster.list(BOB)).toEqual([item("carol@c.onion", { subscription: "from" })]);
    expect(store.roster.get(ALICE, "carol@c.onion")!.subscription).toBe("none");
    expect(store.roster.remove(BOB, "dave@d.onion")).toBeUndefined();
  });

  test("group names and contact names keep any Unicode and order", () => {
    const it = item("carol@c.onion", { name: "Čarol \"C\" 🧅", groups: ["Zeta", "Ålpha", "with,comma"] });
    store.roster.put(ALICE, it);
    expect(store.roster.get(ALICE, "carol@c.onion")).toEqual(it);
  });

  test("an unknown owner gives not-found and no version appears", () => {
    expect(codeOf(() => store.roster.put("eve@e.onion", item("carol@c.onion")))).toBe("not-found");
    expect(store.roster.list("eve@e.onion")).toEqual([]);
    expect(store.roster.version("eve@e.onion")).toBe(0);
  });

  test("an invalid subscription is refused before touching the version", () => {
    const bad = { ...item("carol@c.onion"), subscription: "maybe" } as unknown as RosterItem;
    expect(() => store.roster.put(ALICE, bad)).toThrow(RangeError);
    expect(store.roster.version(ALICE)).toBe(0);
  });

  test("a put inside a failed transaction rolls back the version too", () => {
    expect(() =>
      store.transaction(() => {
        store.roster.put(ALICE, item("carol@c.onion"));
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(store.roster.version(ALICE)).toBe(0);
    expect(store.roster.list(ALICE)).toEqual([]);
  });
});

describe("RosterRepo pending inbound subscriptions", () => {
  test("stored until answered, in arrival order, a repeat replacing the earlier stanza", () => {
    store.roster.putPendingIn(ALICE, "zed@z.onion", "<presence from='zed@z.onion' type='subscribe'/>");
    store.roster.putPendingIn(ALICE, "carol@c.onion", "<presence from='carol@c.onion' type='subscribe'/>");
    store.roster.putPendingIn(
      ALICE,
      "zed@z.onion",
      "<presence from='zed@z.onion' type='subscribe'><status>again</status></presence>",
    );
    expect(store.roster.listPendingIn(ALICE)).toEqual([
      { contact: "zed@z.onion", stanzaXml: "<presence from='zed@z.onion' type='subscribe'><status>again</status></presence>" },
      { contact: "carol@c.onion", stanzaXml: "<presence from='carol@c.onion' type='subscribe'/>" },
    ]);
    expect(store.roster.listPendingIn(BOB)).toEqual([]);

    expect(store.roster.removePendingIn(ALICE, "zed@z.onion")).toBe(true);
    expect(store.roster.removePendingIn(ALICE, "zed@z.onion")).toBe(false);
    expect(store.roster.listPendingIn(ALICE).map((p) => p.contact)).toEqual(["carol@c.onion"]);
  });

  test("do not change the roster version", () => {
    store.roster.putPendingIn(ALICE, "carol@c.onion", "<presence/>");
    store.roster.removePendingIn(ALICE, "carol@c.onion");
    expect(store.roster.version(ALICE)).toBe(0);
  });

  test("an unknown owner gives not-found", () => {
    expect(codeOf(() => store.roster.putPendingIn("eve@e.onion", "carol@c.onion", "<presence/>"))).toBe("not-found");
  });
});
