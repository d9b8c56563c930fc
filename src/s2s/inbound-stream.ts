// One server-to-server stream another server opened to one of our onions (the "receiving
// server" of XEP-0220). It authenticates the sending domains with dialback (section 2.1),
// answers verification requests for keys our own onion sent (section 2.1.2), and hands the
// stanzas of authenticated domains to the router. One per accepted socket of one onion's
// listener: it never learns which other onions this daemon serves.
// https://www.rfc-editor.org/rfc/rfc6120#section-4 (streams), https://xmpp.org/extensions/xep-0220.html
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { Logger } from "../daemon/logger.js";
import { XmlStream } from "../net/xml-stream.js";
import { withinDomain, type ServerOrigin } from "../server/origin.js";
import type { S2sLimits } from "../server/policy-limits.js";
import { STANZA_NAMES } from "../server/stanza.js";
import { NS } from "../xmpp/namespaces.js";
import type { StreamHeader } from "../xmpp/stream-parser.js";
import type { Element } from "../xmpp/xml.js";
import type { DialbackKeys } from "./dialback-key.js";
import { dbResult, dbVerify, isOnionDomain, jidDomain, type DialbackErrorCondition } from "./dialback-wire.js";
import type { OnionBudget } from "./onion-budget.js";
import type { S2sTls } from "./tls-identities.js";

/** What a callback (our db:verify to the claimed domain) concluded. */
export type Verdict = { type: "valid" } | { type: "invalid" } | { type: "error"; condition: DialbackErrorCondition; text?: string };

export interface InboundContext {
  limits: S2sLimits;
  log: Logger;
  keys: DialbackKeys;
  budget: OnionBudget;
  /** STARTTLS: offered when set (required with policy "always"). */
  tls?: S2sTls;
  /** XEP-0220 section 2.1.2: ask `remote` (through our own stream local->remote) whether it sent `key`. */
  verify(local: string, remote: string, streamId: string, key: string): Promise<Verdict>;
  /** A stanza from an authenticated domain, addressing checked. */
  fromServer(origin: ServerOrigin, stanza: Element): void;
  /** `remote` authenticated on a stream to our onion `local` (dialback valid). */
  authenticated(local: string, remote: string): void;
  closed(stream: InboundS2sStream): void;
}

/**
 * The one answer to a `to` this onion does not serve, whether the name belongs to another account
 * of this daemon or to no one: a peer must not learn which onions share a daemon.
 */
export const HOST_UNKNOWN_TEXT = "this onion serves no such domain";

const DIALBACK_FEATURE = `<dialback xmlns='${NS.DIALBACK_FEATURE}'><errors/></dialback>`;
const STARTTLS_OPTIONAL = `<starttls xmlns='${NS.TLS}'/>`;
const STARTTLS_REQUIRED = `<starttls xmlns='${NS.TLS}'><required/></starttls>`;

export class InboundS2sStream {
  private readonly stream: XmlStream;
  /** Domains authenticated on this stream (XEP-0220 section 2.1.3), each for this onion. */
  readonly remotes = new Set<string>();
  private pending = 0;
  /** Stream headers the peer sent: one, and one more after STARTTLS (RFC 6120 5.4.3.3). */
  private headers = 0;
  private lastStanzaMs = Date.now();
  private readonly log: Logger;

  constructor(socket: Socket, readonly onion: string, private readonly ctx: InboundContext) {
    this.log = ctx.log;
    this.stream = new XmlStream(
      socket,
      { ns: NS.SERVER, limits: ctx.limits, log: ctx.log, dialback: true, kind: "s2s-in" },
      {
        onStreamStart: (h) => this.onStreamStart(h),
        onElement: (el) => this.onElement(el),
        onClosed: () => {
          ctx.budget.release(this);
          ctx.closed(this);
        },
      },
    );
    const refused = ctx.budget.admit(this);
    if (refused) {
      this.log.info("refusing an inbound server stream", { onion, reason: refused });
      // RFC 6120 4.9.3.14: a limit of ours, said after our header (4.9.1.2).
      this.stream.streamErrorAndClose("policy-violation", refused, { from: onion });
      return;
    }
    this.stream.watchIdle(ctx.limits.idlePingMs, () => this.onIdle());
    this.stream.closeWhenUnused(ctx.limits.idleCloseMs, () => this.lastStanzaMs);
  }

  get id(): string {
    return this.stream.id;
  }

  get streamId(): string {
    return this.stream.streamId;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  holdInput(ms: number): void {
    this.stream.holdInput(ms);
  }

  close(condition?: "system-shutdown"): void {
    if (condition) this.stream.streamErrorAndClose(condition);
    else this.stream.close();
  }

  private owns(domain: string | undefined): boolean {
    return domain !== undefined && withinDomain(domain.toLowerCase(), this.onion);
  }

  private hostUnknown(): void {
    this.stream.streamErrorAndClose("host-unknown", HOST_UNKNOWN_TEXT, { from: this.onion });
  }

  // RFC 6120 4.7 and XEP-0220 section 2.1.1: our header answers with our onion and a fresh id
  // (keys are computed over it), then the dialback feature with <errors/> (section 2.4).
  // An initiator's own id (Prosody sends id='') means nothing to us.
  private onStreamStart(h: StreamHeader): void {
    if (this.headers > (this.stream.encrypted ? 1 : 0)) return this.stream.streamErrorAndClose("invalid-xml", "no stream restarts without TLS or SASL");
    this.headers++;
    this.stream.openStream({ from: this.onion, id: this.stream.streamId });
    if (h.defaultNs !== NS.SERVER) return this.stream.streamErrorAndClose("invalid-namespace", "this port speaks jabber:server");
    if (!this.owns(h.attrs.to)) return this.hostUnknown();
    if (Number.parseInt(h.attrs.version ?? "0", 10) >= 1) this.stream.send(`<stream:features>${this.startTlsFeature()}${DIALBACK_FEATURE}</stream:features>`);
  }

  // RFC 6120 5.3.1: STARTTLS is offered before TLS only, and required only by policy "always".
  private startTlsFeature(): string {
    if (!this.ctx.tls || this.stream.encrypted) return "";
    return this.ctx.tls.policy === "always" ? STARTTLS_REQUIRED : STARTTLS_OPTIONAL;
  }

  private get tlsRequiredFirst(): boolean {
    return this.ctx.tls?.policy === "always" && !this.stream.encrypted;
  }

  // RFC 6120 5.4.2.3 (failure) and 5.4.3.3 (proceed, then TLS and a new stream). Never after
  // dialback began: what was said in the clear would not be covered.
  private onStartTls(): void {
    const tls = this.ctx.tls;
    if (!tls || this.stream.encrypted || this.headers !== 1 || this.pending > 0 || this.remotes.size > 0) {
      this.stream.send(`<failure xmlns='${NS.TLS}'/>`);
      return this.stream.close();
    }
    let context;
    try {
      context = tls.identities.context(this.onion);
    } catch (err) {
      this.log.error("no TLS certificate for an onion", { onion: this.onion, error: (err as Error).message });
      this.stream.send(`<failure xmlns='${NS.TLS}'/>`);
      return this.stream.close();
    }
    this.stream.send(`<proceed xmlns='${NS.TLS}'/>`);
    this.stream.startTls((plain) => new TLSSocket(plain, { isServer: true, secureContext: context }));
  }

  private onElement(el: Element): void {
    this.ctx.budget.spendElement();
    if (el.is("starttls", NS.TLS)) return this.onStartTls();
    if (this.tlsRequiredFirst) return this.stream.streamErrorAndClose("policy-violation", "this server requires STARTTLS first");
    if (el.attrs.xmlns === NS.DIALBACK) {
      if (el.name === "result") return this.onDbResult(el);
      if (el.name === "verify") return this.onDbVerify(el);
    }
    if (STANZA_NAMES.has(el.name)) {
      if (el.attrs.xmlns !== NS.SERVER) return this.stream.streamErrorAndClose("invalid-namespace", "stanzas between servers are jabber:server");
      return this.onStanza(el);
    }
    this.stream.streamErrorAndClose("unsupported-stanza-type", `<${el.name}/> is not expected here`);
  }

  // XEP-0220 section 2.1.1 (request) and 2.1.3 (our answer); errors per section 2.4.
  private onDbResult(el: Element): void {
    // A db:result with a type answers a request: never sent toward a receiving server.
    if (el.attrs.type !== undefined) return;
    const from = el.attrs.from?.toLowerCase();
    const to = el.attrs.to;
    const key = el.getText().trim();
    if (!from || !to || !key) return this.stream.streamErrorAndClose("improper-addressing", "db:result needs from, to and a key");
    if (!this.owns(to)) return this.hostUnknown();
    const answer = (v: Verdict) => this.stream.send(dbResult({ from: to, to: from, type: v.type, ...(v.type === "error" ? { error: v.condition, text: v.text } : {}) }));
    // Only onion domains can be called back through Tor (rend-spec-v3 section 6).
    if (!isOnionDomain(from)) return answer({ type: "error", condition: "item-not-found", text: "only .onion domains federate here" });
    if (this.pending >= this.ctx.limits.maxPendingVerificationsPerStream)
      return answer({ type: "error", condition: "resource-constraint", text: "too many verifications in progress on this stream" });
    // Per claimed domain and in all, over all streams of this onion: a stranger cannot make us
    // dial one domain over and over, nor many at once.
    const spent = this.ctx.budget.beginVerification(from);
    if (spent) return answer({ type: "error", condition: "policy-violation", text: spent });
    this.pending++;
    void this.ctx
      .verify(this.onion, from, this.stream.streamId, key)
      .catch((): Verdict => ({ type: "error", condition: "internal-server-error" }))
      .then((v) => {
        this.pending--;
        this.ctx.budget.endVerification(from);
        if (this.stream.closed) return;
        answer(v);
        if (v.type === "valid") {
          this.remotes.add(from);
          this.ctx.budget.authenticated(this);
          this.stream.negotiated();
          this.ctx.authenticated(this.onion, from);
          this.log.debug("inbound server stream authenticated", { stream: this.id, onion: this.onion, remote: from });
        } else if (v.type === "invalid") {
          // XEP-0220 section 2.1.3: an invalid key ends the stream.
          this.stream.streamErrorAndClose("not-authorized", "dialback key not valid");
        }
      });
  }

  // XEP-0220 section 2.1.2: we are the authoritative server for `to`, asked whether we sent `key`
  // to `from` on its stream `id`. Allowed before this stream authenticated anything (Prosody sends
  // it on its callback stream right away). No shortcut for our own onions: the key decides.
  private onDbVerify(el: Element): void {
    if (el.attrs.type !== undefined) return;
    const { from, to, id } = el.attrs;
    if (!from || !to || !id) return this.stream.streamErrorAndClose("improper-addressing", "db:verify needs from, to and id");
    if (!this.owns(to)) return this.hostUnknown();
    const valid = this.ctx.keys.verify(from, to, id, el.getText());
    this.stream.send(dbVerify({ from: to, to: from, id, type: valid ? "valid" : "invalid" }));
  }

  // RFC 6120 8.1.1.2 / 13.7.1.2 and XEP-0220 section 2.1.3: only domains this stream
  // authenticated may send, only to this onion.
  private onStanza(el: Element): void {
    if (this.remotes.size === 0) return this.stream.streamErrorAndClose("not-authorized", "authenticate with dialback first");
    const fromDomain = jidDomain(el.attrs.from);
    const toDomain = jidDomain(el.attrs.to);
    if (!fromDomain || !toDomain) return this.stream.streamErrorAndClose("improper-addressing", "stanzas between servers need a valid from and to");
    if (!withinDomain(toDomain, this.onion)) return this.hostUnknown();
    let remote: string | undefined;
    for (const r of this.remotes) if (withinDomain(fromDomain, r)) remote = r;
    if (!remote) return this.stream.streamErrorAndClose("invalid-from", "from is not a domain this stream authenticated");
    // Elements only: whitespace between children (a pretty-printing peer) is not a child.
    if (el.getChildElements().length > this.ctx.limits.maxChildren) return this.stream.streamErrorAndClose("policy-violation", "too many child elements");
    this.lastStanzaMs = Date.now();
    this.ctx.fromServer({ kind: "s2s", local: this.onion, remote, streamId: this.stream.id }, el);
  }

  // Keepalive (RFC 6120 4.6.1): an inbound stream carries no stanzas from us (it is one-way
  // without XEP-0288), so after idlePingMs of silence a whitespace ping tests the path (a dead
  // circuit fails the write). A stream that carried no stanza for idleCloseMs is closed, whatever
  // keepalives it carries: the peer opens a new one when it has something to say.
  private onIdle(): void {
    this.stream.send(" ");
    this.stream.flush();
    this.stream.watchIdle(this.ctx.limits.idlePingMs, () => this.onIdle());
  }

}
