// Messages between two resources of one account and between two accounts.
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

export const messagesBetweenOwnResources: Conversation = {
  name: "messages between two resources of one account",
  specs: ["RFC 6120 §8.1.2.1 (from stamped by the server)", "RFC 6121 §8.5.3.1 (full JID, resource connected)"],
  actors: { laptop: { account: "alice", resource: "laptop" }, phone: { account: "alice", resource: "phone" } },
  steps: [
    { actor: "laptop", connects: true },
    { actor: "phone", connects: true },
    { actor: "laptop", sends: `<message to="${jid("phone", "full")}" type="chat" id="m1"><body>note to self</body></message>` },
    {
      actor: "phone",
      receives: `<message from="${jid("laptop", "full")}" to="${jid("phone", "full")}" type="chat" id="m1"><body>note to self</body></message>`,
    },
    { actor: "phone", sends: `<message to="${jid("laptop", "full")}" type="chat" id="m2"><body>got it ✓</body></message>` },
    {
      actor: "laptop",
      receives: `<message from="${jid("phone", "full")}" to="${jid("laptop", "full")}" type="chat" id="m2"><body>got it ✓</body></message>`,
    },
    { actor: "phone", receivesNothing: true, note: "no echo to the sender (carbons were not enabled)" },
  ],
};

export const messagesBetweenAccounts: Conversation = {
  name: "messages between two accounts, to the bare and to the full JID",
  specs: ["RFC 6121 §8.5.2.1.1 (message to bare JID, available resource)", "§8.5.3.1 (to full JID)"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone" } },
  steps: [
    { actor: "alice", connects: true },
    { actor: "bob", connects: true },
    { actor: "bob", sends: "<presence/>", note: "available, so a message to the bare JID is delivered now" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"/>` },
    { actor: "alice", sends: `<message to="${jid("bob")}" type="chat" id="m1"><body>Grüße, Bob – 你好 🌍</body></message>` },
    {
      actor: "bob",
      receives: `<message from="${jid("alice", "full")}" to="${jid("bob")}" type="chat" id="m1"><body>Grüße, Bob – 你好 🌍</body></message>`,
      note: "delivered to bob's only available resource, 'to' left as the bare JID, text intact",
    },
    { actor: "bob", sends: `<message to="${jid("alice", "full")}" type="chat" id="m2"><body>Hi Alice</body></message>` },
    {
      actor: "alice",
      receives: `<message from="${jid("bob", "full")}" to="${jid("alice", "full")}" type="chat" id="m2"><body>Hi Alice</body></message>`,
    },
    { actor: "alice", sends: `<message to="${jid("bob", "full")}" type="normal" id="m3"><subject>s</subject><body>direct</body></message>` },
    {
      actor: "bob",
      receives: `<message from="${jid("alice", "full")}" to="${jid("bob", "full")}" type="normal" id="m3"><subject>s</subject><body>direct</body></message>`,
    },
  ],
};
