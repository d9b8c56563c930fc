// Reaching an onion service through a client tor's SocksPort in tests: a
// SOCKS5 hostname CONNECT (the `socks` package) that also reports tor's
// extended reply code, a retry while the descriptor is not found yet, and an
// echo server to stand behind the onion.
// https://spec.torproject.org/socks-extensions.html (ExtendedErrors)
import { connect, createServer, type Server, type Socket } from "node:net";
import { SocksClient } from "socks";

/** tor with ExtendedErrors: the onion's descriptor could not be found (not published yet?). */
export const SOCKS_ONION_DESC_NOT_FOUND = 0xf0;

export class SocksRejected extends Error {
  /** The CONNECT reply code (e.g. 0xF0), when tor sent one. */
  constructor(
    message: string,
    readonly replyCode: number | undefined,
  ) {
    super(message);
  }
}

/**
 * A SOCKS5 hostname CONNECT through 127.0.0.1:`socksPort`. The socks package
 * reports tor's extended reply codes (0xF0...) as "undefined", so the raw
 * reply is read beside it: bytes 0-1 answer the method offer, byte 3 is the
 * CONNECT reply code. Throws SocksRejected on a refused CONNECT.
 */
export async function socksConnect(socksPort: number, host: string, port: number, timeoutMs = 20_000): Promise<Socket> {
  const raw = connect({ host: "127.0.0.1", port: socksPort });
  await new Promise<void>((resolve, reject) => {
    raw.once("connect", resolve);
    raw.once("error", reject);
  });
  const seen: Buffer[] = [];
  const spy = (d: Buffer): number => seen.push(d);
  raw.on("data", spy);
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: "127.0.0.1", port: socksPort, type: 5 },
      command: "connect",
      destination: { host, port },
      existing_socket: raw,
      timeout: timeoutMs,
    });
    raw.removeListener("data", spy);
    return socket;
  } catch (err) {
    raw.destroy();
    const bytes = Buffer.concat(seen);
    throw new SocksRejected(err instanceof Error ? err.message : String(err), bytes.length >= 4 ? bytes[3] : undefined);
  }
}

/**
 * socksConnect, retried while tor answers 0xF0: right after HS_DESC UPLOADED
 * the HSDir the connecting client asks may not have the descriptor yet.
 */
export async function connectToOnion(socksPort: number, onionHost: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // Each attempt may take what is left: a tor just restarted builds its first rendezvous
      // circuits while the machine is busy, and one attempt can outlast socksConnect's default.
      return await socksConnect(socksPort, onionHost, port, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      if (!(err instanceof SocksRejected) || err.replyCode !== SOCKS_ONION_DESC_NOT_FOUND || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Writes `payload` and resolves with the same number of bytes read back. */
export async function roundTrip(socket: Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      length += d.length;
      if (length >= payload.length) resolve();
    });
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`closed after ${length} of ${payload.length} bytes`)));
  });
  socket.write(payload);
  await done;
  return Buffer.concat(chunks);
}

export interface EchoServer {
  port: number;
  /** Bytes received (and echoed) so far, over all connections. */
  received(): number;
  close(): void;
}

/** A TCP echo server on 127.0.0.1 (a free port). */
export async function startEchoServer(): Promise<EchoServer> {
  let received = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", (d: Buffer) => {
      received += d.length;
      socket.write(d);
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("the echo server has no port");
  return {
    port: address.port,
    received: () => received,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
