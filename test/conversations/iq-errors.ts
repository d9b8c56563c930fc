// IQs nobody handles get a service-unavailable error, whoever they were for.
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

const unavailable = '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>';
const unknownPayload = '<nothing xmlns="urn:example:purple-onion:unknown"/>';

export const unknownIqNamespace: Conversation = {
  name: "IQ with an unknown namespace gets service-unavailable",
  specs: ["RFC 6120 §8.2.3 (IQ must be answered)", "§8.3.3.19 (service-unavailable, type cancel)", "RFC 6121 §8.5.2.1.3, §8.5.3.2.3"],
  actors: { alice: { account: "alice", resource: "laptop" }, bob: { account: "bob" } },
  steps: [
    { actor: "alice", connects: true },
    { actor: "alice", sends: `<iq type="get" id="u1" to="${jid("alice", "domain")}">${unknownPayload}</iq>` },
    {
      actor: "alice",
      receives: `<iq type="error" id="u1" from="${jid("alice", "domain")}">${unavailable}</iq>`,
      note: "to the server itself",
    },
    { actor: "alice", sends: `<iq type="set" id="u2">${unknownPayload}</iq>` },
    { actor: "alice", receives: `<iq type="error" id="u2">${unavailable}</iq>`, note: "no 'to': handled for the account itself" },
    { actor: "alice", sends: `<iq type="get" id="u3" to="${jid("bob")}">${unknownPayload}</iq>` },
    {
      actor: "alice",
      receives: `<iq type="error" id="u3" from="${jid("bob")}">${unavailable}</iq>`,
      note: "RFC 6121 §8.5.2.1.3: the server answers IQs to a bare JID on the account's behalf",
    },
    { actor: "alice", sends: `<iq type="get" id="u4" to="${jid("bob")}/nowhere">${unknownPayload}</iq>` },
    {
      actor: "alice",
      receives: `<iq type="error" id="u4" from="${jid("bob")}/nowhere">${unavailable}</iq>`,
      note: "RFC 6121 §8.5.3.2.3: IQ to a full JID with no such resource",
    },
  ],
};
