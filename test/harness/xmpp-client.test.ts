// Validates the scripted test client (test/support/xmpp-client.ts) against a
// real server, Prosody. Needs prosody (test/support/requires.ts).
import { xml } from "../../src/xmpp/xml.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { startProsody, type ProsodyServer } from "../support/prosody.js";
import { requires } from "../support/requires.js";
import { splitBareJid } from "../support/server-under-test.js";
import { connectClient, type ConnectOptions, type TestClient } from "../support/xmpp-client.js";

requires("prosody").describe("test client against Prosody [prosody]", () => {
  let server: ProsodyServer;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await startProsody({ accounts: ["alice", "bob"] });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });

  function options(account: string, extra: Partial<ConnectOptions> = {}): ConnectOptions {
    const { local, domain } = splitBareJid(server.accounts[account]!.jid);
    return { host: server.host, port: server.port, domain, username: local, password: server.accounts[account]!.password, ...extra };
  }
  async function connect(account: string, extra: Partial<ConnectOptions> = {}): Promise<TestClient> {
    const client = await connectClient(options(account, extra));
    clients.push(client);
    return client;
  }

  test("logs in with SCRAM-SHA-1 and binds the requested resource", async () => {
    const alice = await connect("alice", { resource: "laptop", mechanisms: ["SCRAM-SHA-1"] });
    expect(alice.jid).toBe(`${server.accounts.alice!.jid}/laptop`);
    expect(alice.bareJid).toBe(server.accounts.alice!.jid);
    expect(alice.online).toBe(true);
  });

  test("logs in with PLAIN over plain TCP when asked to", async () => {
    const bob = await connect("bob", { mechanisms: ["PLAIN"] });
    expect(bob.jid.startsWith(`${server.accounts.bob!.jid}/`)).toBe(true);
  });

  test("a wrong password is a login failure naming the account", async () => {
    await expect(connectClient(options("alice", { password: "wrong" }))).rejects.toThrow(/login of alice@.*failed.*not-authorized/s);
  });

  test("iq() resolves with the result, and with type=error replies too", async () => {
    const alice = await connect("alice");
    const roster = await alice.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS.ROSTER })));
    expect(roster.attrs.type).toBe("result");
    expect(roster.getChild("query", NS.ROSTER)).toBeDefined();
    const unknown = await alice.iq('<iq type="get" to="' + splitBareJid(alice.bareJid).domain + '"><q xmlns="urn:example:nothing"/></iq>');
    expect(unknown.attrs.type).toBe("error");
    expect(unknown.getChild("error")?.getChild("service-unavailable", NS.STANZA_ERRORS)).toBeDefined();
  });

  test("next() waits for a matching stanza and leaves others queued; stanzas keeps all", async () => {
    const alice = await connect("alice", { resource: "a" });
    const bob = await connect("bob", { resource: "b" });
    await alice.send(`<message to="${bob.jid}" type="chat" id="m1"><body>first</body></message>`);
    await alice.send(`<message to="${bob.jid}" type="chat" id="m2"><body>zweite – ünïcödé ✓ 𝄞</body></message>`);
    const second = await bob.next((s) => s.attrs.id === "m2", 3000);
    expect(second.getChildText("body")).toBe("zweite – ünïcödé ✓ 𝄞");
    expect(bob.pending().map((s) => s.attrs.id)).toEqual(["m1"]);
    expect((await bob.take(1000))?.attrs.id).toBe("m1");
    expect(bob.stanzas.map((s) => s.attrs.id)).toEqual(["m1", "m2"]);
    await expect(bob.next(() => true, 200)).rejects.toThrow(/no matching stanza within 200 ms/);
  });

  test("close() ends the session: the other side sees it go unavailable", async () => {
    const alice = await connect("alice", { resource: "one" });
    const alice2 = await connect("alice", { resource: "two" });
    await alice.send("<presence/>");
    await alice2.send("<presence/>");
    await alice2.next((s) => s.name === "presence" && s.attrs.from === alice.jid, 3000);
    await alice.close();
    expect(alice.online).toBe(false);
    const gone = await alice2.next((s) => s.name === "presence" && s.attrs.from === alice.jid, 3000);
    expect(gone.attrs.type).toBe("unavailable");
  });
});
