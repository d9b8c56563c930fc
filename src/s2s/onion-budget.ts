// What one local onion may spend on inbound federation: streams, streams not yet authenticated,
// dialback verifications in flight per claimed domain, and stanzas per second over all its
// streams. Every budget belongs to ONE onion: flooding account A pauses A's sockets only, so a
// peer cannot tell from B's speed that A and B share a daemon (ARCHITECTURE.md, "Federation").
import type { S2sLimits } from "../server/policy-limits.js";

/** What the budget pauses when the onion's stanza rate is spent (an inbound stream). */
export interface Holdable {
  holdInput(ms: number): void;
}

export class OnionBudget {
  private readonly streams = new Set<Holdable>();
  private readonly unauthenticated = new Set<Holdable>();
  /** Claimed domain -> verifications in flight for it (XEP-0220 section 2.1.2 callbacks). */
  private readonly verifying = new Map<string, number>();
  private verifyingTotal = 0;
  private tokens: number;
  private lastRefill = Date.now();

  constructor(readonly onion: string, private readonly limits: S2sLimits) {
    this.tokens = limits.stanzaBurstPerOnion;
  }

  get inbound(): number {
    return this.streams.size;
  }

  get unauthenticatedCount(): number {
    return this.unauthenticated.size;
  }

  /** A new inbound stream: why it may not exist, or undefined when it may (then it is counted). */
  admit(stream: Holdable): string | undefined {
    if (this.streams.size >= this.limits.maxInboundStreamsPerOnion) return "too many server connections to this onion";
    if (this.unauthenticated.size >= this.limits.maxUnauthenticatedPerOnion) return "too many unauthenticated server connections to this onion";
    this.streams.add(stream);
    this.unauthenticated.add(stream);
    return undefined;
  }

  authenticated(stream: Holdable): void {
    this.unauthenticated.delete(stream);
  }

  release(stream: Holdable): void {
    this.streams.delete(stream);
    this.unauthenticated.delete(stream);
  }

  /**
   * Start a verification (a callback dial through Tor) for `domain`: why not, or undefined when it
   * may start. Per claimed domain and per onion over all its streams, so that many streams with
   * many claimed names do not make a dialer of us. Pair with endVerification.
   */
  beginVerification(domain: string): string | undefined {
    const n = this.verifying.get(domain) ?? 0;
    if (n >= this.limits.maxPendingVerificationsPerDomain) return "too many verifications in progress for that domain";
    if (this.verifyingTotal >= this.limits.maxPendingVerificationsPerOnion) return "too many verifications in progress for this onion";
    this.verifying.set(domain, n + 1);
    this.verifyingTotal++;
    return undefined;
  }

  endVerification(domain: string): void {
    this.verifyingTotal--;
    const n = (this.verifying.get(domain) ?? 1) - 1;
    if (n <= 0) this.verifying.delete(domain);
    else this.verifying.set(domain, n);
  }

  /**
   * One top-level element arrived on one of this onion's streams. When the onion's bucket is
   * empty, every one of its inbound streams stops reading until it has refilled.
   */
  spendElement(): void {
    const rate = this.limits.stanzasPerSecondPerOnion;
    const now = Date.now();
    this.tokens = Math.min(this.limits.stanzaBurstPerOnion, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = Math.ceil((-this.tokens * 1000) / rate);
    for (const s of this.streams) s.holdInput(waitMs);
  }
}
