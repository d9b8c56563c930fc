// Watching the SOCKS5 handshake between the `socks` package and tor, byte by byte.
//
// The `socks` package writes the greeting, the RFC 1929 credentials and the CONNECT
// request, but its errors carry the reply code only as a name from RFC 1928's list
// ("Socks5 proxy rejected connection - HostUnreachable"): tor's onion-service codes
// 0xF0-0xF7 come out as "- undefined", and the raw byte is gone. It also reads the
// socket in flowing mode and re-emits bytes that arrived with the reply a tick later,
// so data from the peer could be lost before the caller attaches its listener.
//
// So the package talks through HandshakeBridge, a Duplex standing in for the socket.
// The bridge reads the real socket in paused mode, parses tor's side of the handshake
// (ServerHandshake) and forwards exactly the handshake bytes to the package, nothing
// after them: the connected socket is handed back untouched, with any early bytes from
// the peer still in its buffer. The parse gives the exact reply code, and lets us stop
// before the CONNECT if tor would not take our credentials (no isolation).
import type { Socket } from "node:net";
import { Duplex } from "node:stream";

// https://www.rfc-editor.org/rfc/rfc1928#section-3 and rfc1929#section-2
const SOCKS_VERSION = 0x05;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERNAME_PASSWORD = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

type Stage = "greeting" | "auth" | "reply-head" | "reply-rest" | "done";

/** What tor has said so far, parsed from the bytes it sent (RFC 1928 sections 3 and 6, RFC 1929 section 2). */
export class ServerHandshake {
  /** VER of the method-selection message. */
  version: number | undefined;
  /** The authentication METHOD tor chose. */
  method: number | undefined;
  /** RFC 1929 STATUS, when tor chose username/password. */
  authStatus: number | undefined;
  /** REP of the reply to CONNECT, known as soon as its second byte arrives. */
  reply: number | undefined;
  /** The reply's ATYP was not 1, 3 or 4. */
  malformedReply = false;
  private stage: Stage = "greeting";
  private pending = Buffer.alloc(0);
  private wanted = 2;

  /** The whole handshake was read and tor granted the connection. */
  get succeeded(): boolean {
    return this.stage === "done" && this.reply === 0x00 && !this.malformedReply;
  }

  /** Tor said something that ends the attempt (wrong version, method or status, or a failure reply). */
  get failed(): boolean {
    if (this.version !== undefined && this.version !== SOCKS_VERSION) return true;
    if (this.method !== undefined && this.method !== METHOD_USERNAME_PASSWORD) return true;
    if (this.authStatus !== undefined && this.authStatus !== 0x00) return true;
    if (this.reply !== undefined && this.reply !== 0x00) return true;
    return this.malformedReply;
  }

  /** Feeds bytes from tor; returns how many of them belong to the handshake (the rest is the peer's data). */
  feed(chunk: Buffer): number {
    let used = 0;
    while (used < chunk.length && this.stage !== "done" && !this.failed) {
      const take = Math.min(this.wanted - this.pending.length, chunk.length - used);
      this.pending = Buffer.concat([this.pending, chunk.subarray(used, used + take)]);
      used += take;
      if (this.stage === "reply-head" && this.pending.length >= 2) this.reply = this.pending[1];
      if (this.pending.length === this.wanted) this.advance();
    }
    return used;
  }

  private advance(): void {
    const p = this.pending;
    switch (this.stage) {
      case "greeting":
        this.version = p[0];
        this.method = p[1];
        this.next(this.method === METHOD_USERNAME_PASSWORD ? "auth" : "done", 2);
        break;
      case "auth":
        this.authStatus = p[1];
        this.next(this.authStatus === 0x00 ? "reply-head" : "done", 5);
        break;
      case "reply-head": {
        // VER REP RSV ATYP, then the first byte of BND.ADDR (the length, for a domain name).
        const atyp = p[3];
        const total = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : atyp === 0x03 ? 7 + p[4]! : undefined;
        if (total === undefined) {
          this.malformedReply = true;
          this.next("done", 0);
        } else {
          // Keep the head: the package parses the whole reply at once.
          this.stage = "reply-rest";
          this.wanted = total;
        }
        break;
      }
      case "reply-rest":
        this.next("done", 0);
        break;
      case "done":
        break;
    }
  }

  private next(stage: Stage, wanted: number): void {
    this.stage = stage;
    this.wanted = wanted;
    this.pending = Buffer.alloc(0);
  }
}

/**
 * The Duplex the `socks` package talks to (its `existing_socket`). Writes go to the real
 * socket; tor's handshake bytes come back through it. Emits "stopped" once tor has said
 * something that ends the attempt: those bytes are not forwarded, so the package sends
 * nothing more (in particular no CONNECT after tor declined our credentials).
 */
export class HandshakeBridge extends Duplex {
  readonly server = new ServerHandshake();
  private readonly onReadable = (): void => this.pump();

  constructor(private readonly socket: Socket) {
    super();
    socket.on("readable", this.onReadable);
  }

  /** Stops reading the real socket. After this, it is in its normal (non-flowing, unread) state. */
  detach(): void {
    // Removing the last "readable" listener puts the stream back to readableFlowing === null,
    // so the caller's first "data" listener starts the flow as on any fresh socket.
    this.socket.removeListener("readable", this.onReadable);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed) return callback(new Error("the connection to tor's SOCKS port is closed"));
    this.socket.write(chunk, callback);
  }

  override _read(): void {
    // Data is pushed as it arrives on the real socket.
  }

  private pump(): void {
    let chunk: Buffer | null;
    while ((chunk = this.socket.read() as Buffer | null) !== null) {
      const used = this.server.feed(chunk);
      if (this.server.failed) {
        this.detach();
        this.emit("stopped");
        return;
      }
      if (used > 0) this.push(chunk.subarray(0, used));
      if (this.server.succeeded) {
        if (used < chunk.length) this.socket.unshift(chunk.subarray(used));
        this.detach();
        return;
      }
    }
  }
}
