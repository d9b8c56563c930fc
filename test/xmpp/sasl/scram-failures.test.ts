// SCRAM: every way a client can get it wrong, and unknown users.
import { createHash, createHmac } from "node:crypto";
import type { ScramHash } from "../../../src/xmpp/sasl/credentials.js";
import { deriveStoredCredentials, ScramServerMechanism } from "../../../src/xmpp/sasl/scram.js";
import { challengeText, clientFinalFor, exchange, expectFailure, hi, store, utf8 } from "./sasl-test-helpers.js";

const alice = deriveStoredCredentials("correct horse");

describe("failures", () => {
  const fresh = (hash: ScramHash = "SHA-256") => new ScramServerMechanism(hash, store({ alice }).lookup);

  test("wrong password: not-authorized, after a normal-looking challenge", () => {
    expectFailure(() => exchange(fresh(), "SHA-256", { user: "alice", password: "Correct horse" }), "not-authorized");
  });

  test("unknown user: same-shaped challenge, stable fake salt, not-authorized only at the end", () => {
    const { lookup, asked } = store({ alice });
    const challengeFor = (user: string) =>
      challengeText(new ScramServerMechanism("SHA-256", lookup, { serverNonce: "S" }).step(utf8(`n,,n=${user},r=c`)));
    const real = challengeFor("alice");
    const ghost1 = challengeFor("mallory");
    const ghost2 = challengeFor("mallory");
    const ghost3 = challengeFor("trent");
    const shape = /^r=cS,s=([A-Za-z0-9+/]{22}==),i=4096$/;
    for (const c of [real, ghost1, ghost3]) expect(c).toMatch(shape);
    expect(ghost1).toBe(ghost2); // asking again does not reveal a random salt
    expect(ghost1).not.toBe(ghost3);
    expect(asked).toContain("mallory");
    // The exchange runs to the end and fails like a wrong password would.
    const e = expectFailure(
      () => exchange(new ScramServerMechanism("SHA-256", lookup), "SHA-256", { user: "mallory", password: "anything" }),
      "not-authorized",
    );
    expect(e.message).toBe("wrong username or password");
  });

  test("a username that cannot be a localpart takes the unknown-user path", () => {
    const { lookup, asked } = store({ alice });
    const mech = new ScramServerMechanism("SHA-256", lookup);
    const e = expectFailure(() => exchange(mech, "SHA-256", { user: "alice@example.org", password: "correct horse" }), "not-authorized");
    expect(e.message).toBe("wrong username or password");
    expect(asked).toEqual([]);
  });

  test("channel binding requested (p=) fails: we offer no -PLUS", () => {
    const e = expectFailure(() => fresh().step(utf8("p=tls-unique,,n=alice,r=abc")), "malformed-request");
    expect(e.message).toMatch(/channel binding/);
    expectFailure(() => fresh().step(utf8("p=tls-exporter,a=alice,n=alice,r=abc")), "malformed-request");
  });

  test.each([
    ["no GS2 header", "n=alice,r=abc"],
    ["only one comma", "n,n=alice"],
    ["unknown cbind flag", "x,,n=alice,r=abc"],
    ["empty cbind flag", ",,n=alice,r=abc"],
    ["authzid without a=", "n,alice,n=alice,r=abc"],
    ["empty authzid", "n,a=,n=alice,r=abc"],
    ["bad escape in authzid", "n,a=al=ice,n=alice,r=abc"],
    ["mandatory extension m=", "n,,m=foo,n=alice,r=abc"],
    ["m= later on", "n,,n=alice,r=abc,m=foo"],
    ["nonce before username", "n,,r=abc,n=alice"],
    ["no nonce", "n,,n=alice"],
    ["empty username", "n,,n=,r=abc"],
    ["lone = in username", "n,,n=al=ice,r=abc"],
    ["=2D is not an escape", "n,,n=al=2Dice,r=abc"],
    ["empty nonce", "n,,n=alice,r="],
    ["nonce with a space", "n,,n=alice,r=a b"],
    ["non-ASCII nonce", "n,,n=alice,r=abcé"],
    ["trailing comma", "n,,n=alice,r=abc,"],
    ["extension without value", "n,,n=alice,r=abc,x="],
    ["extension with long name", "n,,n=alice,r=abc,xx=1"],
    ["NUL in username", "n,,n=al\0ice,r=abc"],
    ["control character in username (SASLprep)", "n,,n=al\u0007ice,r=abc"],
  ])("client-first: %s -> malformed-request", (_why, message) => {
    expectFailure(() => fresh().step(utf8(message)), "malformed-request");
  });

  test("client-first: unknown optional extensions are ignored", () => {
    expect(challengeText(fresh().step(utf8("n,,n=alice,r=abc,x=whatever,y=1")))).toMatch(/^r=abc/);
  });

  test("client-first: invalid UTF-8 and oversized messages are malformed", () => {
    expectFailure(() => fresh().step(Buffer.concat([utf8("n,,n=al"), Buffer.from([0xc3, 0x28]), utf8(",r=abc")])), "malformed-request");
    expectFailure(() => fresh().step(utf8(`n,,n=alice,r=${"a".repeat(5000)}`)), "malformed-request");
  });

  /** Starts an exchange for alice and returns the mechanism, server-first and the nonce. */
  function started() {
    const mech = fresh();
    const serverFirst = challengeText(mech.step(utf8("n,,n=alice,r=abc")));
    const nonce = serverFirst.split(",")[0]!.slice(2);
    const good = clientFinalFor("SHA-256", "correct horse", "n=alice,r=abc", "n,,", serverFirst).clientFinal;
    return { mech, nonce, good, proof: good.slice(good.lastIndexOf(",p=") + 3) };
  }

  test("client-final: the proof computed by the test client really is accepted (control)", () => {
    const { mech, good } = started();
    expect(mech.step(utf8(good)).done).toBe(true);
  });

  test.each([
    ["c= not first", (n: string, p: string) => `r=${n},c=biws,p=${p}`],
    ["p= not last", (n: string, p: string) => `c=biws,r=${n},p=${p},x=1`],
    ["no proof", (n: string) => `c=biws,r=${n}`],
    ["no nonce", (_n: string, p: string) => `c=biws,p=${p}`],
    ["c= for another GS2 header (y,,)", (n: string, p: string) => `c=eSws,r=${n},p=${p}`],
    ["c= for channel-binding data", (n: string, p: string) => `c=cD10bHMtdW5pcXVlLCxBQUFB,r=${n},p=${p}`],
    ["c= not canonical base64", (n: string, p: string) => `c=biws=,r=${n},p=${p}`],
    ["proof not base64", (n: string) => `c=biws,r=${n},p=!!!!`],
    ["proof too short", (n: string) => `c=biws,r=${n},p=AAAA`],
    ["valid proof with a stray non-base64 character", (n: string, p: string) => `c=biws,r=${n},p=${p.slice(0, 4)}.${p.slice(4)}`],
    ["valid proof without its padding", (n: string, p: string) => `c=biws,r=${n},p=${p.replace(/=+$/, "")}`],
    ["m= extension", (n: string, p: string) => `c=biws,r=${n},m=1,p=${p}`],
    ["empty message", () => ""],
  ])("client-final: %s -> malformed-request", (_why, build) => {
    const { mech, nonce, proof } = started();
    expectFailure(() => mech.step(utf8(build(nonce, proof))), "malformed-request");
  });

  test("client-final: unknown extensions before the proof are ignored (and covered by the proof)", () => {
    const mech = fresh();
    const serverFirst = challengeText(mech.step(utf8("n,,n=alice,r=abc")));
    const nonce = serverFirst.split(",")[0]!.slice(2);
    // Build a proof over a client-final-without-proof that includes the extension.
    const salted = hi("SHA-256", "correct horse", Buffer.from(serverFirst.split(",")[1]!.slice(2), "base64"), 4096);
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce},x=ext`;
    const sig = createHmac("sha256", storedKey).update(`n=alice,r=abc,${serverFirst},${withoutProof}`).digest();
    const proof = Buffer.from(clientKey.map((b, k) => b ^ sig[k]!)).toString("base64");
    expect(mech.step(utf8(`${withoutProof},p=${proof}`)).done).toBe(true);
  });

  test("client-final: a nonce other than this exchange's is not-authorized", () => {
    const { mech, nonce, proof } = started();
    // Rejected for the nonce itself, before any proof arithmetic.
    const e = expectFailure(() => mech.step(utf8(`c=biws,r=${nonce}x,p=${proof}`)), "not-authorized");
    expect(e.message).toMatch(/nonce/);
  });

  test("client-final: replaying a valid client-final in a new exchange fails", () => {
    const first = started();
    expect(first.mech.step(utf8(first.good)).done).toBe(true);
    const second = started();
    const e = expectFailure(() => second.mech.step(utf8(first.good)), "not-authorized");
    expect(e.message).toMatch(/nonce/);
  });

  test("client-final: a proof from one exchange does not fit another with the same nonce structure", () => {
    const a = started();
    const b = started();
    expectFailure(() => b.mech.step(utf8(`c=biws,r=${b.nonce},p=${a.proof}`)), "not-authorized");
  });

  test("the exchange is over after success or failure", () => {
    const ok = started();
    ok.mech.step(utf8(ok.good));
    expectFailure(() => ok.mech.step(utf8(ok.good)), "malformed-request");
    const bad = started();
    expectFailure(() => bad.mech.step(utf8("garbage")), "malformed-request");
    expectFailure(() => bad.mech.step(utf8(bad.good)), "malformed-request");
  });

  test("a failing credential store is temporary-auth-failure", () => {
    const mech = new ScramServerMechanism("SHA-256", () => {
      throw new Error("database is locked");
    });
    const e = expectFailure(() => mech.step(utf8("n,,n=alice,r=abc")), "temporary-auth-failure");
    expect(e.message).toMatch(/database is locked/);
  });

  test("damaged stored credentials are temporary-auth-failure", () => {
    const damaged = { ...alice, "SHA-256": { ...alice["SHA-256"], storedKey: Buffer.alloc(3) } };
    const mech = new ScramServerMechanism("SHA-256", store({ alice: damaged }).lookup);
    expectFailure(() => mech.step(utf8("n,,n=alice,r=abc")), "temporary-auth-failure");
  });

  test("a test nonce must itself be valid", () => {
    expect(() => new ScramServerMechanism("SHA-1", store({}).lookup, { serverNonce: "a,b" })).toThrow(/nonce/);
  });
});

