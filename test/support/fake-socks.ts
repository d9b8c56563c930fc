// An in-process SOCKS5 server for tests (RFC 1928, RFC 1929 username/password).
//
// It records what every client sent (offered methods, credentials, command, ATYP,
// address, port) and answers as told: a given reply code, a successful connection piped
// to a local target, a success followed at once by some bytes (then an echo), or nothing
// at all (to test timeouts). Only 127.0.0.1.
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface FakeSocksRequest {
  /** METHODS offered in the client's greeting (RFC 1928 section 3). */
  offeredMethods: number[];
  /** The METHOD the server chose. */
  chosenMethod?: number;
  /** RFC 1929 credentials, when username/password was chosen. */
  username?: string;
  password?: string;
  /** CMD of the request (1 = CONNECT). */
  command?: number;
  /** ATYP of the request: 1 IPv4, 3 domain name, 4 IPv6. */
  atyp?: number;
  /** DST.ADDR: the name for ATYP 3, the dotted or colon form for 1 and 4. */
  address?: string;
  port?: number;
  /** The server sent its reply to the request (any code). */
  answered: boolean;
  /** The client's connection has closed. */
  closed: boolean;
}

export type FakeSocksAction =
  /** Answer the request with this REP code; for a failure, close afterwards like tor does. */
  | { reply: number }
  /** Connect to a local target, answer 0x00, and pipe both ways. */
  | { pipeTo: { host: string; port: number } }
  /** Answer 0x00 and send these bytes in the same write, then echo what arrives. */
  | { succeedWith: Buffer }
  /** Never answer the request. */
  | { stall: true };

export interface FakeSocksOptions {
  /** What to do with each request (or a function of it). Default: { reply: 0x01 }. */
  action?: FakeSocksAction | ((request: FakeSocksRequest) => FakeSocksAction);
  /** METHOD to choose. Default: 0x02 (username/password) when offered, else 0x00. */
  chooseMethod?: number;
  /** RFC 1929 STATUS to answer. Default 0 (success). */
  authStatus?: number;
  /** Accept connections but never answer the greeting. */
  silent?: boolean;
  /** Send every byte of the handshake answers in its own TCP segment, 2 ms apart. */
  dribble?: boolean;
}

// Tor answers with BND.ADDR 0.0.0.0:0 (ATYP 1).
function reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(":");
}

export class FakeSocksServer {
  readonly requests: FakeSocksRequest[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private options: FakeSocksOptions,
  ) {}

  static async start(options: FakeSocksOptions = {}): Promise<FakeSocksServer> {
    const server = createServer();
    const fake = new FakeSocksServer(server, options);
    server.on("connection", (socket) => fake.handle(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return fake;
  }

  get host(): string {
    return "127.0.0.1";
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** TCP connections accepted so far (a request record is made for each). */
  get connections(): number {
    return this.requests.length;
  }

  configure(options: FakeSocksOptions): void {
    this.options = options;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(socket: Socket): void {
    this.sockets.add(socket);
    const request: FakeSocksRequest = { offeredMethods: [], answered: false, closed: false };
    this.requests.push(request);
    const options = this.options;
    let buffer = Buffer.alloc(0);
    let stage: "greeting" | "auth" | "request" | "done" = "greeting";
    socket.setNoDelay(true);
    // Writes go through one queue, so dribbled bytes keep their order.
    let queue = Promise.resolve();
    const send = (bytes: Buffer, end = false): Promise<void> =>
      (queue = queue.then(async () => {
        if (!options.dribble) {
          if (end) socket.end(bytes);
          else socket.write(bytes);
          return;
        }
        for (const byte of bytes) {
          if (socket.destroyed) return;
          socket.write(Buffer.of(byte));
          await new Promise((r) => setTimeout(r, 2));
        }
        if (end) socket.end();
      }));
    socket.on("error", () => {});
    socket.on("close", () => {
      request.closed = true;
      this.sockets.delete(socket);
    });
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const before = stage;
        step();
        if (stage === before || stage === "done") return;
      }
    };
    // Consumes one complete message from `buffer`, or returns without changing `stage`.
    const step = (): void => {
      if (stage === "greeting") {
        if (buffer.length < 2 || buffer.length < 2 + buffer[1]!) return;
        request.offeredMethods = [...buffer.subarray(2, 2 + buffer[1]!)];
        buffer = buffer.subarray(2 + buffer[1]!);
        if (options.silent) {
          stage = "done";
          return;
        }
        const method = options.chooseMethod ?? (request.offeredMethods.includes(0x02) ? 0x02 : 0x00);
        request.chosenMethod = method;
        stage = method === 0x02 ? "auth" : method === 0x00 ? "request" : "done";
        void send(Buffer.from([0x05, method]), stage === "done");
      } else if (stage === "auth") {
        // VER ULEN UNAME PLEN PASSWD (RFC 1929 section 2)
        if (buffer.length < 2) return;
        const ulen = buffer[1]!;
        if (buffer.length < 3 + ulen) return;
        const plen = buffer[2 + ulen]!;
        if (buffer.length < 3 + ulen + plen) return;
        request.username = buffer.subarray(2, 2 + ulen).toString("utf8");
        request.password = buffer.subarray(3 + ulen, 3 + ulen + plen).toString("utf8");
        buffer = buffer.subarray(3 + ulen + plen);
        const status = options.authStatus ?? 0;
        stage = status === 0 ? "request" : "done";
        void send(Buffer.from([0x01, status]), status !== 0);
      } else if (stage === "request") {
        // VER CMD RSV ATYP DST.ADDR DST.PORT (RFC 1928 section 4)
        if (buffer.length < 5) return;
        const atyp = buffer[3]!;
        const addrLen = atyp === 0x01 ? 4 : atyp === 0x04 ? 16 : atyp === 0x03 ? 1 + buffer[4]! : 0;
        if (buffer.length < 4 + addrLen + 2) return;
        const addr = buffer.subarray(4, 4 + addrLen);
        request.command = buffer[1]!;
        request.atyp = atyp;
        request.address =
          atyp === 0x01 ? [...addr].join(".") : atyp === 0x04 ? ipv6(addr) : addr.subarray(1).toString("latin1");
        request.port = buffer.readUInt16BE(4 + addrLen);
        const rest = buffer.subarray(4 + addrLen + 2);
        buffer = Buffer.alloc(0);
        stage = "done";
        socket.removeListener("data", onData);
        socket.pause(); // until act() attaches its reader or pipe
        this.act(socket, request, rest, options, send);
      }
    };
    socket.on("data", onData);
  }

  private act(
    socket: Socket,
    request: FakeSocksRequest,
    early: Buffer,
    options: FakeSocksOptions,
    send: (bytes: Buffer, end?: boolean) => Promise<void>,
  ): void {
    const chosen = options.action ?? { reply: 0x01 };
    const action = typeof chosen === "function" ? chosen(request) : chosen;
    if ("stall" in action) return;
    if ("reply" in action) {
      request.answered = true;
      if (action.reply === 0x00) {
        void send(reply(0x00));
        socket.on("data", (d: Buffer) => void send(d)).resume();
      } else {
        void send(reply(action.reply), true);
      }
      return;
    }
    if ("succeedWith" in action) {
      request.answered = true;
      void send(Buffer.concat([reply(0x00), action.succeedWith]));
      if (early.length > 0) void send(early);
      socket.on("data", (d: Buffer) => void send(d)).resume();
      return;
    }
    const target = connect(action.pipeTo);
    target.on("error", () => {
      if (!request.answered) {
        request.answered = true;
        void send(reply(0x05), true);
      } else socket.destroy();
    });
    target.once("connect", () => {
      request.answered = true;
      void send(reply(0x00)).then(() => {
        if (early.length > 0) target.write(early);
        socket.pipe(target);
        target.pipe(socket);
        socket.on("close", () => target.destroy());
        target.on("close", () => socket.destroy());
      });
    });
  }
}
