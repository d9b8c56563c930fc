// PLAIN, server side: message = [authzid] NUL authcid NUL passwd.
// https://www.rfc-editor.org/rfc/rfc4616
//
// We never store passwords, so the presented one is checked the SCRAM way: derive
// SaltedPassword with the stored SCRAM-SHA-256 salt and iteration count, and compare the
// resulting StoredKey (RFC 5802 section 3) in constant time. Unknown users cost the same
// PBKDF2 run against fake credentials, so timing does not tell who has an account.
import { timingSafeEqual } from "node:crypto";
import { accountLocalpart, authzidAllowed, decodeUtf8 } from "./identity.js";
import { saslprep } from "./saslprep.js";
import { credentialsFor, scramSaltedPassword, scramStoredKey } from "./scram.js";
import { SaslFailure, type CredentialLookup, type SaslMechanismOptions, type SaslServerMechanism, type SaslStep } from "./types.js";

/**
 * RFC 4616 section 2 asks servers to accept at least 255 octets per field; we accept up
 * to 1023 (the longest localpart, RFC 7622 section 3.3) and no more, which also bounds
 * the PBKDF2 input a stranger can hand us.
 */
const MAX_FIELD_BYTES = 1023;

export class PlainServerMechanism implements SaslServerMechanism {
  readonly name = "PLAIN";
  private state: "start" | "awaiting-response" | "finished" = "start";

  constructor(
    private readonly lookup: CredentialLookup,
    private readonly options: SaslMechanismOptions = {},
  ) {}

  step(response: Buffer): SaslStep {
    const state = this.state;
    this.state = "finished";
    if (state === "finished") throw new SaslFailure("malformed-request", "this PLAIN exchange is already over");
    if (state === "start" && response.length === 0) {
      // No initial response: ask for the credentials with an empty challenge
      // (https://www.rfc-editor.org/rfc/rfc6120#section-6.4.2, RFC 4422 section 5).
      this.state = "awaiting-response";
      return { done: false, challenge: Buffer.alloc(0) };
    }
    return this.verify(response);
  }

  private verify(response: Buffer): SaslStep {
    const fields = splitMessage(response);
    const [authzid, authcid, password] = fields;
    const localpart = accountLocalpart(authcid);
    const { credentials, known } = credentialsFor("SHA-256", this.lookup, localpart, authcid);

    const prepared = saslprep(password);
    // A password SASLprep rejects cannot be anyone's (we prepare stored ones the same way);
    // still run the derivation so the answer takes as long as for a wrong password.
    const salted = scramSaltedPassword("SHA-256", prepared ?? password, credentials.salt, credentials.iterations);
    const storedKeyOk = timingSafeEqual(scramStoredKey("SHA-256", salted), credentials.storedKey);
    if (!storedKeyOk || !known || prepared === undefined || localpart === undefined) {
      throw new SaslFailure("not-authorized", "wrong username or password");
    }
    // Authorization comes after authentication (RFC 4616 section 2, RFC 4422 section 3.4.1).
    if (authzid !== "" && !authzidAllowed(authzid, localpart, this.options.domain)) {
      throw new SaslFailure("invalid-authzid", "this account may only act as itself");
    }
    return { done: true, username: localpart };
  }
}

/** [authzid, authcid, passwd]; authzid is "" when absent. Throws malformed-request. */
function splitMessage(response: Buffer): [string, string, string] {
  if (response.length > 3 * MAX_FIELD_BYTES + 2) {
    throw new SaslFailure("malformed-request", "PLAIN message too long");
  }
  const text = decodeUtf8(response);
  if (text === undefined) throw new SaslFailure("malformed-request", "PLAIN message is not valid UTF-8");
  const fields = text.split("\0");
  if (fields.length !== 3) {
    throw new SaslFailure("malformed-request", "PLAIN message must be authzid NUL authcid NUL password");
  }
  const [authzid, authcid, password] = fields as [string, string, string];
  if (authcid === "" || password === "") {
    throw new SaslFailure("malformed-request", "PLAIN message has an empty username or password");
  }
  for (const f of fields) {
    if (Buffer.byteLength(f, "utf8") > MAX_FIELD_BYTES) {
      throw new SaslFailure("malformed-request", `a PLAIN field is longer than ${MAX_FIELD_BYTES} bytes`);
    }
  }
  return [authzid, authcid, password];
}
