// A message to an account with no available resource is stored and delivered,
// stamped with XEP-0203 delay, once the account comes online; only once to a
// client that answers pings (a server may ping to learn it received them).
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

export const offlineMessage: Conversation = {
  name: "offline message delivered with <delay/> after bob comes online",
  specs: ["RFC 6121 §8.5.2.2.1 (no available resources: store)", "XEP-0160", "XEP-0203"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone", answersPings: true } },
  steps: [
    { actor: "bob", connects: true, note: "bob was online before..." },
    { actor: "bob", sends: "<presence/>" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"/>` },
    { actor: "bob", disconnects: true, note: "...and is gone now" },
    { actor: "alice", connects: true },
    { actor: "alice", sends: `<message to="${jid("bob")}" type="chat" id="off-1"><body>are you there?</body></message>` },
    { actor: "alice", receivesNothing: true, note: "stored, so no error comes back" },
    { actor: "bob", connects: true },
    { actor: "bob", receivesNothing: true, note: "XEP-0160: stored messages wait for initial presence" },
    { actor: "bob", sends: "<presence/>" },
    {
      actor: "bob",
      receives:
        `<presence from="${jid("bob", "full")}"/>` +
        `<message from="${jid("alice", "full")}" type="chat" id="off-1"><body>are you there?</body>` +
        `<delay xmlns="urn:xmpp:delay" stamp="{any}"/></message>`,
      unordered: true,
      note: "XEP-0160 §3/XEP-0203: delivered after initial presence, with a delay stamp",
    },
    { actor: "bob", sends: `<iq type="get" id="sync-1" to="${jid("bob", "domain")}"><ping xmlns="urn:xmpp:ping"/></iq>` },
    {
      actor: "bob",
      receives: `<iq type="result" id="sync-1" from="${jid("bob", "domain")}"/>`,
      note: "RFC 6120 §10.1: in order, so whatever the server sent before this answer (a ping) is answered too",
    },
    { actor: "bob", disconnects: true },
    { actor: "bob", connects: true },
    { actor: "bob", sends: "<presence/>" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"/>` },
    { actor: "bob", receivesNothing: true, note: "delivered messages are removed from storage" },
  ],
};
