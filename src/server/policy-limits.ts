// The limits of federation, in one place (read by src/server/policy.ts and the s2s streams).
// Budgets are per local onion: flooding account A must not slow account B measurably, or the
// slowdown would tell a peer that A and B share a daemon.
import { DEFAULT_MAX_OUTBOX_PER_PAIR } from "../store/outbox.js";
import type { StreamLimits } from "../xmpp/stream-parser.js";

export interface S2sLimits {
  /** Stanza size, nesting and attributes on server streams. */
  stream: StreamLimits;
  /** Child elements of one stanza (a flood of tiny children costs as much as a big stanza). */
  maxChildren: number;
  /** Inbound streams per local onion, authenticated or not. */
  maxInboundStreamsPerOnion: number;
  /** Inbound streams per local onion that have not authenticated any domain yet. */
  maxUnauthenticatedPerOnion: number;
  /** Outbound streams per local onion (one per remote domain). */
  maxOutboundStreamsPerOnion: number;
  /** A stream must authenticate (dialback) within this time. */
  negotiationTimeoutMs: number;
  /** db:result requests we are still verifying, per inbound stream. */
  maxPendingVerificationsPerStream: number;
  /** ... and per claimed domain, over all streams of one local onion. */
  maxPendingVerificationsPerDomain: number;
  /** ... and in all, over all streams of one local onion (each one is a dial through Tor). */
  maxPendingVerificationsPerOnion: number;
  /** A verification (our callback through Tor) that takes longer fails. */
  verificationTimeoutMs: number;
  /** Incoming bytes per second per stream; excess pauses the socket. */
  readBytesPerSecond: number;
  readBurstBytes: number;
  /** Stanzas per second over all inbound streams of one local onion; excess pauses them. */
  stanzasPerSecondPerOnion: number;
  stanzaBurstPerOnion: number;
  /** Output a peer has not read yet before the stream is dropped. */
  maxPendingOutputBytes: number;
  /** XEP-0199 ping on a stream idle this long... */
  idlePingMs: number;
  /** ...and close it after this long without a stanza. */
  idleCloseMs: number;
  /** An iq to another server gets an error that says why after this long without an answer. */
  iqTimeoutMs: number;
  /**
   * ... except an iq a person answers: a file offer (XEP-0095/0096 stream initiation) gets its
   * result only once the receiving user accepts or refuses it, which may take minutes.
   */
  userAnsweredIqTimeoutMs: number;
  /** Reaching a peer through Tor (SOCKS) gives up after this long. */
  connectTimeoutMs: number;
  /** Subscription requests from one peer domain waiting for the user's answer, per account. */
  maxPendingSubscriptionsPerPeer: number;
  /** ... and from all peers together, per account. */
  maxPendingSubscriptions: number;
  /** Full JIDs one session has sent directed presence to. */
  maxDirectedPresencePerSession: number;
  /** Ephemeral presence and iqs held in memory per outbound stream while it connects. */
  maxQueuedWhileConnecting: number;
  /**
   * Durable stanzas waiting in the outbox per (local onion, remote domain). The store checks it
   * in the insert (StoreOptions.maxOutboxPerPair): the daemon opens the store with this value.
   */
  maxOutboxPerPeer: number;
}

export const DEFAULT_S2S_LIMITS: S2sLimits = {
  stream: { maxStanzaBytes: 128 * 1024, maxDepth: 24, maxAttributes: 32, maxHeaderBytes: 4096 },
  maxChildren: 64,
  maxInboundStreamsPerOnion: 32,
  maxUnauthenticatedPerOnion: 8,
  maxOutboundStreamsPerOnion: 64,
  negotiationTimeoutMs: 60_000,
  maxPendingVerificationsPerStream: 4,
  maxPendingVerificationsPerDomain: 2,
  maxPendingVerificationsPerOnion: 8,
  verificationTimeoutMs: 30_000,
  readBytesPerSecond: 256 * 1024,
  readBurstBytes: 1024 * 1024,
  stanzasPerSecondPerOnion: 50,
  stanzaBurstPerOnion: 200,
  maxPendingOutputBytes: 4 * 1024 * 1024,
  idlePingMs: 60_000,
  idleCloseMs: 10 * 60_000,
  iqTimeoutMs: 30_000,
  userAnsweredIqTimeoutMs: 15 * 60_000,
  connectTimeoutMs: 25_000,
  maxPendingSubscriptionsPerPeer: 8,
  maxPendingSubscriptions: 256,
  maxDirectedPresencePerSession: 64,
  maxQueuedWhileConnecting: 256,
  maxOutboxPerPeer: DEFAULT_MAX_OUTBOX_PER_PAIR,
};

export type S2sLimitOverrides = Partial<Omit<S2sLimits, "stream">> & { stream?: Partial<StreamLimits> };

export function mergeS2sLimits(partial?: S2sLimitOverrides): S2sLimits {
  return { ...DEFAULT_S2S_LIMITS, ...partial, stream: { ...DEFAULT_S2S_LIMITS.stream, ...partial?.stream } };
}
