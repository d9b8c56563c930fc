// The Unix socket each onion points at: private to the daemon's user, and an
// XMPP answer (with a stream error) for everything that arrives on it.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { silentLogger } from "../../src/daemon/logger.js";
import { InboundS2sListener, s2sSocketPath } from "../../src/s2s/inbound-listener.js";

const DOMAIN = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";
let dir: string;
let listener: InboundS2sListener;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "po-s2s-"));
  listener = new InboundS2sListener(DOMAIN, { path: s2sSocketPath(dir, DOMAIN) }, silentLogger());
  await listener.listen();
});
afterAll(async () => {
  await listener.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Send `data`, return everything the listener says until it closes. */
function exchange(data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(listener.socketPath, () => s.write(data));
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("end", () => resolve(got));
    s.on("error", reject);
  });
}

const header = (ns: string, to: string) =>
  `<?xml version='1.0'?><stream:stream xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='peer.onion' to='${to}' version='1.0'>`;

test("the socket sits in a 0700 folder and is itself 0600", () => {
  expect(statSync(path.dirname(listener.socketPath)).mode & 0o777).toBe(0o700);
  expect(statSync(listener.socketPath).mode & 0o777).toBe(0o600);
  expect(Buffer.byteLength(listener.socketPath)).toBeLessThanOrEqual(107);
});

test("a server stream for our domain gets our header and a stream error saying federation is not there yet", async () => {
  const got = await exchange(header("jabber:server", DOMAIN));
  expect(got).toMatch(new RegExp(`<stream:stream[^>]*from=['"]${DOMAIN}['"]`));
  expect(got).toContain("<undefined-condition");
  expect(got).toContain("does not federate yet");
  expect(got).toContain("</stream:stream>");
});

test("another domain gets host-unknown", async () => {
  expect(await exchange(header("jabber:server", "someone-else.onion"))).toContain("<host-unknown");
});

test("a client stream gets invalid-namespace", async () => {
  expect(await exchange(header("jabber:client", DOMAIN))).toContain("<invalid-namespace");
});

test("garbage gets not-well-formed", async () => {
  expect(await exchange("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' <<<")).toContain("<not-well-formed");
});
