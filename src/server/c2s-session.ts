// One client connection: stream negotiation (SASL, resource binding), then
// stanzas handed to the router. https://www.rfc-editor.org/rfc/rfc6120
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { NS } from "../xmpp/namespaces.js";
import { Jid, parseJid } from "../xmpp/jid.js";
import { createSaslMechanism, SaslFailure, SASL_MECHANISMS_BY_PREFERENCE, type SaslServerMechanism } from "../xmpp/sasl/mechanism.js";
import type { StoredCredentials } from "../xmpp/sasl/credentials.js";
import type { StreamHeader } from "../xmpp/stream-parser.js";
import { XmlStream } from "../net/xml-stream.js";
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

export class C2sSession {
  readonly id: string;
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

  private readonly stream: XmlStream;
  private sasl: SaslServerMechanism | undefined;
  private authAttempts = 0;
  private readonly log: Logger;

  constructor(socket: Socket, private readonly ctx: SessionContext) {
    this.log = ctx.log;
    this.stream = new XmlStream(
      socket,
      { ns: NS.CLIENT, limits: ctx.limits, log: ctx.log, kind: "session" },
      {
        onStreamStart: (h) => this.onStreamStart(h),
        onElement: (el) => this.onElement(el),
        onClosed: () => this.teardown(),
      },
    );
    this.id = this.stream.id;
  }

  get fullJid(): string {
    return this.jid ? this.jid.toString() : "";
  }

  /**
   * Queue a stanza (or raw XML) for the client. What the router sends arrives here only after the
   * unit of work that produced it committed (unit-of-work.ts).
   */
  send(el: Element | string): void {
    this.stream.send(el);
  }

  /** Close with a stream error (RFC 6120 4.9): header first if none was sent yet. */
  streamErrorAndClose(condition: string, text?: string): void {
    this.stream.streamErrorAndClose(condition, text);
  }

  close(): void {
    this.stream.close();
  }

  private teardown(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.ctx.closed(this);
  }

  // XEP-0199 server-to-client ping after pingIdleMs of silence: any traffic from the client
  // counts as the answer (it re-arms the idle watch and cancels the deadline).
  private pingClient(): void {
    if (this.state !== "established" || !this.host) return;
    this.send(xml("iq", { type: "get", id: `ping-${newId()}`, from: this.host.domain, to: this.fullJid }, xml("ping", { xmlns: NS.PING })));
    const sentAt = Date.now();
    this.stream.later(this.ctx.limits.pingTimeoutMs, () => {
      if (this.stream.lastInputMs >= sentAt) return;
      this.log.info("client did not answer a ping; closing its session", { session: this.id });
      this.streamErrorAndClose("connection-timeout", "no answer to ping");
    });
  }

  private openStream(from: string | undefined): void {
    this.stream.openStream({ from, id: randomBytes(12).toString("base64url") });
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
    this.stream.restart();
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
    this.stream.negotiated();
    this.ctx.bound(this);
    this.send(iqResult(el, xml("bind", { xmlns: NS.BIND }, xml("jid", {}, full.toString()))));
    this.stream.watchIdle(this.ctx.limits.pingIdleMs, () => this.pingClient());
  }

  // https://www.rfc-editor.org/rfc/rfc6120#section-8.1.2.1
  private onStanza(el: Element): void {
    if (!STANZA_NAMES.has(el.name) || el.attrs.xmlns !== NS.CLIENT) {
      if (el.is("iq") || el.is("message") || el.is("presence")) return this.streamErrorAndClose("invalid-namespace");
      return this.streamErrorAndClose("unsupported-stanza-type", `<${el.name}/> is not a stanza`);
    }
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
