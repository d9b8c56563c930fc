// Stream negotiation on the c2s port, byte for byte: what a client sends,
// what must come back (RFC 6120 sections 4, 6, 7).
import { rmSync } from "node:fs";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { ScramClient } from "../support/scram-client.js";

let server: InProcessDaemon;
let alice: { jid: string; password: string };
let domain: string;
const open: RawXmpp[] = [];

async function client(): Promise<RawXmpp> {
  const c = await RawXmpp.connect(server.port);
  open.push(c);
  return c;
}

beforeAll(async () => {
  server = await startDaemon(["alice"], { limits: { maxResourcesPerAccount: 3 } });
  alice = server.accounts.alice!;
  domain = alice.jid.split("@")[1]!;
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
afterAll(() => server.stop());

/** A full SCRAM-SHA-256 exchange with `password`, up to the server's verdict (not awaited). */
async function scramWithPassword(c: RawXmpp, user: string, password: string): Promise<void> {
  const scram = new ScramClient("SHA-256", user, password);
  c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>${scram.first()}</auth>`);
  const m = await c.waitFor(/<challenge[^>]*>([^<]+)<\/challenge>/);
  c.clear();
  c.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${scram.final(m[1]!)}</response>`);
}
const scramWithWrongPassword = (c: RawXmpp, user: string) => scramWithPassword(c, user, "wrong");

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");
/** A SCRAM-SHA-256 client-first message for `user`, base64. */
const scramFirst = (user: string) => new ScramClient("SHA-256", user, "wrong").first();

describe("stream header", () => {
  test("the server answers with its own header and offers SCRAM only (no PLAIN)", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    expect(c.received).toMatch(new RegExp(`<stream:stream[^>]* from=['"]${domain}['"]`));
    expect(c.received).toMatch(/<mechanism>SCRAM-SHA-256<\/mechanism>/);
    expect(c.received).toMatch(/<mechanism>SCRAM-SHA-1<\/mechanism>/);
    expect(c.received).not.toMatch(/PLAIN/);
  });

  test("a domain this daemon does not host gets host-unknown", async () => {
    const c = await client();
    c.send(RawXmpp.header("example.org"));
    await c.waitFor("<host-unknown");
    await c.waitClosed();
  });

  test("a jabber:server stream on the client port gets invalid-namespace", async () => {
    const c = await client();
    c.send(`<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`);
    await c.waitFor("<invalid-namespace");
    await c.waitClosed();
  });

  test("a pre-XMPP-1.0 stream (no version) gets unsupported-version", async () => {
    const c = await client();
    c.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}'>`);
    await c.waitFor("<unsupported-version");
    await c.waitClosed();
  });
});

describe("authentication", () => {
  test("SCRAM-SHA-256 with the right password succeeds, then bind gives a full JID", async () => {
    const c = await client();
    const full = await c.login(alice.jid, alice.password, "laptop");
    expect(full).toBe(`${alice.jid}/laptop`);
  });

  test("a wrong password gets <not-authorized/>, and the third failure closes the stream", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    for (let i = 1; i <= 3; i++) {
      c.clear();
      await scramWithWrongPassword(c, "alice");
      await c.waitFor(/<failure[^>]*><not-authorized\/><\/failure>/);
    }
    await c.waitFor("<policy-violation");
    await c.waitClosed();
  });

  test("a user that is not this domain's account is refused like a wrong password", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    await scramWithPassword(c, "mallory", alice.password);
    await c.waitFor(/<not-authorized\/>/);
  });

  test("PLAIN is refused with invalid-mechanism, even with the right password", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    const local = alice.jid.split("@")[0]!;
    c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain(local, alice.password)}</auth>`);
    await c.waitFor(/<failure[^>]*><invalid-mechanism\/><\/failure>/);
    expect(c.received).not.toMatch(/<success/);
  });

  test("an unknown user's SCRAM salt is the same after a daemon restart (nothing tells it apart from a real one)", async () => {
    const d = await startDaemon(["zoe"]);
    const dataDir = d.dataDir;
    const zoeDomain = d.accounts.zoe!.jid.split("@")[1]!;
    const saltOf = async (port: number, user: string): Promise<string> => {
      const c = await RawXmpp.connect(port);
      try {
        c.send(RawXmpp.header(zoeDomain));
        await c.waitFor("</stream:features>");
        c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>${scramFirst(user)}</auth>`);
        const m = await c.waitFor(/<challenge[^>]*>([^<]+)<\/challenge>/);
        return /,s=([^,]+),/.exec(Buffer.from(m[1]!, "base64").toString())![1]!;
      } finally {
        c.close();
      }
    };
    const before = { ghost: await saltOf(d.port, "ghost"), zoe: await saltOf(d.port, "zoe") };
    await d.daemon.stop("restart");
    const again = await startDaemon([], { dataDir });
    try {
      expect(await saltOf(again.port, "ghost")).toBe(before.ghost);
      expect(await saltOf(again.port, "zoe")).toBe(before.zoe);
      // Asked twice, as for a real account, the salt does not change either.
      expect(await saltOf(again.port, "ghost")).toBe(before.ghost);
      expect(before.ghost).not.toBe(before.zoe);
    } finally {
      await again.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("an unknown mechanism gets invalid-mechanism", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>`);
    await c.waitFor(/<invalid-mechanism\/>/);
  });

  test("a stanza before authentication closes the stream with not-authorized", async () => {
    const c = await client();
    c.send(RawXmpp.header(domain));
    await c.waitFor("</stream:features>");
    c.send(`<message to='${alice.jid}'><body>hi</body></message>`);
    await c.waitFor(/<not-authorized xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/);
    await c.waitClosed();
  });

  test("a stanza after SASL but before bind gets not-authorized", async () => {
    const c = await client();
    await c.authenticate(alice.jid, alice.password);
    expect(c.received).toMatch(/<bind xmlns=['"]urn:ietf:params:xml:ns:xmpp-bind['"]/);
    c.send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`);
    await c.waitFor(/<iq[^>]*type=['"]error['"][\s\S]*<not-authorized/);
  });
});

describe("resource binding", () => {
  test("no resource asked: the server picks a random one, not the machine's name", async () => {
    const c = await client();
    await c.authenticate(alice.jid, alice.password);
    c.send(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    const [, jid] = await c.waitFor(/<jid>([^<]+)<\/jid>/);
    const resource = jid!.split("/")[1]!;
    expect(resource).toMatch(/^po-[0-9a-f]{12}$/);
    const { hostname } = await import("node:os");
    expect(resource).not.toContain(hostname());
  });

  test("binding a resource already in use replaces the old session with a conflict error", async () => {
    const first = await client();
    await first.login(alice.jid, alice.password, "phone");
    const second = await client();
    expect(await second.login(alice.jid, alice.password, "phone")).toBe(`${alice.jid}/phone`);
    await first.waitFor("<conflict");
    await first.waitClosed();
  });

  test("more sessions than the limit get resource-constraint", async () => {
    const sessions = [];
    for (let i = 0; i < 3; i++) {
      const c = await client();
      await c.login(alice.jid, alice.password, `r${i}`);
      sessions.push(c);
    }
    const extra = await client();
    await extra.authenticate(alice.jid, alice.password);
    extra.send(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r9</resource></bind></iq>`);
    await extra.waitFor(/<resource-constraint/);
  });
});

describe("after binding", () => {
  test("legacy session iq (libpurple sends it) succeeds", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "s");
    c.send(`<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
    await c.waitFor(/<iq[^>]*id=['"]sess['"][^>]*type=['"]result['"]|<iq[^>]*type=['"]result['"][^>]*id=['"]sess['"]/);
  });

  test("a spoofed 'from' closes the stream with invalid-from", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "spoof");
    c.send(`<message from='bob@example.org/x' to='${alice.jid}'><body>hi</body></message>`);
    await c.waitFor("<invalid-from");
    await c.waitClosed();
  });

  test("an unknown element at stanza level closes with unsupported-stanza-type", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "weird");
    c.send(`<foo/>`);
    await c.waitFor("<unsupported-stanza-type");
    await c.waitClosed();
  });

  test.each([
    ["XEP-0092 software version", "jabber:iq:version"],
    ["XEP-0202 entity time", "urn:xmpp:time"],
    ["XEP-0012 last activity", "jabber:iq:last"],
    ["an unknown namespace", "urn:example:nothing"],
  ])("%s is answered with service-unavailable (nothing about OS, version or time zone leaks)", async (_what, ns) => {
    const c = await client();
    await c.login(alice.jid, alice.password, "ask");
    const q = ns === "urn:xmpp:time" ? "time" : "query";
    c.send(`<iq type='get' id='v1' to='${domain}'><${q} xmlns='${ns}'/></iq>`);
    await c.waitFor(/<service-unavailable xmlns=['"]urn:ietf:params:xml:ns:xmpp-stanzas['"]/);
    expect(c.received).not.toMatch(/Linux|Debian|node|purple-onion|\+0[0-9]:00/i);
  });

  test("disco#info on the server lists what we implement and names no software", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "disco");
    c.send(`<iq type='get' id='d1' to='${domain}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    await c.waitFor("</iq>");
    for (const f of ["urn:xmpp:ping", "vcard-temp", "urn:xmpp:carbons:2", "msgoffline", "http://jabber.org/protocol/disco#info"])
      expect(c.received).toContain(`var="${f}"`);
    expect(c.received).toMatch(/<identity category="server" type="im"\/>/);
    expect(c.received).not.toMatch(/name=/);
  });

  test("a message to a domain not hosted here bounces with remote-server-not-found", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "remote");
    c.send(`<message to='someone@example.org' id='m1' type='chat'><body>hi</body></message>`);
    // Onion-only (policy.ts): decided before anything is queued or dialed, with the reason.
    await c.waitFor(/<message[^>]*type="error"[\s\S]*<remote-server-not-found[\s\S]*federates only with onion services: example.org is not a .onion address/);
    c.send(`<iq to='example.org' id='i1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await c.waitFor(/<iq(?=[^>]*id="i1")[^>]*type="error"[\s\S]*<remote-server-not-found[\s\S]*not a .onion address/);
    // A valid onion, on a daemon without Tor: the reason is the missing Tor.
    c.send(`<message to='bob@25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion' id='m2' type='chat'><body>hi</body></message>`);
    await c.waitFor(/<message(?=[^>]*id="m2")[^>]*type="error"[\s\S]*<remote-server-not-found[\s\S]*federation needs Tor/);
  });

  test("a message to a user of our domain that does not exist bounces with service-unavailable", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "nouser");
    c.send(`<message to='nobody@${domain}' id='m2' type='chat'><body>hi</body></message>`);
    await c.waitFor(/<message[^>]*type="error"[\s\S]*<service-unavailable/);
  });

  test("an iq to a full JID that is not online gets service-unavailable", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "iqoff");
    c.send(`<iq type='get' id='x1' to='${alice.jid}/gone'><query xmlns='urn:example:q'/></iq>`);
    await c.waitFor(/<iq[^>]*type="error"[\s\S]*<service-unavailable/);
  });

  test("a malformed 'to' gets jid-malformed", async () => {
    const c = await client();
    await c.login(alice.jid, alice.password, "badto");
    c.send(`<message to='a@b@c/' id='m3'><body>x</body></message>`);
    await c.waitFor(/<jid-malformed/);
  });
});
