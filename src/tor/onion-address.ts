// Tor v3 onion addresses and the ed25519 key behind them.
// https://spec.torproject.org/rend-spec/encoding-onion-addresses.html (rend-spec-v3 section 6)
//
//   onion_address = base32(PUBKEY | CHECKSUM | VERSION) + ".onion"
//   CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2]
//   VERSION = 0x03
//
// We keep the 32-byte ed25519 seed ourselves; the address is computed locally from it, so
// an account's JID exists before Tor runs, and we can sign with the onion's key.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";

const VERSION = 0x03;
const CHECKSUM_PREFIX = Buffer.from(".onion checksum", "ascii");
const PUBKEY_BYTES = 32;
/** 35 bytes of PUBKEY|CHECKSUM|VERSION are exactly 56 base32 characters, without padding. */
const ADDRESS_CHARS = 56;

// DER wrappers that turn a raw ed25519 key into what node:crypto imports.
// PKCS#8 PrivateKeyInfo for OID 1.3.101.112 (RFC 8410 section 7) followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
// SubjectPublicKeyInfo for OID 1.3.101.112 (RFC 8410 section 4) followed by the 32-byte key.
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

// https://www.rfc-editor.org/rfc/rfc4648#section-6, in lowercase as Tor writes it.
const BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

function base32Encode(data: Buffer): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1; // keep only the bits not yet written
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Decode unpadded lowercase base32 whose length is a multiple of 8 characters. */
function base32Decode(text: string): Buffer | undefined {
  if (text.length % 8 !== 0) return undefined;
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32_ALPHABET.indexOf(ch);
    if (v === -1) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

function checksum(publicKey: Buffer): Buffer {
  return createHash("sha3-256")
    .update(CHECKSUM_PREFIX)
    .update(publicKey)
    .update(Buffer.of(VERSION))
    .digest()
    .subarray(0, 2);
}

function requireLength(name: string, b: Buffer, n: number): void {
  if (!Buffer.isBuffer(b) || b.length !== n) {
    throw new TypeError(`${name} must be ${n} bytes, got ${Buffer.isBuffer(b) ? b.length : typeof b}`);
  }
}

function privateKeyFromSeed(seed: Buffer): KeyObject {
  requireLength("ed25519 seed", seed, 32);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

/** A fresh ed25519 seed (the "secret key" of RFC 8032), 32 random bytes. */
export function generateOnionSeed(): Buffer {
  return randomBytes(32);
}

/** The 32-byte ed25519 public key of a seed (RFC 8032 section 5.1.5). */
export function onionPublicKey(seed: Buffer): Buffer {
  const spki = createPublicKey(privateKeyFromSeed(seed)).export({ format: "der", type: "spki" });
  return Buffer.from(spki.subarray(spki.length - PUBKEY_BYTES));
}

/** "<56 base32 chars>.onion" for an ed25519 public key. */
export function onionAddressFromPublicKey(publicKey: Buffer): string {
  requireLength("ed25519 public key", publicKey, PUBKEY_BYTES);
  return `${base32Encode(Buffer.concat([publicKey, checksum(publicKey), Buffer.of(VERSION)]))}.onion`;
}

export function onionAddressFromSeed(seed: Buffer): string {
  return onionAddressFromPublicKey(onionPublicKey(seed));
}

/**
 * The public key inside a v3 onion host name, or undefined when `host` is not one.
 * Accepts subdomains ("conference.<56>.onion", rend-spec-v3 section 6: clients ignore
 * labels left of the address), upper case and one trailing dot. Checks length, base32,
 * the version byte and the checksum.
 */
export function parseOnionAddress(host: string): { publicKey: Buffer } | undefined {
  if (typeof host !== "string") return undefined;
  let name = host.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  const labels = name.split(".");
  if (labels.length < 2 || labels[labels.length - 1] !== "onion") return undefined;
  if (labels.some((l) => l === "")) return undefined;
  const label = labels[labels.length - 2]!;
  if (label.length !== ADDRESS_CHARS) return undefined;
  const raw = base32Decode(label);
  if (raw === undefined || raw.length !== PUBKEY_BYTES + 3) return undefined;
  const publicKey = raw.subarray(0, PUBKEY_BYTES);
  const sum = raw.subarray(PUBKEY_BYTES, PUBKEY_BYTES + 2);
  if (raw[PUBKEY_BYTES + 2] !== VERSION) return undefined;
  if (!checksum(publicKey).equals(sum)) return undefined;
  return { publicKey: Buffer.from(publicKey) };
}

/**
 * The 64-byte expanded secret key Tor takes in `ADD_ONION ED25519-V3:<base64>`:
 * SHA-512(seed) with the scalar half clamped (RFC 8032 section 5.1.5 steps 1-2).
 * The first 32 bytes are the secret scalar, the last 32 the nonce prefix for signing.
 */
export function expandedSecretKey(seed: Buffer): Buffer {
  requireLength("ed25519 seed", seed, 32);
  const h = createHash("sha512").update(seed).digest();
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  return h;
}

/** An ed25519 signature (64 bytes) over `data` by the key of `seed`. */
export function signWithSeed(seed: Buffer, data: Buffer): Buffer {
  return sign(null, data, privateKeyFromSeed(seed));
}

/** Checks an ed25519 signature; false (never an exception) for malformed keys or signatures. */
export function verifyWithOnionKey(publicKey: Buffer, data: Buffer, sig: Buffer): boolean {
  if (!Buffer.isBuffer(publicKey) || publicKey.length !== PUBKEY_BYTES) return false;
  if (!Buffer.isBuffer(sig) || sig.length !== 64) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: "der", type: "spki" });
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}
