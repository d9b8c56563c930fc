// Logging in with SCRAM (the only mechanism purple-onion offers) and fetching a fresh, empty roster.
import type { Conversation } from "../support/conversation.js";
import { emptyRosterResult } from "./steps.js";

export const loginAndEmptyRoster: Conversation = {
  name: "two logins with SCRAM-SHA-1, then an empty roster",
  specs: ["RFC 6120 §6 (SASL), §7 (resource binding)", "RFC 6121 §2.1.3 (roster get)"],
  actors: {
    alice: { account: "alice", resource: "laptop", mechanisms: ["SCRAM-SHA-1"] },
    bob: { account: "bob", resource: "phone", mechanisms: ["SCRAM-SHA-1"] },
  },
  steps: [
    { actor: "alice", connects: true, note: "SCRAM-SHA-1 (RFC 5802) over plain TCP" },
    { actor: "bob", connects: true, note: "no PLAIN: purple-onion offers SCRAM only" },
    { actor: "alice", sends: '<iq type="get" id="roster-1"><query xmlns="jabber:iq:roster"/></iq>' },
    {
      actor: "alice",
      receives: emptyRosterResult("roster-1"),
      exact: true,
      note: "a new account's roster has no items",
    },
    { actor: "bob", sends: '<iq type="get" id="roster-2"><query xmlns="jabber:iq:roster"/></iq>' },
    { actor: "bob", receives: emptyRosterResult("roster-2"), exact: true },
    { actor: "alice", receivesNothing: true, note: "bob's login shows nothing to alice: no presence was sent" },
  ],
};
