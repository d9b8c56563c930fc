// Debian's slixmpp (a client we did not write) against our daemon: login with
// SCRAM (never PLAIN), roster, contacts, messages both ways, offline delivery.
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { requires } from "../support/requires.js";
import { slixmppScenarios } from "../support/slixmpp-scenarios.js";
import { runSlixmpp } from "../support/slixmpp.js";

requires("slixmpp").describe("slixmpp against purple-onion", () => {
  slixmppScenarios(() => startDaemon(["alice", "bob", "carol"]));
});

requires("slixmpp").describe("a client that insists on PLAIN", () => {
  let server: InProcessDaemon;
  beforeAll(async () => {
    server = await startDaemon(["dora"]);
  });
  afterAll(() => server.stop());

  test("cannot log in: the server offers SCRAM only", async () => {
    const { jid, password } = server.accounts.dora!;
    const run = await runSlixmpp({ host: server.host, port: server.port, jid, password, resource: "slixmpp", actions: [], mechanism: "PLAIN" }, { timeoutMs: 20_000 });
    expect(run.exitCode).toBe(1);
    expect(run.events.some((e) => e.event === "authenticated")).toBe(false);
    expect(server.logText()).not.toContain(password);
  });
});
