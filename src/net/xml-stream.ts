// One XML stream over one socket, whoever is at the other end: a client (c2s), a server that
// connected to us (inbound s2s) or one we connected to (outbound s2s). It owns the socket, the
// parser, the writer and its backpressure, the read throttle and the timers; the session on top
// of it owns the protocol (SASL and binding, dialback) and decides what a stanza means.
// https://www.rfc-editor.org/rfc/rfc6120#section-4
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../daemon/logger.js";
import { NS } from "../xmpp/namespaces.js";
import { StreamParser, type StreamHeader, type StreamLimits, type StreamParseError } from "../xmpp/stream-parser.js";
import { STREAM_CLOSE, streamError, streamHeader } from "../xmpp/stream-writer.js";
import type { Element } from "../xmpp/xml.js";

export interface XmlStreamLimits {
  stream: StreamLimits;
  /** The session must call negotiated() within this time, or the stream is closed. */
  negotiationTimeoutMs: number;
  /** Incoming bytes per second; excess pauses the socket (TCP pushes back), nothing is dropped. */
  readBytesPerSecond: number;
  readBurstBytes: number;
  /** A peer that stops reading: once this much output waits in the kernel's stead, it is dropped. */
  maxPendingOutputBytes: number;
}

export interface XmlStreamOptions {
  /** The content namespace: jabber:client or jabber:server. Every stanza written gets it. */
  ns: typeof NS.CLIENT | typeof NS.SERVER;
  limits: XmlStreamLimits;
  log: Logger;
  /** Declare xmlns:db on our header (server streams, XEP-0220). */
  dialback?: boolean;
  /** Names this stream in log lines ("session", "s2s-in", "s2s-out"). */
  kind: string;
}

export interface XmlStreamEvents {
  onStreamStart(header: StreamHeader): void;
  /** A complete top-level element (a stanza, or a negotiation element). */
  onElement(el: Element): void;
  /** Once, when the stream is gone for any reason. */
  onClosed(): void;
}

const STANZAS = new Set(["message", "presence", "iq"]);

// Output is written once per event-loop turn, or as soon as this much is queued: one turn
// can read a whole burst (libuv reads up to 32 chunks of 64 KB per socket per turn), and
// the benchmark's 20,000-message burst left 17,000 serialized stanzas queued on the heap
// at once, which the GC then moved to the old generation (bench/README.md, "Memory").
const FLUSH_CHARS = 16 * 1024;
/** A peer that never answers our </stream:stream> does not keep the socket longer than this. */
const CLOSE_GRACE_MS = 2000;

export class XmlStream {
  readonly id = randomBytes(8).toString("hex");
  /** The stream id we put in our header (dialback keys are computed over it); new after STARTTLS. */
  streamId = randomBytes(12).toString("base64url");
  /** TLS is on (STARTTLS done). */
  private tls = false;
  /** Times the read limit paused this stream (logged the first time). */
  private throttled = 0;
  private closedFlag = false;
  private headerSent = false;
  private readonly parser: StreamParser;
  private outQueue: string[] = [];
  private outChars = 0;
  private flushScheduled = false;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Reading is paused until then (the read limit, or a budget shared with other streams). */
  private pauseTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private tokens: number;
  private lastRefill = Date.now();
  private idle: { ms: number; fn: () => void } | undefined;
  /** When input last arrived (Date.now()): an answer to a keepalive is any input at all. */
  lastInputMs = Date.now();
  readonly log: Logger;

  private readonly onSocketData = (chunk: Buffer) => this.onData(chunk);
  private readonly onSocketGone = () => this.teardown();
  private readonly onSocketError = (err: Error) => {
    this.log.debug("socket error", { stream: this.id, kind: this.opts.kind, error: err.message });
    this.teardown();
  };

  constructor(
    private socket: Socket,
    private readonly opts: XmlStreamOptions,
    private readonly events: XmlStreamEvents,
  ) {
    this.log = opts.log;
    this.tokens = opts.limits.readBurstBytes;
    this.parser = new StreamParser(
      {
        onStreamStart: (h) => events.onStreamStart(h),
        onStanza: (el) => events.onElement(el),
        onStreamEnd: () => this.close(),
        onError: (e) => this.onParseError(e),
      },
      opts.limits.stream,
    );
    if (typeof socket.setNoDelay === "function") socket.setNoDelay(true);
    this.listen(socket);
    this.negotiationTimer = setTimeout(() => {
      this.log.info("closing a connection that did not finish negotiating in time", { stream: this.id, kind: opts.kind });
      this.streamErrorAndClose("connection-timeout", "stream negotiation took too long");
    }, opts.limits.negotiationTimeoutMs);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Our stream header (RFC 6120 4.7). Sent at most once per stream (restart() allows one more). */
  openStream(attrs: { from?: string; to?: string; id?: string } = {}): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.send(streamHeader({ ns: this.opts.ns, dialback: this.opts.dialback, ...attrs }));
  }

  /** Negotiation (authentication, binding, dialback) is over: the timeout no longer applies. */
  negotiated(): void {
    if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
    this.negotiationTimer = undefined;
  }

  /** After SASL success or STARTTLS: the peer opens a new stream on the same socket (RFC 6120 4.3.3). */
  restart(): void {
    this.headerSent = false;
    this.parser.restart();
  }

  get encrypted(): boolean {
    return this.tls;
  }

  /**
   * RFC 6120 5.4.3.3: after <proceed/> TLS starts on this socket: `wrap` makes the TLS socket
   * (server or client side) over the plain one, and the stream restarts with a new id (5.4.3.3
   * step 3, and dialback keys are computed over it). What was queued (our <proceed/>) is written
   * in the clear first.
   */
  startTls(wrap: (plain: Socket) => TLSSocket): void {
    if (this.closedFlag || this.tls) return;
    this.flush();
    const plain = this.socket;
    plain.off("data", this.onSocketData);
    plain.off("end", this.onSocketGone);
    plain.off("close", this.onSocketGone);
    plain.off("error", this.onSocketError);
    // The TLS socket reports what happens underneath; an error here must not go unhandled.
    plain.on("error", () => undefined);
    const secure = wrap(plain);
    this.socket = secure;
    this.tls = true;
    this.listen(secure);
    this.streamId = randomBytes(12).toString("base64url");
    this.restart();
  }

  private listen(socket: Socket): void {
    socket.on("data", this.onSocketData);
    socket.on("end", this.onSocketGone);
    socket.on("close", this.onSocketGone);
    socket.on("error", this.onSocketError);
  }

  /**
   * Stop reading for `ms` (a budget shared with other streams is spent: s2s/onion-budget.ts).
   * TCP pushes back on the peer; nothing is dropped. An earlier, longer hold is kept.
   */
  holdInput(ms: number): void {
    this.pauseReading(ms);
  }

  /** Pause the socket for `ms`; a pause already running that ends later is kept. */
  private pauseReading(ms: number): void {
    if (this.closedFlag || ms <= 0) return;
    const until = Date.now() + ms;
    if (this.pausedUntil >= until) return;
    this.pausedUntil = until;
    this.socket.pause();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      this.pausedUntil = 0;
      if (!this.closedFlag) this.socket.resume();
    }, ms);
  }

  /** Call fn after `ms` without input; every chunk read re-arms it. One watch per stream. */
  watchIdle(ms: number, fn: () => void): void {
    this.idle = { ms, fn };
    this.armIdle();
  }

  /**
   * Close the stream once `lastUse()` (ms since the epoch) is `ms` in the past, whatever else
   * arrives meanwhile (keepalives are not use); `lastUse` is read again when the time comes.
   */
  closeWhenUnused(ms: number, lastUse: () => number): void {
    const left = lastUse() + ms - Date.now();
    if (left > 0) return this.later(left, () => this.closeWhenUnused(ms, lastUse));
    this.log.debug("closing an unused stream", { stream: this.id, kind: this.opts.kind });
    this.close();
  }

  /** A timer that dies with the stream. */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closedFlag) fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * Queue a stanza (or raw XML) for the peer. A stanza is written in this stream's namespace
   * whatever it carried in (jabber:client never leaks onto a server stream, nor jabber:server
   * into a client). Writes are coalesced per event-loop turn only to save system calls.
   */
  send(el: Element | string): void {
    if (this.closedFlag) return;
    const text = typeof el === "string" ? el : this.serialize(el);
    this.outQueue.push(text);
    this.outChars += text.length;
    // What the kernel would not take yet: a peer that does not read lets this grow.
    if (this.socket.writableLength > this.opts.limits.maxPendingOutputBytes) {
      // It would not read a stream error either: drop the connection.
      this.log.warn("peer is not reading its stream; dropping it", { stream: this.id, kind: this.opts.kind });
      this.outQueue = [];
      this.teardown();
      return;
    }
    if (this.outChars >= FLUSH_CHARS) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private serialize(el: Element): string {
    if (!STANZAS.has(el.name) || el.attrs.xmlns === this.opts.ns) return el.toString();
    // The same element may go to several streams: swap the attributes in, then back.
    const attrs = el.attrs;
    // xmlns first (as written by a peer), whatever the element carried, even a key set to undefined.
    el.attrs = { xmlns: this.opts.ns, ...attrs };
    el.attrs.xmlns = this.opts.ns;
    try {
      return el.toString();
    } finally {
      el.attrs = attrs;
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.outQueue.length === 0 || this.socket.destroyed) return;
    const data = this.outQueue.length === 1 ? this.outQueue[0]! : this.outQueue.join("");
    this.outQueue = [];
    this.outChars = 0;
    this.socket.write(data);
  }

  /** Close with a stream error (RFC 6120 4.9): our header first if none was sent yet. */
  streamErrorAndClose(condition: string, text?: string, headerAttrs?: { from?: string; to?: string }): void {
    if (this.closedFlag) return;
    this.openStream({ ...headerAttrs, id: this.streamId });
    this.send(streamError(condition, text));
    this.close();
  }

  close(): void {
    if (this.closedFlag) return;
    this.openStream({ id: this.streamId });
    this.send(STREAM_CLOSE);
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    this.teardown();
  }

  private teardown(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const t of [this.negotiationTimer, this.idleTimer, this.pauseTimer, ...this.timers]) if (t) clearTimeout(t);
    this.timers.clear();
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
    this.events.onClosed();
  }

  private onData(chunk: Buffer): void {
    if (this.closedFlag) return;
    this.lastInputMs = Date.now();
    this.armIdle();
    this.throttle(chunk.length);
    try {
      this.parser.write(chunk);
    } catch (err) {
      // A bug in handling one peer's stanza must cost that stream, never the daemon.
      this.log.error("internal error while handling input", { stream: this.id, kind: this.opts.kind, error: (err as Error).stack ?? String(err) });
      this.streamErrorAndClose("internal-server-error");
    }
  }

  private armIdle(): void {
    if (!this.idle) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      const { fn } = this.idle;
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (!this.closedFlag) fn();
      }, this.idle.ms);
    }
  }

  // Token bucket on incoming bytes: a flooding peer is slowed down by pausing its socket.
  private throttle(bytes: number): void {
    const { readBytesPerSecond: rate, readBurstBytes: burst } = this.opts.limits;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    if (this.throttled++ === 0) this.log.info("peer sends faster than the read limit; throttling it", { stream: this.id, kind: this.opts.kind });
    this.pauseReading(Math.ceil((-this.tokens * 1000) / rate));
  }

  private onParseError(e: StreamParseError): void {
    this.log.info("stream error from peer input", { stream: this.id, kind: this.opts.kind, condition: e.condition });
    this.streamErrorAndClose(e.condition, e.text);
  }
}
