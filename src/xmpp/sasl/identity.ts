// Who is logging in: usernames and authorization identities (SCRAM).
import { normalizeDomainpart, normalizeLocalpart, parseJid } from "../jid.js";
import { saslprep } from "./saslprep.js";
import { SaslFailure } from "./types.js";

/**
 * The account localpart a SASL username names. Usernames are localparts: that is what
 * Pidgin sends (https://www.rfc-editor.org/rfc/rfc6120#section-6.3.8: "simple user name").
 * Throws malformed-request when SASLprep rejects it (empty, control characters...).
 * Returns undefined when it cannot be the localpart of any account (e.g. contains "@"):
 * the caller then continues on the unknown-user path, so this is not observable.
 */
export function accountLocalpart(username: string): string | undefined {
  const prepared = saslprep(username);
  if (prepared === undefined) {
    throw new SaslFailure("malformed-request", "the username is empty or contains characters SASLprep prohibits");
  }
  return normalizeLocalpart(prepared);
}

/**
 * Whether `authzid` names the account itself: its localpart, or its bare JID when we know
 * our domain. We offer no proxy authorization, so nothing else is allowed.
 * https://www.rfc-editor.org/rfc/rfc6120#section-6.3.8
 */
export function authzidAllowed(authzid: string, localpart: string, domain?: string): boolean {
  const prepared = saslprep(authzid);
  if (prepared === undefined) return false;
  if (normalizeLocalpart(prepared) === localpart) return true;
  if (domain === undefined) return false;
  const j = parseJid(prepared);
  const ourDomain = normalizeDomainpart(domain);
  return j !== undefined && j.isBare() && j.local === localpart && ourDomain !== undefined && j.domain === ourDomain;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decode a SASL message as strict UTF-8; undefined when the bytes are not UTF-8. */
export function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
