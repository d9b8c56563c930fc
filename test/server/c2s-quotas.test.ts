// Per-account and per-connection quotas: each one answers with a clear error
// and keeps everything that was accepted before it.
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";

let server: InProcessDaemon;
let alice: { jid: string; password: string };
let bob: { jid: string; password: string };
const open: RawXmpp[] = [];

async function closeAndWait(c: RawXmpp): Promise<void> {
  c.socket.resume(); // a paused socket never sees the server's end
  c.socket.end();
  await c.waitClosed();
}

async function login(who: { jid: string; password: string }, resource: string): Promise<RawXmpp> {
  const c = await RawXmpp.connect(server.port);
  open.push(c);
  await c.login(who.jid, who.password, resource);
  return c;
}

beforeAll(async () => {
  server = await startDaemon(["alice", "bob"], {
    limits: { maxConnections: 6, maxRosterItems: 2, maxVcardBytes: 300, maxOfflineMessages: 2, maxPendingOutputBytes: 64 * 1024 },
  });
  alice = server.accounts.alice!;
  bob = server.accounts.bob!;
});
afterEach(async () => {
  // Closed from our side and seen closed from the server's (it ends its half when
  // ours ends), so the next test starts with every place free.
  await Promise.all(open.splice(0).map((c) => closeAndWait(c)));
});
afterAll(() => server.stop());

test("the connection limit refuses connections beyond it and frees places when they close", async () => {
  const held: RawXmpp[] = [];
  for (let i = 0; i < 6; i++) held.push(await RawXmpp.connect(server.port));
  open.push(...held);
  const extra = await RawXmpp.connect(server.port);
  open.push(extra);
  await extra.waitClosed();
  await Promise.all(held.map((c) => closeAndWait(c)));
  // The server counts a place free once it has handled the close: poll until a login gets through.
  const deadline = Date.now() + 5000;
  for (;;) {
    const c = await RawXmpp.connect(server.port);
    open.push(c);
    try {
      await c.login(alice.jid, alice.password, "after");
      break;
    } catch (err) {
      if (!c.closed || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});

test("a full roster refuses new items with resource-constraint and keeps the old ones", async () => {
  const c = await login(alice, "roster");
  for (const [i, who] of ["one@example.org", "two@example.org", "three@example.org"].entries()) {
    c.send(`<iq type='set' id='r${i}'><query xmlns='jabber:iq:roster'><item jid='${who}'/></query></iq>`);
  }
  await c.waitFor(/<iq[^>]*id="r2"[^>]*type="error"[\s\S]*<resource-constraint|<iq[^>]*type="error"[^>]*id="r2"[\s\S]*<resource-constraint/);
  c.clear();
  c.send(`<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>`);
  await c.waitFor(/id="g"[\s\S]*<\/iq>/);
  expect(c.received).toContain('jid="one@example.org"');
  expect(c.received).toContain('jid="two@example.org"');
  expect(c.received).not.toContain("three@example.org");
});

test("a vCard over the size limit is refused with not-acceptable", async () => {
  const c = await login(alice, "vcard");
  c.send(`<iq type='set' id='v'><vCard xmlns='vcard-temp'><DESC>${"x".repeat(400)}</DESC></vCard></iq>`);
  await c.waitFor(/<not-acceptable/);
});

test("offline storage beyond the quota bounces to the sender instead of dropping silently", async () => {
  const c = await login(alice, "offline");
  for (let i = 1; i <= 3; i++) c.send(`<message to='${bob.jid}' type='chat' id='o${i}'><body>offline ${i}</body></message>`);
  await c.waitFor(/<message[^>]*type="error"[^>]*>[\s\S]*offline 3[\s\S]*<service-unavailable/);
  expect(c.received).not.toMatch(/id="o1"|id="o2"/);
  const b = await login(bob, "inbox");
  b.send("<presence/>");
  await b.waitFor("offline 2</body>");
  expect(b.received).toContain("offline 1</body>");
  // Stored messages are flushed on initial presence, before the ping is handled.
  await b.ping();
  expect(b.received).not.toContain("offline 3");
});

test("a client that stops reading is disconnected once its unread output passes the limit", async () => {
  const sink = await login(bob, "stalled");
  sink.send("<presence/>");
  await sink.waitFor("<presence");
  sink.socket.pause();
  const sender = await login(alice, "firehose");
  // Far more than the kernel's socket buffers can hide: the daemon's own queue must fill.
  // Headlines: once bob is dropped they are discarded (RFC 6121 8.5.3.2.1), where chat messages
  // would go offline, fill bob's store and bounce back, ~12 MB of errors this test process must
  // read; on a loaded CI machine it read too slowly and the daemon dropped the sender as well.
  const chunk = `<message to='${bob.jid}/stalled' type='headline'><body>${"y".repeat(900)}</body></message>`.repeat(100);
  for (let i = 0; i < 120; i++) sender.send(chunk);
  const deadline = Date.now() + 10_000;
  while (!server.logText().includes("peer is not reading its stream; dropping it")) {
    if (Date.now() > deadline) throw new Error("the stalled client was never disconnected");
    await new Promise((r) => setTimeout(r, 50));
  }
  // The daemon is fine and the sender still served.
  sender.send(`<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await sender.waitFor(/id="alive"/, 10_000);
  expect(server.logText()).not.toMatch(/ error /);
});

// RFC 6121 4.6: each directed presence is a promise to send unavailable later; a session keeps at
// most maxDirectedPresencePerSession (64 by default) of them (src/server/policy.ts).
test("directed presence to more than 64 JIDs: the extras get policy-violation; an unavailable frees a place", async () => {
  const c = await login(alice, "directed");
  c.send("<presence/>");
  await c.ping();
  for (let i = 1; i <= 70; i++) c.send(`<presence to='${bob.jid}/r${i}' id='d${i}'/>`);
  await c.ping();
  const errors = c.received.split(/(?=<presence[\s>])/).filter((p) => p.startsWith("<presence") && p.includes('type="error"'));
  expect(errors.map((p) => /id="(d\d+)"/.exec(p)?.[1])).toEqual(["d65", "d66", "d67", "d68", "d69", "d70"]);
  for (const p of errors) expect(p).toContain("<policy-violation");
  // Presence again to a JID already held is no new entry; after an unavailable, a new one fits.
  c.clear();
  c.send(`<presence to='${bob.jid}/r1' id='again'/>`);
  c.send(`<presence to='${bob.jid}/r2' type='unavailable' id='bye'/>`);
  c.send(`<presence to='${bob.jid}/r71' id='new'/>`);
  c.send(`<presence to='${bob.jid}/r72' id='over'/>`);
  await c.ping();
  expect(c.received.match(/<presence[^>]*type="error"/g) ?? []).toHaveLength(1);
  expect(c.received).toMatch(/<presence[^>]*id="over"[^>]*type="error"|<presence[^>]*type="error"[^>]*id="over"/);
});
