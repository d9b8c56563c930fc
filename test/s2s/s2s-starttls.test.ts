// STARTTLS on server streams (RFC 6120 section 5), no Tor: X and Y federate with each TLS
// policy; a relay between them records what an observer of the connection would see.
// Prosody 0.12 with its default settings requires TLS: test/support/prosody-scenarios.ts.
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import { DialbackKeys } from "../../src/s2s/dialback-key.js";
import { selfSignedIdentity } from "../../src/s2s/tls-certificate.js";
import { TlsIdentities, type S2sTlsPolicy } from "../../src/s2s/tls-identities.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { inUnit, message, newOnion, World, type Side } from "./s2s-fixture.js";

const A = newOnion();
const B = newOnion();
let world: World;
let x: Side;
let y: Side;
const open: { close(): void }[] = [];

async function setup(xTls: S2sTlsPolicy | undefined, yTls: S2sTlsPolicy | undefined): Promise<void> {
  world = new World();
  x = await world.side([A], {}, undefined, xTls ? { tls: xTls } : {});
  y = await world.side([B], {}, undefined, yTls ? { tls: yTls } : {});
}
afterEach(async () => {
  for (const r of open.splice(0)) r.close();
  await world.close();
});

const STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const PROCEED = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

const messages = (side: Side) => side.routing.received.filter((r) => r.stanza.is("message"));

/** A message each way; resolves when both arrived. */
async function chatBothWays(): Promise<void> {
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "secret one"), A, B));
  await y.routing.until(() => messages(y).length === 1, 5000, "alice's message at Y");
  inUnit(y, (unit) => y.manager.send(unit, message(`bob@${B}/pc`, `alice@${A}`, "secret two"), B, A));
  await x.routing.until(() => messages(x).length === 1, 5000, "bob's message at X");
}

const wireFrom = (local: string) => world.wire.filter((w) => w.local === local);

/** A raw stream from "B" to A's listener, up to A's features; with A's stream id. */
async function rawStreamToA(): Promise<{ raw: RawXmpp; id: string }> {
  const raw = await RawXmpp.connectPath(world.socketPath(A));
  open.push(raw);
  raw.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' to='${A}' from='${B}' version='1.0'>`);
  const id = (await raw.waitFor(/<stream:stream[^>]* id='([^']+)'/))[1]!;
  await raw.waitFor("</stream:features>");
  return { raw, id };
}

test("when-required both sides (two purple-onion servers): STARTTLS offered, not used; dialback in the clear", async () => {
  await setup("when-required", "when-required");
  await chatBothWays();
  expect(world.wire).toHaveLength(2);
  for (const w of world.wire) {
    // Offered without <required/>, and left alone.
    expect(w.in).toContain(STARTTLS);
    expect(w.out).not.toContain("<starttls");
    expect(w.out).toContain("<db:result");
  }
  expect(wireFrom(A)[0]!.out).toContain("secret one");
});

test("always on one side: both directions go through TLS, nothing after <proceed/> is readable, dialback still authenticates", async () => {
  // X requires TLS of its peers and uses it whenever offered; Y only when required.
  await setup("always", "when-required");
  await chatBothWays();
  expect(world.wire).toHaveLength(2);
  for (const w of world.wire) {
    expect(w.out).toContain(STARTTLS);
    expect(w.in).toContain(PROCEED);
    // Everything after our <starttls/> and after the peer's <proceed/>.
    const afterOut = w.out.slice(w.out.indexOf(STARTTLS) + STARTTLS.length);
    const afterIn = w.in.slice(w.in.indexOf(PROCEED) + PROCEED.length);
    for (const secret of ["secret one", "secret two", "db:result", "db:verify", "stream:stream", "jabber:server"]) {
      expect(afterOut).not.toContain(secret);
      expect(afterIn).not.toContain(secret);
    }
    // A TLS record (handshake, content type 22) follows the proceed.
    expect(afterOut.charCodeAt(0)).toBe(22);
  }
  // X offered it as required; Y offered it as optional and X used it anyway.
  expect(wireFrom(B)[0]!.in).toContain("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>");
  expect(wireFrom(A)[0]!.in).toContain(STARTTLS);
  expect(x.manager.counts()[A]).toEqual({ inbound: 1, unauthenticated: 0, outbound: 1, established: 1 });
});

test("the certificate names X's onion; after TLS the stream restarts with a new id and no STARTTLS", async () => {
  await setup("always", "always");
  await chatBothWays();
  // A raw TLS client to A's listener, as a peer would see it.
  const { raw, id: firstId } = await rawStreamToA();
  raw.send(STARTTLS);
  await raw.waitFor("<proceed");
  const secure: TLSSocket = await new Promise((resolve, reject) => {
    const s = tlsConnect({ socket: raw.socket, servername: A, rejectUnauthorized: false }, () => resolve(s));
    s.once("error", reject);
  });
  open.push({ close: () => secure.destroy() });
  const cert = new X509Certificate(secure.getPeerX509Certificate()!.raw);
  expect(cert.subject).toBe(`CN=${A}`);
  expect(cert.subjectAltName).toBe(`DNS:${A}`);
  // After TLS the stream restarts: a new header gets a new id and features without STARTTLS.
  const answer: string[] = [];
  secure.on("data", (d: Buffer) => answer.push(d.toString()));
  secure.write(`<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' to='${A}' from='${B}' version='1.0'>`);
  await y.routing.until(() => answer.join("").includes("</stream:features>"), 5000, "features after TLS");
  expect(answer.join("")).not.toContain("starttls");
  expect(answer.join("")).toContain("urn:xmpp:features:dialback");
  const secondId = /<stream:stream[^>]* id='([^']+)'/.exec(answer.join(""))?.[1];
  expect(secondId).toBeDefined();
  expect(secondId).not.toBe(firstId);
});

test("a peer that requires TLS is refused by a side without TLS: the message waits, with the reason", async () => {
  await setup(undefined, "always");
  inUnit(x, (unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "no tls here"), A, B));
  await x.routing.until(() => x.outbox.failures.some((f) => /requires TLS/.test(f)), 5000, "the dial to fail for want of TLS");
  expect(messages(y)).toEqual([]);
  expect(wireFrom(A)[0]!.out).not.toContain("db:result");
});

test("with always, dialback before STARTTLS is a policy violation", async () => {
  await setup("always", "always");
  const { raw, id } = await rawStreamToA();
  raw.send(`<db:result from='${B}' to='${A}'>${new DialbackKeys(y.secret).key(A, B, id)}</db:result>`);
  await raw.waitFor("<policy-violation");
  await raw.waitClosed();
  expect(raw.received).toContain("requires STARTTLS first");
  expect(raw.received).not.toContain("type='valid'");
});

test("STARTTLS after dialback began is a <failure/> and the end of the stream", async () => {
  await setup("when-required", "when-required");
  const { raw, id } = await rawStreamToA();
  raw.send(`<db:result from='${B}' to='${A}'>${new DialbackKeys(y.secret).key(A, B, id)}</db:result>`);
  await raw.waitFor(/<db:result[^>]*type='valid'/);
  raw.send(STARTTLS);
  await raw.waitFor("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await raw.waitClosed();
  expect(raw.received).not.toContain("<proceed");
});

test("garbage instead of a TLS handshake after <proceed/> ends that stream only; the onion still federates", async () => {
  await setup("when-required", "when-required");
  const { raw } = await rawStreamToA();
  raw.send(STARTTLS);
  await raw.waitFor(PROCEED);
  raw.send("<message>not a TLS record</message>");
  await raw.waitClosed();
  expect(x.manager.counts()[A]?.inbound ?? 0).toBe(0);
  await chatBothWays();
});

test("identities: made once per onion and kept in the settings; the certificate says nothing of when or where", () => {
  const settings = new Map<string, string>();
  const store = { get: (k: string) => settings.get(k), set: (k: string, v: string) => void settings.set(k, v) };
  const first = new TlsIdentities(store).identity(A);
  expect([...settings.keys()]).toEqual([`s2s.tls.${A}`]);
  // A restarted daemon reads the same one back.
  expect(new TlsIdentities(store).identity(A)).toEqual(first);
  expect(new TlsIdentities(store).identity(B).certPem).not.toBe(first.certPem);
  const cert = new X509Certificate(first.certPem);
  expect(cert.verify(cert.publicKey)).toBe(true);
  expect(cert.issuer).toBe(`CN=${A}`);
  expect(cert.validFrom).toBe("Jan  1 00:00:00 2000 GMT");
  expect(cert.validTo).toBe("Dec 31 23:59:59 9999 GMT");
  expect(cert.ca).toBe(false);
  // Two certificates for one name differ in key and serial only.
  const again = new X509Certificate(selfSignedIdentity(A).certPem);
  expect(again.serialNumber).not.toBe(cert.serialNumber);
  expect(again.subject).toBe(cert.subject);
  expect(() => selfSignedIdentity("not a name")).toThrow(/not a domain name/);
});
