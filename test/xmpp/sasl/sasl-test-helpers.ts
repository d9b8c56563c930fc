// Shared by the SASL tests: a credential store, failure assertions, and an independent
// SCRAM client written from RFC 5802 section 3 (not from the server code).
import { createHash, createHmac } from "node:crypto";
import type { ScramHash, StoredCredentials } from "../../../src/xmpp/sasl/credentials.js";
import { SaslFailure, type SaslServerMechanism, type SaslStep } from "../../../src/xmpp/sasl/mechanism.js";

export const utf8 = (s: string) => Buffer.from(s, "utf8");

export function challengeText(step: SaslStep): string {
  if (step.done) throw new Error("expected a challenge, got success");
  return step.challenge.toString("utf8");
}

export function expectFailure(f: () => unknown, condition: SaslFailure["condition"]): SaslFailure {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SaslFailure);
  expect((caught as SaslFailure).condition).toBe(condition);
  return caught as SaslFailure;
}

/** A credential store with one account per entry, as the c2s layer would wire it. */
export function store(accounts: Record<string, StoredCredentials>) {
  const asked: string[] = [];
  const lookup = (u: string) => {
    asked.push(u);
    return Object.prototype.hasOwnProperty.call(accounts, u) ? accounts[u] : undefined;
  };
  return { lookup, asked };
}

// ---- The independent SCRAM client.

export const nodeHash = (hash: ScramHash) => (hash === "SHA-1" ? "sha1" : "sha256");

/** Hi() spelled out as in RFC 5802 section 2.2 (U1 ... Ui XORed), not via PBKDF2. */
export function hi(hash: ScramHash, password: string, salt: Buffer, i: number): Buffer {
  const mac = (data: Buffer) => createHmac(nodeHash(hash), utf8(password)).update(data).digest();
  let u = mac(Buffer.concat([salt, Buffer.from([0, 0, 0, 1])]));
  const result = Buffer.from(u);
  for (let n = 1; n < i; n++) {
    u = mac(u);
    for (let k = 0; k < result.length; k++) result[k]! ^= u[k]!;
  }
  return result;
}

export function clientFinalFor(hash: ScramHash, password: string, clientFirstBare: string, gs2Header: string, serverFirst: string) {
  const fields = Object.fromEntries(serverFirst.split(",").map((a) => [a[0], a.slice(2)]));
  const salted = hi(hash, password, Buffer.from(fields.s!, "base64"), Number(fields.i));
  const clientKey = createHmac(nodeHash(hash), salted).update("Client Key").digest();
  const storedKey = createHash(nodeHash(hash)).update(clientKey).digest();
  const withoutProof = `c=${Buffer.from(gs2Header).toString("base64")},r=${fields.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(nodeHash(hash), storedKey).update(authMessage).digest();
  const proof = clientKey.map((b, k) => b ^ signature[k]!);
  const serverKey = createHmac(nodeHash(hash), salted).update("Server Key").digest();
  const expectedServerFinal = `v=${createHmac(nodeHash(hash), serverKey).update(authMessage).digest("base64")}`;
  return { clientFinal: `${withoutProof},p=${Buffer.from(proof).toString("base64")}`, expectedServerFinal };
}

/** Runs a whole exchange; returns the final step or throws the server's SaslFailure. */
export function exchange(
  mech: SaslServerMechanism,
  hash: ScramHash,
  opts: { user: string; password: string; gs2Header?: string; nonce?: string },
) {
  const gs2Header = opts.gs2Header ?? "n,,";
  const clientFirstBare = `n=${opts.user.replace(/=/g, "=3D").replace(/,/g, "=2C")},r=${opts.nonce ?? "clientnonce123"}`;
  const serverFirst = challengeText(mech.step(utf8(gs2Header + clientFirstBare)));
  const { clientFinal, expectedServerFinal } = clientFinalFor(hash, opts.password, clientFirstBare, gs2Header, serverFirst);
  const final = mech.step(utf8(clientFinal));
  return { final, expectedServerFinal, serverFirst, clientFinal };
}
