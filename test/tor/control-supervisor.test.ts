// TorControlSupervisor against an in-process fake control port.
import { PassThrough } from "node:stream";
import { createLogger, type Logger } from "../../src/daemon/logger.js";
import { TorControlConnection, describeTarget, type ControlTarget } from "../../src/tor/control-connection.js";
import type { TorReply } from "../../src/tor/control-reply.js";
import { TorControlSupervisor, type OpenedConnection, type SupervisorState } from "../../src/tor/control-supervisor.js";
import { startFakeTorControl, type FakeTorControl } from "../support/fake-tor-control.js";

let fake: FakeTorControl;
let supervisor: TorControlSupervisor | undefined;

beforeEach(async () => {
  fake = await startFakeTorControl();
});
afterEach(async () => {
  await supervisor?.stop();
  supervisor = undefined;
  await fake.close();
});

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (d: Buffer) => lines.push(...d.toString().trimEnd().split("\n")));
  return { log: createLogger({ level: "debug", stream, component: "tor" }), lines };
}

interface Harness {
  states: SupervisorState[];
  events: TorReply[];
  ready: TorControlConnection[];
  lines: string[];
}

function supervise(opts: Partial<ConstructorParameters<typeof TorControlSupervisor>[0]> = {}): Harness {
  const h: Harness = { states: [], events: [], ready: [], lines: [] };
  const { log, lines } = capturingLogger();
  h.lines = lines;
  supervisor = new TorControlSupervisor({
    open: () => openNull(fake.target),
    events: ["STATUS_CLIENT", "HS_DESC"],
    onReady: async (c) => {
      h.ready.push(c);
    },
    log,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    ...opts,
  });
  supervisor.onState((s) => h.states.push(s));
  supervisor.onEvent((e) => h.events.push(e));
  supervisor.start();
  return h;
}

/** Connect and authenticate with NULL, as the fake tor offers. */
async function openNull(target: ControlTarget): Promise<OpenedConnection> {
  const conn = await TorControlConnection.connect(target);
  return { conn, method: await conn.authenticate({ method: "NULL" }), where: describeTarget(target) };
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const lastState = (h: Harness) => h.states[h.states.length - 1]?.state;

test("connects, authenticates, sets events, runs onReady, then reports ready", async () => {
  const h = supervise();
  await until(() => lastState(h) === "ready");
  expect(h.states.map((s) => s.state)).toEqual(["connecting", "ready"]);
  expect(h.ready).toHaveLength(1);
  expect(supervisor!.connection).toBe(h.ready[0]);
  expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1", "AUTHENTICATE", "SETEVENTS STATUS_CLIENT HS_DESC"]);
  expect(h.lines.some((l) => /info  tor: connected to tor's control port target=127\.0\.0\.1:\d+ auth=NULL/.test(l))).toBe(true);
});

test("events reach subscribers, across a reconnect; onReady runs again on the new connection", async () => {
  const h = supervise();
  await until(() => lastState(h) === "ready");
  fake.connections[0]!.write("650 HS_DESC UPLOADED abc NO_AUTH UNKNOWN\r\n");
  await until(() => h.events.length === 1);

  fake.connections[0]!.destroy();
  await until(() => h.ready.length === 2 && lastState(h) === "ready");
  expect(h.states.map((s) => s.state)).toEqual(["connecting", "ready", "disconnected", "connecting", "ready"]);
  expect(h.states[2]!.error).toMatch(/tor closed the control connection/);
  expect(h.ready[0]).not.toBe(h.ready[1]);
  expect(supervisor!.connection).toBe(h.ready[1]);
  expect(fake.connections[1]!.lines).toEqual(["PROTOCOLINFO 1", "AUTHENTICATE", "SETEVENTS STATUS_CLIENT HS_DESC"]);

  fake.connections[1]!.write("650 HS_DESC UPLOADED def NO_AUTH UNKNOWN\r\n");
  await until(() => h.events.length === 2);
  expect(h.events.map((e) => e.lines[0]!.text.split(" ")[2])).toEqual(["abc", "def"]);
  expect(h.lines.some((l) => /warn  tor: lost tor's control connection; reconnecting/.test(l))).toBe(true);
});

test("failed attempts back off exponentially up to the maximum", async () => {
  fake.refuse = true;
  const h = supervise({ minBackoffMs: 40, maxBackoffMs: 200 });
  await until(() => fake.acceptedAt.length >= 6, 5000);
  const gaps = fake.acceptedAt.slice(1, 6).map((t, i) => t - fake.acceptedAt[i]!);
  // Delays 40, 80, 160, 200, 200 (plus connect time); timers never fire early by more than ~1 ms.
  const expected = [40, 80, 160, 200, 200];
  gaps.forEach((g, i) => {
    expect(g).toBeGreaterThanOrEqual(expected[i]! - 2);
    expect(g).toBeLessThan(expected[i]! + 150);
  });
  expect(h.states.filter((s) => s.state === "disconnected").length).toBeGreaterThanOrEqual(5);
  expect(h.ready).toHaveLength(0);
  expect(supervisor!.connection).toBeUndefined();
});

test("a successful connection resets the backoff", async () => {
  fake.refuse = true;
  const h = supervise({ minBackoffMs: 30, maxBackoffMs: 1000 });
  await until(() => fake.acceptedAt.length >= 4); // delays now at 30, 60, 120, next 240
  fake.refuse = false;
  await until(() => lastState(h) === "ready", 5000);
  const before = Date.now();
  fake.connections[0]!.destroy();
  await until(() => h.ready.length === 2);
  expect(Date.now() - before).toBeLessThan(200); // the first delay again, not 480
});

test("stop() while retrying: no more attempts", async () => {
  fake.refuse = true;
  const h = supervise({ minBackoffMs: 20, maxBackoffMs: 40 });
  await until(() => fake.acceptedAt.length >= 2);
  await supervisor!.stop();
  const attempts = fake.acceptedAt.length;
  await new Promise((r) => setTimeout(r, 150));
  expect(fake.acceptedAt.length).toBe(attempts);
  expect(lastState(h)).toBe("disconnected");
});

test("stop() while ready closes the connection and does not reconnect", async () => {
  const h = supervise();
  await until(() => lastState(h) === "ready");
  const conn = h.ready[0]!;
  await supervisor!.stop();
  expect(await conn.closed).toBeUndefined();
  expect(conn.isOpen).toBe(false);
  expect(supervisor!.connection).toBeUndefined();
  await new Promise((r) => setTimeout(r, 100));
  expect(fake.acceptedAt).toHaveLength(1);
  expect(lastState(h)).toBe("disconnected");
  supervisor!.start(); // can start again
  await until(() => h.ready.length === 2);
});

test("an onReady failure drops the connection and is retried", async () => {
  let calls = 0;
  const h = supervise({
    onReady: async (c) => {
      calls++;
      if (calls === 1) throw new Error("could not re-add onion");
      h.ready.push(c);
    },
  });
  await until(() => lastState(h) === "ready");
  expect(calls).toBe(2);
  expect(h.states.find((s) => s.state === "disconnected")?.error).toBe("could not re-add onion");
  expect(fake.connections[0]!.socket.destroyed || fake.connections[0]!.socket.readableEnded).toBe(true);
});

test("an open() that throws (tor not started yet, or not trusted) is retried", async () => {
  let calls = 0;
  const h = supervise({
    open: async () => {
      if (++calls < 3) throw new Error("tor has not written its control port file yet");
      return openNull(fake.target);
    },
  });
  await until(() => lastState(h) === "ready");
  expect(calls).toBe(3);
  expect(h.states.filter((s) => s.state === "disconnected").map((s) => s.error)).toEqual([
    "tor has not written its control port file yet",
    "tor has not written its control port file yet",
  ]);
});

test("authentication failures are reported in the state and retried, and logged once, not at every retry", async () => {
  fake.handler = (line) =>
    line.startsWith("PROTOCOLINFO") ? '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=HASHEDPASSWORD\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n' : undefined;
  const h = supervise();
  await until(() => h.states.filter((s) => s.state === "disconnected").length >= 3);
  expect(h.states.find((s) => s.state === "disconnected")?.error).toBe("tor does not offer NULL authentication (it offers HASHEDPASSWORD)");
  expect(h.lines.filter((l) => /warn  tor: cannot use tor's control port; will retry .*error="tor does not offer NULL/.test(l))).toHaveLength(1);
});

test("reconnectNow() drops a ready connection and resolves with the next attempt's outcome, without backoff", async () => {
  const h = supervise({ minBackoffMs: 5000, maxBackoffMs: 5000 });
  await until(() => lastState(h) === "ready");
  const started = Date.now();
  const outcome = await supervisor!.reconnectNow();
  expect(outcome.state).toBe("ready");
  expect(Date.now() - started).toBeLessThan(2000);
  expect(h.ready).toHaveLength(2);
  expect(fake.connections).toHaveLength(2);
});

test("reconnectNow() cuts the wait after a failure short", async () => {
  let fail = true;
  const h = supervise({
    minBackoffMs: 60_000,
    maxBackoffMs: 60_000,
    open: async () => {
      if (fail) throw new Error("refused: not the pinned tor");
      return openNull(fake.target);
    },
  });
  await until(() => lastState(h) === "disconnected");
  fail = false;
  expect((await supervisor!.reconnectNow()).state).toBe("ready");
});
