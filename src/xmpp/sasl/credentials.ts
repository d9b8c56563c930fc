// What the server keeps of a password: SCRAM salted hashes only (RFC 5802 section 3),
// never the password itself.
export type ScramHash = "SHA-1" | "SHA-256";

export interface ScramCredentials {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** One set of salted hashes per SCRAM hash function we offer. */
export interface StoredCredentials {
  "SHA-1": ScramCredentials;
  "SHA-256": ScramCredentials;
}
