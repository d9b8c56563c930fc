// Two daemons federating with dialback (XEP-0220): X serves A and A2, Y serves B.
import { NS } from "../../src/xmpp/namespaces.js";
import { xml } from "../../src/xmpp/xml.js";
import { inUnit, message, newOnion, World, type Side } from "./s2s-fixture.js";

const A = newOnion();
const A2 = newOnion();
const B = newOnion();
let world: World;
let x: Side;
let y: Side;

beforeEach(async () => {
  world = new World();
  x = await world.side([A, A2]);
  y = await world.side([B]);
});
afterEach(() => world.close());

const messages = (side: Side) => side.routing.received.filter((r) => r.stanza.is("message"));

test("a message each way: dialback both ways, exactly two connections for the pair, jabber:server on the wire", async () => {
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "hi bob"), A, B));
  await y.routing.until(() => messages(y).length === 1, 5000, "alice's message at Y");
  const got = messages(y)[0]!;
  expect(got.origin).toMatchObject({ kind: "s2s", local: B, remote: A });
  expect(got.stanza.attrs.xmlns).toBe(NS.SERVER);
  expect(got.stanza.getChildText("body")).toBe("hi bob");

  inUnit(y, (unit) => y.manager.send(unit, message(`bob@${B}/phone`, `alice@${A}`, "hi alice"), B, A));
  await x.routing.until(() => x.routing.received.some((r) => r.stanza.is("message")), 5000, "bob's message at X");
  const back = x.routing.received.find((r) => r.stanza.is("message"))!;
  expect(back.origin).toMatchObject({ local: A, remote: B });
  expect(back.stanza.attrs.xmlns).toBe(NS.SERVER);

  // One outbound per side (each also served as the other's dialback callback), each side's
  // inbound is the other's outbound: 2 connections.
  expect(x.manager.counts()[A]).toEqual({ inbound: 1, unauthenticated: 0, outbound: 1, established: 1 });
  expect(y.manager.counts()[B]).toEqual({ inbound: 1, unauthenticated: 0, outbound: 1, established: 1 });
  expect(world.dials).toHaveLength(2);
  // Each side learned that the other is reachable from its inbound stream (the outbox's fast retry).
  expect(y.outbox.seen).toContain(`${B} ${A}`);
  expect(x.outbox.seen).toContain(`${A} ${B}`);
});

test("another onion of the same daemon gets its own connections to the same peer", async () => {
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}`, `bob@${B}`, "from A"), A, B));
  inUnit(x, (unit) => x.manager.send(unit, message(`carol@${A2}`, `bob@${B}`, "from A2"), A2, B));
  await y.routing.until(() => messages(y).length === 2, 5000, "both messages");
  const remotes = messages(y).map((r) => r.origin.remote).sort();
  expect(remotes).toEqual([A, A2].sort());
  expect(x.manager.counts()[A]!.outbound).toBe(1);
  expect(x.manager.counts()[A2]!.outbound).toBe(1);
  // Y keeps one stream per pair (B, A) and (B, A2): never one carrying both of X's onions.
  expect(y.manager.counts()[B]).toMatchObject({ inbound: 2, outbound: 2 });
});

test("presence and iqs flow after the commit; an iq answer comes back to the sender's side", async () => {
  inUnit(x, (unit) => x.manager.send(unit, xml("presence", { xmlns: NS.CLIENT, from: `alice@${A}/pc`, to: `bob@${B}` }), A, B));
  inUnit(x, (unit) => x.manager.send(unit, xml("iq", { xmlns: NS.CLIENT, type: "get", id: "v1", from: `alice@${A}/pc`, to: B }, xml("ping", { xmlns: NS.PING })), A, B));
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.attrs.id === "v1"), 5000, "the iq at Y");
  expect(y.routing.received.filter((r) => r.stanza.is("presence"))).toHaveLength(1);
  // FakeRouting answers the ping: the result reaches X's router as an ordinary stanza.
  await x.routing.until(() => x.routing.received.some((r) => r.stanza.attrs.id === "v1"), 5000, "the iq result at X");
  expect(x.routing.bounces).toEqual([]);
});

test("a presence held while connecting is coalesced per (from, to)", async () => {
  inUnit(x, (unit) => {
    for (const show of ["away", "dnd", "xa"]) x.manager.send(unit, xml("presence", { from: `alice@${A}/pc`, to: `bob@${B}` }, xml("show", {}, show)), A, B);
  });
  // Same stream, same order: held presence leaves before the outbox's rows.
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}`, `bob@${B}`, "sync"), A, B));
  await y.routing.until(() => messages(y).length === 1, 5000, "sync message");
  expect(y.routing.received.filter((r) => r.stanza.is("presence")).map((r) => r.stanza.getChildText("show"))).toEqual(["xa"]);
});

test("an iq to an onion tor cannot find bounces with tor's reason", async () => {
  const Z = newOnion();
  const iq = xml("iq", { type: "get", id: "q1", from: `alice@${A}/pc`, to: Z }, xml("query", { xmlns: NS.DISCO_INFO }));
  inUnit(x, (unit) => x.manager.send(unit, iq, A, Z));
  await x.routing.until(() => x.routing.bounces.length === 1, 3000, "the bounce");
  expect(x.routing.bounces[0]).toMatchObject({ condition: "remote-server-not-found" });
  expect(x.routing.bounces[0]!.text).toContain("was not found on the Tor network");
  // The outbox hears it too (it ignores a failure it did not ask for).
  expect(x.outbox.failures[0]).toContain("was not found on the Tor network");
});
