// Where an account's onion service delivers inbound server-to-server
// connections: a Unix socket in a 0700 folder, so no other local user can
// reach it (tor is the only way in). Federation itself (dialback, onion-key
// authentication, routing) comes with the federation work; until then an
// inbound stream gets a proper XMPP answer that says so.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import type { Logger } from "../daemon/logger.js";
import { NS } from "../xmpp/namespaces.js";
import { StreamParser } from "../xmpp/stream-parser.js";
import { streamError, streamHeader } from "../xmpp/stream-writer.js";
import { randomBytes } from "node:crypto";

/** Unix socket paths are limited to 107 bytes; the onion's first 16 characters name it. */
export function s2sSocketPath(dataDir: string, domain: string): string {
  return path.join(dataDir, "s2s", `${domain.slice(0, 16)}.sock`);
}

const NEGOTIATION_TIMEOUT_MS = 30_000;

export class InboundS2sListener {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly domain: string, readonly socketPath: string, private readonly log: Logger) {}

  async listen(): Promise<void> {
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
    socket.on("error", () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), NEGOTIATION_TIMEOUT_MS);
    let answered = false;
    const answer = (to: string | undefined, condition: string, text: string) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.end(streamHeader({ ns: NS.SERVER, from: to === this.domain ? this.domain : undefined, id: randomBytes(12).toString("base64url"), dialback: true }) + streamError(condition, text) + "</stream:stream>");
    };
    const parser = new StreamParser({
      onStreamStart: (h) => {
        if (h.defaultNs !== NS.SERVER) return answer(h.attrs.to, "invalid-namespace", "this port speaks jabber:server");
        if (h.attrs.to !== this.domain) return answer(h.attrs.to, "host-unknown", "this onion serves another domain");
        this.log.info("inbound server-to-server stream refused: federation is not available yet");
        answer(h.attrs.to, "undefined-condition", "this purple-onion server does not federate yet");
      },
      onStanza: () => undefined,
      onStreamEnd: () => socket.end(),
      onError: (e) => answer(undefined, e.condition, e.text),
    });
    socket.on("data", (d: Buffer) => parser.write(d));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
