// Generated account passwords.
import { PASSWORD_ALPHABET, PASSWORD_LENGTH, randomPassword } from "../../../src/xmpp/sasl/password.js";

test("the alphabet has 32 distinct symbols and no look-alikes", () => {
  expect(PASSWORD_ALPHABET.length).toBe(32);
  expect(new Set(PASSWORD_ALPHABET).size).toBe(32);
  for (const c of "ilou") expect(PASSWORD_ALPHABET).not.toContain(c);
  expect(PASSWORD_ALPHABET).toMatch(/^[0-9a-z]+$/);
});

test("24 characters from the alphabet, different every time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const p = randomPassword();
    expect(p).toHaveLength(PASSWORD_LENGTH);
    expect(PASSWORD_LENGTH).toBe(24);
    for (const c of p) expect(PASSWORD_ALPHABET).toContain(c);
    seen.add(p);
  }
  expect(seen.size).toBe(100);
});

test("every symbol is about equally likely (no modulo bias)", () => {
  const counts = new Map<string, number>();
  const n = 2000; // 48,000 characters, 1,500 expected per symbol
  for (let i = 0; i < n; i++) for (const c of randomPassword()) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = (n * PASSWORD_LENGTH) / 32;
  expect(counts.size).toBe(32);
  // Pearson's chi-square with 31 degrees of freedom: a fair source stays under 80 with
  // probability > 1 - 1e-5; a source biased by 1/8 on a few symbols (as `byte % 30` would
  // be) lands far above.
  let chi2 = 0;
  for (const c of PASSWORD_ALPHABET) chi2 += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
  expect(chi2).toBeLessThan(80);
});
