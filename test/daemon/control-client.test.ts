// The control client's own behaviour: no daemon, stale socket, timeouts, odd servers.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import {
  connectControl,
  ControlTimeoutError,
  DaemonNotRunningError,
} from "../../src/daemon/control-client.js";
import { ControlError } from "../../src/daemon/control-protocol.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import { makeStaleSocket, removeDir, startServer, tempDir } from "./control-fixtures.js";

let dir: string;
const fakes: net.Server[] = [];
const fakeSockets = new Set<net.Socket>();

beforeEach(() => {
  dir = tempDir();
});

afterEach(async () => {
  for (const s of fakeSockets) s.destroy();
  for (const f of fakes.splice(0)) await new Promise((r) => f.close(r));
  removeDir(dir);
});

/** A stand-in daemon that does whatever onConnection does. */
async function fakeDaemon(socketPath: string, onConnection: (s: net.Socket) => void): Promise<void> {
  const server = net.createServer((s) => {
    fakeSockets.add(s);
    s.on("close", () => fakeSockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  fakes.push(server);
}

test("no socket file -> DaemonNotRunningError telling how to start one", async () => {
  const err = await connectControl(controlSocketPath(dir)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DaemonNotRunningError);
  expect((err as Error).message).toBe(
    `no purple-onion daemon is running for data dir ${dir}: start one with \`purple-onion serve --data-dir ${dir}\``,
  );
});

test("a data dir that does not exist -> DaemonNotRunningError", async () => {
  await expect(connectControl(controlSocketPath(path.join(dir, "missing")))).rejects.toBeInstanceOf(DaemonNotRunningError);
});

test("a data dir path with a space is quoted in the hint", async () => {
  const spaced = path.join(dir, "my data");
  const err = (await connectControl(controlSocketPath(spaced)).catch((e: unknown) => e)) as Error;
  expect(err.message).toContain(`--data-dir '${spaced}'`);
});

test("a stale socket (daemon killed) -> DaemonNotRunningError", async () => {
  const p = controlSocketPath(dir);
  makeStaleSocket(p);
  await expect(connectControl(p)).rejects.toBeInstanceOf(DaemonNotRunningError);
});

test("a socket path over the Unix limit is refused with a clear message", async () => {
  const long = path.join(dir, "d".repeat(120));
  await expect(connectControl(controlSocketPath(long))).rejects.toThrow(/longer than 107 bytes/);
});

test("a daemon that never answers -> ControlTimeoutError naming the op", async () => {
  const p = controlSocketPath(dir);
  await fakeDaemon(p, () => undefined);
  const c = await connectControl(p, { requestTimeoutMs: 100 });
  const err = await c.request("status").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ControlTimeoutError);
  expect((err as Error).message).toContain("'status'");
  c.close();
});

test("a line-too-long error (id null) rejects the oldest waiting request", async () => {
  const p = controlSocketPath(dir);
  await fakeDaemon(p, (s) => {
    s.once("data", () => s.end('{"id":null,"ok":false,"error":{"code":"line-too-long","message":"too long"}}\n'));
  });
  const c = await connectControl(p);
  const err = await c.request("hello").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ControlError);
  expect((err as ControlError).code).toBe("line-too-long");
  await c.closed;
  await expect(c.request("hello")).rejects.toThrow(/closed/);
});

test("a server that speaks something else is reported, not crashed on", async () => {
  const p = controlSocketPath(dir);
  await fakeDaemon(p, (s) => s.once("data", () => s.write("HTTP/1.1 400 Bad Request\n")));
  const c = await connectControl(p);
  await expect(c.request("hello")).rejects.toThrow(/not the control protocol/);
});

test("close() rejects waiting requests and ends the connection", async () => {
  const { server, socketPath } = await startServer(dir, {
    slow: () => new Promise((r) => setTimeout(() => r({}), 200)),
  });
  try {
    const c = await connectControl(socketPath);
    const pending = c.request("slow");
    c.close();
    await expect(pending).rejects.toThrow(/closed by the client/);
    await c.closed;
    expect(fs.existsSync(socketPath)).toBe(true);
  } finally {
    await server.close();
  }
});
