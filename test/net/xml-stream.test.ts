// The one XML stream endpoint: every stanza leaves in its stream's namespace (jabber:client never
// reaches a server stream, jabber:server never reaches Pidgin) and the element keeps what it
// carried for the next stream; the negotiation timeout; the idle watch; a peer that stops reading.
import { jest } from "@jest/globals";
import type { Socket } from "node:net";
import { silentLogger } from "../../src/daemon/logger.js";
import { XmlStream } from "../../src/net/xml-stream.js";
import { mergeLimits } from "../../src/server/limits.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { xml } from "../../src/xmpp/xml.js";
import { FakeSocket } from "../support/fake-socket.js";

function open(ns: typeof NS.CLIENT | typeof NS.SERVER, limits = mergeLimits()) {
  const socket = new FakeSocket();
  const seen = { elements: [] as string[], closed: 0 };
  const stream = new XmlStream(socket as unknown as Socket, { ns, limits, log: silentLogger(), kind: "test", dialback: ns === NS.SERVER }, {
    onStreamStart: () => undefined,
    onElement: (el) => seen.elements.push(el.toString()),
    onClosed: () => seen.closed++,
  });
  return { socket, stream, seen, text: () => (stream.flush(), socket.writes.join("")) };
}

afterEach(() => jest.useRealTimers());

test("a stanza is written in the stream's namespace and keeps its own for the next stream", () => {
  const fromPeer = xml("message", { xmlns: NS.SERVER, from: "a@x.onion", to: "b@y.onion" }, xml("body", {}, "hi"));
  const client = open(NS.CLIENT);
  client.stream.send(fromPeer);
  expect(client.text()).toBe(`<message xmlns="jabber:client" from="a@x.onion" to="b@y.onion"><body>hi</body></message>`);
  expect(fromPeer.attrs.xmlns).toBe(NS.SERVER);
  const fromClient = xml("message", { xmlns: NS.CLIENT, to: "b@y.onion" });
  const server = open(NS.SERVER);
  server.stream.send(fromClient);
  expect(server.text()).toBe(`<message xmlns="jabber:server" to="b@y.onion"/>`);
  expect(fromClient.attrs.xmlns).toBe(NS.CLIENT);
  // A stanza built by the server itself, without a namespace, gets the stream's.
  const bare = xml("presence", { to: "b@y.onion" });
  server.stream.send(bare);
  expect(server.text()).toContain(`<presence xmlns="jabber:server" to="b@y.onion"/>`);
  expect(bare.attrs.xmlns).toBeUndefined();
});

test("a server stream's header declares dialback; a client stream's does not", () => {
  const server = open(NS.SERVER);
  server.stream.openStream({ from: "x.onion", id: "abc" });
  expect(server.text()).toMatch(/^<\?xml version='1.0'\?><stream:stream xmlns='jabber:server' xmlns:stream='http:\/\/etherx.jabber.org\/streams' xmlns:db='jabber:server:dialback' from='x.onion' id='abc'/);
  const client = open(NS.CLIENT);
  client.stream.openStream({ from: "x.onion" });
  expect(client.text()).not.toContain("xmlns:db");
});

test("negotiation not finished in time: connection-timeout stream error, once", () => {
  jest.useFakeTimers();
  const { text, seen } = open(NS.SERVER, mergeLimits({ negotiationTimeoutMs: 1000 }));
  jest.advanceTimersByTime(999);
  expect(seen.closed).toBe(0);
  jest.advanceTimersByTime(1);
  expect(text()).toContain("<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
  expect(seen.closed).toBe(1);
});

test("the idle watch fires after silence and is re-armed by input", () => {
  jest.useFakeTimers();
  const { socket, stream } = open(NS.SERVER);
  stream.negotiated();
  let idle = 0;
  stream.watchIdle(500, () => idle++);
  jest.advanceTimersByTime(400);
  socket.emit("data", Buffer.from("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"));
  jest.advanceTimersByTime(400);
  expect(idle).toBe(0);
  jest.advanceTimersByTime(100);
  expect(idle).toBe(1);
});

test("a peer that stops reading is dropped once the kernel holds more than the limit", () => {
  const { socket, stream, seen } = open(NS.CLIENT, mergeLimits({ maxPendingOutputBytes: 100 }));
  stream.send("<a/>");
  socket.writableLength = 101;
  stream.send("<b/>");
  expect(seen.closed).toBe(1);
  expect(socket.destroyed).toBe(true);
});
