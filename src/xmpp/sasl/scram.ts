// SCRAM-SHA-1 and SCRAM-SHA-256, server side, without channel binding.
// https://www.rfc-editor.org/rfc/rfc5802 (SCRAM), https://www.rfc-editor.org/rfc/rfc7677 (SHA-256)
//
//   C: n,,n=user,r=<client nonce>                        client-first-message
//   S: r=<client nonce><server nonce>,s=<salt>,i=4096    server-first-message  (challenge)
//   C: c=biws,r=<both nonces>,p=<proof>                  client-final-message
//   S: v=<server signature>                              server-final-message  (in <success/>)
//
// An unknown user gets a challenge that looks like a real one (a salt derived from the name
// and a per-process secret, the default iteration count) and fails not-authorized only at
// the very end, like a wrong password: the exchange does not tell who has an account.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import type { ScramCredentials, ScramHash, StoredCredentials } from "./credentials.js";
import { accountLocalpart, authzidAllowed, decodeUtf8 } from "./identity.js";
import { saslprep } from "./saslprep.js";
import { SaslFailure, type CredentialLookup, type SaslMechanismOptions, type SaslServerMechanism, type SaslStep } from "./types.js";

/** RFC 7677 section 4: at least 4096 iterations. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
const DEFAULT_SALT_BYTES = 16;
/** Far more than any real SCRAM message; bounds the work a stranger can make us do. */
const MAX_MESSAGE_BYTES = 4096;

const HASH: Record<ScramHash, { node: string; bytes: number }> = {
  "SHA-1": { node: "sha1", bytes: 20 },
  "SHA-256": { node: "sha256", bytes: 32 },
};

// ---- The key derivation of RFC 5802 section 3 ----

function hmac(hash: ScramHash, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(HASH[hash].node, key).update(data).digest();
}

function h(hash: ScramHash, data: Buffer): Buffer {
  return createHash(HASH[hash].node).update(data).digest();
}

/** SaltedPassword := Hi(Normalize(password), salt, i); Hi is PBKDF2 with HMAC as PRF. */
export function scramSaltedPassword(hash: ScramHash, preparedPassword: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(preparedPassword, "utf8"), salt, iterations, HASH[hash].bytes, HASH[hash].node);
}

/** StoredKey := H(HMAC(SaltedPassword, "Client Key")). */
export function scramStoredKey(hash: ScramHash, saltedPassword: Buffer): Buffer {
  return h(hash, hmac(hash, saltedPassword, "Client Key"));
}

/**
 * A salt whose first byte is not zero: libpurple 2.x's own SCRAM (jabber/auth_scram.c,
 * parse_server_step1) takes a salt that decodes to a leading NUL for an empty one and fails the
 * login with "Invalid challenge from server", so one account in 256 could never sign on from
 * Pidgin. Fake credentials (below) get the same shape, or the first byte would tell them apart.
 */
function libpurpleSafeSalt(bytes: Buffer): Buffer {
  const salt = Buffer.from(bytes);
  if (salt[0] === 0) salt[0] = 1 + (bytes[bytes.length - 1]! % 255);
  return salt;
}

export function deriveScramCredentials(
  hash: ScramHash,
  password: string,
  salt: Buffer = libpurpleSafeSalt(randomBytes(DEFAULT_SALT_BYTES)),
  iterations: number = SCRAM_DEFAULT_ITERATIONS,
): ScramCredentials {
  const prepared = saslprep(password);
  if (prepared === undefined) {
    throw new Error("the password is empty or contains characters SASLprep prohibits (RFC 4013 section 2.3)");
  }
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new Error(`the SCRAM iteration count must be a positive integer, got ${iterations}`);
  }
  if (salt.length === 0) throw new Error("the SCRAM salt must not be empty");
  const salted = scramSaltedPassword(hash, prepared, salt, iterations);
  return {
    iterations,
    salt: Buffer.from(salt),
    storedKey: scramStoredKey(hash, salted),
    serverKey: hmac(hash, salted, "Server Key"),
  };
}

/** What we store for a new password: one set of salted hashes per SCRAM hash, fresh salts. */
export function deriveStoredCredentials(password: string): StoredCredentials {
  return {
    "SHA-1": deriveScramCredentials("SHA-1", password),
    "SHA-256": deriveScramCredentials("SHA-256", password),
  };
}

// ---- Unknown users ----

/** Only for callers that give no secret of their own (unit tests): stable within this process. */
const PROCESS_FAKE_CREDENTIAL_SECRET = randomBytes(32);

/**
 * Credentials for a user that does not exist: stable for a name as long as the secret is (so
 * asking twice, or after a restart, gives the same salt, as for a real user), unguessable
 * without the secret.
 * They use SCRAM_DEFAULT_ITERATIONS and a 16-byte salt: accounts must be created with the
 * same (deriveStoredCredentials does), or the challenge would tell real users apart.
 */
export function fakeScramCredentials(hash: ScramHash, username: string, secret: Buffer = PROCESS_FAKE_CREDENTIAL_SECRET): ScramCredentials {
  const derive = (purpose: string, bytes: number) =>
    createHmac("sha256", secret)
      .update(`${purpose}\0${hash}\0${username}`)
      .digest()
      .subarray(0, bytes);
  return {
    iterations: SCRAM_DEFAULT_ITERATIONS,
    salt: libpurpleSafeSalt(derive("salt", DEFAULT_SALT_BYTES)),
    storedKey: derive("stored-key", HASH[hash].bytes),
    serverKey: derive("server-key", HASH[hash].bytes),
  };
}

/**
 * Stored credentials for `localpart`, or fake ones. A failing lookup (storage error) or
 * damaged record is temporary-auth-failure: our fault, not the user's.
 */
export function credentialsFor(
  hash: ScramHash,
  lookup: CredentialLookup,
  localpart: string | undefined,
  rawUsername: string,
  unknownUserSecret?: Buffer,
): { credentials: ScramCredentials; known: boolean } {
  let stored: StoredCredentials | undefined;
  if (localpart !== undefined) {
    try {
      stored = lookup(localpart);
    } catch (e) {
      throw new SaslFailure("temporary-auth-failure", `looking up the account failed: ${(e as Error).message}`);
    }
  }
  const real = stored?.[hash];
  if (real === undefined) {
    return { credentials: fakeScramCredentials(hash, localpart ?? rawUsername, unknownUserSecret), known: false };
  }
  const n = HASH[hash].bytes;
  if (real.storedKey.length !== n || real.serverKey.length !== n || real.salt.length === 0 || !(real.iterations >= 1)) {
    throw new SaslFailure("temporary-auth-failure", `the stored ${hash} credentials of this account are damaged`);
  }
  return { credentials: real, known: true };
}

// ---- Message syntax, RFC 5802 section 7 ----

/** saslname = 1*(value-safe-char / "=2C" / "=3D"): no NUL, "," or a lone "=". */
const SASLNAME = /^(?:[^\0,=]|=2C|=3D)+$/;
/** printable = %x21-2B / %x2D-7E: printable ASCII except ",". */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
/** attr-val = ALPHA "=" value; value = 1*value-char (anything but NUL and ","). */
const ATTR_VAL = /^[A-Za-z]=[^\0,]+$/;

function decodeSaslname(s: string): string | undefined {
  if (!SASLNAME.test(s)) return undefined;
  return s.replace(/=2C|=3D/g, (m) => (m === "=2C" ? "," : "="));
}

function malformed(why: string): SaslFailure {
  return new SaslFailure("malformed-request", why);
}

function messageText(response: Buffer): string {
  if (response.length > MAX_MESSAGE_BYTES) throw malformed(`SCRAM message longer than ${MAX_MESSAGE_BYTES} bytes`);
  const text = decodeUtf8(response);
  if (text === undefined) throw malformed("SCRAM message is not valid UTF-8");
  return text;
}

/** Split into attributes, insisting that each is `x=value`; an `m=` is always fatal. */
function attributes(text: string, what: string): string[] {
  const attrs = text.split(",");
  for (const a of attrs) {
    if (!ATTR_VAL.test(a)) throw malformed(`${what}: "${a.slice(0, 40)}" is not an attribute=value pair`);
    // RFC 5802 section 5.1: "m" is reserved for mandatory extensions; its presence "MUST
    // cause authentication failure when the attribute is parsed by the other end".
    if (a.startsWith("m=")) throw malformed(`${what}: unsupported mandatory extension (m=)`);
  }
  return attrs;
}

function strictBase64(s: string): Buffer | undefined {
  const b = Buffer.from(s, "base64");
  return b.toString("base64") === s ? b : undefined;
}

// ---- The server ----

type State =
  | { kind: "start" }
  | { kind: "awaiting-client-first" }
  | {
      kind: "awaiting-client-final";
      gs2Header: string;
      authzid: string | undefined;
      localpart: string | undefined;
      known: boolean;
      credentials: ScramCredentials;
      nonce: string;
      clientFirstBare: string;
      serverFirst: string;
    }
  | { kind: "finished" };

export interface ScramServerOptions extends SaslMechanismOptions {
  /** Fixed server nonce part, for reproducing published test vectors only. */
  serverNonce?: string;
}

export class ScramServerMechanism implements SaslServerMechanism {
  readonly name: string;
  private state: State = { kind: "start" };

  constructor(
    private readonly hash: ScramHash,
    private readonly lookup: CredentialLookup,
    private readonly options: ScramServerOptions = {},
  ) {
    this.name = `SCRAM-${hash}`;
    if (options.serverNonce !== undefined && !NONCE.test(options.serverNonce)) {
      throw new Error("a SCRAM server nonce must be printable ASCII without ','");
    }
  }

  step(response: Buffer): SaslStep {
    const state = this.state;
    // Whatever happens below, a throw ends the exchange for good.
    this.state = { kind: "finished" };
    switch (state.kind) {
      case "start":
        if (response.length === 0) {
          // No initial response: SCRAM is client-first, so ask for it with an empty
          // challenge (https://www.rfc-editor.org/rfc/rfc6120#section-6.4.2).
          this.state = { kind: "awaiting-client-first" };
          return { done: false, challenge: Buffer.alloc(0) };
        }
        return this.clientFirst(response);
      case "awaiting-client-first":
        return this.clientFirst(response);
      case "awaiting-client-final":
        return this.clientFinal(response, state);
      case "finished":
        throw malformed("this SCRAM exchange is already over");
    }
  }

  // client-first-message = gs2-header client-first-message-bare
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  private clientFirst(response: Buffer): SaslStep {
    const text = messageText(response);
    const first = text.indexOf(",");
    const second = first === -1 ? -1 : text.indexOf(",", first + 1);
    if (second === -1) throw malformed("client-first-message: no GS2 header");
    const cbindFlag = text.slice(0, first);
    const authzidField = text.slice(first + 1, second);
    const gs2Header = text.slice(0, second + 1);
    const clientFirstBare = text.slice(second + 1);

    // RFC 5802 section 6: "n" = client does not support channel binding, "y" = it does but
    // thinks we do not. Both are fine while we offer no -PLUS mechanism. (If we ever offer
    // SCRAM-*-PLUS, "y" must fail: it would mean a downgrade.) "p=" asks for channel
    // binding we never offered: "the server MUST fail authentication".
    if (cbindFlag.startsWith("p=")) {
      throw malformed("the client asked for channel binding, but no SCRAM-*-PLUS mechanism is offered");
    }
    if (cbindFlag !== "n" && cbindFlag !== "y") throw malformed("client-first-message: bad GS2 channel-binding flag");

    let authzid: string | undefined;
    if (authzidField !== "") {
      const name = authzidField.startsWith("a=") ? decodeSaslname(authzidField.slice(2)) : undefined;
      if (name === undefined) throw malformed("client-first-message: bad authzid in the GS2 header");
      authzid = name;
    }

    const attrs = attributes(clientFirstBare, "client-first-message");
    // Order is fixed by the grammar: n= first, r= second (an m= was rejected above).
    const [userAttr, nonceAttr] = attrs;
    if (userAttr === undefined || !userAttr.startsWith("n=")) throw malformed("client-first-message: username (n=) must come first");
    if (nonceAttr === undefined || !nonceAttr.startsWith("r=")) throw malformed("client-first-message: nonce (r=) must follow the username");
    // Further attributes are optional extensions; RFC 5802 says to ignore unknown ones.
    const rawUsername = decodeSaslname(userAttr.slice(2));
    if (rawUsername === undefined) throw malformed("client-first-message: the username is not a valid saslname (',' and '=' must be =2C and =3D)");
    const clientNonce = nonceAttr.slice(2);
    if (!NONCE.test(clientNonce)) throw malformed("client-first-message: the nonce must be printable ASCII without ','");

    const localpart = accountLocalpart(rawUsername);
    const { credentials, known } = credentialsFor(this.hash, this.lookup, localpart, rawUsername, this.options.unknownUserSecret);

    const nonce = clientNonce + (this.options.serverNonce ?? randomBytes(18).toString("base64"));
    const serverFirst = `r=${nonce},s=${credentials.salt.toString("base64")},i=${credentials.iterations}`;
    this.state = {
      kind: "awaiting-client-final",
      gs2Header,
      authzid,
      localpart,
      known,
      credentials,
      nonce,
      clientFirstBare,
      serverFirst,
    };
    return { done: false, challenge: Buffer.from(serverFirst, "utf8") };
  }

  // client-final-message-without-proof = channel-binding "," nonce ["," extensions]
  // client-final-message = client-final-message-without-proof "," proof
  private clientFinal(response: Buffer, s: Extract<State, { kind: "awaiting-client-final" }>): SaslStep {
    const text = messageText(response);
    const attrs = attributes(text, "client-final-message");
    if (attrs.length < 3) throw malformed("client-final-message: expected c=, r= and p=");
    const cAttr = attrs[0]!;
    const rAttr = attrs[1]!;
    const pAttr = attrs[attrs.length - 1]!;
    if (!cAttr.startsWith("c=")) throw malformed("client-final-message: channel binding (c=) must come first");
    if (!rAttr.startsWith("r=")) throw malformed("client-final-message: nonce (r=) must come second");
    if (!pAttr.startsWith("p=")) throw malformed("client-final-message: proof (p=) must come last");

    // Without channel binding, c= carries exactly the GS2 header of the first message
    // (RFC 5802 section 7, "cbind-input"): a mismatch means someone changed the header.
    if (cAttr.slice(2) !== Buffer.from(s.gs2Header, "utf8").toString("base64")) {
      throw malformed("client-final-message: channel binding data (c=) does not match the GS2 header");
    }
    // The nonce must be the one of this exchange: an old client-final is not replayable.
    if (rAttr.slice(2) !== s.nonce) throw new SaslFailure("not-authorized", "client-final-message: wrong nonce");
    const proof = strictBase64(pAttr.slice(2));
    if (proof === undefined || proof.length !== HASH[this.hash].bytes) {
      throw malformed("client-final-message: the proof (p=) is not a base64 value of the hash's length");
    }

    const clientFinalWithoutProof = attrs.slice(0, -1).join(",");
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${clientFinalWithoutProof}`;
    const { storedKey, serverKey } = s.credentials;
    // ClientKey := ClientProof XOR HMAC(StoredKey, AuthMessage); valid when H(ClientKey) = StoredKey.
    const clientSignature = hmac(this.hash, storedKey, authMessage);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    const proofOk = timingSafeEqual(h(this.hash, clientKey), storedKey);
    if (!proofOk || !s.known || s.localpart === undefined) {
      throw new SaslFailure("not-authorized", "wrong username or password");
    }
    // Authorization comes after authentication (RFC 4422 section 3.4.1).
    if (s.authzid !== undefined && !authzidAllowed(s.authzid, s.localpart, this.options.domain)) {
      throw new SaslFailure("invalid-authzid", "this account may only act as itself");
    }
    const serverSignature = hmac(this.hash, serverKey, authMessage);
    return {
      done: true,
      username: s.localpart,
      additionalData: Buffer.from(`v=${serverSignature.toString("base64")}`, "utf8"),
    };
  }
}
