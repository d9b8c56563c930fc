// Where an account's onion service delivers inbound server-to-server
// connections. When tor runs as our own user: a Unix socket in a 0700 folder,
// so no other local user can reach it (tor is the only way in). When tor runs
// as another user (Debian's system tor, debian-tor, which cannot enter our
// data dir): a 127.0.0.1 port of the onion's own (tor does not tell a target
// which onion a connection came through), that accepts only connections whose
// socket belongs to tor's uid. Each accepted socket goes to the S2sManager,
// which runs the stream and dialback on it.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import type { Logger } from "../daemon/logger.js";
import { LocalPeerGate } from "../net/local-peer-gate.js";

/** Unix socket paths are limited to 107 bytes; the onion's first 16 characters name it. */
export function s2sSocketPath(dataDir: string, domain: string): string {
  return path.join(dataDir, "s2s", `${domain.slice(0, 16)}.sock`);
}


/** A Unix socket (tor runs as us) or a loopback port that admits only tor's uid. */
export type S2sEndpoint = { path: string } | { tcpForUid: number };

export class InboundS2sListener {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly gate: LocalPeerGate | undefined;
  private port = 0;

  constructor(
    readonly domain: string,
    readonly endpoint: S2sEndpoint,
    log: Logger,
    /** Takes over each accepted socket (S2sManager.acceptInbound for this onion). */
    private readonly handoff: (socket: Socket) => void,
  ) {
    if ("tcpForUid" in endpoint) {
      this.gate = new LocalPeerGate({ allowedUid: endpoint.tcpForUid, what: `s2s target of ${domain}`, log });
    }
  }

  /** The Unix socket's path (Unix endpoints only). */
  get socketPath(): string {
    if (!("path" in this.endpoint)) throw new Error("this s2s listener is a TCP port");
    return this.endpoint.path;
  }

  /** What ADD_ONION points the onion's port at (HiddenServicePort target syntax). */
  get target(): string {
    return "path" in this.endpoint ? `unix:${this.endpoint.path}` : `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    if ("tcpForUid" in this.endpoint) {
      const gate = this.gate!;
      if (!gate.supported) throw new Error("cannot tell which local user connects to a TCP port on this system (no /proc/net/tcp): run tor as your own user (--tor launch)");
      const server = createServer((socket) => {
        socket.on("error", () => socket.destroy());
        void gate.check(socket).then((verdict) => {
          if (verdict !== "admitted" || !this.server) return socket.destroy();
          this.accept(socket);
          socket.resume();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => resolve());
      });
      this.port = (server.address() as { port: number }).port;
      this.server = server;
      return;
    }
    const dir = path.dirname(this.socketPath);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    rmSync(this.socketPath, { force: true }); // ours, from a previous run: the data dir is owned by one daemon
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    this.server = server;
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    this.handoff(socket);
  }

  async close(): Promise<void> {
    this.gate?.close();
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if ("path" in this.endpoint) rmSync(this.endpoint.path, { force: true });
  }
}
