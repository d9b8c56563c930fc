// SCRAM: the published RFC exchanges, reproduced byte for byte, and credential derivation.
import { createHash, createHmac } from "node:crypto";
import {
  deriveScramCredentials,
  deriveStoredCredentials,
  fakeScramCredentials,
  ScramServerMechanism,
  SCRAM_DEFAULT_ITERATIONS,
} from "../../../src/xmpp/sasl/scram.js";
import { challengeText, expectFailure, hi, store, utf8 } from "./sasl-test-helpers.js";

const alice = deriveStoredCredentials("correct horse");

describe("RFC test vectors", () => {
  test("RFC 5802 section 5: SCRAM-SHA-1, user 'user', password 'pencil'", () => {
    const creds = deriveScramCredentials("SHA-1", "pencil", Buffer.from("QSXCR+Q6sek8bf92", "base64"), 4096);
    const { lookup } = store({ user: { "SHA-1": creds, "SHA-256": deriveScramCredentials("SHA-256", "pencil") } });
    const mech = new ScramServerMechanism("SHA-1", lookup, { serverNonce: "3rfcNHYJY1ZVvWVs7j" });
    expect(mech.name).toBe("SCRAM-SHA-1");
    expect(challengeText(mech.step(utf8("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")))).toBe(
      "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    );
    const final = mech.step(utf8("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
    expect(final).toEqual({ done: true, username: "user", additionalData: utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") });
  });

  test("RFC 7677 section 3: SCRAM-SHA-256, user 'user', password 'pencil'", () => {
    const creds = deriveScramCredentials("SHA-256", "pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
    const { lookup } = store({ user: { "SHA-1": deriveScramCredentials("SHA-1", "pencil"), "SHA-256": creds } });
    const mech = new ScramServerMechanism("SHA-256", lookup, { serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" });
    expect(mech.name).toBe("SCRAM-SHA-256");
    expect(challengeText(mech.step(utf8("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")))).toBe(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    const final = mech.step(
      utf8("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    );
    expect(final).toEqual({
      done: true,
      username: "user",
      additionalData: utf8("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    });
  });

  test("a second published SCRAM-SHA-1 transcript (10000 iterations, from the mgo driver's tests)", () => {
    const creds = deriveScramCredentials("SHA-1", "fe8c89e308ec08763df36333cbf5d3a2", Buffer.from("XRDkVrFC9JuL7/F4tG0acQ==", "base64"), 10000);
    const { lookup } = store({ root: { "SHA-1": creds, "SHA-256": alice["SHA-256"] } });
    const mech = new ScramServerMechanism("SHA-1", lookup, { serverNonce: "81Ra3provgG0iDsMkDiIAlrh4532dDLp" });
    expect(challengeText(mech.step(utf8("n,,n=root,r=OTcxNDk5NjM2MzE5")))).toBe(
      "r=OTcxNDk5NjM2MzE581Ra3provgG0iDsMkDiIAlrh4532dDLp,s=XRDkVrFC9JuL7/F4tG0acQ==,i=10000",
    );
    const final = mech.step(utf8("c=biws,r=OTcxNDk5NjM2MzE581Ra3provgG0iDsMkDiIAlrh4532dDLp,p=6y1jp9R7ETyouTXS9fW9k5UHdBc="));
    expect(final).toEqual({ done: true, username: "root", additionalData: utf8("v=LBnd9dUJRxdqZiEq91NKP3z/bHA=") });
  });

  test("the RFC 5802 client-final with a one-bit change in the proof fails", () => {
    const creds = deriveScramCredentials("SHA-1", "pencil", Buffer.from("QSXCR+Q6sek8bf92", "base64"), 4096);
    const { lookup } = store({ user: { "SHA-1": creds, "SHA-256": creds } });
    const mech = new ScramServerMechanism("SHA-1", lookup, { serverNonce: "3rfcNHYJY1ZVvWVs7j" });
    mech.step(utf8("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
    // v0X8 -> v1X8: flips one bit of the first proof byte.
    expectFailure(
      () => mech.step(utf8("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v1X8v3Bz2T0CJGbJQyF0X+HI4Ts=")),
      "not-authorized",
    );
  });
});

describe("credential derivation", () => {
  test("defaults: 16-byte random salt, 4096 iterations, key sizes of the hash", () => {
    const a = deriveScramCredentials("SHA-1", "pw");
    const b = deriveScramCredentials("SHA-1", "pw");
    expect(SCRAM_DEFAULT_ITERATIONS).toBe(4096);
    expect(a.iterations).toBe(4096);
    expect(a.salt.length).toBe(16);
    expect(a.salt.equals(b.salt)).toBe(false);
    expect(a.storedKey.equals(b.storedKey)).toBe(false);
    expect(a.storedKey.length).toBe(20);
    expect(a.serverKey.length).toBe(20);
    const c = deriveScramCredentials("SHA-256", "pw");
    expect(c.storedKey.length).toBe(32);
    expect(c.serverKey.length).toBe(32);
  });

  test("no salt starts with a zero byte, real or fake (libpurple 2.x's SCRAM fails the login on one)", () => {
    // 1,500 fresh salts of each kind: with uniform first bytes, some 6 would start with 0.
    const firsts = new Set<number>();
    for (let i = 0; i < 1500; i++) {
      firsts.add(deriveScramCredentials("SHA-1", "pw", undefined, 1).salt[0]!);
      firsts.add(fakeScramCredentials("SHA-256", `user${i}`).salt[0]!);
    }
    expect(firsts.has(0)).toBe(false);
    // Still spread over the other 255 values.
    expect(firsts.size).toBeGreaterThan(240);
  });

  test("RFC 5802 values: StoredKey and ServerKey for 'pencil'", () => {
    // From the RFC 5802 section 5 exchange: ServerSignature verifies only with this ServerKey,
    // so check the keys against the independent Hi() above instead of trusting the server code.
    const salt = Buffer.from("QSXCR+Q6sek8bf92", "base64");
    const c = deriveScramCredentials("SHA-1", "pencil", salt, 4096);
    const salted = hi("SHA-1", "pencil", salt, 4096);
    expect(c.serverKey).toEqual(createHmac("sha1", salted).update("Server Key").digest());
    expect(c.storedKey).toEqual(createHash("sha1").update(createHmac("sha1", salted).update("Client Key").digest()).digest());
  });

  test("deriveStoredCredentials gives both hashes with independent salts", () => {
    const s = deriveStoredCredentials("pw");
    expect(s["SHA-1"].storedKey.length).toBe(20);
    expect(s["SHA-256"].storedKey.length).toBe(32);
    expect(s["SHA-1"].salt.equals(s["SHA-256"].salt)).toBe(false);
  });

  test("refuses passwords SASLprep rejects and nonsense parameters", () => {
    expect(() => deriveScramCredentials("SHA-256", "")).toThrow(/password/);
    expect(() => deriveScramCredentials("SHA-256", "a\u0000b")).toThrow(/password/);
    expect(() => deriveScramCredentials("SHA-256", "pw", Buffer.alloc(16), 0)).toThrow(/iteration/);
    expect(() => deriveScramCredentials("SHA-256", "pw", Buffer.alloc(0))).toThrow(/salt/);
  });
});
