// A unit of work: its store writes commit together, and what it sends is handed over only after
// the commit, in order; a unit that throws leaves neither writes nor stanzas behind.
import { jest } from "@jest/globals";
import { silentLogger } from "../../src/daemon/logger.js";
import { PendingIqs, type IqWaiter } from "../../src/server/pending-iqs.js";
import { UnitsOfWork, type StanzaSink } from "../../src/server/unit-of-work.js";
import { openStore, type Store } from "../../src/store/store.js";
import { xml, type Element } from "../../src/xmpp/xml.js";
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

describe("PendingIqs", () => {
  function ping(id: string, to = "alice@a.onion/pc"): Element {
    return xml("iq", { type: "get", id, from: "a.onion", to }, xml("ping", { xmlns: "urn:xmpp:ping" }));
  }
  function waiter(): IqWaiter & { answers: Element[]; abandons: string[] } {
    const w = {
      answers: [] as Element[],
      abandons: [] as string[],
      answered: (_u: unknown, reply: Element) => void w.answers.push(reply),
      abandoned: (_u: unknown, why: string) => void w.abandons.push(why),
    };
    return w;
  }
  const reply = (id: string, from = "alice@a.onion/pc", type = "result") => xml("iq", { type, id, from });

  test("the answer from the addressee reaches the waiter once; others are ignored", () => {
    const iqs = new PendingIqs(units, silentLogger());
    const sink = new Sink();
    const w = waiter();
    units.run((unit) => iqs.send(unit, sink, ping("p1"), w));
    expect(sink.got[0]).toContain('id="p1"');
    expect(iqs.size).toBe(1);
    // Someone else who learnt the id, an unknown id, a get with that id: not answers.
    expect(units.run((unit) => iqs.answer(unit, reply("p1", "alice@a.onion/other")))).toBe(false);
    expect(units.run((unit) => iqs.answer(unit, reply("p2")))).toBe(false);
    expect(units.run((unit) => iqs.answer(unit, reply("p1", "alice@a.onion/pc", "get")))).toBe(false);
    expect(w.answers).toHaveLength(0);
    // An error answers too: it proves the iq arrived.
    expect(units.run((unit) => iqs.answer(unit, reply("p1", "alice@a.onion/pc", "error")))).toBe(true);
    expect(units.run((unit) => iqs.answer(unit, reply("p1")))).toBe(false);
    expect(w.answers.map((a) => a.attrs.type)).toEqual(["error"]);
    expect(iqs.size).toBe(0);
  });

  test("an answer whose unit fails leaves the iq awaited", () => {
    const iqs = new PendingIqs(units, silentLogger());
    const w = waiter();
    units.run((unit) => iqs.send(unit, new Sink(), ping("p1"), w));
    expect(() =>
      units.run((unit) => {
        iqs.answer(unit, reply("p1"));
        throw new Error("the store failed");
      }),
    ).toThrow();
    expect(iqs.size).toBe(1);
    units.run((unit) => iqs.answer(unit, reply("p1")));
    expect(w.answers).toHaveLength(2);
    expect(iqs.size).toBe(0);
  });

  test("an iq sent in a unit that rolls back is neither sent nor awaited", () => {
    const iqs = new PendingIqs(units, silentLogger());
    const sink = new Sink();
    expect(() =>
      units.run((unit) => {
        iqs.send(unit, sink, ping("p1"), waiter());
        throw new Error("no");
      }),
    ).toThrow();
    expect(sink.got).toEqual([]);
    expect(iqs.size).toBe(0);
  });

  test("closing the stream abandons what went out on it, and only that", () => {
    const iqs = new PendingIqs(units, silentLogger());
    const a = new Sink();
    const b = new Sink();
    const wa = waiter();
    const wb = waiter();
    units.run((unit) => {
      iqs.send(unit, a, ping("pa"), wa);
      iqs.send(unit, b, ping("pb", "alice@a.onion/phone"), wb);
    });
    units.run((unit) => iqs.sinkClosed(unit, a));
    expect(wa.abandons).toEqual(["gone"]);
    expect(wb.abandons).toEqual([]);
    expect(iqs.size).toBe(1);
  });

  test("a timeout abandons the iq in a unit of its own", async () => {
    const iqs = new PendingIqs(units, silentLogger());
    let inUnit = false;
    const abandoned = new Promise<string>((resolve) => {
      units.run((unit) =>
        iqs.send(
          unit,
          new Sink(),
          ping("p1"),
          {
            answered: () => undefined,
            abandoned: (u, why) => {
              inUnit = u !== undefined;
              resolve(why);
            },
          },
          20,
        ),
      );
    });
    expect(await abandoned).toBe("timeout");
    expect(inUnit).toBe(true);
    expect(iqs.size).toBe(0);
    // Too late: the answer is not one any more.
    expect(units.run((unit) => iqs.answer(unit, reply("p1")))).toBe(false);
  });
});
