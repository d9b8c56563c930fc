// The durable s2s outbox with a real store and fake links: rows commit with their unit, go out in
// order a batch at a time, leave only when confirmed, come back on the next link, back off while a
// peer is unreachable, expire into bounces, and survive a restart.
import { jest } from "@jest/globals";
import { silentLogger } from "../../src/daemon/logger.js";
import { S2sOutbox, type OutboxLink, type S2sOutboxOptions } from "../../src/s2s/outbox.js";
import { UnitsOfWork } from "../../src/server/unit-of-work.js";
import { openStore, type Store, type StoreOptions } from "../../src/store/store.js";
import { xml, type Element } from "../../src/xmpp/xml.js";
import { account, cleanupTempDirs, tempDir } from "../store/fixtures.js";

const A = "a.onion";
const X = "x.onion";
const Y = "y.onion";

class FakeLink implements OutboxLink {
  readonly sent: string[] = [];
  private readonly waiting: ((ok: boolean) => void)[] = [];
  send(stanza: string): void {
    this.sent.push(stanza);
  }
  confirm(cb: (ok: boolean) => void): void {
    this.waiting.push(cb);
  }
  get confirms(): number {
    return this.waiting.length;
  }
  /** The peer answers the oldest outstanding ping (or the stream closes: false). */
  answer(ok = true): void {
    this.waiting.shift()!(ok);
  }
}

interface Bounce {
  local: string;
  remote: string;
  stanza: string;
  reason: string;
}

let dir: string;
let store: Store;
let units: UnitsOfWork;
let outbox: S2sOutbox;
let clock: number;
let connects: string[];
let bounces: Bounce[];

function start(options: Partial<S2sOutboxOptions> = {}, storeOptions: StoreOptions = {}, reuseDir = false): void {
  if (!reuseDir) dir = tempDir();
  store = openStore(dir, storeOptions);
  if (!reuseDir) store.accounts.create(account("alice", A));
  units = new UnitsOfWork(store, silentLogger());
  connects = [];
  bounces = [];
  outbox = new S2sOutbox(
    {
      store,
      units,
      log: silentLogger(),
      needConnection: (local, remote) => connects.push(`${local}>${remote}`),
      expired: (_unit, local, remote, stanza, reason) => bounces.push({ local, remote, stanza: stanza.toString(), reason }),
    },
    { now: () => clock, random: () => 0, ...options },
  );
}

function message(id: string): Element {
  return xml("message", { from: `alice@${A}`, to: `xavier@${X}`, id }, xml("body", {}, id));
}

function enqueue(ids: string[], remote = X): void {
  for (const id of ids) units.run((unit) => expect(outbox.enqueue(unit, A, remote, message(id))).toBe("queued"));
}

/** The ids of the messages a link was given, in order. */
function ids(link: FakeLink): string[] {
  return link.sent.map((s) => /id="([^"]+)"/.exec(s)![1]!);
}

function queued(remote = X): string[] {
  return store.outbox.list(A, remote, 100_000).map((r) => /id="([^"]+)"/.exec(r.stanzaXml)![1]!);
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  clock = 1_000_000;
  start();
});
afterEach(() => {
  outbox.close();
  store.close();
  jest.useRealTimers();
  cleanupTempDirs();
});

describe("S2sOutbox", () => {
  test("a queued stanza asks for a connection once, goes out in order when attached, and leaves when confirmed", () => {
    enqueue(["1", "2", "3"]);
    expect(connects).toEqual([`${A}>${X}`]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(ids(link)).toEqual(["1", "2", "3"]);
    expect(link.confirms).toBe(1);
    expect(queued()).toEqual(["1", "2", "3"]);
    link.answer(true);
    expect(queued()).toEqual([]);
    // Attached: a new stanza goes straight out, with its own confirm.
    enqueue(["4"]);
    expect(ids(link)).toEqual(["1", "2", "3", "4"]);
    expect(connects).toHaveLength(1);
  });

  test("a unit that throws leaves no row and wakes nothing", () => {
    const link = new FakeLink();
    expect(() =>
      units.run((unit) => {
        outbox.enqueue(unit, A, X, message("lost"));
        throw new Error("handler failed");
      }),
    ).toThrow("handler failed");
    expect(store.outbox.count(A, X)).toBe(0);
    expect(connects).toEqual([]);
    outbox.attach(A, X, link);
    expect(link.sent).toEqual([]);
  });

  test("nothing leaves before the unit commits", () => {
    const link = new FakeLink();
    outbox.attach(A, X, link);
    units.run((unit) => {
      outbox.enqueue(unit, A, X, message("1"));
      expect(link.sent).toEqual([]);
    });
    expect(ids(link)).toEqual(["1"]);
  });

  test("a link attached inside a unit gets only what that unit commits", async () => {
    enqueue(["1"]);
    const link = new FakeLink();
    expect(() =>
      units.run((unit) => {
        outbox.enqueue(unit, A, X, message("rolled-back"));
        outbox.attach(A, X, link);
        expect(link.sent).toEqual([]);
        throw new Error("handler failed");
      }),
    ).toThrow();
    expect(ids(link)).toEqual([]);
    // The link is attached all the same (a stream is not undone by a rollback): once the unit is
    // over, it gets the committed rows.
    await tick();
    expect(ids(link)).toEqual(["1"]);
  });

  test("a full pair gives full and queues nothing", () => {
    outbox.close();
    store.close();
    start({}, { maxOutboxPerPair: 2 });
    enqueue(["1", "2"]);
    units.run((unit) => expect(outbox.enqueue(unit, A, X, message("3"))).toBe("full"));
    expect(queued()).toEqual(["1", "2"]);
    enqueue(["other"], Y);
  });

  test("rows go a bounded batch at a time and are not handed out twice on one link", () => {
    outbox.close();
    store.close();
    start({ batchSize: 3, maxBatchesInFlight: 2 });
    enqueue(["1", "2", "3", "4", "5", "6", "7", "8"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(ids(link)).toEqual(["1", "2", "3", "4", "5", "6"]);
    expect(link.confirms).toBe(2);
    enqueue(["9"]);
    expect(link.sent).toHaveLength(6);
    link.answer(true);
    expect(queued()).toEqual(["4", "5", "6", "7", "8", "9"]);
    expect(ids(link)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    link.answer(true);
    link.answer(true);
    expect(queued()).toEqual([]);
    expect(link.sent).toHaveLength(9);
  });

  test("a batch also stops at maxBatchBytes, but holds at least one row", () => {
    outbox.close();
    store.close();
    start({ maxBatchBytes: 10, maxBatchesInFlight: 1 });
    enqueue(["1", "2"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(ids(link)).toEqual(["1"]);
    link.answer(true);
    expect(ids(link)).toEqual(["1", "2"]);
  });

  test("an unconfirmed batch stays, and the next link gets it again after a detach", () => {
    enqueue(["1", "2"]);
    const first = new FakeLink();
    outbox.attach(A, X, first);
    outbox.detach(A, X, first);
    first.answer(false);
    expect(queued()).toEqual(["1", "2"]);
    const second = new FakeLink();
    outbox.attach(A, X, second);
    expect(ids(second)).toEqual(["1", "2"]);
    second.answer(true);
    expect(queued()).toEqual([]);
  });

  test("a failed confirm counts as a detach: nothing more goes on that link", () => {
    enqueue(["1"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    link.answer(false);
    enqueue(["2"]);
    expect(ids(link)).toEqual(["1"]);
    expect(queued()).toEqual(["1", "2"]);
  });

  test("a link whose stream is already closed may answer confirm() at once", () => {
    enqueue(["1", "2"]);
    const closed: OutboxLink = { send: () => undefined, confirm: (cb) => cb(false) };
    outbox.attach(A, X, closed);
    expect(queued()).toEqual(["1", "2"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(ids(link)).toEqual(["1", "2"]);
  });

  test("a late confirm from a detached link still deletes what the peer got", () => {
    enqueue(["1"]);
    const old = new FakeLink();
    outbox.attach(A, X, old);
    const fresh = new FakeLink();
    outbox.attach(A, X, fresh);
    expect(ids(fresh)).toEqual(["1"]);
    old.answer(true);
    expect(queued()).toEqual([]);
    fresh.answer(true);
    // A detach of a link that was already replaced changes nothing.
    outbox.detach(A, X, old);
    enqueue(["2"]);
    expect(ids(fresh)).toEqual(["1", "2"]);
  });

  test("a confirm answered inside another unit deletes in that unit", async () => {
    outbox.close();
    store.close();
    start({ maxBatchesInFlight: 1 });
    enqueue(["1"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(() =>
      units.run(() => {
        link.answer(true);
        throw new Error("the unit handling the pong failed");
      }),
    ).toThrow();
    expect(queued()).toEqual(["1"]);
    // The link is not stalled: its slot frees once that unit is over, and new rows go out.
    await tick();
    enqueue(["2"]);
    expect(ids(link)).toEqual(["1", "2"]);
  });
});

describe("S2sOutbox retries", () => {
  beforeEach(() => jest.useFakeTimers());

  test("connectFailed retries after 5 s doubling to 10 min; wake does not hurry it; a confirmed batch resets it", () => {
    enqueue(["1"]);
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      expect(connects).toHaveLength(i + 1);
      outbox.connectFailed(A, X, "tor: host unreachable");
      const before = Date.now();
      enqueue([`more${i}`]);
      expect(connects).toHaveLength(i + 1);
      jest.advanceTimersToNextTimer();
      delays.push(Date.now() - before);
    }
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 600, 600, 600].map((s) => s * 1000));
    const link = new FakeLink();
    outbox.attach(A, X, link);
    link.answer(true);
    outbox.detach(A, X, link);
    enqueue(["after"]);
    outbox.connectFailed(A, X, "again");
    const before = Date.now();
    jest.advanceTimersToNextTimer();
    expect(Date.now() - before).toBe(5000);
  });

  test("a late or repeated connectFailed does not push the retry further out", () => {
    enqueue(["1"]);
    outbox.connectFailed(A, X, "down");
    outbox.connectFailed(A, X, "down again");
    jest.advanceTimersByTime(5000);
    expect(connects).toHaveLength(2);
  });

  test("a peer that authenticates a stream to us ends the backoff at once; without a retry waiting, nothing happens", () => {
    enqueue(["1"]);
    outbox.connectFailed(A, X, "down");
    outbox.connectFailed(A, X, "down");
    expect(connects).toHaveLength(1);
    outbox.peerSeen(A, X);
    expect(connects).toHaveLength(2);
    outbox.peerSeen(A, X); // connecting, no retry waiting: no second dial
    expect(connects).toHaveLength(2);
  });

  test("tor coming back ends every backoff at once", () => {
    enqueue(["1"]);
    outbox.connectFailed(A, X, "tor is not running");
    expect(connects).toHaveLength(1);
    outbox.retryWaiting();
    expect(connects).toHaveLength(2);
    outbox.retryWaiting(); // already connecting: nothing more
    expect(connects).toHaveLength(2);
  });

  test("jitter shortens a delay by up to a fifth", () => {
    outbox.close();
    store.close();
    start({ random: () => 1 });
    enqueue(["1"]);
    outbox.connectFailed(A, X, "down");
    const before = Date.now();
    jest.advanceTimersToNextTimer();
    expect(Date.now() - before).toBe(4000);
    expect(connects).toHaveLength(2);
  });

  test("a stream lost with rows unconfirmed reconnects after a backoff", () => {
    enqueue(["1"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    outbox.detach(A, X, link);
    expect(connects).toHaveLength(1);
    jest.advanceTimersByTime(5000);
    expect(connects).toHaveLength(2);
  });

  test("a connection request with no answer times out into a retry", () => {
    enqueue(["1"]);
    jest.advanceTimersByTime(2 * 60_000);
    expect(connects).toHaveLength(1);
    jest.advanceTimersByTime(5000);
    expect(connects).toHaveLength(2);
  });

  test("a retry with nothing left to send does not connect", () => {
    enqueue(["1"]);
    outbox.connectFailed(A, X, "down");
    store.outbox.remove(store.outbox.list(A, X, 10).map((r) => r.id));
    jest.advanceTimersByTime(10 * 60_000);
    expect(connects).toHaveLength(1);
  });

  test("close() clears every timer", () => {
    enqueue(["1"]);
    outbox.resume();
    outbox.connectFailed(A, X, "down");
    outbox.close();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe("S2sOutbox expiry and restart", () => {
  test("a row past its age is removed and bounced with a reason", () => {
    outbox.close();
    store.close();
    start({ maxAgeMs: 3 * 24 * 3_600_000 });
    enqueue(["old"]);
    outbox.connectFailed(A, X, "tor: host unreachable");
    clock += 2 * 24 * 3_600_000;
    enqueue(["young"]);
    clock += 24 * 3_600_000;
    outbox.expireNow();
    expect(queued()).toEqual(["young"]);
    expect(bounces).toEqual([
      { local: A, remote: X, stanza: message("old").toString(), reason: "x.onion could not be reached for 3 days (tor: host unreachable)" },
    ]);
  });

  test("a row on an attached link waits for its confirm instead of expiring", () => {
    enqueue(["1"]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    clock += 4 * 24 * 3_600_000;
    outbox.expireNow();
    expect(bounces).toEqual([]);
    link.answer(true);
    expect(queued()).toEqual([]);
  });

  test("the periodic check expires rows", () => {
    jest.useFakeTimers();
    outbox.close();
    store.close();
    start({ maxAgeMs: 1000, expiryCheckMs: 60_000 });
    enqueue(["1"]);
    outbox.resume();
    clock += 1000;
    expect(bounces).toEqual([]);
    jest.advanceTimersByTime(60_000);
    expect(bounces.map((b) => b.remote)).toEqual([X]);
    expect(queued()).toEqual([]);
  });

  test("rows survive a restart: resume() bounces the expired and wakes every pair with rows", () => {
    outbox.close();
    store.close();
    start({ maxAgeMs: 10_000 });
    enqueue(["stale"], Y);
    clock += 5000;
    enqueue(["1", "2"]);
    outbox.close();
    store.close();

    clock += 6000;
    start({ maxAgeMs: 10_000 }, {}, true);
    expect(connects).toEqual([]);
    outbox.resume();
    expect(bounces.map((b) => b.remote)).toEqual([Y]);
    expect(connects).toEqual([`${A}>${X}`]);
    const link = new FakeLink();
    outbox.attach(A, X, link);
    expect(ids(link)).toEqual(["1", "2"]);
  });
});
