// A message to an account with no available resource is stored and delivered,
// stamped with XEP-0203 delay, once the account comes online; only once.
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

export const offlineMessage: Conversation = {
  name: "offline message delivered with <delay/> after bob comes online",
  specs: ["RFC 6121 §8.5.2.2.1 (no available resources: store)", "XEP-0160", "XEP-0203"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone" } },
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
    { actor: "bob", disconnects: true },
    { actor: "bob", connects: true },
    { actor: "bob", sends: "<presence/>" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"/>` },
    { actor: "bob", receivesNothing: true, note: "delivered messages are removed from storage" },
  ],
};
