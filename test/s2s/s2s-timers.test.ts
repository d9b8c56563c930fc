// Timers of federation with shrunk limits: idle outbound streams (XEP-0199 keepalive, then
// close), and an iq whose peer never answers (remote-server-timeout, with the wait in the text).
import { NS } from "../../src/xmpp/namespaces.js";
import { xml } from "../../src/xmpp/xml.js";
import { inUnit, message, newOnion, World, type Side } from "./s2s-fixture.js";

const A = newOnion();
const B = newOnion();
let world: World;
afterEach(() => world.close());

async function pair(limits = {}): Promise<[Side, Side]> {
  world = new World();
  return [await world.side([A], limits), await world.side([B], limits)];
}

/**
 * When X's first outbound stream ended (0 until then), seen as its outbox link goes. Polling the
 * stream count could miss it: X answers the peer's keepalive pings on a stream of its own, so
 * one of them may open the next stream a few ms after the close.
 */
function firstClose(x: Side): () => number {
  let closedAt = 0;
  const detach = x.outbox.detach.bind(x.outbox);
  x.outbox.detach = (local, remote, link) => {
    closedAt ||= Date.now();
    detach(local, remote, link);
  };
  return () => closedAt;
}

test("idle outbound streams ping (the peer answers on its own stream) and close after idleCloseMs", async () => {
  const [x, y] = await pair({ idlePingMs: 100, idleCloseMs: 900, iqTimeoutMs: 2000 });
  const closedAt = firstClose(x);
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}`, `bob@${B}`, "hi"), A, B));
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.is("message")), 3000, "message");
  await new Promise((r) => setTimeout(r, 500));
  // Pinged several times, answered each time: still up.
  expect(y.routing.received.filter((r) => r.stanza.is("iq")).length).toBeGreaterThanOrEqual(3);
  expect(x.manager.counts()[A]).toMatchObject({ outbound: 1, established: 1 });
  expect(closedAt()).toBe(0);
  await x.routing.until(() => closedAt() > 0, 3000, "the idle close");
  // The answers to our own pings never reach the router (the peer's pings do: it answers them).
  expect(x.routing.received.filter((r) => r.stanza.is("iq") && r.stanza.attrs.type === "result")).toEqual([]);
});

test("an outbound stream closes after idleCloseMs without our stanzas even while the peer keeps writing to it", async () => {
  world = new World();
  // X pings only after 2 s of silence, Y's side of the stream sends whitespace every 100 ms:
  // X's stream is never silent, so only the use clock can close it.
  const x = await world.side([A], { idlePingMs: 2000, idleCloseMs: 900 });
  const y = await world.side([B], { idlePingMs: 100 });
  const closedAt = firstClose(x);
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}`, `bob@${B}`, "hi"), A, B));
  const sent = Date.now();
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.is("message")), 3000, "message");
  await x.routing.until(() => closedAt() > 0, 3000, "the close of the unused stream");
  expect(closedAt() - sent).toBeGreaterThanOrEqual(850);
});

test("an unanswered keepalive ping closes the outbound stream", async () => {
  const [x, y] = await pair({ idlePingMs: 100, idleCloseMs: 60_000, iqTimeoutMs: 300 });
  // Y's router stops answering pings.
  y.routing.fromServer = (origin, stanza) => void y.routing.received.push({ origin, stanza });
  inUnit(x, (unit) => x.manager.send(unit, xml("presence", { from: `alice@${A}/pc`, to: `bob@${B}` }), A, B));
  await y.routing.until(() => y.routing.received.length > 0, 3000, "presence");
  await x.routing.until(() => (x.manager.counts()[A]?.outbound ?? 0) === 0, 3000, "the close");
});

// Seen with a frozen Prosody: the outbox gave the link up after the unanswered ping, the stream
// stayed "established", and the rows waited minutes for the keepalive to close it.
test("an unanswered receipt ping closes the outbound stream; the next message goes on a new one", async () => {
  const [x, y] = await pair({ idlePingMs: 60_000, idleCloseMs: 60_000, iqTimeoutMs: 300 });
  const answer = y.routing.fromServer.bind(y.routing);
  y.routing.fromServer = (origin, stanza) => void y.routing.received.push({ origin, stanza });
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "first"), A, B));
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.is("message")), 3000, "the first message");
  await x.routing.until(() => (x.manager.counts()[A]?.outbound ?? 0) === 0, 2000, "the close after the unanswered receipt ping");
  y.routing.fromServer = answer;
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "second"), A, B));
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.getChildText("body") === "second"), 3000, "the second message");
});

test("an iq to a peer that never answers bounces remote-server-timeout after iqTimeoutMs", async () => {
  world = new World();
  const x = await world.side([A], { iqTimeoutMs: 300 });
  const H = newOnion();
  await world.hanging(H);
  const started = Date.now();
  inUnit(x, (unit) => x.manager.send(unit, xml("iq", { type: "get", id: "t1", from: `alice@${A}/pc`, to: H }, xml("query", { xmlns: NS.DISCO_INFO })), A, H));
  await x.routing.until(() => x.routing.bounces.length === 1, 3000, "the bounce");
  expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  expect(x.routing.bounces[0]).toMatchObject({ condition: "remote-server-timeout", text: "no answer within 300 ms" });
});

test("a dial that takes too long fails after connectTimeoutMs, and the iq says why", async () => {
  world = new World();
  const x = await world.side([A], { connectTimeoutMs: 200, iqTimeoutMs: 5000 });
  const S = newOnion();
  world.dial = () => new Promise(() => undefined); // tor never answers the SOCKS request
  inUnit(x, (unit) => x.manager.send(unit, xml("iq", { type: "get", id: "t2", from: `alice@${A}/pc`, to: S }, xml("ping", { xmlns: NS.PING })), A, S));
  await x.routing.until(() => x.routing.bounces.length === 1, 3000, "the bounce");
  expect(x.routing.bounces[0]).toMatchObject({ condition: "remote-server-not-found", text: "no connection within 200 ms" });
});

// A file offer (XEP-0096 stream initiation) is answered only when the receiving user clicks
// accept: with the 30 s iq timeout, a user who took longer lost the transfer. The IBB blocks
// that follow are answered by the client at once and keep the short timeout.
test("a file offer waits userAnsweredIqTimeoutMs for the user's answer; other iqs keep iqTimeoutMs", async () => {
  world = new World();
  const x = await world.side([A], { iqTimeoutMs: 200, userAnsweredIqTimeoutMs: 900 });
  const H = newOnion();
  await world.hanging(H);
  const started = Date.now();
  const offer = xml(
    "iq",
    { type: "set", id: "offer1", from: `alice@${A}/pc`, to: `bob@${H}/pc` },
    xml("si", { xmlns: NS.SI, id: "s1", profile: "http://jabber.org/protocol/si/profile/file-transfer" }),
  );
  const block = xml("iq", { type: "set", id: "ibb1", from: `alice@${A}/pc`, to: `bob@${H}/pc` }, xml("data", { xmlns: "http://jabber.org/protocol/ibb", seq: "0", sid: "s1" }, "AAAA"));
  inUnit(x, (unit) => x.manager.send(unit, offer, A, H));
  inUnit(x, (unit) => x.manager.send(unit, block, A, H));
  await x.routing.until(() => x.routing.bounces.length === 1, 3000, "the IBB block's bounce");
  expect(x.routing.bounces[0]).toMatchObject({ condition: "remote-server-timeout", text: "no answer within 200 ms" });
  expect(x.routing.bounces[0]!.stanza.attrs.id).toBe("ibb1");
  await x.routing.until(() => x.routing.bounces.length === 2, 3000, "the offer's bounce");
  expect(Date.now() - started).toBeGreaterThanOrEqual(880);
  expect(x.routing.bounces[1]).toMatchObject({ condition: "remote-server-timeout", text: "no answer within 900 ms" });
  expect(x.routing.bounces[1]!.stanza.attrs.id).toBe("offer1");
});

test("a file offer answered after iqTimeoutMs reaches the sender, and nothing bounces", async () => {
  const [x, y] = await pair({ iqTimeoutMs: 200, userAnsweredIqTimeoutMs: 5000 });
  // Y's user decides after 500 ms: the result comes back over Y's own stream.
  y.routing.fromServer = (origin, stanza) => {
    y.routing.received.push({ origin, stanza });
    if (!stanza.is("iq") || stanza.attrs.type !== "set") return;
    setTimeout(() => {
      const result = xml("iq", { type: "result", id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from }, xml("si", { xmlns: NS.SI }));
      inUnit(y, (unit) => y.manager.send(unit, result, B, A));
    }, 500);
  };
  const offer = xml("iq", { type: "set", id: "offer2", from: `alice@${A}/pc`, to: `bob@${B}/pc` }, xml("si", { xmlns: NS.SI, id: "s2" }));
  inUnit(x, (unit) => x.manager.send(unit, offer, A, B));
  await x.routing.until(() => x.routing.received.some((r) => r.stanza.attrs.id === "offer2"), 3000, "the user's answer");
  expect(x.routing.received.find((r) => r.stanza.attrs.id === "offer2")!.stanza.attrs.type).toBe("result");
  expect(x.routing.bounces).toEqual([]);
});
