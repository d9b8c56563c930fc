// What a user sees at login: the presence of the contacts they are subscribed
// to (the server probes for them), and their contacts see them arrive and leave.
import type { Conversation } from "../support/conversation.js";
import { comesOnline, jid } from "./steps.js";

const alice = jid("alice");
const bob = jid("bob");

export const presenceProbesAtLogin: Conversation = {
  name: "presence at login: probes answered, arrival and departure broadcast",
  specs: ["RFC 6121 §4.2.2 (initial presence broadcast and probes)", "§4.3.2 (probe answered)", "§4.6.2 (unavailable on disconnect)"],
  actors: {
    alice: { account: "alice", resource: "laptop" },
    bob: { account: "bob", resource: "phone" },
    alice2: { account: "alice", resource: "tablet" },
  },
  steps: [
    ...comesOnline("alice"),
    ...comesOnline("bob"),
    // Mutual subscription: bob pre-approves alice, then each subscribes to the other.
    { actor: "bob", sends: `<presence type="subscribed" to="${alice}"/>`, note: "RFC 6121 §3.4 pre-approval" },
    { actor: "alice", sends: `<presence type="subscribe" to="${bob}"/>` },
    { actor: "alice", receives: `<presence type="subscribed" from="${bob}"/>`, skipping: true, note: "pre-approved: answered at once" },
    { actor: "alice", sends: `<presence type="subscribed" to="${bob}"/>`, note: "alice pre-approves bob too" },
    { actor: "bob", sends: `<presence type="subscribe" to="${alice}"/>` },
    { actor: "bob", receives: `<presence type="subscribed" from="${alice}"/>`, skipping: true },
    { actor: "alice", disconnects: true },
    { actor: "bob", receives: `<presence type="unavailable" from="${jid("alice", "full")}"/>`, skipping: true, note: "§4.6.2: the server says it for a vanished client" },
    { actor: "alice2", connects: true },
    { actor: "alice2", sends: `<presence><status>back</status></presence>` },
    {
      actor: "alice2",
      receives: `<presence from="${jid("bob", "full")}" to="{any}" type="{absent}"/>`,
      skipping: true,
      note: "§4.2.2/§4.3.2: the server probed bob on alice's behalf and bob's server answered",
    },
    { actor: "bob", receives: `<presence from="${jid("alice2", "full")}" type="{absent}"><status>back</status></presence>`, skipping: true },
    { actor: "bob", sends: `<presence type="unavailable"/>` },
    { actor: "alice2", receives: `<presence type="unavailable" from="${jid("bob", "full")}"/>`, skipping: true },
  ],
};
