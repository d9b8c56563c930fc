// The outbox quota per peer, end to end in one process (no Tor; the daemon's default is 10 000
// rows, too many to fill over Tor): a client's messages to a server that cannot be reached yet
// are rows up to the quota; past it the sender gets resource-constraint and nothing is queued;
// once the peer is reachable every queued message arrives, in order, and the quota is free again.
// X is the daemon's XmppServer + Federation (alice on A), Y a peer serving B (s2s-fixture).
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { silentLogger } from "../../src/daemon/logger.js";
import { Federation } from "../../src/s2s/federation.js";
import { XmppServer } from "../../src/server/xmpp-server.js";
import { openStore, type Store } from "../../src/store/store.js";
import { deriveStoredCredentials } from "../../src/xmpp/sasl/scram.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { cleanupTempDirs, tempDir } from "../store/fixtures.js";
import { newOnion, World } from "./s2s-fixture.js";

const A = newOnion();
const B = newOnion();
const QUOTA = 3;
const PASSWORD = "correct horse";

let world: World;
let store: Store;
let server: XmppServer;
let federation: Federation;
let client: RawXmpp | undefined;

afterEach(async () => {
  client?.close();
  federation.close();
  await server.close();
  await world.close();
  store.close();
  cleanupTempDirs();
});

/** The <message/> elements the client got, as text, one each. */
function messages(c: RawXmpp): string[] {
  return c.received.split(/(?=<message[\s>])/).filter((m) => m.startsWith("<message"));
}

test("past the per-peer quota the sender gets resource-constraint; nothing below it is lost", async () => {
  world = new World();
  const y = await world.side([B]);
  store = openStore(tempDir(), { maxOutboxPerPair: QUOTA });
  store.accounts.create({ jid: `alice@${A}`, localpart: "alice", domain: A, createdAt: Date.now(), credentials: deriveStoredCredentials(PASSWORD) });
  server = new XmppServer({ store, log: silentLogger(), unknownUserSecret: randomBytes(32) });
  server.addHost("alice", A);
  const port = await server.listen(0);
  // The peer "is down" until the test lets the dial through.
  let reachable = false;
  const held: (() => void)[] = [];
  const dial = async (local: string, remote: string): Promise<Socket> => {
    if (!reachable) await new Promise<void>((resolve) => held.push(resolve));
    return world.dial(local, remote);
  };
  federation = new Federation({ store, router: server.router, log: silentLogger(), secret: randomBytes(32), dial });
  await world.listen(A, federation.manager);
  federation.start();

  client = await RawXmpp.connect(port);
  await client.login(`alice@${A}`, PASSWORD, "pc");
  for (let i = 1; i <= QUOTA + 2; i++) client.send(`<message to='bob@${B}' type='chat' id='m${i}'><body>queued ${i}</body></message>`);
  await client.ping();

  const bounces = messages(client).filter((m) => /type="error"/.test(m));
  expect(bounces).toHaveLength(2);
  for (const [n, b] of bounces.entries()) {
    expect(b).toContain(`id="m${QUOTA + 1 + n}"`);
    expect(b).toContain("<resource-constraint");
    expect(b).toContain("too many messages are waiting for that server");
  }
  const bodies = (rows: { stanzaXml: string }[]) => rows.map((r) => /<body>([^<]*)</.exec(r.stanzaXml)?.[1]);
  expect(bodies(store.outbox.list(A, B, 10))).toEqual(["queued 1", "queued 2", "queued 3"]);

  reachable = true;
  for (const release of held.splice(0)) release();
  const atY = () => y.routing.received.filter((r) => r.stanza.is("message")).map((r) => r.stanza.getChildText("body"));
  await y.routing.until(() => atY().length >= QUOTA, 5000, "the queued messages at Y");
  await y.routing.until(() => store.outbox.count(A, B) === 0, 5000, "the rows confirmed and deleted");
  expect(atY()).toEqual(["queued 1", "queued 2", "queued 3"]);

  // The quota is free again.
  client.send(`<message to='bob@${B}' type='chat' id='m-after'><body>after</body></message>`);
  await y.routing.until(() => atY().includes("after"), 5000, "a message after the backlog drained");
  await client.ping();
  expect(messages(client).filter((m) => /type="error"/.test(m))).toHaveLength(2);
});
