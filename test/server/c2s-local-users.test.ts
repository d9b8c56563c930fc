// The c2s port is for the daemon's own user. Another local user (a real
// process running as `nobody`) gets the connection closed before a single
// byte, cannot learn which onions are hosted here, cannot take connection
// slots, and cannot flood the log. The gate's own rules (batched, rate-limited
// table reads; a bounded wait queue) are tested with a scripted table.
import { createServer, connect, type Server, type Socket } from "node:net";
import { createLogger } from "../../src/daemon/logger.js";
import { LocalPeerGate } from "../../src/net/local-peer-gate.js";
import type { TcpSocketEntry } from "../../src/net/socket-owner.js";
import { PassThrough } from "node:stream";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { connectAsOtherUser } from "../support/other-user.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { requires } from "../support/requires.js";

requires("other-user").describe("a client run by another local user", () => {
  let d: InProcessDaemon;
  let domain: string;
  beforeAll(async () => {
    d = await startDaemon(["alice"], { limits: { maxConnections: 2 } });
    domain = d.accounts.alice!.jid.split("@")[1]!;
  });
  afterAll(() => d.stop());

  test("is closed before a single byte: not even a stream header tells it whether an onion is hosted here", async () => {
    const hosted = await connectAsOtherUser(d.port, RawXmpp.header(domain));
    const notHosted = await connectAsOtherUser(d.port, RawXmpp.header("aaaa.onion"));
    for (const r of [hosted, notHosted]) {
      expect(r.uid).toBe(65534);
      expect(r.received).toBe("");
      expect(r.ending).toMatch(/^(closed|error: ECONNRESET)$/);
    }
    expect(d.logText()).toMatch(/refused a connection to the c2s listener: its socket belongs to nobody \(uid 65534\)/);
  });

  test("does not take connection slots: with a limit of 2, our own user still logs in after 6 strangers", async () => {
    const strangers = await Promise.all(Array.from({ length: 6 }, () => connectAsOtherUser(d.port, "", { waitMs: 3000 })));
    expect(strangers.every((s) => s.received === "" && s.ending !== "timeout")).toBe(true);
    const mine = await Promise.all([RawXmpp.connect(d.port), RawXmpp.connect(d.port)]);
    try {
      expect(await mine[0]!.login(d.accounts.alice!.jid, d.accounts.alice!.password)).toMatch(/\/raw$/);
      mine[1]!.send(RawXmpp.header(domain));
      await mine[1]!.waitFor("</stream:features>");
    } finally {
      for (const c of mine) c.close();
    }
  });

  test("refusals are logged once a minute at most, not once per connection", () => {
    const lines = d.logText().split("\n").filter((l) => l.includes("refused a connection to the c2s listener"));
    expect(lines).toHaveLength(1);
  });
});

describe("LocalPeerGate with a scripted socket table", () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];
  const clients: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterEach(() => {
    for (const s of [...accepted.splice(0), ...clients.splice(0)]) s.destroy();
  });
  afterAll(() => new Promise((r) => server.close(r)));

  async function connections(n: number): Promise<Socket[]> {
    const start = accepted.length;
    for (let i = 0; i < n; i++) clients.push(connect({ host: "127.0.0.1", port }));
    while (accepted.length < start + n) await new Promise((r) => setTimeout(r, 5));
    return accepted.slice(start);
  }
  /** A table in which the client end of each socket belongs to uidOf(its port). */
  function tableFor(sockets: Socket[], uidOf: (i: number) => number): TcpSocketEntry[] {
    return sockets.map((s, i) => ({
      local: { address: "127.0.0.1", port: s.remotePort! },
      remote: { address: "127.0.0.1", port: s.localPort! },
      state: 1,
      uid: uidOf(i),
      inode: i,
    }));
  }
  function gate(readTable: () => TcpSocketEntry[], extra: Partial<ConstructorParameters<typeof LocalPeerGate>[0]> = {}) {
    const stream = new PassThrough();
    let log = "";
    stream.on("data", (c: Buffer) => (log += c.toString()));
    const g = new LocalPeerGate({ allowedUid: 1000, what: "test", log: createLogger({ level: "info", stream }), readTable, supported: true, ...extra });
    return { g, log: () => log };
  }

  test("admits the allowed uid, refuses another uid and a peer missing from the table", async () => {
    const socks = await connections(3);
    const table = tableFor(socks.slice(0, 2), (i) => (i === 0 ? 1000 : 1001));
    const { g, log } = gate(() => table);
    expect(await Promise.all(socks.map((s) => g.check(s)))).toEqual(["admitted", "other-user", "unknown-peer"]);
    expect(socks[0]!.destroyed).toBe(false);
    expect(socks[1]!.destroyed && socks[2]!.destroyed).toBe(true);
    expect(log()).toMatch(/uid 1001/);
  });

  test("connections waiting together are answered by one table read; reads are spaced by the minimum interval", async () => {
    const socks = await connections(10);
    let reads = 0;
    const readAt: number[] = [];
    const { g } = gate(() => {
      reads++;
      readAt.push(Date.now());
      return tableFor(socks, () => 1000);
    }, { minReadIntervalMs: 100 });
    expect(await Promise.all(socks.map((s) => g.check(s)))).toEqual(Array(10).fill("admitted"));
    expect(reads).toBe(1);
    const more = await connections(2);
    await g.check(more[0]!);
    await g.check(more[1]!);
    expect(reads).toBe(3);
    expect(readAt[2]! - readAt[1]!).toBeGreaterThanOrEqual(95);
  });

  test("past the wait queue, connections are refused unread (a flood costs no table reads)", async () => {
    const socks = await connections(5);
    let reads = 0;
    const { g } = gate(() => (reads++, tableFor(socks, () => 1000)), { maxWaiting: 2 });
    const verdicts = await Promise.all(socks.map((s) => g.check(s)));
    expect(verdicts).toEqual(["admitted", "admitted", "busy", "busy", "busy"]);
    expect(reads).toBe(1);
  });

  test("where the tables cannot be read, everything is admitted (and the daemon says so at start)", async () => {
    const socks = await connections(1);
    const { g } = gate(() => [], { supported: false });
    expect(await g.check(socks[0]!)).toBe("admitted");
  });
});
