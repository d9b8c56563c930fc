// One message from an XMPP account, as a separate program so that it can run
// inside another network namespace (nsenter --net=... node xmpp-say.js):
//
//   node dist/test/ui/xmpp-say.js HOST PORT JID PASSWORD TO TEXT
//
// Signs on, sends available presence and a chat message to TO, signs off.
import { xml } from "../../src/xmpp/xml.js";
import { connectClient } from "../support/xmpp-client.js";

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 6) {
    process.stderr.write("usage: xmpp-say HOST PORT JID PASSWORD TO TEXT\n");
    return 2;
  }
  const [host, port, jid, password, to, text] = argv as [string, string, string, string, string, string];
  const [username, domain] = jid.split("@") as [string, string];
  const client = await connectClient({ host, port: Number(port), domain, username, password, resource: "say", answerPings: true });
  await client.send(xml("presence"));
  await client.send(xml("message", { to, type: "chat" }, xml("body", {}, text)));
  // The server has the message once it answers a ping sent after it.
  await client.iq(xml("iq", { type: "get", to: domain }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  await client.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`xmpp-say: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
