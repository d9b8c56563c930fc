// Per-account SOCKS credentials for Tor's stream isolation.
//
// Tor keeps streams whose SOCKS5 username/password differ on different circuits
// (SocksPort flag IsolateSOCKSAuth, on by default; see the tor manual). Giving every
// account its own fixed pair means two accounts hosted by one daemon never share a
// circuit, so a peer (or a relay) cannot link them by the circuit they arrive on.
//
// The pair is an HMAC of the account's domain under a secret only the daemon holds:
// - stable for an account across restarts (same circuits policy, nothing to store),
// - different for every account,
// - it reveals nothing about the account to whoever can read tor's state or logs.
//
// Usernames must not start with "<torS0X>": since tor 0.4.9 that prefix selects a
// structured username format (proposal 351). Ours start with "purple-onion-".
import { createHmac } from "node:crypto";

const USERNAME_LABEL = "purple-onion socks isolation username v1";
const PASSWORD_LABEL = "purple-onion socks isolation password v1";
const USERNAME_PREFIX = "purple-onion-";

export interface SocksCredentials {
  username: string;
  password: string;
}

/** The domain as it identifies an account: DNS names compare case-insensitively, a trailing dot is the same name. */
function normalizeDomain(accountDomain: string): string {
  const lower = accountDomain.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

function derive(secret: Buffer, label: string, domain: string): string {
  // The NUL keeps label and domain apart: no domain can make one input look like another.
  return createHmac("sha256", secret).update(label).update("\0").update(domain, "utf8").digest("hex");
}

/**
 * SOCKS5 username/password (RFC 1929) for `accountDomain`, derived from the daemon's `secret`.
 * Printable ASCII, 77 and 64 bytes (RFC 1929 allows 1..255 each).
 */
export function isolationCredentials(accountDomain: string, secret: Buffer): SocksCredentials {
  if (typeof accountDomain !== "string" || normalizeDomain(accountDomain) === "") {
    throw new TypeError("isolationCredentials needs the account's domain");
  }
  if (!Buffer.isBuffer(secret) || secret.length < 16) {
    throw new TypeError("isolationCredentials needs a secret of at least 16 bytes");
  }
  const domain = normalizeDomain(accountDomain);
  return {
    username: USERNAME_PREFIX + derive(secret, USERNAME_LABEL, domain),
    password: derive(secret, PASSWORD_LABEL, domain),
  };
}
