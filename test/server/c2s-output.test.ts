// How a session writes to its socket: coalesced per event-loop turn, but never
// more than ~16 KB held back, so a burst read in one turn is not all queued on
// the heap until the turn ends (bench/README.md, "Memory").
import type { Socket } from "node:net";
import { silentLogger } from "../../src/daemon/logger.js";
import { C2sSession, type SessionContext } from "../../src/server/c2s-session.js";
import { mergeLimits } from "../../src/server/limits.js";
import { FakeSocket } from "../support/fake-socket.js";

function session(): { socket: FakeSocket; session: C2sSession } {
  const socket = new FakeSocket();
  const ctx: SessionContext = {
    limits: mergeLimits(),
    log: silentLogger(),
    hostFor: () => undefined,
    credentials: () => undefined,
    unknownUserSecret: Buffer.alloc(32),
    postAuthFeatures: () => [],
    bound: () => undefined,
    fromClient: () => undefined,
    closed: () => undefined,
  };
  return { socket, session: new C2sSession(socket as unknown as Socket, ctx) };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const open: C2sSession[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close(); // clears the negotiation timer
});

test("what one turn produces goes out in one write, at the end of the turn", async () => {
  const { socket, session: s } = session();
  open.push(s);
  s.send("<message>one</message>");
  s.send("<message>two</message>");
  expect(socket.writes).toEqual([]);
  await nextTurn();
  expect(socket.writes).toEqual(["<message>one</message><message>two</message>"]);
});

test("a turn that produces a burst writes it out every ~16 KB, in order, losing nothing", async () => {
  const { socket, session: s } = session();
  open.push(s);
  const stanzas = Array.from({ length: 200 }, (_, i) => `<message><body>${i} ${"x".repeat(500)}</body></message>`);
  for (const stanza of stanzas) s.send(stanza);
  // Written during the turn already: about 100 KB in pieces of at most 16 KB plus one stanza.
  expect(socket.writes.length).toBeGreaterThanOrEqual(5);
  for (const w of socket.writes) expect(w.length).toBeLessThan(16 * 1024 + 600);
  await nextTurn();
  expect(socket.writes.join("")).toBe(stanzas.join(""));
});
