// The daemon as users run it (a separate process started by the CLI):
// what it acknowledged survives kill -9, the port stays, logs stay private.
import { jest } from "@jest/globals";
import { rmSync } from "node:fs";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";

jest.setTimeout(60_000);

let dataDir: string;
let daemon: DaemonProcess;
const open: RawXmpp[] = [];

async function login(port: number, jid: string, password: string, resource: string): Promise<RawXmpp> {
  const c = await RawXmpp.connect(port);
  open.push(c);
  await c.login(jid, password, resource);
  return c;
}

beforeAll(() => {
  dataDir = tempDataDir();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});
afterAll(async () => {
  await daemon?.stop("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

test("messages, roster and subscription requests survive kill -9; the port stays the same", async () => {
  daemon = new DaemonProcess(dataDir);
  await daemon.start();
  const alice = JSON.parse((await daemon.cli("account", "add", "alice", "--json")).stdout);
  const bob = JSON.parse((await daemon.cli("account", "add", "bob", "--json")).stdout);
  expect(alice.port).toBe(bob.port);

  // alice, with bob offline: adds him, asks to see his presence, writes to him.
  const a = await login(alice.port, alice.jid, alice.password, "pc");
  a.send(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='${bob.jid}' name='Bob'><group>Friends</group></item></query></iq>`);
  await a.waitFor(/id="r1"/);
  a.send(`<presence type='subscribe' to='${bob.jid}'/>`);
  a.send(`<message type='chat' to='${bob.jid}' id='m1'><body>written before the crash</body></message>`);
  // Stanzas are handled in order: once the ping is answered, the message is on disk.
  a.send(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await a.waitFor(/id="p1"/);

  expect(await daemon.stop("SIGKILL")).toBeNull();
  daemon = new DaemonProcess(dataDir);
  await daemon.start();
  const status = JSON.parse((await daemon.cli("status", "--json")).stdout);
  expect(status.c2s.port).toBe(alice.port);

  const b = await login(alice.port, bob.jid, bob.password, "phone");
  b.send(`<presence/>`);
  await b.waitFor("written before the crash</body>");
  expect(b.received).toMatch(/<delay xmlns="urn:xmpp:delay" from="[a-z2-7]{56}\.onion" stamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\/>/);
  await b.waitFor(new RegExp(`<presence[^>]*type="subscribe"[^>]*from="${alice.jid}"|<presence[^>]*from="${alice.jid}"[^>]*type="subscribe"`));

  const a2 = await login(alice.port, alice.jid, alice.password, "pc");
  a2.send(`<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>`);
  await a2.waitFor(/id="r2"[\s\S]*<\/iq>/);
  expect(a2.received).toContain(`jid="${bob.jid}"`);
  expect(a2.received).toContain(`ask="subscribe"`);
  expect(a2.received).toContain("<group>Friends</group>");

  // Delivered once: answering the ping that follows the messages acknowledges them (offline.ts),
  // and a second login does not get the message again.
  const [, pingId] = await b.waitFor(/<iq[^>]*id="(offline-[0-9a-f]+)"[^>]*>\s*<ping xmlns="urn:xmpp:ping"/);
  b.send(`<iq type='result' id='${pingId}'/><iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`);
  await b.waitFor(/id="p2"/);
  b.close();
  const b2 = await login(alice.port, bob.jid, bob.password, "phone2");
  b2.send(`<presence/>`);
  await b2.waitFor("<presence");
  // Stored messages are flushed on initial presence, before the ping is handled.
  await b2.ping();
  expect(b2.received).not.toContain("written before the crash");
});

test("at the default log level the daemon logs no message bodies and no contacts", async () => {
  await daemon.stop("SIGTERM");
  daemon = new DaemonProcess(dataDir);
  await daemon.start();
  const carol = JSON.parse((await daemon.cli("account", "add", "carol", "--json")).stdout);
  const c = await login(carol.port, carol.jid, carol.password, "x");
  c.send(`<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='dave-the-contact@example.org'/></query></iq>`);
  c.send(`<presence/>`);
  c.send(`<presence type='subscribe' to='dave-the-contact@example.org'/>`);
  c.send(`<message type='chat' to='dave-the-contact@example.org'><body>very private words</body></message>`);
  await c.waitFor("remote-server-not-found");
  c.close();
  // The session's end (and what it logs) is handled before the daemon is stopped.
  const deadline = Date.now() + 10_000;
  while (!daemon.output.includes("session closed")) {
    if (Date.now() > deadline) throw new Error(`the daemon never logged the session's end:\n${daemon.output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await daemon.stop("SIGTERM")).toBe(0);
  expect(daemon.output).toContain("daemon ready");
  expect(daemon.output).not.toContain("very private words");
  expect(daemon.output).not.toContain("dave-the-contact");
});
