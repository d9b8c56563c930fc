// Every limit the c2s server enforces, in one place, with the defaults a
// single-user server behind Pidgin needs. Tests shrink them to exercise them.
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from "../xmpp/stream-parser.js";

export interface ServerLimits {
  stream: StreamLimits;
  /** A connection must finish SASL + resource binding within this time. */
  negotiationTimeoutMs: number;
  /** SASL attempts per connection before the stream is closed. */
  maxAuthAttempts: number;
  /** Concurrent sessions (resources) per account. */
  maxResourcesPerAccount: number;
  /** Concurrent connections on the c2s listener, authenticated or not. */
  maxConnections: number;
  /** Incoming bytes per second per connection; excess is throttled (the socket is paused), never dropped. */
  readBytesPerSecond: number;
  /** Burst allowance for the read throttle. */
  readBurstBytes: number;
  /** A peer that stops reading: once this much output is queued, the session is closed. */
  maxPendingOutputBytes: number;
  /** Ping a client after this long without traffic (XEP-0199), and close it if it does not answer in pingTimeoutMs. */
  pingIdleMs: number;
  pingTimeoutMs: number;
  /** Serialized vCard size. */
  maxVcardBytes: number;
  /** Items per roster. */
  maxRosterItems: number;
  /** Offline messages kept per account; more are bounced to the sender. */
  maxOfflineMessages: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  stream: DEFAULT_STREAM_LIMITS,
  negotiationTimeoutMs: 30_000,
  maxAuthAttempts: 3,
  maxResourcesPerAccount: 16,
  maxConnections: 256,
  readBytesPerSecond: 4 * 1024 * 1024,
  readBurstBytes: 8 * 1024 * 1024,
  maxPendingOutputBytes: 16 * 1024 * 1024,
  pingIdleMs: 5 * 60_000,
  pingTimeoutMs: 60_000,
  maxVcardBytes: 64 * 1024,
  maxRosterItems: 2000,
  maxOfflineMessages: 1000,
};

/** What a caller (a test, usually) may override; everything else keeps its default. */
export type LimitOverrides = Partial<Omit<ServerLimits, "stream">> & { stream?: Partial<StreamLimits> };

export function mergeLimits(partial?: LimitOverrides): ServerLimits {
  return {
    ...DEFAULT_SERVER_LIMITS,
    ...partial,
    stream: { ...DEFAULT_SERVER_LIMITS.stream, ...partial?.stream },
  };
}
