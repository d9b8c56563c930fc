// Where a stanza came from. Every stanza enters the router with one (ARCHITECTURE.md): what an
// origin authenticated decides which `from` it may use and which `to` it may reach.
// Prosody's equivalent is the session passed to core_process_stanza(origin, stanza).
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";

/** A bound client session of one account: `from` is its full JID (the session stamps it). */
export interface ClientOrigin {
  kind: "c2s";
  session: C2sSession;
  host: AccountHost;
}

/**
 * An s2s stream authenticated for the pair (local onion, remote domain). The stream has already
 * checked that `from` is the remote domain (or a subdomain of it) and `to` the local onion (or a
 * subdomain of it); the router checks the `to` again before any lookup.
 */
export interface ServerOrigin {
  kind: "s2s";
  /** Our onion the stream arrived on (inbound) or belongs to (outbound). */
  local: string;
  /** The domain the stream authenticated. */
  remote: string;
  /** For log lines at debug level only (a peer onion is a contact: never at info). */
  streamId: string;
}

/** The server itself: replies, probes, pushes, stored messages, bounces. */
export interface LocalOrigin {
  kind: "local";
}

export type Origin = ClientOrigin | ServerOrigin | LocalOrigin;

export const LOCAL: LocalOrigin = { kind: "local" };

/** Is `domain` the onion `local` or a subdomain of it? */
export function withinDomain(domain: string, local: string): boolean {
  return domain === local || domain.endsWith(`.${local}`);
}
