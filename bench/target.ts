// The small interface every server under benchmark implements, so the
// measurements are written once and run against Prosody and purple-onion alike.

/** Everything a client needs to log in to one account. */
export interface BenchAccount {
  /** Bare JID, e.g. "a@bench.localhost". */
  jid: string;
  /** SASL (SCRAM) username: the JID's localpart. */
  username: string;
  /** The stream `to`: the JID's domain. */
  domain: string;
  password: string;
  host: string;
  port: number;
}

export interface BenchTarget {
  /** Short name for tables and JSON keys ("prosody", "purple-onion"). */
  readonly name: string;
  /** Human-readable version, filled in by start(). */
  readonly version: string;
  /** Starts the server on free loopback ports and waits until it accepts c2s. */
  start(): Promise<void>;
  /** Creates one account; the server is running. */
  createAccount(localpart: string): Promise<BenchAccount>;
  /**
   * Waits until the server has finished the background work that creating
   * accounts started (purple-onion attached to tor: every onion added). Optional.
   */
  settle?(): Promise<void>;
  /** PID of the running server process (for /proc readings). */
  pid(): number;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export function splitJid(jid: string): { localpart: string; domain: string } {
  const at = jid.indexOf("@");
  const slash = jid.indexOf("/");
  const bare = slash === -1 ? jid : jid.slice(0, slash);
  if (at <= 0) throw new Error(`not a bare account JID: ${jid}`);
  return { localpart: bare.slice(0, at), domain: bare.slice(at + 1) };
}
