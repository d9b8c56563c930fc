// An in-process stand-in for tor's control port (127.0.0.1, a free port), for testing the
// control client's framing, FIFO matching, events, timeouts and reconnects. It answers the
// way tor 0.4.9 does for the few commands tests need (NULL authentication by default); a
// test's handler sees every command line first and can answer anything, or nothing.
import { createServer, type Server, type Socket } from "node:net";

export interface FakeConnection {
  /** Command lines received so far (without CRLF). */
  lines: string[];
  socket: Socket;
  /** Write raw bytes (a test writes CRLF itself). */
  write(raw: string | Buffer): void;
  destroy(): void;
}

/** Return the raw reply text, undefined for the default answer, or null to stay silent. */
export type FakeHandler = (line: string, conn: FakeConnection) => string | null | undefined;

export interface FakeTorControl {
  /** 127.0.0.1 and a free port, or the Unix socket asked for. */
  target: { host: string; port: number } | { path: string };
  connections: FakeConnection[];
  /** Date.now() of every accepted connection. */
  acceptedAt: number[];
  /** When true, accepted sockets are destroyed at once (tor unreachable-ish). */
  refuse: boolean;
  handler: FakeHandler | undefined;
  /** Resolves with the n-th connection (0-based) once it is accepted. */
  connection(n: number): Promise<FakeConnection>;
  /** Resolves once `conn` has received at least `count` lines. */
  waitForLines(conn: FakeConnection, count: number): Promise<string[]>;
  close(): Promise<void>;
}

export function defaultAnswer(line: string): string {
  const keyword = line.split(" ", 1)[0]!.toUpperCase();
  switch (keyword) {
    case "PROTOCOLINFO":
      return '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n';
    case "AUTHENTICATE":
    case "SETEVENTS":
    case "SIGNAL":
      return "250 OK\r\n";
    case "GETINFO":
      return line === "GETINFO version" ? "250-version=0.4.9.11\r\n250 OK\r\n" : '552 Unrecognized key "x"\r\n';
    default:
      return `510 Unrecognized command "${keyword}"\r\n`;
  }
}

export async function startFakeTorControl(handler?: FakeHandler, where?: { path: string }): Promise<FakeTorControl> {
  const connections: FakeConnection[] = [];
  const acceptedAt: number[] = [];
  const waiters: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const fake: FakeTorControl = {
    target: where ?? { host: "127.0.0.1", port: 0 },
    connections,
    acceptedAt,
    refuse: false,
    handler,
    connection(n) {
      return until(() => connections[n]);
    },
    waitForLines(conn, count) {
      return until(() => (conn.lines.length >= count ? conn.lines : undefined));
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  function until<T>(get: () => T | undefined): Promise<T> {
    return new Promise((resolve) => {
      const check = () => {
        const v = get();
        if (v !== undefined) resolve(v);
        else waiters.push(check);
      };
      check();
    });
  }

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    acceptedAt.push(Date.now());
    if (fake.refuse) {
      socket.destroy();
      notify();
      return;
    }
    const conn: FakeConnection = {
      lines: [],
      socket,
      write: (raw) => {
        if (!socket.destroyed) socket.write(raw);
      },
      destroy: () => socket.destroy(),
    };
    connections.push(conn);
    let buffered = "";
    socket.on("data", (d: Buffer) => {
      buffered += d.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\r\n")) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        conn.lines.push(line);
        const answer = fake.handler?.(line, conn);
        if (answer === undefined) conn.write(defaultAnswer(line));
        else if (answer !== null) conn.write(answer);
      }
      notify();
    });
    notify();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (where) server.listen(where.path, () => resolve());
    else server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!where) fake.target = { host: "127.0.0.1", port: typeof address === "object" && address ? address.port : 0 };
  return fake;
}
