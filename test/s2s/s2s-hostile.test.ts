// What a hostile or broken peer gets from an inbound stream (XEP-0220, RFC 6120 4.9): a raw
// socket client on onion A's listener; X serves A and A2, Y serves B (a real peer daemon).
import { DialbackKeys } from "../../src/s2s/dialback-key.js";
import { HOST_UNKNOWN_TEXT } from "../../src/s2s/inbound-stream.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { newOnion, World, type Side } from "./s2s-fixture.js";

const A = newOnion();
const A2 = newOnion();
const B = newOnion();
let world: World;
let x: Side;
let y: Side;
const open: RawXmpp[] = [];

async function setup(limits = {}): Promise<void> {
  world = new World();
  x = await world.side([A, A2], limits);
  y = await world.side([B]);
}
afterEach(async () => {
  for (const r of open.splice(0)) r.close();
  await world.close();
});

const header = (from: string, to: string, ns = "jabber:server") =>
  `<?xml version='1.0'?><stream:stream xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='${from}' to='${to}' version='1.0' id=''>`;

/** A raw stream to `onion`'s listener, header sent; resolves with our stream id once the features came. */
async function rawStream(onion: string, from: string, to = onion): Promise<{ raw: RawXmpp; id: string }> {
  const raw = await RawXmpp.connectPath(world.socketPath(onion));
  open.push(raw);
  raw.send(header(from, to));
  const m = await raw.waitFor(/<stream:stream[^>]* id='([^']+)'/);
  if (to === onion) await raw.waitFor("</stream:features>");
  return { raw, id: m[1]! };
}

/** Authenticate `raw` as B the way Y would: B's own key over A's stream id (Y's secret). */
async function authenticateAsB(raw: RawXmpp, id: string): Promise<void> {
  raw.send(`<db:result from='${B}' to='${A}'>${new DialbackKeys(y.secret).key(A, B, id)}</db:result>`);
  await raw.waitFor(/<db:result[^>]*type='valid'/);
}

test("a 'to' naming another onion of this daemon and one hosted nowhere get the same bytes", async () => {
  await setup();
  const answers: string[] = [];
  for (const to of [A2, newOnion()]) {
    const raw = await RawXmpp.connectPath(world.socketPath(A));
    open.push(raw);
    raw.send(header(B, to));
    await raw.waitClosed();
    answers.push(raw.received.replace(/ id='[^']*'/, " id='X'"));
  }
  expect(answers[0]).toContain("<host-unknown");
  expect(answers[0]).toContain(HOST_UNKNOWN_TEXT);
  expect(answers[1]).toBe(answers[0]);
});

// A figure, not a check (timings are never asserted): how long the answer takes for a sibling
// onion and for an onion hosted nowhere, alternating, without Tor's noise. Both take the same
// code path (a string comparison with the stream's own onion), so the medians should match.
test("30 times each, alternating: the same bytes every time for a sibling onion and one hosted nowhere (times printed)", async () => {
  await setup();
  const times: Record<string, number[]> = { sibling: [], nowhere: [] };
  const answers = new Set<string>();
  for (let i = 0; i < 30; i++) {
    for (const [kind, to] of [["sibling", A2], ["nowhere", newOnion()]] as const) {
      const raw = await RawXmpp.connectPath(world.socketPath(A));
      open.push(raw);
      const started = process.hrtime.bigint();
      raw.send(header(B, to));
      await raw.waitFor("</stream:stream>");
      times[kind]!.push(Number(process.hrtime.bigint() - started) / 1e6);
      answers.add(raw.received.replace(/ id='[^']*'/, " id='X'"));
      raw.close();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
  console.log(`host-unknown answer, 30 each, alternating: sibling onion median ${median(times.sibling!)} ms, onion hosted nowhere median ${median(times.nowhere!)} ms`);
  expect([...answers]).toHaveLength(1);
  expect([...answers][0]).toContain("<host-unknown");
});

test("the same rule for the 'to' of db:result, db:verify and stanzas", async () => {
  await setup();
  const cases = [
    (to: string) => `<db:result from='${B}' to='${to}'>abc</db:result>`,
    (to: string) => `<db:verify from='${B}' to='${to}' id='i1'>abc</db:verify>`,
  ];
  for (const make of cases) {
    const got: string[] = [];
    for (const to of [A2, newOnion()]) {
      const { raw, id } = await rawStream(A, B);
      raw.clear();
      raw.send(make(to));
      await raw.waitClosed();
      got.push(raw.received.replace(id, "X"));
    }
    expect(got[0]).toContain(HOST_UNKNOWN_TEXT);
    expect(got[1]).toBe(got[0]);
  }
  const { raw, id } = await rawStream(A, B);
  await authenticateAsB(raw, id);
  raw.clear();
  raw.send(`<message from='bob@${B}' to='carol@${A2}'><body>x</body></message>`);
  await raw.waitClosed();
  expect(raw.received).toContain(HOST_UNKNOWN_TEXT);
});

test("a stanza before dialback is not-authorized", async () => {
  await setup();
  const { raw } = await rawStream(A, B);
  raw.send(`<message from='bob@${B}' to='alice@${A}'><body>early</body></message>`);
  await raw.waitFor("<not-authorized");
  await raw.waitClosed();
  expect(x.routing.received).toEqual([]);
});

test("Prosody's order: db:verify on the callback stream before its own db:result is answered", async () => {
  await setup();
  const { raw, id } = await rawStream(A, B);
  const keysX = new DialbackKeys(x.secret);
  raw.send(`<db:result from='${B}' to='${A}'>${new DialbackKeys(y.secret).key(A, B, id)}</db:result>`);
  raw.send(`<db:verify from='${B}' to='${A}' id='their-stream'>${keysX.key(B, A, "their-stream")}</db:verify>`);
  raw.send(`<db:verify from='${B}' to='${A}' id='other'>${keysX.key(B, A, "their-stream")}</db:verify>`);
  await raw.waitFor(/<db:verify from='[^']+' to='[^']+' id='their-stream' type='valid'\/>/);
  await raw.waitFor(/<db:verify[^>]* id='other' type='invalid'\/>/);
  await raw.waitFor(/<db:result[^>]*type='valid'/);
  // Authenticated as B: a from outside B is invalid-from.
  raw.send(`<message from='eve@${newOnion()}' to='alice@${A}'><body>spoof</body></message>`);
  await raw.waitFor("<invalid-from");
  await raw.waitClosed();
  expect(x.routing.received).toEqual([]);
});

test("child elements are counted, not the whitespace between them: 64 pass, 65 are a policy-violation", async () => {
  await setup({ maxChildren: 64 });
  const { raw, id } = await rawStream(A, B);
  await authenticateAsB(raw, id);
  const children = (n: number) => Array.from({ length: n }, (_, i) => `\n  <x${i} xmlns='urn:example:c'/>`).join("") + "\n";
  raw.send(`<message from='bob@${B}' to='alice@${A}' id='ok'>${children(64)}</message>`);
  await x.routing.until(() => x.routing.received.some((r) => r.stanza.attrs.id === "ok"), 5000, "the 64-child message");
  raw.send(`<message from='bob@${B}' to='alice@${A}' id='big'>${children(65)}</message>`);
  await raw.waitFor("<policy-violation");
  await raw.waitClosed();
  expect(x.routing.received.some((r) => r.stanza.attrs.id === "big")).toBe(false);
});

test("a wrong key gets type='invalid' and the stream closes", async () => {
  await setup();
  const { raw } = await rawStream(A, B);
  raw.send(`<db:result from='${B}' to='${A}'>${"0".repeat(64)}</db:result>`);
  await raw.waitFor(/<db:result[^>]*type='invalid'/);
  await raw.waitClosed();
});

test("a claimed domain that is not an onion is refused without dialing", async () => {
  await setup();
  const { raw } = await rawStream(A, B);
  raw.send(`<db:result from='example.com' to='${A}'>abc</db:result>`);
  await raw.waitFor(/<db:result[^>]*type='error'[^>]*>.*<item-not-found/);
  expect(world.dials).toEqual([]);
});

test("pending verifications are limited per stream and per claimed domain, and time out", async () => {
  await setup({ maxPendingVerificationsPerStream: 2, maxPendingVerificationsPerDomain: 1, verificationTimeoutMs: 500 });
  const [R1, R2, R3] = [newOnion(), newOnion(), newOnion()];
  for (const r of [R1, R2, R3]) await world.hanging(r);
  const { raw } = await rawStream(A, B);
  for (const r of [R1, R2, R3]) raw.send(`<db:result from='${r}' to='${A}'>abc</db:result>`);
  await raw.waitFor(new RegExp(`<db:result from='${A}' to='${R3}' type='error'><error type='wait'><resource-constraint`));
  const second = await rawStream(A, B);
  second.raw.send(`<db:result from='${R1}' to='${A}'>abc</db:result>`);
  await second.raw.waitFor(/<db:result[^>]*type='error'><error[^>]*><policy-violation/);
  // The callbacks to R1 and R2 never answer: remote-server-timeout.
  await raw.waitFor(new RegExp(`to='${R1}' type='error'><error type='wait'><remote-server-timeout`), 3000);
  await raw.waitFor(new RegExp(`to='${R2}' type='error'><error type='wait'><remote-server-timeout`), 3000);
  expect(world.dials.map((d) => d.remote).sort()).toEqual([R1, R2].sort());
});

test("pending verifications are limited per onion over all its streams; another onion of the daemon is not affected", async () => {
  await setup({ maxPendingVerificationsPerStream: 2, maxPendingVerificationsPerOnion: 3, verificationTimeoutMs: 2000 });
  const claimed = [newOnion(), newOnion(), newOnion(), newOnion()];
  for (const r of claimed) await world.hanging(r);
  const one = await rawStream(A, B);
  const two = await rawStream(A, B);
  one.raw.send(`<db:result from='${claimed[0]}' to='${A}'>abc</db:result><db:result from='${claimed[1]}' to='${A}'>abc</db:result>`);
  two.raw.send(`<db:result from='${claimed[2]}' to='${A}'>abc</db:result>`);
  await x.routing.until(() => world.dials.length === 3);
  two.raw.send(`<db:result from='${claimed[3]}' to='${A}'>abc</db:result>`);
  await two.raw.waitFor(new RegExp(`to='${claimed[3]}' type='error'><error[^>]*><policy-violation[^>]*/>.*too many verifications in progress for this onion`));
  // A2's budget is its own: a verification there still dials.
  const other = await rawStream(A2, B);
  other.raw.send(`<db:result from='${claimed[3]}' to='${A2}'>abc</db:result>`);
  await x.routing.until(() => world.dials.some((d) => d.local === A2 && d.remote === claimed[3]));
  expect(world.dials.filter((d) => d.local === A)).toHaveLength(3);
});

test("unauthenticated streams are limited per onion; another onion of the daemon is not affected", async () => {
  await setup({ maxUnauthenticatedPerOnion: 2 });
  await rawStream(A, B);
  await rawStream(A, B);
  const third = await RawXmpp.connectPath(world.socketPath(A));
  open.push(third);
  third.send(header(B, A));
  await third.waitFor("<policy-violation");
  await third.waitClosed();
  await rawStream(A2, B); // features: admitted
  expect(x.manager.counts()[A]).toMatchObject({ inbound: 2, unauthenticated: 2 });
});

test("flooding A pauses A's streams only: A2 is answered while A's backlog waits", async () => {
  await setup({ stanzasPerSecondPerOnion: 20, stanzaBurstPerOnion: 20 });
  const flood = await rawStream(A, B);
  const other = await rawStream(A2, B);
  const verify = (to: string, n: number) => `<db:verify from='${B}' to='${to}' id='f${n}'>00</db:verify>`;
  const batch = (from: number) => Array.from({ length: 500 }, (_, i) => verify(A, from + i)).join("");
  // What one read brings in is handled, and its cost is owed: A's sockets then stay paused until
  // A's budget (burst 20, 20/s) has paid it back, many seconds here.
  flood.raw.send(batch(0));
  await flood.raw.waitFor(/id='f19' type='invalid'/);
  flood.raw.send(batch(500));
  // Not a timing: A2's answer must not queue behind A's backlog, so it arrives while the
  // second batch to A is still unread.
  other.raw.send(verify(A2, 0));
  await other.raw.waitFor(/id='f0' type='invalid'/, 10_000);
  expect(flood.raw.received).not.toMatch(/id='f999' type=/);
  expect(flood.raw.received.match(/type='invalid'/g)?.length ?? 0).toBeLessThan(1000);
});

test("an idle inbound stream gets whitespace keepalives, then closes without stanzas", async () => {
  await setup({ idlePingMs: 150, idleCloseMs: 800 });
  const { raw, id } = await rawStream(A, B);
  await authenticateAsB(raw, id);
  raw.clear();
  const started = Date.now();
  await raw.waitFor(/^ +$/, 1000);
  await raw.waitClosed(3000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(500);
});
