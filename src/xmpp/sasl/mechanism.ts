// The SASL mechanisms we offer, and the one way to start an exchange.
// https://www.rfc-editor.org/rfc/rfc6120#section-6.3.3 (mechanism preferences)
import { PlainServerMechanism } from "./plain.js";
import { ScramServerMechanism } from "./scram.js";
import type { CredentialLookup, SaslMechanismOptions, SaslServerMechanism } from "./types.js";

export { SaslFailure } from "./types.js";
export type {
  CredentialLookup,
  SaslFailureCondition,
  SaslMechanismOptions,
  SaslServerMechanism,
  SaslStep,
} from "./types.js";

/**
 * Strongest first, for <mechanisms/>. SCRAM never shows the password to the server; PLAIN
 * is last and is for clients without SCRAM (it is safe only inside TLS or on loopback/onion).
 */
export const SASL_MECHANISMS_BY_PREFERENCE: readonly string[] = Object.freeze(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);

/** A fresh exchange for mechanism `name`, or undefined when we do not offer it (invalid-mechanism). */
export function createSaslMechanism(
  name: string,
  lookup: CredentialLookup,
  options: SaslMechanismOptions = {},
): SaslServerMechanism | undefined {
  switch (name) {
    case "SCRAM-SHA-256":
      return new ScramServerMechanism("SHA-256", lookup, { domain: options.domain });
    case "SCRAM-SHA-1":
      return new ScramServerMechanism("SHA-1", lookup, { domain: options.domain });
    case "PLAIN":
      return new PlainServerMechanism(lookup, { domain: options.domain });
    default:
      return undefined;
  }
}
