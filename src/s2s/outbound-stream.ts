// One server-to-server stream from one of our onions to one remote domain (the "initiating
// server" of XEP-0220): dial through Tor, open the stream, authenticate our onion with a dialback
// key (section 2.1.1), then carry stanzas. It also carries our verification requests to that
// domain (section 2.1.2), even before it is authenticated: Prosody answers db:verify on any
// stream, and verifying its key on this stream is what keeps a pair at two connections.
// A stream never carries more than one of our onions (s2s-manager.ts keys it by the pair).
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Logger } from "../daemon/logger.js";
import { duration } from "./dialback-wire.js";
import { XmlStream } from "../net/xml-stream.js";
import type { S2sLimits } from "../server/policy-limits.js";
import { NS } from "../xmpp/namespaces.js";
import type { StreamHeader } from "../xmpp/stream-parser.js";
import type { Element } from "../xmpp/xml.js";
import type { DialbackKeys } from "./dialback-key.js";
import { dbResult, dbVerify, dialbackErrorCondition } from "./dialback-wire.js";
import type { Verdict } from "./inbound-stream.js";
import type { S2sTls } from "./tls-identities.js";

export interface OutboundContext {
  limits: S2sLimits;
  log: Logger;
  keys: DialbackKeys;
  /** STARTTLS toward peers that require it (or offer it, with policy "always"); none when unset. */
  tls?: S2sTls;
  /** A connected socket to `remote` (through Tor with `local`'s circuits), or a TorDialError. */
  dial(local: string, remote: string): Promise<Socket>;
  /** The peer accepted our key: the stream carries stanzas from now on. */
  established(stream: OutboundS2sStream): void;
  /** Gone. `reason` says why in words a user can act on (tor's, for a dial failure). */
  closed(stream: OutboundS2sStream, reason: string): void;
  /** Idle for idlePingMs: the manager pings the peer (the answer comes on another stream). */
  idle(stream: OutboundS2sStream): void;
}

// "refused": the peer did not accept our key, but still owes answers to our db:verify requests
// (sent on the same stream, answered after the refusal): the stream closes once they are in.
// "securing": we asked for STARTTLS and wait for <proceed/>.
type State = "dialing" | "negotiating" | "securing" | "authenticating" | "established" | "refused" | "closed";

/** A stanza waiting for the stream to be established; `key` coalesces presence per (from, to). */
export interface Queued {
  key: string;
  stanza: Element;
}

export class OutboundS2sStream {
  state: State = "dialing";
  private stream: XmlStream | undefined;
  private peerStreamId: string | undefined;
  /** db:verify requests by the inbound stream id they verify; sent once the peer's features came. */
  private readonly verifications = new Map<string, { key: string; sent: boolean; waiters: ((v: Verdict) => void)[] }>();
  /** Ephemeral stanzas (presence, iqs) until established; in order, presence coalesced. */
  readonly queue = new Map<string, Element>();
  private reason: string | undefined;
  lastStanzaMs = Date.now();
  private readonly log: Logger;

  constructor(readonly local: string, readonly remote: string, private readonly ctx: OutboundContext) {
    this.log = ctx.log;
  }

  get established(): boolean {
    return this.state === "established";
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  get id(): string {
    return this.stream?.id ?? "dialing";
  }

  async start(): Promise<void> {
    const ms = this.ctx.limits.connectTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let socket: Socket;
    const dialing = this.ctx.dial(this.local, this.remote);
    try {
      socket = await Promise.race([
        dialing,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no connection within ${duration(ms)}`)), ms))),
      ]);
    } catch (err) {
      // A socket that comes after we gave up is nobody's.
      dialing.then((late) => late.destroy(), () => undefined);
      // TorDialError's message is tor's own reason ("the onion service was not found ..."), for the user.
      return this.finish((err as Error).message || "could not connect");
    } finally {
      clearTimeout(timer);
    }
    if (this.state === "closed") {
      socket.destroy();
      return;
    }
    this.state = "negotiating";
    this.stream = new XmlStream(
      socket,
      { ns: NS.SERVER, limits: this.ctx.limits, log: this.log, dialback: true, kind: "s2s-out" },
      { onStreamStart: (h) => this.onStreamStart(h), onElement: (el) => this.onElement(el), onClosed: () => this.finish(this.reason ?? "the connection closed") },
    );
    // RFC 6120 4.7.1: the initiator says who it is and whom it wants; it gives no id.
    this.stream.openStream({ from: this.local, to: this.remote });
  }

  /** Send a stanza on the established stream (jabber:server whatever it carried). */
  send(stanza: Element | string): void {
    if (!this.stream || this.state !== "established") return;
    // An iq answer (the peer's keepalive pong above all) is not use: two servers pinging each
    // other would otherwise keep both streams open forever.
    const answer = typeof stanza !== "string" && stanza.name === "iq" && (stanza.attrs.type === "result" || stanza.attrs.type === "error");
    if (!answer) this.lastStanzaMs = Date.now();
    this.stream.send(stanza);
  }

  /** A keepalive or receipt ping of ours: it does not count as use (idleCloseMs). */
  sendKeepalive(stanza: Element): void {
    if (this.stream && this.state === "established") this.stream.send(stanza);
  }

  /** Hold an ephemeral stanza until established; false when the queue is full. */
  enqueue(key: string, stanza: Element): boolean {
    if (!this.queue.has(key) && this.queue.size >= this.ctx.limits.maxQueuedWhileConnecting) return false;
    this.queue.set(key, stanza);
    return true;
  }

  /**
   * XEP-0220 section 2.1.2: ask the peer (authoritative for `remote`) whether it sent `key` to
   * our onion on our inbound stream `streamId`. Resolves once; an error verdict if this stream dies.
   */
  verify(streamId: string, key: string): Promise<Verdict> {
    if (this.state === "closed") return Promise.resolve({ type: "error", condition: "remote-server-not-found", text: this.reason });
    return new Promise((resolve) => {
      let v = this.verifications.get(streamId);
      if (!v) this.verifications.set(streamId, (v = { key, sent: false, waiters: [] }));
      v.waiters.push(resolve);
      this.sendVerifications();
    });
  }

  close(reason = "closed by us"): void {
    this.reason ??= reason;
    if (this.stream) this.stream.close();
    else this.finish(reason);
  }

  private onStreamStart(h: StreamHeader): void {
    if (h.defaultNs !== NS.SERVER) return this.fail("invalid-namespace", "the peer does not speak jabber:server");
    // XEP-0220 section 2.1.1: the key is computed over the receiving server's stream id.
    if (!h.attrs.id) return this.fail("invalid-xml", "the peer gave no stream id");
    this.peerStreamId = h.attrs.id;
    // A pre-1.0 peer sends no features: dialback may start at once (XEP-0220 section 2.1.1).
    if (Number.parseInt(h.attrs.version ?? "0", 10) < 1) this.authenticate();
  }

  get encrypted(): boolean {
    return this.stream?.encrypted ?? false;
  }

  private onElement(el: Element): void {
    if (el.is("features", NS.STREAM)) return this.onFeatures(el);
    if (el.attrs.xmlns === NS.TLS && (el.name === "proceed" || el.name === "failure")) return this.onTlsAnswer(el.name);
    if (el.is("error", NS.STREAM)) {
      const condition = el.getChildElements().find((c) => c.attrs.xmlns === NS.STREAM_ERRORS && c.name !== "text")?.name ?? "undefined-condition";
      const text = el.getChildText("text", NS.STREAM_ERRORS);
      this.reason = `the peer closed the stream: ${condition}${text ? ` (${text})` : ""}`;
      return this.stream?.close();
    }
    if (el.attrs.xmlns === NS.DIALBACK && el.name === "result") return this.onDbResult(el);
    if (el.attrs.xmlns === NS.DIALBACK && el.name === "verify") return this.onDbVerify(el);
    // Streams are one-way without XEP-0288: whatever else arrives here is not for us.
    this.log.debug("ignoring an element on an outbound server stream", { stream: this.id, name: el.name });
  }

  // RFC 6120 5.4.1: TLS first when the peer requires it (a stock Prosody 0.12 closes the stream
  // otherwise) or when our policy says so; then dialback on the new stream's features.
  private onFeatures(features: Element): void {
    if (this.state !== "negotiating") return;
    const starttls = this.stream!.encrypted ? undefined : features.getChild("starttls", NS.TLS);
    const required = starttls?.getChild("required") !== undefined;
    if (starttls && this.ctx.tls && (required || this.ctx.tls.policy === "always")) {
      this.state = "securing";
      this.stream!.send(`<starttls xmlns='${NS.TLS}'/>`);
      return;
    }
    if (required) return this.fail("policy-violation", "the peer requires TLS and this daemon has it turned off");
    this.authenticate();
  }

  // RFC 6120 5.4.3.3: TLS over the same socket, then a new stream from us. The certificate is not
  // checked against a CA: Tor dialled the onion, which is what authenticates the peer.
  private onTlsAnswer(answer: "proceed" | "failure"): void {
    if (this.state !== "securing") return;
    if (answer === "failure") {
      this.reason = "the peer refused to start TLS";
      return this.stream!.close();
    }
    this.state = "negotiating";
    this.peerStreamId = undefined;
    this.stream!.startTls((plain) => tlsConnect({ socket: plain, servername: this.remote, rejectUnauthorized: false, minVersion: "TLSv1.2" }));
    this.stream!.openStream({ from: this.local, to: this.remote });
  }

  private authenticate(): void {
    if (this.state !== "negotiating" || !this.peerStreamId) return;
    this.state = "authenticating";
    const key = this.ctx.keys.key(this.remote, this.local, this.peerStreamId);
    this.stream!.send(dbResult({ from: this.local, to: this.remote, key }));
    this.sendVerifications();
  }

  // XEP-0220 section 2.1.3 / 2.4: the receiving server's verdict on our key. Prosody adds an id
  // attribute and echoes the key; neither matters.
  private onDbResult(el: Element): void {
    if (this.state !== "authenticating" || el.attrs.from?.toLowerCase() !== this.remote || el.attrs.to?.toLowerCase() !== this.local) return;
    const type = el.attrs.type;
    if (type === "valid") {
      this.state = "established";
      this.stream!.negotiated();
      this.lastStanzaMs = Date.now();
      this.stream!.watchIdle(this.ctx.limits.idlePingMs, () => this.onIdle());
      // Closed after idleCloseMs without a stanza from us, even if the peer keeps writing to it.
      this.stream!.closeWhenUnused(this.ctx.limits.idleCloseMs, () => this.lastStanzaMs);
      const queued = [...this.queue.values()];
      this.queue.clear();
      for (const s of queued) this.send(s);
      this.ctx.established(this);
      return;
    }
    this.reason = type === "invalid" ? "the peer did not accept our dialback key" : `the peer refused dialback: ${dialbackErrorCondition(el)}`;
    this.state = "refused";
    this.closeIfDone();
  }

  /** A refused stream stays only for the verdicts it still waits for (the negotiation timeout bounds that). */
  private closeIfDone(): void {
    if (this.state === "refused" && this.verifications.size === 0) this.stream!.close();
  }

  private onDbVerify(el: Element): void {
    const id = el.attrs.id;
    const v = id === undefined ? undefined : this.verifications.get(id);
    if (!v || !v.sent || el.attrs.from?.toLowerCase() !== this.remote) return;
    this.verifications.delete(id!);
    const t = el.attrs.type;
    const verdict: Verdict =
      t === "valid" ? { type: "valid" } : t === "invalid" ? { type: "invalid" } : { type: "error", condition: "remote-server-not-found", text: `the peer could not verify: ${dialbackErrorCondition(el)}` };
    for (const w of v.waiters) w(verdict);
    this.closeIfDone();
  }

  private sendVerifications(): void {
    if (this.state !== "authenticating" && this.state !== "established" && this.state !== "refused") return;
    for (const [id, v] of this.verifications) {
      if (v.sent) continue;
      v.sent = true;
      this.stream!.send(dbVerify({ from: this.local, to: this.remote, id, key: v.key }));
    }
  }

  private onIdle(): void {
    this.ctx.idle(this);
    this.stream!.watchIdle(this.ctx.limits.idlePingMs, () => this.onIdle());
  }

  private fail(condition: "invalid-namespace" | "invalid-xml" | "policy-violation", text: string): void {
    this.reason = text;
    this.stream!.streamErrorAndClose(condition, text);
  }

  private finish(reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.reason ??= reason;
    const verdict: Verdict = { type: "error", condition: "remote-server-not-found", text: this.reason };
    for (const v of this.verifications.values()) for (const w of v.waiters) w(verdict);
    this.verifications.clear();
    this.ctx.closed(this, this.reason);
  }
}
