// The client side of SCRAM-SHA-256 / SCRAM-SHA-1 (RFC 5802 section 3, RFC 7677), for test
// clients and the benchmark that speak raw XMPP: the server offers nothing else. Written from
// the RFC, not from the server's code (test/xmpp/sasl/sasl-test-helpers.ts spells Hi() out
// for the vector tests; PBKDF2 here keeps logins fast).
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";

export type ScramClientHash = "SHA-256" | "SHA-1";

const NODE_HASH: Record<ScramClientHash, { name: string; bytes: number }> = {
  "SHA-256": { name: "sha256", bytes: 32 },
  "SHA-1": { name: "sha1", bytes: 20 },
};

export class ScramClient {
  readonly mechanism: string;
  private readonly clientFirstBare: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(
    private readonly hash: ScramClientHash,
    username: string,
    private readonly password: string,
    nonce = randomBytes(18).toString("base64"),
  ) {
    this.mechanism = `SCRAM-${hash}`;
    this.clientFirstBare = `n=${username.replace(/=/g, "=3D").replace(/,/g, "=2C")},r=${nonce}`;
  }

  /** The initial response of <auth/>, base64. */
  first(): string {
    return Buffer.from(`n,,${this.clientFirstBare}`).toString("base64");
  }

  /** The <response/> to the server's challenge (base64 in, base64 out). */
  final(challengeBase64: string): string {
    const serverFirst = Buffer.from(challengeBase64, "base64").toString("utf8");
    const attrs = Object.fromEntries(serverFirst.split(",").map((a) => [a[0], a.slice(2)]));
    const { name, bytes } = NODE_HASH[this.hash];
    const salted = pbkdf2Sync(this.password, Buffer.from(attrs.s ?? "", "base64"), Number(attrs.i), bytes, name);
    const clientKey = createHmac(name, salted).update("Client Key").digest();
    const storedKey = createHash(name).update(clientKey).digest();
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac(name, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    const serverKey = createHmac(name, salted).update("Server Key").digest();
    this.expectedServerSignature = createHmac(name, serverKey).update(authMessage).digest();
    return Buffer.from(`${withoutProof},p=${proof.toString("base64")}`).toString("base64");
  }

  /** Whether the additional data of <success/> proves the server knew our password's keys. */
  verifySuccess(successBase64: string): boolean {
    const text = Buffer.from(successBase64, "base64").toString("utf8");
    if (!this.expectedServerSignature || !text.startsWith("v=")) return false;
    const got = Buffer.from(text.slice(2), "base64");
    return got.length === this.expectedServerSignature.length && timingSafeEqual(got, this.expectedServerSignature);
  }
}
