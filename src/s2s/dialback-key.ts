// Server dialback keys (XEP-0220 section 2.1.1 and section 4, "Key Generation and Validation"),
// computed exactly as Prosody's mod_dialback does, so either side can verify the other's keys:
//
//   key = hex( HMAC-SHA256( hex(SHA256(secret)), "<receiving> <originating> <stream id>" ) )
//
// The secret is 32 bytes the daemon persists: a key we sent before a restart can still be
// verified after it (a peer's callback may arrive late).
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export class DialbackKeys {
  private readonly hmacKey: string;

  constructor(secret: Buffer) {
    if (!Buffer.isBuffer(secret) || secret.length < 32) throw new TypeError("the dialback secret must be at least 32 bytes");
    this.hmacKey = createHash("sha256").update(secret).digest("hex");
  }

  /** The key `originating` sends to `receiving` on the stream `streamId` that `receiving` opened. */
  key(receiving: string, originating: string, streamId: string): string {
    return createHmac("sha256", this.hmacKey).update(`${receiving} ${originating} ${streamId}`).digest("hex");
  }

  /** XEP-0220 section 2.1.2: the authoritative server's check, in constant time. */
  verify(receiving: string, originating: string, streamId: string, key: string): boolean {
    const expected = Buffer.from(this.key(receiving, originating, streamId));
    const given = Buffer.from(key.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
