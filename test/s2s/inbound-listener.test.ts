// The Unix socket each onion points at: private to the daemon's user, and every socket it
// accepts goes to the server streams (a real S2sManager here): features for our onion,
// host-unknown for any other name, stream errors for the rest.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { silentLogger } from "../../src/daemon/logger.js";
import { InboundS2sListener, s2sSocketPath } from "../../src/s2s/inbound-listener.js";
import { S2sManager } from "../../src/s2s/s2s-manager.js";
import { UnitsOfWork } from "../../src/server/unit-of-work.js";
import { randomBytes } from "node:crypto";

const DOMAIN = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";
let dir: string;
let listener: InboundS2sListener;
let manager: S2sManager;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "po-s2s-"));
  const log = silentLogger();
  const routing = { fromServer: () => undefined, units: new UnitsOfWork({ unit: (fn) => fn(), part: (fn) => fn() }, log), bounce: () => undefined };
  manager = new S2sManager({ log, secret: randomBytes(32), dial: () => Promise.reject(new Error("no tor here")), routing });
  listener = new InboundS2sListener(DOMAIN, { path: s2sSocketPath(dir, DOMAIN) }, log, (socket) => manager.acceptInbound(DOMAIN, socket));
  await listener.listen();
});
afterAll(async () => {
  manager.close();
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

test("a server stream for our domain gets our header and the dialback feature, then closes when we close", async () => {
  const got = await exchange(header("jabber:server", DOMAIN) + "</stream:stream>");
  expect(got).toMatch(new RegExp(`<stream:stream[^>]*from=['"]${DOMAIN}['"]`));
  expect(got).toContain("<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>");
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
