// Debian's slixmpp, a client we did not write, talking to our scripted test
// client through the server under test. The same scenarios run against
// Prosody (validating the script) and against our daemon.
import { xml } from "../../src/xmpp/xml.js";
import { splitBareJid, type ServerUnderTest } from "./server-under-test.js";
import { describeRun, runSlixmpp, type SlixmppEvent, type SlixmppPlan } from "./slixmpp.js";
import { connectClient, type TestClient } from "./xmpp-client.js";

/** A server with accounts alice, bob and carol. */
export type StoppableServer = ServerUnderTest & { stop(): Promise<void> };

function eventsOf<K extends SlixmppEvent["event"]>(events: SlixmppEvent[], kind: K): Extract<SlixmppEvent, { event: K }>[] {
  return events.filter((e): e is Extract<SlixmppEvent, { event: K }> => e.event === kind);
}

export function slixmppScenarios(start: () => Promise<StoppableServer>): void {
  let server: StoppableServer;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });

  function plan(account: string, extra: Partial<SlixmppPlan> = {}): SlixmppPlan {
    const { jid, password } = server.accounts[account]!;
    return { host: server.host, port: server.port, jid, password, resource: "slixmpp", actions: [], ...extra };
  }
  async function connect(account: string, resource: string): Promise<TestClient> {
    const { local, domain } = splitBareJid(server.accounts[account]!.jid);
    const client = await connectClient({ host: server.host, port: server.port, domain, username: local, password: server.accounts[account]!.password, resource });
    clients.push(client);
    return client;
  }

  test("logs in, gets the roster, adds a contact and exchanges messages with another client", async () => {
    const alice = server.accounts.alice!.jid;
    const bob = await connect("bob", "desk");
    await bob.send("<presence/>");
    await bob.next((s) => s.name === "presence", 3000);

    const running = runSlixmpp(
      plan("alice", {
        actions: [
          { do: "roster" },
          { do: "add_contact", jid: bob.bareJid, name: "Bob", groups: ["Friends"] },
          { do: "roster" },
          { do: "presence" },
          { do: "send", to: bob.bareJid, body: "hello from slixmpp ✓" },
          { do: "wait_message", from: bob.bareJid, body: "hello back – ✓", timeout: 10 },
          { do: "disco_info" },
          { do: "ping" },
        ],
      }),
      { timeoutMs: 30_000 },
    );
    const incoming = await bob.next((s) => s.name === "message" && s.getChildText("body") !== null, 20_000);
    expect(incoming.getChildText("body")).toBe("hello from slixmpp ✓");
    expect(incoming.attrs.from).toBe(`${alice}/slixmpp`);
    await bob.send(xml("message", { to: incoming.attrs.from, type: "chat" }, xml("body", {}, "hello back – ✓")));

    const run = await running;
    const report = describeRun(run);
    expect({ exitCode: run.exitCode, report }).toEqual({ exitCode: 0, report });
    const { events } = run;
    expect(eventsOf(events, "session_start")[0]?.jid).toBe(`${alice}/slixmpp`);
    const [before, after] = eventsOf(events, "roster");
    expect(before?.items).toEqual([]);
    expect(after?.items).toEqual([{ jid: bob.bareJid, name: "Bob", subscription: "none", groups: ["Friends"] }]);
    expect(eventsOf(events, "contact_added")).toEqual([{ event: "contact_added", jid: bob.bareJid }]);
    const reply = eventsOf(events, "message").find((m) => m.body === "hello back – ✓");
    expect(reply?.from).toBe(bob.jid);
    const disco = eventsOf(events, "disco_info")[0];
    expect(disco?.identities.some(([category, type]) => category === "server" && type === "im")).toBe(true);
    expect(disco?.features).toContain("urn:xmpp:ping");
    expect(eventsOf(events, "pong")).toHaveLength(1);
    expect(events.at(-1)).toEqual({ event: "done" });
    expect(run.strayOutput).toEqual([]);
  });

  test("logs in with SCRAM-SHA-1 when told to", async () => {
    const run = await runSlixmpp(plan("carol", { mechanism: "SCRAM-SHA-1" }), { timeoutMs: 20_000 });
    expect({ exitCode: run.exitCode, report: describeRun(run) }).toMatchObject({ exitCode: 0 });
    expect(eventsOf(run.events, "authenticated")).toEqual([{ event: "authenticated", mechanism: "SCRAM-SHA-1" }]);
  });

  test("a wrong password ends with an error event and exit status 1", async () => {
    const run = await runSlixmpp(plan("carol", { password: "not-the-password" }), { timeoutMs: 20_000 });
    expect(run.exitCode).toBe(1);
    expect(eventsOf(run.events, "error")[0]?.reason).toBe("authentication failed");
    expect(eventsOf(run.events, "session_start")).toEqual([]);
  });

  test("a message sent while offline arrives with a delay stamp on login", async () => {
    const alice = await connect("alice", "sender");
    const carol = server.accounts.carol!.jid;
    await alice.send(xml("message", { to: carol, type: "chat", id: "off-slix" }, xml("body", {}, "while you were out")));
    // Nothing comes back for a stored message: once the server has answered a ping sent
    // after it, it has handled (stored) the message, and an error would have come first.
    const pong = await alice.iq(xml("iq", { type: "get", to: splitBareJid(alice.bareJid).domain }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    expect(pong.attrs.type).toBe("result");
    expect(alice.pending()).toEqual([]);
    const run = await runSlixmpp(
      plan("carol", { actions: [{ do: "presence" }, { do: "wait_message", body: "while you were out", timeout: 10 }] }),
      { timeoutMs: 20_000 },
    );
    expect({ exitCode: run.exitCode, report: describeRun(run) }).toMatchObject({ exitCode: 0 });
    const message = eventsOf(run.events, "message").find((m) => m.body === "while you were out");
    expect(message?.from).toBe(alice.jid);
    expect(message?.delay).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  test("a closed port is a connection error naming the address (no DNS fallback for the .onion domain)", async () => {
    const run = await runSlixmpp({ ...plan("carol"), port: 1 }, { timeoutMs: 20_000 });
    expect(run.exitCode).toBe(1);
    expect(eventsOf(run.events, "error")[0]?.reason).toMatch(/connection to 127\.0\.0\.1:1 failed/);
  });
}
