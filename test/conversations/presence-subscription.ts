// The presence subscription handshake between two accounts, presence
// broadcast to subscribers only, and unsubscribing.
import type { Conversation, Step } from "../support/conversation.js";
import { comesOnline, jid, rosterPush } from "./steps.js";

const alice = jid("alice");
const bob = jid("bob");

/** alice subscribes to bob's presence and bob approves (alice: "to", bob: "from"). */
const handshake: Step[] = [
  ...comesOnline("alice"),
  ...comesOnline("bob"),
  { actor: "alice", sends: `<presence type="subscribe" to="${bob}"/>`, note: "RFC 6121 §3.1.1" },
  {
    actor: "alice",
    receives: rosterPush(`jid="${bob}" subscription="none" ask="subscribe"`),
    // Prosody also sends alice an unavailable presence from bob's bare JID here.
    skipping: true,
    note: "RFC 6121 §3.1.2: roster push with ask='subscribe'",
  },
  {
    actor: "bob",
    receives: `<presence type="subscribe" from="${alice}" to="${bob}"/>`,
    note: "RFC 6121 §3.1.3: delivered from the user's bare JID",
  },
  { actor: "bob", sends: `<presence type="subscribed" to="${alice}"/>`, note: "RFC 6121 §3.1.4" },
  {
    actor: "bob",
    receives: rosterPush(`jid="${alice}" subscription="from"`),
    note: "RFC 6121 §3.1.5: the contact's roster now says 'from'",
  },
  {
    actor: "alice",
    receives:
      `<presence type="subscribed" from="${bob}"/>` +
      rosterPush(`jid="${bob}" subscription="to" ask="{absent}"`) +
      `<presence type="{absent}" from="${jid("bob", "full")}" to="${alice}"/>`,
    unordered: true,
    skipping: true,
    note: "RFC 6121 §3.1.5/§3.1.6: approval, roster push 'to', then the contact's current presence",
  },
];

export const presenceSubscription: Conversation = {
  name: "presence subscription handshake, then broadcast only to subscribers",
  specs: ["RFC 6121 §3.1 (requesting a subscription)", "§4.4 (presence broadcast)"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone" } },
  steps: [
    ...handshake,
    { actor: "bob", sends: "<presence><show>away</show></presence>" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"><show>away</show></presence>` },
    {
      actor: "alice",
      receives: `<presence type="{absent}" from="${jid("bob", "full")}"><show>away</show></presence>`,
      note: "RFC 6121 §4.4.2: broadcast to contacts subscribed to the user ('from'/'both')",
    },
    { actor: "alice", sends: "<presence><show>dnd</show></presence>" },
    { actor: "alice", receives: `<presence from="${jid("alice", "full")}"><show>dnd</show></presence>` },
    {
      actor: "bob",
      receivesNothing: true,
      note: "RFC 6121 §4.4.2: bob is not subscribed to alice, so alice's presence must not reach him",
    },
  ],
};

export const presenceUnsubscribe: Conversation = {
  name: "unsubscribing ends presence delivery",
  specs: ["RFC 6121 §3.3 (unsubscribing)"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone" } },
  steps: [
    ...handshake,
    { actor: "alice", sends: `<presence type="unsubscribe" to="${bob}"/>`, note: "RFC 6121 §3.3.1" },
    {
      actor: "alice",
      receives: rosterPush(`jid="${bob}" subscription="none"`),
      note: "RFC 6121 §3.3.2: roster push, subscription back to 'none'",
    },
    {
      actor: "bob",
      receives: `<presence type="unsubscribe" from="${alice}"/>` + rosterPush(`jid="${alice}" subscription="none"`),
      unordered: true,
      note: "RFC 6121 §3.3.3: the contact gets the unsubscribe and a roster push",
    },
    {
      actor: "alice",
      receives: `<presence type="unavailable" from="${jid("bob", "full")}"/>`,
      note: "RFC 6121 §3.3.3: the contact's server then sends unavailable presence from each of the contact's available resources",
      timeoutMs: 2000,
      deviations: {
        prosody:
          "Prosody 0.12 mod_presence does not send unavailable presence on an inbound unsubscribe " +
          "(handle_inbound_presence_subscriptions_and_probes only delivers the stanza and pushes the roster)",
      },
    },
    { actor: "bob", sends: "<presence><show>xa</show></presence>" },
    { actor: "bob", receives: `<presence from="${jid("bob", "full")}"><show>xa</show></presence>` },
    { actor: "alice", receivesNothing: true, note: "no longer subscribed: bob's presence must not reach alice" },
  ],
};
