// A unit of work: its store writes commit together, and what it sends is handed over only after
// the commit, in order; a unit that throws leaves neither writes nor stanzas behind.
import { jest } from "@jest/globals";
import { silentLogger } from "../../src/daemon/logger.js";
import { UnitsOfWork, type StanzaSink } from "../../src/server/unit-of-work.js";
import { openStore, type Store } from "../../src/store/store.js";
import type { Element } from "../../src/xmpp/xml.js";
import { account, cleanupTempDirs, tempDir } from "../store/fixtures.js";

const ALICE = "alice@a.onion";
let store: Store;
let units: UnitsOfWork;

class Sink implements StanzaSink {
  readonly got: string[] = [];
  send(stanza: Element | string): void {
    this.got.push(stanza.toString());
  }
}

function item(jid: string) {
  return { jid, subscription: "none" as const, ask: false, approved: false, groups: [] };
}

beforeEach(() => {
  store = openStore(tempDir());
  store.accounts.create(account("alice", "a.onion"));
  units = new UnitsOfWork(store, silentLogger());
});
afterEach(() => {
  store.close();
  cleanupTempDirs();
});

describe("UnitsOfWork", () => {
  test("stanzas leave after the commit, in the order they were queued", () => {
    const sink = new Sink();
    const other = new Sink();
    units.run((unit) => {
      store.roster.put(ALICE, item("bob@b.onion"));
      unit.send(sink, "<one/>");
      unit.send(other, "<two/>");
      unit.send(sink, "<three/>");
      // Nothing handed over yet, while the transaction is open.
      expect(sink.got).toEqual([]);
      expect(other.got).toEqual([]);
    });
    expect(sink.got).toEqual(["<one/>", "<three/>"]);
    expect(other.got).toEqual(["<two/>"]);
    expect(store.roster.get(ALICE, "bob@b.onion")).toBeDefined();
  });

  test("a unit that throws rolls back its writes and sends nothing", () => {
    const sink = new Sink();
    const hook = jest.fn();
    expect(() =>
      units.run((unit) => {
        store.roster.put(ALICE, item("bob@b.onion"));
        store.roster.putPendingIn(ALICE, "carol@c.onion", "<presence type='subscribe'/>");
        unit.send(sink, "<push/>");
        unit.afterCommit(hook);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(sink.got).toEqual([]);
    expect(hook).not.toHaveBeenCalled();
    expect(store.roster.list(ALICE)).toEqual([]);
    expect(store.roster.listPendingIn(ALICE)).toEqual([]);
    expect(store.roster.version(ALICE)).toBe(0);
  });

  test("after-commit hooks run before the stanzas are handed over", () => {
    const order: string[] = [];
    const sink = { send: (s: Element | string) => order.push(`send ${s.toString()}`) };
    units.run((unit) => {
      unit.send(sink, "<a/>");
      unit.afterCommit(() => order.push("hook"));
    });
    expect(order).toEqual(["hook", "send <a/>"]);
  });

  test("attempt() undoes only its own part: writes, stanzas and hooks", () => {
    const sink = new Sink();
    const hooks: string[] = [];
    units.run((unit) => {
      store.roster.put(ALICE, item("bob@b.onion"));
      unit.send(sink, "<kept/>");
      unit.afterCommit(() => hooks.push("kept"));
      expect(() =>
        unit.attempt(() => {
          store.roster.put(ALICE, item("carol@c.onion"));
          unit.send(sink, "<dropped/>");
          unit.afterCommit(() => hooks.push("dropped"));
          throw new Error("handler failed");
        }),
      ).toThrow("handler failed");
      unit.send(sink, "<after/>");
    });
    expect(sink.got).toEqual(["<kept/>", "<after/>"]);
    expect(hooks).toEqual(["kept"]);
    expect(store.roster.list(ALICE).map((i) => i.jid)).toEqual(["bob@b.onion"]);
    expect(store.roster.version(ALICE)).toBe(1);
  });

  test("a unit opened inside another joins it: one commit, one hand-over", () => {
    const sink = new Sink();
    expect(() =>
      units.run((outer) => {
        units.run((inner) => {
          expect(inner).toBe(outer);
          store.roster.put(ALICE, item("bob@b.onion"));
          inner.send(sink, "<inner/>");
        });
        expect(sink.got).toEqual([]);
        throw new Error("outer fails");
      }),
    ).toThrow("outer fails");
    expect(sink.got).toEqual([]);
    expect(store.roster.list(ALICE)).toEqual([]);
  });

  test("a send that closes a session opens its own unit after the first committed", () => {
    const sink = new Sink();
    const closing: StanzaSink = {
      // A session that stops reading is torn down from inside send(): its close is a new unit.
      send: () => units.run((unit) => unit.send(sink, "<unavailable/>")),
    };
    units.run((unit) => {
      unit.send(closing, "<x/>");
      unit.send(sink, "<y/>");
    });
    expect(sink.got).toEqual(["<unavailable/>", "<y/>"]);
  });
});
