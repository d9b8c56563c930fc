// The mechanism factory and the offered list.
import { createSaslMechanism, SASL_MECHANISMS_BY_PREFERENCE, SaslFailure } from "../../../src/xmpp/sasl/mechanism.js";
import { deriveStoredCredentials } from "../../../src/xmpp/sasl/scram.js";

const alice = deriveStoredCredentials("pw");
const lookup = (u: string) => (u === "alice" ? alice : undefined);

test("preference order is strongest first", () => {
  expect(SASL_MECHANISMS_BY_PREFERENCE).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
  expect(Object.isFrozen(SASL_MECHANISMS_BY_PREFERENCE)).toBe(true);
});

test.each(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])("createSaslMechanism(%s) gives a mechanism of that name", (name) => {
  const m = createSaslMechanism(name, lookup);
  expect(m?.name).toBe(name);
});

test.each(["DIGEST-MD5", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "plain", "ANONYMOUS", "EXTERNAL", ""])(
  "createSaslMechanism(%j) is undefined (the caller answers invalid-mechanism)",
  (name) => {
    expect(createSaslMechanism(name, lookup)).toBeUndefined();
  },
);

test("each call is a fresh exchange", () => {
  const a = createSaslMechanism("PLAIN", lookup)!;
  const b = createSaslMechanism("PLAIN", lookup)!;
  expect(a.step(Buffer.from("\0alice\0pw")).done).toBe(true);
  expect(b.step(Buffer.from("\0alice\0pw")).done).toBe(true);
});

test("the domain option reaches the mechanisms (bare-JID authzid)", () => {
  const withDomain = createSaslMechanism("PLAIN", lookup, { domain: "example.org" })!;
  expect(withDomain.step(Buffer.from("alice@example.org\0alice\0pw")).done).toBe(true);
  const without = createSaslMechanism("PLAIN", lookup)!;
  expect(() => without.step(Buffer.from("alice@example.org\0alice\0pw"))).toThrow(SaslFailure);
});

test("SaslFailure carries its condition and is an Error", () => {
  const f = new SaslFailure("not-authorized", "nope");
  expect(f).toBeInstanceOf(Error);
  expect(f.condition).toBe("not-authorized");
  expect(f.message).toBe("nope");
  expect(f.name).toBe("SaslFailure");
});
