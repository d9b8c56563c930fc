// One client connection: stream negotiation (SASL, resource binding), then
// stanzas handed to the router. https://www.rfc-editor.org/rfc/rfc6120
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { NS } from "../xmpp/namespaces.js";
import { Jid, parseJid } from "../xmpp/jid.js";
import { createSaslMechanism, SaslFailure, SASL_MECHANISMS_BY_PREFERENCE, type SaslServerMechanism } from "../xmpp/sasl/mechanism.js";
import type { StoredCredentials } from "../xmpp/sasl/credentials.js";
import { StreamParser, type StreamHeader, type StreamParseError } from "../xmpp/stream-parser.js";
import { STREAM_CLOSE, streamError, streamHeader } from "../xmpp/stream-writer.js";
import { Element, xml } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { ServerLimits } from "./limits.js";
import { errorReply, iqResult, newId, STANZA_NAMES } from "./stanza.js";

/** What a session needs from the server around it. */
export interface SessionContext {
  limits: ServerLimits;
  log: Logger;
  hostFor(domain: string): AccountHost | undefined;
  credentials(host: AccountHost): StoredCredentials | undefined;
  /** Keys the made-up SCRAM salts of unknown users (persisted, so they survive restarts). */
  unknownUserSecret: Buffer;
  /** Extra stream features offered after authentication (roster versioning, ...). */
  postAuthFeatures(): Element[];
  /** Resource binding succeeded: the session is now routable. */
  bound(session: C2sSession): void;
  /** A stanza from this (bound) session, already stamped with its full JID. */
  fromClient(session: C2sSession, stanza: Element): void;
  /** The session is gone (after bound() or not). */
  closed(session: C2sSession): void;
}

type State = "wait-header" | "wait-auth" | "wait-bind" | "established" | "closed";

// Output is written once per event-loop turn, or as soon as this much is queued: one turn
// can read a whole burst (libuv reads up to 32 chunks of 64 KB per socket per turn), and
// the benchmark's 20,000-message burst left 17,000 serialized stanzas queued on the heap
// at once, which the GC then moved to the old generation (bench/README.md, "Memory").
const FLUSH_CHARS = 16 * 1024;

export class C2sSession {
  readonly id = newId();
  state: State = "wait-header";
  host: AccountHost | undefined;
  jid: Jid | undefined;
  /** RFC 6121 presence state. */
  available = false;
  priority = 0;
  lastPresence: Element | undefined;
  /** Requested the roster: receives roster pushes (RFC 6121 2.1.6). */
  rosterInterested = false;
  carbons = false;
  /** Full JIDs this session sent directed presence to (RFC 6121 4.6). */
  readonly directedPresence = new Set<string>();
  readonly stats = { stanzasIn: 0, stanzasOut: 0, throttled: 0 };

  private readonly parser: StreamParser;
  private streamOpened = false;
  private sasl: SaslServerMechanism | undefined;
  private authAttempts = 0;
  private outQueue: string[] = [];
  private outChars = 0;
  private flushScheduled = false;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private throttleTimer: NodeJS.Timeout | undefined;
  private tokens: number;
  private lastRefill = Date.now();
  private readonly log: Logger;

  constructor(private readonly socket: Socket, private readonly ctx: SessionContext) {
    this.log = ctx.log;
    this.tokens = ctx.limits.readBurstBytes;
    this.parser = new StreamParser(
      {
        onStreamStart: (h) => this.onStreamStart(h),
        onStanza: (el) => this.onElement(el),
        onStreamEnd: () => this.close(),
        onError: (e) => this.onParseError(e),
      },
      ctx.limits.stream,
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.teardown());
    socket.on("close", () => this.teardown());
    socket.on("error", (err) => {
      this.log.debug("socket error", { session: this.id, error: err.message });
      this.teardown();
    });
    this.negotiationTimer = setTimeout(() => {
      this.log.info("closing a connection that did not finish negotiating in time", { session: this.id });
      this.streamErrorAndClose("connection-timeout", "stream negotiation took too long");
    }, ctx.limits.negotiationTimeoutMs);
  }

  get fullJid(): string {
    return this.jid ? this.jid.toString() : "";
  }

  /**
   * Queue a stanza (or raw XML) for the client. What the router sends arrives here only after the
   * unit of work that produced it committed (unit-of-work.ts); writes are coalesced per
   * event-loop turn only to save system calls.
   */
  send(el: Element | string): void {
    if (this.state === "closed") return;
    const text = typeof el === "string" ? el : el.toString();
    if (typeof el !== "string") this.stats.stanzasOut++;
    this.outQueue.push(text);
    this.outChars += text.length;
    // What the kernel would not take yet: a client that does not read lets this grow.
    // (What one turn produces goes out every FLUSH_CHARS and at the next flush.)
    if (this.socket.writableLength > this.ctx.limits.maxPendingOutputBytes) {
      // It would not read a stream error either: drop the connection.
      this.log.warn("client is not reading its stream; dropping it", { session: this.id });
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

  private flush(): void {
    this.flushScheduled = false;
    if (this.outQueue.length === 0 || this.socket.destroyed) return;
    const data = this.outQueue.length === 1 ? this.outQueue[0]! : this.outQueue.join("");
    this.outQueue = [];
    this.outChars = 0;
    this.socket.write(data);
  }

  /** Close with a stream error (RFC 6120 4.9): header first if none was sent yet. */
  streamErrorAndClose(condition: string, text?: string): void {
    if (this.state === "closed") return;
    if (!this.streamOpened) this.openStream(undefined);
    this.send(streamError(condition, text));
    this.close();
  }

  close(): void {
    if (this.state === "closed") return;
    if (!this.streamOpened) this.openStream(undefined);
    this.send(STREAM_CLOSE);
    this.flush();
    this.socket.end();
    // A peer that never answers our </stream:stream> must not keep the socket.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.teardown();
  }

  private teardown(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    for (const t of [this.negotiationTimer, this.idleTimer, this.pingTimer, this.throttleTimer]) if (t) clearTimeout(t);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
    this.ctx.closed(this);
  }

  private onData(chunk: Buffer): void {
    if (this.state === "closed") return;
    this.armIdlePing();
    this.throttle(chunk.length);
    try {
      this.parser.write(chunk);
    } catch (err) {
      // A bug in handling one client's stanza must cost that session, never the daemon.
      this.log.error("internal error while handling client input", { session: this.id, error: (err as Error).stack ?? String(err) });
      this.streamErrorAndClose("internal-server-error");
    }
  }

  // Token bucket on incoming bytes: a flooding client is slowed down by pausing
  // its socket (TCP pushes back), nothing it sent is dropped.
  private throttle(bytes: number): void {
    const { readBytesPerSecond: rate, readBurstBytes: burst } = this.ctx.limits;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    if (this.stats.throttled++ === 0) this.log.info("client sends faster than the read limit; throttling it", { session: this.id });
    this.socket.pause();
    const waitMs = Math.ceil((-this.tokens * 1000) / rate);
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined;
      if (this.state !== "closed") this.socket.resume();
    }, waitMs);
  }

  private armIdlePing(): void {
    if (this.state !== "established") return;
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(() => this.pingClient(), this.ctx.limits.pingIdleMs);
  }

  // XEP-0199 server-to-client ping: any traffic from the client counts as the answer.
  private pingClient(): void {
    this.idleTimer = undefined;
    if (this.state !== "established" || !this.host) return;
    this.send(xml("iq", { type: "get", id: `ping-${newId()}`, from: this.host.domain, to: this.fullJid }, xml("ping", { xmlns: NS.PING })));
    this.pingTimer = setTimeout(() => {
      this.log.info("client did not answer a ping; closing its session", { session: this.id });
      this.streamErrorAndClose("connection-timeout", "no answer to ping");
    }, this.ctx.limits.pingTimeoutMs);
  }

  private onParseError(e: StreamParseError): void {
    this.log.info("stream error from client input", { session: this.id, condition: e.condition });
    this.streamErrorAndClose(e.condition, e.text);
  }

  private openStream(from: string | undefined): void {
    this.streamOpened = true;
    this.send(streamHeader({ ns: NS.CLIENT, from, id: randomBytes(12).toString("base64url") }));
  }

  // https://www.rfc-editor.org/rfc/rfc6120#section-4.7
  private onStreamStart(header: StreamHeader): void {
    const host = header.attrs.to ? this.ctx.hostFor(header.attrs.to.toLowerCase()) : undefined;
    this.openStream(host?.domain);
    if (header.defaultNs !== NS.CLIENT) return this.streamErrorAndClose("invalid-namespace", "this port speaks jabber:client");
    if (!host) return this.streamErrorAndClose("host-unknown", "no account with that domain here");
    if (this.host && this.host !== host) return this.streamErrorAndClose("host-unknown", "stream restarted for another domain");
    const version = header.attrs.version;
    if (!version || Number.parseInt(version, 10) < 1) return this.streamErrorAndClose("unsupported-version", "XMPP 1.0 streams only");
    this.host = host;
    const features = xml("stream:features", {});
    if (this.state === "wait-header") {
      this.state = "wait-auth";
      const mechs = features.c("mechanisms", { xmlns: NS.SASL });
      for (const m of SASL_MECHANISMS_BY_PREFERENCE) mechs.c("mechanism").t(m);
    } else {
      features.c("bind", { xmlns: NS.BIND });
      features.c("session", { xmlns: NS.SESSION }).c("optional");
      for (const f of this.ctx.postAuthFeatures()) features.cnode(f);
    }
    this.send(features);
  }

  private onElement(el: Element): void {
    switch (this.state) {
      case "wait-auth":
        return this.onSasl(el);
      case "wait-bind":
        return this.onBindPhase(el);
      case "established":
        return this.onStanza(el);
      default:
        return;
    }
  }

  // https://www.rfc-editor.org/rfc/rfc6120#section-6.4
  private onSasl(el: Element): void {
    if (el.attrs.xmlns !== NS.SASL) return this.streamErrorAndClose("not-authorized", "authenticate first");
    try {
      if (el.name === "auth") {
        const mechanism = el.attrs.mechanism ?? "";
        this.sasl = createSaslMechanism(mechanism, (username) => this.lookupCredentials(username), {
          domain: this.host!.domain,
          unknownUserSecret: this.ctx.unknownUserSecret,
        });
        if (!this.sasl) return this.saslFailure("invalid-mechanism");
        this.authAttempts++;
        return this.saslStep(el.getText());
      }
      if (el.name === "response" && this.sasl) return this.saslStep(el.getText());
      if (el.name === "abort") {
        this.sasl = undefined;
        return this.saslFailure("aborted");
      }
      return this.saslFailure("malformed-request");
    } catch (err) {
      if (err instanceof SaslFailure) return this.saslFailure(err.condition);
      throw err;
    }
  }

  private lookupCredentials(username: string): StoredCredentials | undefined {
    if (!this.host || username !== this.host.localpart) return undefined;
    return this.ctx.credentials(this.host);
  }

  private saslStep(text: string): void {
    const trimmed = text.trim();
    // RFC 6120 6.4.2: "=" is an empty initial response.
    if (trimmed !== "=" && !/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed)) throw new SaslFailure("incorrect-encoding", "not base64");
    const data = Buffer.from(trimmed === "=" ? "" : trimmed, "base64");
    const step = this.sasl!.step(data);
    if (!step.done) {
      this.send(xml("challenge", { xmlns: NS.SASL }, step.challenge.toString("base64")));
      return;
    }
    this.sasl = undefined;
    if (!this.host || step.username !== this.host.localpart) throw new SaslFailure("not-authorized", "wrong user");
    this.send(xml("success", { xmlns: NS.SASL }, step.additionalData ? step.additionalData.toString("base64") : ""));
    this.state = "wait-bind";
    this.log.info("client authenticated", { session: this.id });
    this.parser.restart();
  }

  private saslFailure(condition: string): void {
    this.sasl = undefined;
    this.send(xml("failure", { xmlns: NS.SASL }, xml(condition)));
    this.log.info("authentication failed", { session: this.id, condition });
    if (this.authAttempts >= this.ctx.limits.maxAuthAttempts) this.streamErrorAndClose("policy-violation", "too many failed authentication attempts");
  }

  // https://www.rfc-editor.org/rfc/rfc6120#section-7
  private onBindPhase(el: Element): void {
    const bind = el.is("iq", NS.CLIENT) && el.attrs.type === "set" ? el.getChild("bind", NS.BIND) : undefined;
    if (!bind) {
      if (el.is("iq", NS.CLIENT) && el.attrs.id) return this.send(errorReply(el, "not-authorized", "bind a resource first"));
      return this.streamErrorAndClose("not-authorized", "bind a resource first");
    }
    const host = this.host!;
    const requested = bind.getChildText("resource")?.trim();
    // Never derive a resource from the machine: random when none is asked for.
    const resource = requested ? requested : `po-${randomBytes(6).toString("hex")}`;
    const full = parseJid(`${host.bareJid.toString()}/${resource}`);
    if (!full) return this.send(errorReply(el, "bad-request", "invalid resource"));
    const existing = host.sessions.get(full.resource);
    if (!existing && host.sessions.size >= this.ctx.limits.maxResourcesPerAccount)
      return this.send(errorReply(el, "resource-constraint", "too many sessions for this account"));
    // RFC 6120 7.7.2.2: the newer session wins; the old one is told why it goes.
    if (existing) existing.streamErrorAndClose("conflict", "replaced by a new connection with the same resource");
    this.jid = full;
    this.state = "established";
    if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
    this.negotiationTimer = undefined;
    this.ctx.bound(this);
    this.send(iqResult(el, xml("bind", { xmlns: NS.BIND }, xml("jid", {}, full.toString()))));
    this.armIdlePing();
  }

  // https://www.rfc-editor.org/rfc/rfc6120#section-8.1.2.1
  private onStanza(el: Element): void {
    if (!STANZA_NAMES.has(el.name) || el.attrs.xmlns !== NS.CLIENT) {
      if (el.is("iq") || el.is("message") || el.is("presence")) return this.streamErrorAndClose("invalid-namespace");
      return this.streamErrorAndClose("unsupported-stanza-type", `<${el.name}/> is not a stanza`);
    }
    this.stats.stanzasIn++;
    const from = el.attrs.from;
    if (from !== undefined && from !== this.fullJid && from !== this.host!.bareJid.toString()) {
      this.log.info("client sent a stanza with a spoofed from", { session: this.id });
      return this.streamErrorAndClose("invalid-from", "from must be your own JID");
    }
    el.attrs.from = this.fullJid;
    if (el.name === "iq" && !el.attrs.id) return this.streamErrorAndClose("invalid-xml", "iq without id");
    if (el.attrs.to !== undefined && !parseJid(el.attrs.to)) {
      if (el.attrs.type !== "error") this.send(errorReply(el, "jid-malformed", "invalid 'to' address"));
      return;
    }
    this.ctx.fromClient(this, el);
  }
}
