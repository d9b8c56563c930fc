// Every c2s limit exists and answers bad input with a clear stream error.
// The daemon runs with small limits so each one is cheap to reach.
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";

let server: InProcessDaemon;
let alice: { jid: string; password: string };
let bob: { jid: string; password: string };
const open: RawXmpp[] = [];

async function client(): Promise<RawXmpp> {
  const c = await RawXmpp.connect(server.port);
  open.push(c);
  return c;
}
const domainOf = (jid: string) => jid.split("@")[1]!;

beforeAll(async () => {
  server = await startDaemon(["alice", "bob"], {
    limits: {
      negotiationTimeoutMs: 400,
      pingIdleMs: 300,
      pingTimeoutMs: 300,
      readBytesPerSecond: 20_000,
      readBurstBytes: 10_000,
      stream: { maxStanzaBytes: 4096, maxDepth: 8 },
    },
  });
  alice = server.accounts.alice!;
  bob = server.accounts.bob!;
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
afterAll(() => server.stop());

test("a connection that never finishes negotiating is closed with connection-timeout", async () => {
  const c = await client();
  c.send(RawXmpp.header(domainOf(alice.jid)));
  await c.waitFor("</stream:features>");
  await c.waitFor("<connection-timeout", 3000);
  await c.waitClosed();
});

test("a stanza over the size limit closes the stream with policy-violation", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "big");
  c.send(`<message to='${bob.jid}'><body>${"x".repeat(5000)}</body></message>`);
  await c.waitFor("<policy-violation");
  await c.waitClosed();
});

test("nesting deeper than the limit closes the stream with policy-violation", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "deep");
  c.send(`<message to='${bob.jid}'>${"<a>".repeat(10)}${"</a>".repeat(10)}</message>`);
  await c.waitFor("<policy-violation");
  await c.waitClosed();
});

test("malformed XML closes the stream with not-well-formed", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "bad");
  c.send(`<message to='${bob.jid}'><body>a</bod></message>`);
  await c.waitFor("<not-well-formed");
  await c.waitClosed();
});

test("an unknown entity closes the stream with not-well-formed, and the daemon keeps serving", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "ent");
  c.send(`<message to='${bob.jid}'><body>&bogus;</body></message>`);
  await c.waitFor("<not-well-formed");
  await c.waitClosed();
  const again = await client();
  expect(await again.login(alice.jid, alice.password, "ent2")).toBe(`${alice.jid}/ent2`);
});

test("a DOCTYPE closes the stream with restricted-xml", async () => {
  const c = await client();
  c.send(`<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x "y">]>`);
  await c.waitFor("<restricted-xml");
  await c.waitClosed();
});

test("a comment inside the stream closes it with restricted-xml", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "cmt");
  c.send(`<!-- hello -->`);
  await c.waitFor("<restricted-xml");
  await c.waitClosed();
});

test("a client that does not answer the server's ping is disconnected", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "sleepy");
  await c.waitFor(/<iq[^>]*type="get"[^>]*>\s*<ping xmlns="urn:xmpp:ping"\/>/, 2000);
  await c.waitFor("<connection-timeout", 2000);
  await c.waitClosed();
});

test("a client that answers the server's ping stays connected", async () => {
  const c = await client();
  await c.login(alice.jid, alice.password, "awake");
  for (let i = 0; i < 2; i++) {
    const [, id] = await c.waitFor(/<iq[^>]*id="(ping-[0-9a-f]+)"/, 2000);
    c.clear();
    c.send(`<iq type='result' id='${id}' to='${domainOf(alice.jid)}'/>`);
  }
  expect(c.closed).toBe(false);
});

test("a flood is throttled, not dropped: every message still arrives", async () => {
  const receiver = await client();
  await receiver.login(bob.jid, bob.password, "sink");
  receiver.send("<presence/>");
  await receiver.waitFor("<presence");
  const sender = await client();
  await sender.login(alice.jid, alice.password, "flood");
  const count = 300;
  let burst = "";
  for (let i = 0; i < count; i++) burst += `<message to='${bob.jid}/sink' type='chat'><body>flood ${i}</body></message>`;
  // ~30 KB against a 20 KB/s budget with a 10 KB burst: the socket must be paused at least once.
  sender.send(burst);
  await receiver.waitFor(`flood ${count - 1}<`, 10_000);
  for (let i = 0; i < count; i++) expect(receiver.received).toContain(`>flood ${i}<`);
  expect(server.logText()).toContain("throttling");
});

test("a character split across TCP segments arrives intact", async () => {
  const receiver = await client();
  await receiver.login(bob.jid, bob.password, "utf8");
  receiver.send("<presence/>");
  await receiver.waitFor("<presence");
  const sender = await client();
  await sender.login(alice.jid, alice.password, "utf8s");
  const bytes = Buffer.from(`<message to='${bob.jid}/utf8' type='chat'><body>onion 🧅 ü</body></message>`);
  // Cut inside the 4-byte onion emoji: three segments, with pauses so TCP does not merge them.
  const cut = bytes.indexOf(Buffer.from("🧅")) + 1;
  for (const part of [bytes.subarray(0, cut), bytes.subarray(cut, cut + 2), bytes.subarray(cut + 2)]) {
    sender.send(part);
    await new Promise((r) => setTimeout(r, 30));
  }
  await receiver.waitFor("onion 🧅 ü</body>");
});
