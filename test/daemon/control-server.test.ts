// The control socket end to end over a real Unix socket: framing, errors, events,
// socket lifecycle. The wire format under test is docs/control-protocol.md.
import fs from "node:fs";

import { connectControl, type ControlClient } from "../../src/daemon/control-client.js";
import { MAX_LINE_BYTES, PROTOCOL_VERSION } from "../../src/daemon/control-protocol.js";
import {
  ControlError,
  ControlServer,
  DaemonAlreadyRunningError,
  type ControlHandler,
} from "../../src/daemon/control-server.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import { makeStaleSocket, memoryLogger, RawConnection, removeDir, startServer, tempDir } from "./control-fixtures.js";

/** Called when the server starts handling a "slow" request. */
let slowStarted: (() => void) | undefined;

const handlers: Record<string, ControlHandler> = {
  echo: (args) => ({ args }),
  "account.add": (args) => {
    if (args.localpart === "taken") throw new ControlError("account-exists", "an account named taken exists");
    return { jid: `${String(args.localpart)}@example.onion` };
  },
  crash: () => {
    throw new Error("disk on fire");
  },
  slow: async (args) => {
    slowStarted?.();
    // unref: a request abandoned by a test must not keep jest alive.
    await new Promise((r) => setTimeout(r, Number(args.ms ?? 50)).unref());
    return { slept: args.ms ?? 50 };
  },
  nothing: () => undefined,
};

let dir: string;
let server: ControlServer;
let socketPath: string;
let logLines: string[];
const open: Array<{ close(): void }> = [];

beforeEach(async () => {
  dir = tempDir();
  ({ server, socketPath, lines: logLines } = await startServer(dir, handlers));
});

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await server.close();
  removeDir(dir);
});

async function client(): Promise<ControlClient> {
  const c = await connectControl(socketPath);
  open.push(c);
  return c;
}

async function raw(): Promise<RawConnection> {
  const c = await RawConnection.open(socketPath);
  open.push(c);
  return c;
}

describe("requests and responses", () => {
  test("hello is answered by the server itself with protocol and pid", async () => {
    const c = await client();
    expect(await c.request("hello", { protocol: 1, client: "test" })).toEqual({
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
    });
  });

  test("args reach the handler and its result comes back", async () => {
    const c = await client();
    expect(await c.request("echo", { a: 1, b: ["x"] })).toEqual({ args: { a: 1, b: ["x"] } });
    expect(await c.request("account.add", { localpart: "alice" })).toEqual({ jid: "alice@example.onion" });
  });

  test("a handler returning nothing answers {}", async () => {
    const c = await client();
    expect(await c.request("nothing")).toEqual({});
  });

  test("exact wire shape of a response", async () => {
    const c = await raw();
    c.write('{"id":7,"op":"echo","args":{"k":"v"}}\n');
    expect(await c.next()).toEqual({ id: 7, ok: true, result: { args: { k: "v" } } });
  });

  test("absent or null args are an empty object", async () => {
    const c = await raw();
    c.send({ id: 1, op: "echo" });
    c.send({ id: 2, op: "echo", args: null });
    expect(await c.next()).toEqual({ id: 1, ok: true, result: { args: {} } });
    expect(await c.next()).toEqual({ id: 2, ok: true, result: { args: {} } });
  });

  test("ControlError from a handler becomes its code and message", async () => {
    const c = await client();
    const err = await c.request("account.add", { localpart: "taken" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect((err as ControlError).code).toBe("account-exists");
    expect((err as ControlError).message).toBe("an account named taken exists");
  });

  test("any other exception is 'internal' and logged", async () => {
    const c = await raw();
    c.send({ id: 3, op: "crash" });
    const response = await c.next();
    expect(response).toMatchObject({ id: 3, ok: false, error: { code: "internal" } });
    expect((response.error as { message: string }).message).toContain("disk on fire");
    expect(logLines.some((l) => l.includes(" error ") && l.includes("op=crash"))).toBe(true);
  });

  test("unknown op, including names inherited from Object.prototype", async () => {
    const c = await raw();
    c.send({ id: 4, op: "nope" });
    c.send({ id: 5, op: "toString" });
    const first = await c.next();
    expect(first).toMatchObject({ id: 4, ok: false, error: { code: "unknown-op" } });
    expect((first.error as { message: string }).message).toContain("echo");
    expect(await c.next()).toMatchObject({ id: 5, ok: false, error: { code: "unknown-op" } });
  });

  test("pipelined requests are answered in order, even when the first is slow", async () => {
    const c = await raw();
    c.write('{"id":1,"op":"slow","args":{"ms":80}}\n{"id":2,"op":"echo"}\n{"id":3,"op":"slow","args":{"ms":1}}\n');
    expect((await c.next()).id).toBe(1);
    expect((await c.next()).id).toBe(2);
    expect((await c.next()).id).toBe(3);
  });

  test("a client that half-closes after writing still gets its answers", async () => {
    const c = await raw();
    c.write('{"id":1,"op":"slow","args":{"ms":30}}\n{"id":2,"op":"hello"}\n');
    c.socket.end();
    expect(await c.next()).toMatchObject({ id: 1, ok: true });
    expect(await c.next()).toMatchObject({ id: 2, ok: true });
    expect(await c.closedWithin()).toBe(true);
  });

  test("request args are not written to the log, even at debug", async () => {
    const c = await client();
    await c.request("echo", { secret: "hunter2-body" });
    expect(logLines.some((l) => l.includes("op=echo"))).toBe(true);
    expect(logLines.join("\n")).not.toContain("hunter2-body");
  });
});

describe("framing and malformed input", () => {
  test("malformed JSON gets bad-request with id null and the connection stays usable", async () => {
    const c = await raw();
    c.write("{not json\n");
    const err = await c.next();
    expect(err).toMatchObject({ id: null, ok: false, error: { code: "bad-request" } });
    c.send({ id: 9, op: "hello" });
    expect(await c.next()).toMatchObject({ id: 9, ok: true, result: { protocol: 1 } });
  });

  test.each([
    ["[1,2]", null],
    ['"text"', null],
    ['{"op":"hello"}', null],
    ['{"id":-1,"op":"hello"}', null],
    ['{"id":1.5,"op":"hello"}', null],
    ['{"id":"1","op":"hello"}', null],
    ['{"id":4}', 4],
    ['{"id":4,"op":""}', 4],
    ['{"id":4,"op":7}', 4],
    ['{"id":4,"op":"echo","args":[1]}', 4],
    ['{"id":4,"op":"echo","args":"x"}', 4],
  ])("%s -> bad-request with id %p", async (line, id) => {
    const c = await raw();
    c.write(line + "\n");
    expect(await c.next()).toMatchObject({ id, ok: false, error: { code: "bad-request" } });
    c.send({ id: 10, op: "hello" });
    expect(await c.next()).toMatchObject({ id: 10, ok: true });
  });

  test("unknown top-level fields are ignored", async () => {
    const c = await raw();
    c.write('{"id":1,"op":"echo","args":{},"future":true}\n');
    expect(await c.next()).toMatchObject({ id: 1, ok: true });
  });

  test("invalid UTF-8 is bad-request", async () => {
    const c = await raw();
    c.write(Buffer.concat([Buffer.from('{"id":1,"op":"echo","args":{"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}\n')]));
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: "bad-request" } });
  });

  test("CRLF line ends and empty lines are accepted", async () => {
    const c = await raw();
    c.write('\n\r\n{"id":1,"op":"echo","args":{"s":"ü"}}\r\n');
    expect(await c.next()).toEqual({ id: 1, ok: true, result: { args: { s: "ü" } } });
  });

  test("a request split into single bytes, through a multi-byte character, is reassembled", async () => {
    const c = await raw();
    const bytes = Buffer.from('{"id":1,"op":"echo","args":{"s":"€ onion 🧅"}}\n');
    for (const byte of bytes) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect(await c.next()).toEqual({ id: 1, ok: true, result: { args: { s: "€ onion 🧅" } } });
  });

  test("a line of exactly MAX_LINE_BYTES is accepted", async () => {
    const c = await raw();
    const head = '{"id":1,"op":"echo","args":{"p":"';
    const tail = '"}}';
    const line = head + "a".repeat(MAX_LINE_BYTES - head.length - tail.length) + tail;
    expect(Buffer.byteLength(line)).toBe(MAX_LINE_BYTES);
    c.write(line + "\n");
    expect(await c.next()).toMatchObject({ id: 1, ok: true });
  });

  test("an oversized line gets line-too-long after earlier answers, then the connection closes", async () => {
    const c = await raw();
    c.write('{"id":1,"op":"hello"}\n');
    c.write('{"id":2,"op":"echo","args":{"p":"' + "a".repeat(MAX_LINE_BYTES) + '"}}\n');
    expect(await c.next()).toMatchObject({ id: 1, ok: true });
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: "line-too-long" } });
    expect(await c.closedWithin()).toBe(true);
    expect(c.pendingLines).toBe(0);
  });

  test("an oversized line without any newline is cut off too", async () => {
    const c = await raw();
    c.write("x".repeat(MAX_LINE_BYTES + 1));
    expect(await c.next()).toMatchObject({ id: null, error: { code: "line-too-long" } });
    expect(await c.closedWithin()).toBe(true);
    // The server is still fine for others.
    const other = await client();
    expect(await other.request("hello")).toMatchObject({ protocol: 1 });
  });
});

describe("events", () => {
  test("broadcast reaches subscribed connections only", async () => {
    const subscriber = await client();
    const bystander = await client();
    const seen: Array<[string, unknown]> = [];
    const notSeen: Array<[string, unknown]> = [];
    subscriber.onEvent((event, data) => seen.push([event, data]));
    bystander.onEvent((event, data) => notSeen.push([event, data]));
    expect(await subscriber.request("subscribe")).toEqual({});

    server.broadcast("account.changed", { jid: "alice@example.onion", change: "added" });
    // A round trip on each connection after the broadcast: anything sent before the reply has arrived.
    await subscriber.request("hello");
    await bystander.request("hello");
    expect(seen).toEqual([["account.changed", { jid: "alice@example.onion", change: "added" }]]);
    expect(notSeen).toEqual([]);
  });

  test("exact wire shape of an event", async () => {
    const c = await raw();
    c.send({ id: 1, op: "subscribe" });
    expect(await c.next()).toEqual({ id: 1, ok: true, result: {} });
    server.broadcast("account.changed", { jid: "bob@example.onion", change: "removed" });
    expect(await c.next()).toEqual({ event: "account.changed", data: { jid: "bob@example.onion", change: "removed" } });
  });

  test("a subscribe handler runs after the connection is marked subscribed", async () => {
    await server.close();
    removeDir(dir);
    dir = tempDir();
    ({ server, socketPath } = await startServer(dir, {
      subscribe: (_args, conn) => {
        conn.sendEvent("snapshot", { subscribed: conn.subscribed });
        return { events: ["snapshot"] };
      },
    }));
    const c = await raw();
    c.send({ id: 1, op: "subscribe" });
    expect(await c.next()).toEqual({ event: "snapshot", data: { subscribed: true } });
    expect(await c.next()).toEqual({ id: 1, ok: true, result: { events: ["snapshot"] } });
  });
});

describe("socket lifecycle", () => {
  test("the socket file has mode 0600", () => {
    const st = fs.statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  test("a second server on a live socket is refused, naming the data dir and pid", async () => {
    const second = new ControlServer({ socketPath, handlers: {}, log: memoryLogger().log });
    const err = await second.listen().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonAlreadyRunningError);
    expect((err as Error).message).toContain(`already running for data dir ${dir}`);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    // ... and the first one is untouched.
    const c = await client();
    expect(await c.request("hello")).toMatchObject({ protocol: 1 });
  });

  test("a stale socket left by a dead daemon is replaced", async () => {
    const staleDir = tempDir();
    try {
      const stalePath = controlSocketPath(staleDir);
      makeStaleSocket(stalePath);
      const { log, lines } = memoryLogger();
      const fresh = new ControlServer({ socketPath: stalePath, handlers: {}, log });
      await fresh.listen();
      try {
        expect(lines.some((l) => l.includes("removed stale control socket"))).toBe(true);
        const c = await connectControl(stalePath);
        expect(await c.request("hello")).toMatchObject({ protocol: 1 });
        c.close();
      } finally {
        await fresh.close();
      }
    } finally {
      removeDir(staleDir);
    }
  });

  test("a regular file where the socket should be is not deleted", async () => {
    const otherDir = tempDir();
    try {
      const p = controlSocketPath(otherDir);
      fs.writeFileSync(p, "important");
      const s = new ControlServer({ socketPath: p, handlers: {}, log: memoryLogger().log });
      await expect(s.listen()).rejects.toThrow(/exists and is not a socket/);
      expect(fs.readFileSync(p, "utf8")).toBe("important");
    } finally {
      removeDir(otherDir);
    }
  });

  test("close() answers the request in flight, closes connections and removes the socket", async () => {
    await server.close();
    removeDir(dir);
    dir = tempDir();
    let closing: Promise<void> | undefined;
    ({ server, socketPath } = await startServer(dir, {
      shutdown: () => {
        // What the daemon does: schedule the stop, answer at once.
        setImmediate(() => (closing = server.close()));
        return {};
      },
    }));
    const c = await raw();
    c.send({ id: 1, op: "shutdown" });
    expect(await c.next()).toEqual({ id: 1, ok: true, result: {} });
    expect(await c.closedWithin()).toBe(true);
    await closing;
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test("requests still waiting in a client are rejected when the server goes away", async () => {
    const c = await client();
    const started = new Promise<void>((resolve) => (slowStarted = resolve));
    const pending = c.request("slow", { ms: 5000 });
    await started; // the server is handling it: the request is in flight on both sides
    slowStarted = undefined;
    const closing = server.close();
    await expect(pending).rejects.toThrow(/closed the control connection/);
    await closing;
  }, 10_000);
});
