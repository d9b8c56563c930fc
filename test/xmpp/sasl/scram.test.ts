// SCRAM: full exchanges with independent clients, and authorization identities.
import { createRequire } from "node:module";
import { deriveStoredCredentials, ScramServerMechanism } from "../../../src/xmpp/sasl/scram.js";
import { challengeText, exchange, expectFailure, store, utf8 } from "./sasl-test-helpers.js";

const alice = deriveStoredCredentials("correct horse");

describe("full exchanges", () => {
  test.each(["SHA-1", "SHA-256"] as const)("SCRAM-%s with an independent client, server signature checked", (hash) => {
    const { lookup, asked } = store({ alice });
    const mech = new ScramServerMechanism(hash, lookup);
    const { final, expectedServerFinal, serverFirst } = exchange(mech, hash, { user: "alice", password: "correct horse" });
    expect(final.done).toBe(true);
    if (!final.done) return;
    expect(final.username).toBe("alice");
    expect(final.additionalData?.toString("utf8")).toBe(expectedServerFinal);
    expect(asked).toEqual(["alice"]);
    // The challenge carries the stored salt and iteration count, and a fresh server nonce.
    expect(serverFirst).toMatch(/^r=clientnonce123[A-Za-z0-9+/=]{24},s=[A-Za-z0-9+/=]+,i=4096$/);
    expect(serverFirst).toContain(`s=${alice[hash].salt.toString("base64")},`);
  });

  test("server nonces differ between exchanges", () => {
    const { lookup } = store({ alice });
    const a = challengeText(new ScramServerMechanism("SHA-256", lookup).step(utf8("n,,n=alice,r=abc")));
    const b = challengeText(new ScramServerMechanism("SHA-256", lookup).step(utf8("n,,n=alice,r=abc")));
    expect(a.split(",")[0]).not.toBe(b.split(",")[0]);
  });

  test("SCRAM-SHA-1 with xmpp.js's client (sasl-scram-sha-1, as used by @xmpp/client)", async () => {
    type ScramClient = {
      response(cred: { username: string; password: string }): string | Promise<string>;
      challenge(chal: string): unknown;
      _serverSignature: Uint8Array;
    };
    const require = createRequire(import.meta.url);
    const Mechanism = require("sasl-scram-sha-1") as new () => ScramClient;
    const client = new Mechanism();
    const { lookup } = store({ alice });
    const mech = new ScramServerMechanism("SHA-1", lookup);
    const cred = { username: "alice", password: "correct horse" };
    // xmpp.js moves these messages as binary strings (btoa/atob), hence latin1.
    const first = await client.response(cred);
    client.challenge(challengeText(mech.step(Buffer.from(first, "latin1"))));
    const final = mech.step(Buffer.from(await client.response(cred), "latin1"));
    expect(final.done).toBe(true);
    if (!final.done) return;
    expect(final.username).toBe("alice");
    // That client does not check v= itself; check it against what it computed.
    expect(final.additionalData?.toString("utf8")).toBe(`v=${Buffer.from(client._serverSignature).toString("base64")}`);
  });

  test("no initial response: an empty challenge first, then the normal exchange", () => {
    const { lookup } = store({ alice });
    const mech = new ScramServerMechanism("SHA-256", lookup);
    const first = mech.step(Buffer.alloc(0));
    expect(first).toEqual({ done: false, challenge: Buffer.alloc(0) });
    const { final } = exchange(mech, "SHA-256", { user: "alice", password: "correct horse" });
    expect(final.done).toBe(true);
  });

  test("an empty message after the empty challenge is malformed", () => {
    const mech = new ScramServerMechanism("SHA-256", store({ alice }).lookup);
    mech.step(Buffer.alloc(0));
    expectFailure(() => mech.step(Buffer.alloc(0)), "malformed-request");
  });

  test("'y' channel-binding flag is accepted while we offer no -PLUS (c= must then be base64 of 'y,,')", () => {
    const { lookup } = store({ alice });
    const { final, clientFinal } = exchange(new ScramServerMechanism("SHA-256", lookup), "SHA-256", {
      user: "alice",
      password: "correct horse",
      gs2Header: "y,,",
    });
    expect(clientFinal.startsWith("c=eSws,")).toBe(true);
    expect(final.done).toBe(true);
  });

  test("usernames: =2C and =3D are decoded, case is folded, and the lookup sees the localpart", () => {
    const { lookup, asked } = store({ "x,y=z": alice, bob: alice });
    const r1 = exchange(new ScramServerMechanism("SHA-1", lookup), "SHA-1", { user: "x,y=z", password: "correct horse" });
    expect(r1.final).toMatchObject({ done: true, username: "x,y=z" });
    const r2 = exchange(new ScramServerMechanism("SHA-1", lookup), "SHA-1", { user: "BoB", password: "correct horse" });
    expect(r2.final).toMatchObject({ done: true, username: "bob" });
    expect(asked).toEqual(["x,y=z", "bob"]);
  });

  test("a non-ASCII password goes through SASLprep on both sides", () => {
    // U+2168 ROMAN NUMERAL NINE becomes "IX" under NFKC; U+00AD SOFT HYPHEN maps to nothing.
    const { lookup } = store({ carol: deriveStoredCredentials("p\u00ADass\u2168") });
    const { final } = exchange(new ScramServerMechanism("SHA-256", lookup), "SHA-256", { user: "carol", password: "passIX" });
    expect(final.done).toBe(true);
  });
});

describe("authzid", () => {
  const run = (authzid: string, password = "correct horse", domain?: string) =>
    exchange(new ScramServerMechanism("SHA-256", store({ alice }).lookup, { domain }), "SHA-256", {
      user: "alice",
      password,
      gs2Header: `n,a=${authzid},`,
    });

  test("the user's own localpart is accepted", () => {
    expect(run("alice").final).toMatchObject({ done: true, username: "alice" });
  });

  test("the user's bare JID is accepted when the domain is known", () => {
    expect(run("alice@example.org", "correct horse", "example.org").final).toMatchObject({ done: true });
    expect(run("alice@EXAMPLE.org.", "correct horse", "example.org").final).toMatchObject({ done: true });
  });

  test("anyone else is invalid-authzid", () => {
    expectFailure(() => run("bob"), "invalid-authzid");
    expectFailure(() => run("alice@example.org"), "invalid-authzid"); // domain unknown
    expectFailure(() => run("alice@evil.example", "correct horse", "example.org"), "invalid-authzid");
    expectFailure(() => run("alice@example.org/phone", "correct horse", "example.org"), "invalid-authzid");
  });

  test("with a wrong password the answer is not-authorized, whatever the authzid", () => {
    expectFailure(() => run("bob", "wrong"), "not-authorized");
  });

  test("authzid escapes are decoded (=2C is a comma, which no localpart named alice has)", () => {
    expectFailure(() => run("alice=2C"), "invalid-authzid");
  });
});

