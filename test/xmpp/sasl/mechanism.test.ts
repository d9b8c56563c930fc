// The mechanism factory and the offered list.
import { createSaslMechanism, SASL_MECHANISMS_BY_PREFERENCE, SaslFailure } from "../../../src/xmpp/sasl/mechanism.js";
import { deriveStoredCredentials } from "../../../src/xmpp/sasl/scram.js";
import { challengeText, exchange } from "./sasl-test-helpers.js";

const alice = deriveStoredCredentials("pw");
const lookup = (u: string) => (u === "alice" ? alice : undefined);

test("preference order is strongest first", () => {
  expect(SASL_MECHANISMS_BY_PREFERENCE).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-1"]);
  expect(Object.isFrozen(SASL_MECHANISMS_BY_PREFERENCE)).toBe(true);
});

test.each(["SCRAM-SHA-256", "SCRAM-SHA-1"])("createSaslMechanism(%s) gives a mechanism of that name", (name) => {
  const m = createSaslMechanism(name, lookup);
  expect(m?.name).toBe(name);
});

test.each(["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "plain", "ANONYMOUS", "EXTERNAL", ""])(
  "createSaslMechanism(%j) is undefined (the caller answers invalid-mechanism)",
  (name) => {
    expect(createSaslMechanism(name, lookup)).toBeUndefined();
  },
);

test("each call is a fresh exchange", () => {
  const a = createSaslMechanism("SCRAM-SHA-256", lookup)!;
  const b = createSaslMechanism("SCRAM-SHA-256", lookup)!;
  expect(exchange(a, "SHA-256", { user: "alice", password: "pw" }).final.done).toBe(true);
  expect(exchange(b, "SHA-256", { user: "alice", password: "pw" }).final.done).toBe(true);
});

test("the domain option reaches the mechanisms (bare-JID authzid)", () => {
  const withDomain = createSaslMechanism("SCRAM-SHA-1", lookup, { domain: "example.org" })!;
  expect(exchange(withDomain, "SHA-1", { user: "alice", password: "pw", gs2Header: "n,a=alice@example.org," }).final.done).toBe(true);
  const without = createSaslMechanism("SCRAM-SHA-1", lookup)!;
  expect(() => exchange(without, "SHA-1", { user: "alice", password: "pw", gs2Header: "n,a=alice@example.org," })).toThrow(SaslFailure);
});

test("the unknown-user secret decides the made-up salts: same secret, same salt; another secret, another salt", () => {
  const salt = (secret: Buffer) => {
    const m = createSaslMechanism("SCRAM-SHA-256", lookup, { unknownUserSecret: secret })!;
    return /,s=([^,]+),/.exec(challengeText(m.step(Buffer.from("n,,n=ghost,r=abc"))))![1];
  };
  const one = Buffer.alloc(32, 1);
  expect(salt(one)).toBe(salt(Buffer.alloc(32, 1)));
  expect(salt(one)).not.toBe(salt(Buffer.alloc(32, 2)));
});

test("SaslFailure carries its condition and is an Error", () => {
  const f = new SaslFailure("not-authorized", "nope");
  expect(f).toBeInstanceOf(Error);
  expect(f.condition).toBe("not-authorized");
  expect(f.message).toBe("nope");
  expect(f.name).toBe("SaslFailure");
});
