// Offline messages are delivered at least once, never lost (src/server/offline.ts): they leave
// the store only when the client answers the ping that follows them.
import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import path from "node:path";
import { DATABASE_FILE_NAME } from "../../src/store/store.js";
import { startDaemon, tempDataDir, type InProcessDaemon } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";

let server: InProcessDaemon | undefined;
let dataDir: string | undefined;
const open: RawXmpp[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await server?.stop();
  server = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

async function start(): Promise<InProcessDaemon> {
  dataDir = tempDataDir();
  server = await startDaemon(["alice", "bob"], { dataDir });
  return server;
}

async function login(who: "alice" | "bob", resource: string): Promise<RawXmpp> {
  const c = await RawXmpp.connect(server!.port);
  open.push(c);
  const account = server!.accounts[who]!;
  await c.login(account.jid, account.password, resource);
  return c;
}


/** Rows in the offline table, read through a connection of our own. */
function storedCount(): number {
  const db = new Database(path.join(dataDir!, DATABASE_FILE_NAME), { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM offline_messages").pluck().get() as number;
  } finally {
    db.close();
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let writers = 0;
/** alice writes to bob, who has no available resource: stored. */
async function storeForBob(...bodies: string[]): Promise<void> {
  const a = await login("alice", `w${++writers}`);
  for (const b of bodies) a.send(`<message to='${server!.accounts.bob!.jid}' type='chat' id='${b}'><body>${b}</body></message>`);
  await a.ping();
  a.close();
}

/** Initial presence; resolves with the id of the ping that follows the offline messages. */
async function comeOnline(c: RawXmpp, ...bodies: string[]): Promise<string> {
  c.send("<presence/>");
  for (const b of bodies) await c.waitFor(`<body>${b}</body>`);
  const [, id] = await c.waitFor(/<iq[^>]*id="(offline-[0-9a-f]+)"[^>]*>\s*<ping xmlns="urn:xmpp:ping"\/>/);
  // The ping comes after every message it acknowledges.
  for (const b of bodies) expect(c.received.indexOf(`<body>${b}</body>`)).toBeLessThan(c.received.indexOf(id!));
  return id!;
}

const closedUnanswered = () => server!.logText().includes("offline messages not acknowledged");

test("a client that drops between delivery and the ping's answer gets the messages again at its next login", async () => {
  await start();
  await storeForBob("one", "two");
  expect(storedCount()).toBe(2);

  const b1 = await login("bob", "phone");
  await comeOnline(b1, "one", "two");
  expect(storedCount()).toBe(2);
  b1.close();
  await until("the daemon to see bob's session close", closedUnanswered);
  expect(storedCount()).toBe(2);

  const b2 = await login("bob", "phone");
  const id = await comeOnline(b2, "one", "two");
  b2.send(`<iq type='result' id='${id}' to='${server!.accounts.bob!.jid.split("@")[1]}'/>`);
  await b2.ping();
  expect(storedCount()).toBe(0);
  b2.close();

  // Acknowledged: not delivered again.
  const b3 = await login("bob", "laptop");
  b3.send("<presence/>");
  await b3.ping();
  expect(b3.received).not.toContain("<body>");
  expect(b3.received).not.toContain("offline-");
});

test("an error answer to the ping acknowledges too: it proves the messages arrived", async () => {
  await start();
  await storeForBob("one");
  const b = await login("bob", "phone");
  const id = await comeOnline(b, "one");
  b.send(
    `<iq type='error' id='${id}'><ping xmlns='urn:xmpp:ping'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
  );
  await b.ping();
  expect(storedCount()).toBe(0);
});

test("two resources coming online together: one gets the messages; the other once the first vanishes unanswered", async () => {
  await start();
  await storeForBob("one", "two");
  const p = await login("bob", "phone");
  const l = await login("bob", "laptop");
  p.send("<presence/>");
  l.send("<presence/>");
  await Promise.all([p.ping(), l.ping()]);
  const holders = [p, l].filter((c) => c.received.includes("<body>one</body>"));
  expect(holders).toHaveLength(1);
  const [holder] = holders;
  const other = holder === p ? l : p;
  expect(other.received).not.toContain("<body>");
  expect(other.received).not.toContain("offline-");

  holder!.close();
  await until("the daemon to see the holder close", closedUnanswered);
  expect(storedCount()).toBe(2);
  // The other resource is still online: its next presence update picks them up.
  other.clear();
  other.send("<presence><show>away</show></presence>");
  const [, id] = await other.waitFor(/id="(offline-[0-9a-f]+)"/);
  expect(other.received).toContain("<body>one</body>");
  expect(other.received).toContain("<body>two</body>");
  other.send(`<iq type='result' id='${id}'/>`);
  await other.ping();
  expect(storedCount()).toBe(0);
});

test("a message stored while a delivery is in flight is not deleted by its answer", async () => {
  await start();
  await storeForBob("one");
  const b = await login("bob", "phone");
  const id = await comeOnline(b, "one");
  // bob goes unavailable (still connected) before answering: the next message is stored.
  b.send("<presence type='unavailable'/>");
  await b.ping();
  await storeForBob("two");
  expect(storedCount()).toBe(2);
  b.send(`<iq type='result' id='${id}'/>`);
  await b.ping();
  expect(storedCount()).toBe(1);
  // Available again: the one still stored comes, with a ping of its own.
  b.clear();
  const id2 = await comeOnline(b, "two");
  expect(b.received).not.toContain("<body>one</body>");
  b.send(`<iq type='result' id='${id2}'/>`);
  await b.ping();
  expect(storedCount()).toBe(0);
});

test("only the session the ping went to can answer it", async () => {
  await start();
  await storeForBob("one");
  const phone = await login("bob", "phone");
  const id = await comeOnline(phone, "one");
  const spy = await login("bob", "spy");
  spy.send(`<iq type='result' id='${id}'/>`);
  await spy.ping();
  expect(storedCount()).toBe(1);
  phone.send(`<iq type='result' id='${id}'/>`);
  await phone.ping();
  expect(storedCount()).toBe(0);
});

test("messages in flight when the daemon stops are delivered again after the restart", async () => {
  await start();
  const passwords = server!.accounts;
  await storeForBob("one");
  const b = await login("bob", "phone");
  await comeOnline(b, "one");
  await server!.stop();
  await b.waitClosed();
  server = await startDaemon([], { dataDir });
  server.accounts.alice = passwords.alice!;
  server.accounts.bob = passwords.bob!;
  expect(storedCount()).toBe(1);
  const again = await login("bob", "phone");
  const id = await comeOnline(again, "one");
  again.send(`<iq type='result' id='${id}'/>`);
  await again.ping();
  expect(storedCount()).toBe(0);
});
