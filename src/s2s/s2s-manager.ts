// Federation's front door: every server-to-server stream of this daemon, inbound (one per socket
// an onion's listener accepted) and outbound (one per pair of our onion and a remote domain: a
// connection never carries two of our onions, even toward the same peer daemon, or the peer
// would learn they share a machine). The router hands it stanzas by delivery class; inbound
// streams hand it stanzas for the router. ARCHITECTURE.md, "Federation".
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { duration } from "./dialback-wire.js";
import type { ServerOrigin } from "../server/origin.js";
import { mergeS2sLimits, type S2sLimitOverrides, type S2sLimits } from "../server/policy-limits.js";
import { cloneElement } from "../server/stanza.js";
import type { UnitOfWork } from "../server/unit-of-work.js";
import { NS } from "../xmpp/namespaces.js";
import type { Element } from "../xmpp/xml.js";
import { DialbackKeys } from "./dialback-key.js";
import { InboundS2sStream, type InboundContext, type Verdict } from "./inbound-stream.js";
import { OnionBudget } from "./onion-budget.js";
import type { OutboxLink } from "./outbox-link.js";
import { OutboundS2sStream, type OutboundContext } from "./outbound-stream.js";
import { PeerIqs } from "./peer-iqs.js";
import type { S2sTls } from "./tls-identities.js";

/** What the manager needs from the router (the lead's routing layer). */
export interface S2sRouting {
  /** A stanza from an authenticated peer domain, `from`/`to` checked by its stream. */
  fromServer(origin: ServerOrigin, stanza: Element): void;
  units: { run<T>(fn: (unit: UnitOfWork) => T): T };
  /** Send `stanza`'s sender an error reply (condition, text) in `unit`. */
  bounce(unit: UnitOfWork, stanza: Element, condition: string, text: string): void;
}

export type { OutboxLink } from "./outbox-link.js";

/** The durable outbox (S2sOutbox, src/s2s/outbox.ts), as far as the streams use it. */
export interface S2sOutboxPort {
  enqueue(unit: UnitOfWork, local: string, remote: string, stanza: Element): "queued" | "full";
  attach(local: string, remote: string, link: OutboxLink): void;
  detach(local: string, remote: string, link: OutboxLink): void;
  connectFailed(local: string, remote: string, reason: string): void;
  /** The remote authenticated a stream to `local`: it is reachable again. */
  peerSeen(local: string, remote: string): void;
}

export interface S2sManagerOptions {
  log: Logger;
  limits?: S2sLimitOverrides;
  /** 32 persisted bytes: the dialback secret (dialback-key.ts). */
  secret: Buffer;
  /** A socket to `remote` with `local`'s Tor circuits (DaemonTor.s2sDialer()); rejects with a TorDialError. */
  dial(local: string, remote: string): Promise<Socket>;
  routing: S2sRouting;
  /** STARTTLS on server streams (tls-identities.ts); none: never offered nor used. */
  tls?: S2sTls;
  /** The durable outbox; may be given later with setOutbox() (it needs needConnection from us). */
  outbox?: S2sOutboxPort;
}

/** XEP-0220 and RFC 6121 delivery classes: what must survive a peer being down, what may not. */
export type DeliveryClass = "durable" | "ephemeral" | "iq-request" | "iq-response";

const SUBSCRIPTION_TYPES = new Set(["subscribe", "subscribed", "unsubscribe", "unsubscribed"]);

export function deliveryClass(stanza: Element): DeliveryClass {
  const type = stanza.attrs.type;
  if (stanza.name === "message") return "durable";
  if (stanza.name === "presence") return type !== undefined && SUBSCRIPTION_TYPES.has(type) ? "durable" : "ephemeral";
  return type === "get" || type === "set" ? "iq-request" : "iq-response";
}

export interface S2sOnionCounts {
  inbound: number;
  unauthenticated: number;
  outbound: number;
  established: number;
}

export class S2sManager {
  readonly limits: S2sLimits;
  private readonly keys: DialbackKeys;
  private readonly log: Logger;
  private outbox: S2sOutboxPort | undefined;
  private readonly outbound = new Map<string, OutboundS2sStream>();
  private readonly links = new Map<OutboundS2sStream, OutboxLink>();
  private readonly inbound = new Set<InboundS2sStream>();
  private readonly budgets = new Map<string, OnionBudget>();
  private readonly iqs: PeerIqs;
  private readonly inCtx: Omit<InboundContext, "budget">;
  private readonly outCtx: OutboundContext;
  private closing = false;

  constructor(private readonly o: S2sManagerOptions) {
    this.limits = mergeS2sLimits(o.limits);
    this.keys = new DialbackKeys(o.secret);
    this.log = o.log;
    this.outbox = o.outbox;
    this.iqs = new PeerIqs(this.limits.iqTimeoutMs, this.limits.userAnsweredIqTimeoutMs);
    this.inCtx = {
      limits: this.limits,
      log: this.log,
      keys: this.keys,
      ...(o.tls ? { tls: o.tls } : {}),
      verify: (local, remote, streamId, key) => this.verify(local, remote, streamId, key),
      fromServer: (origin, stanza) => this.fromServer(origin, stanza),
      authenticated: (local, remote) => this.outbox?.peerSeen(local, remote),
      closed: (s) => this.inbound.delete(s),
    };
    this.outCtx = {
      limits: this.limits,
      log: this.log,
      keys: this.keys,
      ...(o.tls ? { tls: o.tls } : {}),
      dial: (local, remote) => o.dial(local, remote),
      established: (s) => this.onEstablished(s),
      closed: (s, reason) => this.onOutboundClosed(s, reason),
      idle: (s) => this.keepalive(s),
    };
  }

  setOutbox(outbox: S2sOutboxPort): void {
    this.outbox = outbox;
  }

  /**
   * A stanza from `local` (one of our onions) to `remote` (a domain of another server), in the
   * unit of work that produced it. Durable classes are written to the outbox in the unit; the
   * others leave after the commit and live only in memory.
   */
  send(unit: UnitOfWork, stanza: Element, local: string, remote: string): void {
    const cls = deliveryClass(stanza);
    if (cls === "durable" && this.outbox) {
      // The outbox stores the text: it must already be in the server namespace (RFC 6120 4.8.3).
      const row = cloneElement(stanza);
      row.attrs.xmlns = NS.SERVER;
      if (this.outbox.enqueue(unit, local, remote, row) === "full") this.o.routing.bounce(unit, stanza, "resource-constraint", "too many messages are waiting for that server");
      return;
    }
    unit.afterCommit(() => this.deliver(cls, stanza, local, remote));
  }

  /** For S2sOutbox's needConnection: open (or reuse) the pair's stream; it attaches when established. */
  needConnection(local: string, remote: string): void {
    const s = this.stream(local, remote);
    if (typeof s === "string") {
      const reason = s;
      queueMicrotask(() => this.outbox?.connectFailed(local, remote, reason));
    } else if (s.established) this.attachOutbox(s);
  }

  /** A socket the listener of our onion `local` accepted (the peer came through Tor). */
  acceptInbound(local: string, socket: Socket): void {
    if (this.closing) return void socket.destroy();
    let budget = this.budgets.get(local);
    if (!budget) this.budgets.set(local, (budget = new OnionBudget(local, this.limits)));
    const s = new InboundS2sStream(socket, local, { ...this.inCtx, budget });
    if (!s.closed) this.inbound.add(s);
  }

  /** Streams per onion, for status. */
  counts(): Record<string, S2sOnionCounts> {
    const out: Record<string, S2sOnionCounts> = {};
    const of = (onion: string) => (out[onion] ??= { inbound: 0, unauthenticated: 0, outbound: 0, established: 0 });
    for (const [onion, b] of this.budgets) if (b.inbound > 0) Object.assign(of(onion), { inbound: b.inbound, unauthenticated: b.unauthenticatedCount });
    for (const s of this.outbound.values()) {
      of(s.local).outbound++;
      if (s.established) of(s.local).established++;
    }
    return out;
  }

  /** Everything one onion has open (an account removed or stopped): close it. */
  closeOnion(local: string): void {
    for (const s of [...this.outbound.values()]) if (s.local === local) s.close("the account stopped");
    for (const s of [...this.inbound]) if (s.onion === local) s.close();
    this.budgets.delete(local);
    this.o.tls?.identities.forget(local);
  }

  close(): void {
    this.closing = true;
    for (const s of [...this.outbound.values()]) s.close("the daemon is stopping");
    for (const s of [...this.inbound]) s.close("system-shutdown");
    this.iqs.close();
  }

  /** The outbound stream for the pair, made if needed; a string says why there is none. */
  private stream(local: string, remote: string): OutboundS2sStream | string {
    const key = `${local} ${remote}`;
    const existing = this.outbound.get(key);
    if (existing && !existing.closed) return existing;
    if (this.closing) return "the daemon is stopping";
    let count = 0;
    for (const s of this.outbound.values()) if (s.local === local) count++;
    if (count >= this.limits.maxOutboundStreamsPerOnion) return "too many connections to other servers from this account";
    const s = new OutboundS2sStream(local, remote, this.outCtx);
    this.outbound.set(key, s);
    this.log.debug("connecting to a peer", { local, remote });
    void s.start();
    return s;
  }

  private deliver(cls: DeliveryClass, stanza: Element, local: string, remote: string): void {
    const bounce = (condition: string, text: string) => this.o.routing.units.run((unit) => this.o.routing.bounce(unit, stanza, condition, text));
    const s = this.stream(local, remote);
    if (cls === "iq-request") {
      if (typeof s === "string") return bounce("remote-server-not-found", s);
      this.iqs.track(stanza, local, remote, bounce);
    }
    if (typeof s === "string") return; // presence and responses are not retried
    if (s.established) return s.send(stanza);
    const key = cls === "ephemeral" ? `p ${stanza.attrs.from ?? ""} ${stanza.attrs.to ?? ""}` : `q ${cls} ${stanza.attrs.id ?? ""} ${s.queue.size}`;
    if (!s.enqueue(key, stanza) && cls === "iq-request") this.iqs.fail(stanza, local, "resource-constraint", "too many stanzas are waiting for that server");
  }

  // XEP-0220 section 2.1.2 on our stream to the claimed domain: authenticated, still
  // authenticating (Prosody answers db:verify there), or a new one.
  private async verify(local: string, remote: string, streamId: string, key: string): Promise<Verdict> {
    const s = this.stream(local, remote);
    if (typeof s === "string") return { type: "error", condition: "resource-constraint", text: s };
    let timer: NodeJS.Timeout | undefined;
    const ms = this.limits.verificationTimeoutMs;
    const timeout = new Promise<Verdict>((resolve) => (timer = setTimeout(() => resolve({ type: "error", condition: "remote-server-timeout", text: `no answer within ${duration(ms)}` }), ms)));
    try {
      return await Promise.race([s.verify(streamId, key), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private fromServer(origin: ServerOrigin, stanza: Element): void {
    // The answer to one of our pings is ours alone.
    if (this.iqs.answer(origin.local, stanza)) return;
    this.o.routing.fromServer(origin, stanza);
  }

  private onEstablished(s: OutboundS2sStream): void {
    this.log.debug("outbound server stream established", { stream: s.id, local: s.local, remote: s.remote });
    this.attachOutbox(s);
  }

  private attachOutbox(s: OutboundS2sStream): void {
    if (!this.outbox || this.links.has(s)) return;
    const link: OutboxLink = {
      send: (xmlText) => s.send(xmlText),
      confirm: (cb) => {
        if (!s.established) return cb(false);
        s.sendKeepalive(
          this.iqs.ping(s.local, s.remote, s, (ok) => {
            cb(ok);
            // Unanswered, as for the keepalive: a dead circuit or a hung peer. The outbox has
            // given this link up and nothing would attach it again; until the stream closes,
            // needConnection() finds it "established" and the rows wait for connectTimeoutMs.
            if (!ok && !s.closed) s.close("no answer to a receipt ping");
          }),
        );
      },
    };
    this.links.set(s, link);
    this.outbox.attach(s.local, s.remote, link);
  }

  private onOutboundClosed(s: OutboundS2sStream, reason: string): void {
    const key = `${s.local} ${s.remote}`;
    if (this.outbound.get(key) === s) this.outbound.delete(key);
    this.iqs.viaClosed(s);
    const link = this.links.get(s);
    this.links.delete(s);
    if (link) this.outbox?.detach(s.local, s.remote, link);
    else this.outbox?.connectFailed(s.local, s.remote, reason);
    // Held while connecting: presence is dropped, iqs get the reason (tor's words for a dial failure).
    for (const stanza of s.queue.values()) if (deliveryClass(stanza) === "iq-request") this.iqs.fail(stanza, s.local, "remote-server-not-found", reason);
    s.queue.clear();
    this.log.debug("outbound server stream closed", { local: s.local, remote: s.remote, reason });
  }

  private keepalive(s: OutboundS2sStream): void {
    // XEP-0199 section 4.1 between servers; no answer in iqTimeoutMs means the circuit is dead.
    s.sendKeepalive(this.iqs.ping(s.local, s.remote, s, (ok) => ok || s.close("no answer to a ping")));
  }
}
