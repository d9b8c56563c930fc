// XEP-0280: a resource with carbons enabled sees the chats of its siblings,
// both what they receive and what they send.
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

export const carbonsCopies: Conversation = {
  name: "carbons: the phone sees what the laptop sends and receives",
  specs: ["XEP-0280 §6 (received)", "XEP-0280 §7 (sent)", "XEP-0280 §8 (private opt-out)"],
  actors: {
    laptop: { account: "alice", resource: "laptop" },
    phone: { account: "alice", resource: "phone" },
    bob: { account: "bob", resource: "desk" },
  },
  steps: [
    { actor: "laptop", connects: true },
    { actor: "phone", connects: true },
    { actor: "bob", connects: true },
    { actor: "phone", sends: `<iq type="set" id="c1"><enable xmlns="urn:xmpp:carbons:2"/></iq>` },
    { actor: "phone", receives: `<iq type="result" id="c1"/>` },
    { actor: "laptop", sends: `<message to="${jid("bob", "full")}" type="chat" id="s1"><body>sent from the laptop</body></message>` },
    { actor: "bob", receives: `<message from="${jid("laptop", "full")}" type="chat" id="s1"><body>sent from the laptop</body></message>` },
    {
      actor: "phone",
      receives:
        `<message from="${jid("phone")}" to="${jid("phone", "full")}" type="chat"><sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
        `<message xmlns="jabber:client" from="${jid("laptop", "full")}" to="${jid("bob", "full")}" type="chat" id="s1"><body>sent from the laptop</body></message>` +
        `</forwarded></sent></message>`,
      note: "XEP-0280 §7: a copy of the outbound chat, from the bare JID",
    },
    { actor: "bob", sends: `<message to="${jid("laptop", "full")}" type="chat" id="r1"><body>to the laptop only</body></message>` },
    { actor: "laptop", receives: `<message from="${jid("bob", "full")}" type="chat" id="r1"><body>to the laptop only</body></message>` },
    {
      actor: "phone",
      receives:
        `<message from="${jid("phone")}" to="${jid("phone", "full")}" type="chat"><received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
        `<message xmlns="jabber:client" from="${jid("bob", "full")}" to="${jid("laptop", "full")}" type="chat" id="r1"><body>to the laptop only</body></message>` +
        `</forwarded></received></message>`,
      note: "XEP-0280 §6: a copy of the inbound chat",
    },
    {
      actor: "bob",
      sends: `<message to="${jid("laptop", "full")}" type="chat" id="p1"><body>secret</body><private xmlns="urn:xmpp:carbons:2"/></message>`,
    },
    { actor: "laptop", receives: `<message from="${jid("bob", "full")}" type="chat" id="p1"><body>secret</body></message>` },
    { actor: "phone", receivesNothing: true, note: "XEP-0280 §8: <private/> messages are not copied" },
  ],
};
