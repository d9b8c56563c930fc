// What every server-side SASL mechanism looks like to the c2s layer.
// https://www.rfc-editor.org/rfc/rfc4422#section-3 (the exchange),
// https://www.rfc-editor.org/rfc/rfc6120#section-6.5 (the XMPP failure conditions).
// mechanism.ts re-exports all of this; this file exists so that scram.ts can
// depend on these types without an import cycle through the factory.
import type { StoredCredentials } from "./credentials.js";

/** The children of <failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/> (RFC 6120 section 6.5). */
export type SaslFailureCondition =
  | "aborted"
  | "account-disabled"
  | "credentials-expired"
  | "encryption-required"
  | "incorrect-encoding"
  | "invalid-authzid"
  | "invalid-mechanism"
  | "malformed-request"
  | "mechanism-too-weak"
  | "not-authorized"
  | "temporary-auth-failure";

/**
 * An exchange that must end in <failure/>. `message` says why, for logs and for the optional
 * <text/> child; it never tells a stranger whether an account exists.
 */
export class SaslFailure extends Error {
  constructor(
    readonly condition: SaslFailureCondition,
    message: string,
  ) {
    super(message);
    this.name = "SaslFailure";
  }
}

/**
 * One server step: either a challenge to send, or success. `additionalData` goes inside
 * <success/> (RFC 6120 section 6.3.10), e.g. SCRAM's server-final message "v=...".
 */
export type SaslStep =
  | { done: false; challenge: Buffer }
  | { done: true; username: string; additionalData?: Buffer };

/**
 * One authentication exchange (one object per <auth/>). `step` gets the decoded bytes of the
 * initial response or of each <response/>, and throws SaslFailure to end the exchange.
 * An <auth/> without initial response must be passed as an empty Buffer: client-first
 * mechanisms then answer with an empty challenge (RFC 4422 section 5, item 2a).
 */
export interface SaslServerMechanism {
  readonly name: string;
  step(response: Buffer): SaslStep;
}

/** Returns the stored credentials of an account by its (normalized) localpart. */
export type CredentialLookup = (username: string) => StoredCredentials | undefined;

export interface SaslMechanismOptions {
  /**
   * Our domain. With it, an authzid may be the user's bare JID ("alice@<domain>");
   * without it, only the bare localpart ("alice") is accepted as authzid.
   */
  domain?: string;
  /**
   * Keys the made-up credentials of users that do not exist. Persist it (the daemon keeps it in
   * its settings): with a secret that changes at each restart, a name whose salt changed
   * across a restart is one that does not exist here.
   */
  unknownUserSecret?: Buffer;
}
