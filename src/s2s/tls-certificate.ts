// A self-signed X.509 certificate for one onion, for STARTTLS toward servers that want TLS on
// server streams (a stock Prosody 0.12 requires it). Nobody checks it against a CA: the onion
// address already authenticates the server (rend-spec-v3), and mod_onions accepts any certificate
// on a .onion stream. Node can parse certificates but not make them, so the few DER structures
// RFC 5280 needs are written here rather than pulled in with a library (README, "Dependencies").
//
// Nothing in it says when or where it was made: the validity is fixed (notBefore 2000-01-01,
// notAfter 9999-12-31, RFC 5280 section 4.1.2.5's "no well-defined expiration"), the only
// name is the onion, and the serial number is random.
// https://www.rfc-editor.org/rfc/rfc5280#section-4.1
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

export interface TlsIdentity {
  /** PKCS#8 PEM. */
  keyPem: string;
  certPem: string;
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A non-negative INTEGER from big-endian bytes (a leading zero keeps the sign bit clear). */
function positiveInteger(bytes: Buffer): Buffer {
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

const OID = {
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
};

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, "utf8")))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

function tbsCertificate(domain: string, publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: "spki", format: "der" });
  const extensions = seq(
    // RFC 6125: the name a peer looks for is in the subjectAltName, not the subject.
    extension(OID.subjectAltName, false, seq(tlv(0x82, Buffer.from(domain, "ascii")))),
    extension(OID.basicConstraints, true, seq()),
  );
  // Top bit cleared: a 16-byte positive serial, as RFC 5280 section 4.1.2.2 allows (at most 20).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  return seq(
    tlv(0xa0, positiveInteger(Buffer.from([2]))), // version 3
    positiveInteger(serial),
    seq(oid(OID.ecdsaWithSha256)),
    name(domain),
    seq(tlv(0x17, Buffer.from("000101000000Z")), tlv(0x18, Buffer.from("99991231235959Z"))),
    name(domain),
    spki,
    tlv(0xa3, extensions),
  );
}

/** A fresh P-256 key and a self-signed certificate naming `domain` (an onion). */
export function selfSignedIdentity(domain: string): TlsIdentity {
  if (!/^[a-z0-9.-]+$/.test(domain)) throw new TypeError(`not a domain name: ${JSON.stringify(domain)}`);
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const tbs = tbsCertificate(domain, publicKey);
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, seq(oid(OID.ecdsaWithSha256)), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return {
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
  };
}
