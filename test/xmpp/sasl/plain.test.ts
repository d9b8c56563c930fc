// PLAIN server (RFC 4616), checked against stored SCRAM-SHA-256 credentials.
import { createRequire } from "node:module";
import type { StoredCredentials } from "../../../src/xmpp/sasl/credentials.js";
import { PlainServerMechanism } from "../../../src/xmpp/sasl/plain.js";
import { deriveScramCredentials, deriveStoredCredentials } from "../../../src/xmpp/sasl/scram.js";
import { expectFailure } from "./sasl-test-helpers.js";

const alice: StoredCredentials = deriveStoredCredentials("correct horse");
function lookupOf(accounts: Record<string, StoredCredentials>) {
  const asked: string[] = [];
  return {
    asked,
    lookup: (u: string) => {
      asked.push(u);
      return Object.prototype.hasOwnProperty.call(accounts, u) ? accounts[u] : undefined;
    },
  };
}
const plain = (authzid: string, authcid: string, password: string) => Buffer.from(`${authzid}\0${authcid}\0${password}`, "utf8");

describe("PLAIN", () => {
  test("the right password logs in; the result names the account", () => {
    const { lookup, asked } = lookupOf({ alice });
    const mech = new PlainServerMechanism(lookup);
    expect(mech.name).toBe("PLAIN");
    expect(mech.step(plain("", "alice", "correct horse"))).toEqual({ done: true, username: "alice" });
    expect(asked).toEqual(["alice"]);
  });

  test("with xmpp.js's PLAIN client (sasl-plain)", () => {
    const require = createRequire(import.meta.url);
    const Mechanism = require("sasl-plain") as new () => { response(c: object): string };
    const msg = new Mechanism().response({ username: "alice", password: "correct horse" });
    expect(new PlainServerMechanism(lookupOf({ alice }).lookup).step(Buffer.from(msg, "latin1"))).toMatchObject({ done: true });
  });

  test("the SCRAM-SHA-256 half of the credentials is what counts", () => {
    // SHA-1 credentials for another password: PLAIN must not look at them.
    const mixed: StoredCredentials = { "SHA-1": deriveScramCredentials("SHA-1", "other"), "SHA-256": alice["SHA-256"] };
    const { lookup } = lookupOf({ alice: mixed });
    expect(new PlainServerMechanism(lookup).step(plain("", "alice", "correct horse")).done).toBe(true);
    expectFailure(() => new PlainServerMechanism(lookup).step(plain("", "alice", "other")), "not-authorized");
  });

  test("stored salt and iteration count are used", () => {
    const creds = deriveScramCredentials("SHA-256", "pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 1234);
    const { lookup } = lookupOf({ user: { "SHA-1": alice["SHA-1"], "SHA-256": creds } });
    expect(new PlainServerMechanism(lookup).step(plain("", "user", "pencil")).done).toBe(true);
  });

  test("wrong password, unknown user: the same not-authorized", () => {
    const { lookup } = lookupOf({ alice });
    const wrong = expectFailure(() => new PlainServerMechanism(lookup).step(plain("", "alice", "correct horse ")), "not-authorized");
    const ghost = expectFailure(() => new PlainServerMechanism(lookup).step(plain("", "mallory", "correct horse")), "not-authorized");
    expect(ghost.message).toBe(wrong.message);
  });

  test("username is SASLprepped and case-folded to the localpart", () => {
    const { lookup, asked } = lookupOf({ alice });
    expect(new PlainServerMechanism(lookup).step(plain("", "ALICE", "correct horse"))).toEqual({ done: true, username: "alice" });
    // U+FF41 FULLWIDTH LATIN SMALL LETTER A folds to "a" under NFKC.
    expect(new PlainServerMechanism(lookup).step(plain("", "\uFF41lice", "correct horse"))).toEqual({ done: true, username: "alice" });
    expect(asked).toEqual(["alice", "alice"]);
  });

  test("a username that cannot be a localpart is simply not-authorized, without a lookup", () => {
    const { lookup, asked } = lookupOf({ alice });
    expectFailure(() => new PlainServerMechanism(lookup).step(plain("", "alice@example.org", "correct horse")), "not-authorized");
    expect(asked).toEqual([]);
  });

  test("the password is SASLprepped like the stored one", () => {
    const { lookup } = lookupOf({ dave: deriveStoredCredentials("se\u00ADcret\u00A0word") });
    expect(new PlainServerMechanism(lookup).step(plain("", "dave", "secret word")).done).toBe(true);
    expectFailure(() => new PlainServerMechanism(lookup).step(plain("", "dave", "secret\u0007word")), "not-authorized");
  });

  test("no initial response: empty challenge, then the credentials", () => {
    const mech = new PlainServerMechanism(lookupOf({ alice }).lookup);
    expect(mech.step(Buffer.alloc(0))).toEqual({ done: false, challenge: Buffer.alloc(0) });
    expect(mech.step(plain("", "alice", "correct horse")).done).toBe(true);
  });

  test("the exchange is over after one answer", () => {
    const mech = new PlainServerMechanism(lookupOf({ alice }).lookup);
    mech.step(plain("", "alice", "correct horse"));
    expectFailure(() => mech.step(plain("", "alice", "correct horse")), "malformed-request");
    const failed = new PlainServerMechanism(lookupOf({ alice }).lookup);
    expectFailure(() => failed.step(plain("", "alice", "nope")), "not-authorized");
    expectFailure(() => failed.step(plain("", "alice", "correct horse")), "malformed-request");
  });

  test.each([
    ["no NUL", Buffer.from("alice correct horse")],
    ["one NUL", Buffer.from("alice\0correct horse")],
    ["three NULs", Buffer.from("\0alice\0correct\0horse")],
    ["empty authcid", Buffer.from("\0\0correct horse")],
    ["empty password", Buffer.from("\0alice\0")],
    ["only NULs", Buffer.from("\0\0")],
    ["invalid UTF-8", Buffer.concat([Buffer.from("\0al"), Buffer.from([0xff]), Buffer.from("ice\0pw")])],
    ["overlong UTF-8 NUL", Buffer.concat([Buffer.from("\0alice"), Buffer.from([0xc0, 0x80]), Buffer.from("pw")])],
    ["field over 1023 bytes", Buffer.from(`\0alice\0${"x".repeat(1024)}`)],
    ["message far too long", Buffer.alloc(5000, 0x61)],
    ["control character in username", Buffer.from("\0al\u0001ice\0pw")],
    ["empty after the empty challenge", Buffer.alloc(0)],
  ])("%s -> malformed-request", (why, message) => {
    const mech = new PlainServerMechanism(lookupOf({ alice }).lookup);
    if (why === "empty after the empty challenge") mech.step(Buffer.alloc(0));
    expectFailure(() => mech.step(message), "malformed-request");
  });

  test("authzid: absent, own localpart, own bare JID are fine", () => {
    const mk = () => new PlainServerMechanism(lookupOf({ alice }).lookup, { domain: "example.org" });
    expect(mk().step(plain("", "alice", "correct horse")).done).toBe(true);
    expect(mk().step(plain("alice", "alice", "correct horse")).done).toBe(true);
    expect(mk().step(plain("Alice", "alice", "correct horse")).done).toBe(true);
    expect(mk().step(plain("alice@example.org", "alice", "correct horse")).done).toBe(true);
    expect(mk().step(plain("alice@Example.ORG", "alice", "correct horse")).done).toBe(true);
  });

  test("authzid: anyone else is invalid-authzid (but only once the password checked out)", () => {
    const mk = (domain?: string) => new PlainServerMechanism(lookupOf({ alice }).lookup, { domain });
    expectFailure(() => mk("example.org").step(plain("bob", "alice", "correct horse")), "invalid-authzid");
    expectFailure(() => mk("example.org").step(plain("bob@example.org", "alice", "correct horse")), "invalid-authzid");
    expectFailure(() => mk("example.org").step(plain("alice@other.org", "alice", "correct horse")), "invalid-authzid");
    expectFailure(() => mk("example.org").step(plain("alice@example.org/res", "alice", "correct horse")), "invalid-authzid");
    expectFailure(() => mk().step(plain("alice@example.org", "alice", "correct horse")), "invalid-authzid");
    expectFailure(() => mk("example.org").step(plain("bob", "alice", "wrong")), "not-authorized");
  });

  test("a failing credential store is temporary-auth-failure", () => {
    const mech = new PlainServerMechanism(() => {
      throw new Error("disk I/O error");
    });
    expectFailure(() => mech.step(plain("", "alice", "pw")), "temporary-auth-failure");
  });
});
