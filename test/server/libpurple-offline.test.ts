// Real libpurple (Finch) acknowledges offline messages: it answers the XEP-0199 ping our server
// sends after them (src/server/offline.ts), so they leave the store once, after it has them.
import Database from "better-sqlite3";
import path from "node:path";
import { DATABASE_FILE_NAME } from "../../src/store/store.js";
import { xml } from "../../src/xmpp/xml.js";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { startFinch, type Finch } from "../support/finch.js";
import { requires } from "../support/requires.js";
import { splitBareJid } from "../support/server-under-test.js";
import { connectClient } from "../support/xmpp-client.js";


let daemon: InProcessDaemon | undefined;
let finch: Finch | undefined;
afterEach(async () => {
  await finch?.stop();
  await daemon?.stop();
});

function storedCount(dataDir: string): number {
  const db = new Database(path.join(dataDir, DATABASE_FILE_NAME), { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM offline_messages").pluck().get() as number;
  } finally {
    db.close();
  }
}

requires("finch", "netns").test("libpurple answers the ping after its offline messages, and they leave the store", async () => {
  daemon = await startDaemon(["alice", "bob"]);
  const d = daemon;
  const alice = d.accounts.alice!;
  const b = d.accounts.bob!;
  const bobJid = splitBareJid(b.jid);
  const bob = await connectClient({ host: d.host, port: d.port, domain: bobJid.domain, username: bobJid.local, password: b.password });
  await bob.send(xml("message", { to: alice.jid, type: "chat", id: "off-1" }, xml("body", {}, "written while you were away")));
  await bob.iq(`<iq type="get" id="sync"><ping xmlns="urn:xmpp:ping"/></iq>`);
  await bob.close();
  expect(storedCount(d.dataDir)).toBe(1);

  finch = await startFinch({ jid: alice.jid, password: alice.password, server: { host: d.host, port: d.port } });
  const f = finch;
  try {
    await f.waitFor("the offline message and libpurple's answer to the ping after it", () => {
      const log = f.debugLog();
      return log.includes("written while you were away") && d.logText().includes("offline messages acknowledged");
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- finch ---\n${f.debugTail(30)}\n--- daemon ---\n${d.diagnostics?.() ?? ""}`);
  }
  expect(storedCount(d.dataDir)).toBe(0);
});
