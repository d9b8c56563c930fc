// Passwords we generate for accounts (the plugin stores it in Pidgin's account settings).
import { randomBytes } from "node:crypto";

/**
 * Crockford's base32 alphabet in lower case: digits and letters without i, l, o, u, so a
 * password read aloud or copied by hand has no look-alikes (https://www.crockford.com/base32.html).
 * 32 symbols = 5 bits each: taking 5 bits of a random byte per character is exactly uniform,
 * with no modulo bias and no rejection sampling needed.
 */
export const PASSWORD_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
export const PASSWORD_LENGTH = 24; // 24 x 5 = 120 bits of entropy

export function randomPassword(): string {
  const bytes = randomBytes(PASSWORD_LENGTH);
  let out = "";
  for (const b of bytes) out += PASSWORD_ALPHABET[b & 31];
  return out;
}
