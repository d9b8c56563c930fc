// The client side of SCRAM-SHA-256 / SCRAM-SHA-1 without channel binding, for
// the benchmark's login. https://www.rfc-editor.org/rfc/rfc5802#section-3
// (key derivation), https://www.rfc-editor.org/rfc/rfc7677 (SHA-256).
// The derivation helpers are the server's own (src/xmpp/sasl/scram.ts); the
// tests check those against RFC vectors and an independent client.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ScramHash } from "../src/xmpp/sasl/credentials.js";
import { saslprep } from "../src/xmpp/sasl/saslprep.js";
import { scramSaltedPassword } from "../src/xmpp/sasl/scram.js";

/** What the client prefers, best first. */
export const SCRAM_MECHANISMS: readonly { mechanism: string; hash: ScramHash }[] = [
  { mechanism: "SCRAM-SHA-256", hash: "SHA-256" },
  { mechanism: "SCRAM-SHA-1", hash: "SHA-1" },
];

const NODE_HASH: Record<ScramHash, string> = { "SHA-1": "sha1", "SHA-256": "sha256" };
// No channel binding, no authzid: https://www.rfc-editor.org/rfc/rfc5802#section-7 (gs2-header)
const GS2_HEADER = "n,,";

/** RFC 5802 section 5.1: "," and "=" in a username are escaped as =2C and =3D. */
function saslname(s: string): string {
  return s.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

function fields(message: string): Map<string, string> {
  return new Map(message.split(",").map((a) => [a.slice(0, 1), a.slice(2)]));
}

/** One exchange: first() → server-first → final() → server-final → verify(). */
export class ScramClient {
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  constructor(
    readonly hash: ScramHash,
    username: string,
    private readonly password: string,
  ) {
    const user = saslprep(username);
    if (user === undefined) throw new Error(`username ${JSON.stringify(username)} is not valid for SASLprep`);
    this.clientFirstBare = `n=${saslname(user)},r=${randomBytes(18).toString("base64")}`;
  }

  /** client-first-message, sent in <auth/>. */
  first(): string {
    return GS2_HEADER + this.clientFirstBare;
  }

  /** client-final-message for the server's challenge (server-first-message). */
  final(serverFirst: string): string {
    const f = fields(serverFirst);
    const nonce = f.get("r") ?? "";
    const salt = Buffer.from(f.get("s") ?? "", "base64");
    const iterations = Number(f.get("i"));
    const clientNonce = fields(this.clientFirstBare).get("r")!;
    if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) throw new Error(`server nonce does not extend ours: ${serverFirst}`);
    if (salt.length === 0 || !Number.isSafeInteger(iterations) || iterations < 1) throw new Error(`bad server-first-message: ${serverFirst}`);
    const password = saslprep(this.password);
    if (password === undefined) throw new Error("the password is not valid for SASLprep");
    const node = NODE_HASH[this.hash];
    const salted = scramSaltedPassword(this.hash, password, salt, iterations);
    const clientKey = createHmac(node, salted).update("Client Key").digest();
    const storedKey = createHash(node).update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString("base64")},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = createHmac(node, storedKey).update(authMessage).digest();
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    const serverKey = createHmac(node, salted).update("Server Key").digest();
    this.serverSignature = createHmac(node, serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /** Checks the server-final-message (v=...) that came with <success/>: the server knew the password too. */
  verify(serverFinal: string): void {
    const v = fields(serverFinal).get("v");
    const got = v === undefined ? Buffer.alloc(0) : Buffer.from(v, "base64");
    if (!this.serverSignature || got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) {
      throw new Error(`server signature does not verify: ${serverFinal}`);
    }
  }
}
