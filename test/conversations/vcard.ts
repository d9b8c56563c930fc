// XEP-0054 vcard-temp: the owner writes, anyone reads (Pidgin's "Get Info").
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

export const vcardStoreAndFetch: Conversation = {
  name: "vCard: alice publishes hers, bob reads it, bob cannot overwrite it",
  specs: ["XEP-0054 §3.1 (own vCard)", "§3.2 (another user's vCard)", "§3.3 (update)"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob", resource: "phone" } },
  steps: [
    { actor: "alice", connects: true },
    { actor: "bob", connects: true },
    { actor: "alice", sends: `<iq type="set" id="v1"><vCard xmlns="vcard-temp"><FN>Alice Onion</FN><NICKNAME>alice</NICKNAME></vCard></iq>` },
    { actor: "alice", receives: `<iq type="result" id="v1"/>` },
    { actor: "bob", sends: `<iq type="get" id="v2" to="${jid("alice")}"><vCard xmlns="vcard-temp"/></iq>` },
    {
      actor: "bob",
      receives: `<iq type="result" id="v2" from="${jid("alice")}"><vCard xmlns="vcard-temp"><FN>Alice Onion</FN><NICKNAME>alice</NICKNAME></vCard></iq>`,
    },
    { actor: "bob", sends: `<iq type="set" id="v3" to="${jid("alice")}"><vCard xmlns="vcard-temp"><FN>Mallory</FN></vCard></iq>` },
    { actor: "bob", receives: `<iq type="error" id="v3"><error type="{any}"/></iq>`, note: "only the owner may change a vCard" },
    { actor: "alice", sends: `<iq type="get" id="v4"><vCard xmlns="vcard-temp"/></iq>` },
    { actor: "alice", receives: `<iq type="result" id="v4"><vCard xmlns="vcard-temp"><FN>Alice Onion</FN></vCard></iq>` },
  ],
};
