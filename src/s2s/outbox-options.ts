// Every number the s2s outbox (outbox.ts) works with, and its defaults. The row quotas are the
// store's (StoreOptions.maxOutboxPerPair / maxOutboxPerLocal): they are checked in the insert.

export interface S2sOutboxOptions {
  /** Rows per batch handed to a link before its confirm. */
  batchSize: number;
  /** A batch also stops at this many bytes of XML (but always holds at least one row). */
  maxBatchBytes: number;
  /** Batches handed to a link and not yet confirmed; more rows wait for a confirm. */
  maxBatchesInFlight: number;
  /** First retry delay after a failed connection or a lost stream; doubles per failure. */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** Each delay is shortened by up to this fraction, at random, so retries to many peers spread out. */
  backoffJitter: number;
  /** needConnection() with neither attach() nor connectFailed() after this long counts as a failure. */
  connectTimeoutMs: number;
  /** A row this old is removed and bounced to its sender. */
  maxAgeMs: number;
  /** How often expired rows are looked for. */
  expiryCheckMs: number;
  now: () => number;
  random: () => number;
}

export const DEFAULT_OUTBOX_OPTIONS: S2sOutboxOptions = {
  batchSize: 100,
  maxBatchBytes: 256 * 1024,
  maxBatchesInFlight: 2,
  backoffMinMs: 5_000,
  backoffMaxMs: 10 * 60_000,
  backoffJitter: 0.2,
  connectTimeoutMs: 2 * 60_000,
  maxAgeMs: 3 * 24 * 60 * 60_000,
  expiryCheckMs: 60_000,
  now: Date.now,
  random: Math.random,
};
