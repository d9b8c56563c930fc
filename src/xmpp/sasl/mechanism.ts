// The SASL mechanisms we offer, and the one way to start an exchange.
// https://www.rfc-editor.org/rfc/rfc6120#section-6.3.3 (mechanism preferences)
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
 * Strongest first, for <mechanisms/>. SCRAM only: it never shows the password to the server,
 * so a program squatting on the c2s port while the daemon is down learns nothing from a
 * client that logs in to it. PLAIN is not offered at all (libpurple would then ask the user
 * to allow plaintext authentication, and a squatter could do the same; the plugin pins the
 * server on the client side).
 */
export const SASL_MECHANISMS_BY_PREFERENCE: readonly string[] = Object.freeze(["SCRAM-SHA-256", "SCRAM-SHA-1"]);

/** A fresh exchange for mechanism `name`, or undefined when we do not offer it (invalid-mechanism). */
export function createSaslMechanism(
  name: string,
  lookup: CredentialLookup,
  options: SaslMechanismOptions = {},
): SaslServerMechanism | undefined {
  switch (name) {
    case "SCRAM-SHA-256":
      return new ScramServerMechanism("SHA-256", lookup, options);
    case "SCRAM-SHA-1":
      return new ScramServerMechanism("SHA-1", lookup, options);
    default:
      return undefined;
  }
}
