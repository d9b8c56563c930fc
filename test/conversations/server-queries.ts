// Queries answered by the server itself: XEP-0199 ping, XEP-0030 disco#info.
import type { Conversation } from "../support/conversation.js";
import { jid } from "./steps.js";

const server = jid("alice", "domain");

export const pingServer: Conversation = {
  name: "ping the server",
  specs: ["XEP-0199 §4.2 (client-to-server ping)"],
  actors: { alice: { account: "alice", resource: "laptop" } },
  steps: [
    { actor: "alice", connects: true },
    { actor: "alice", sends: `<iq type="get" id="ping-1" to="${server}"><ping xmlns="urn:xmpp:ping"/></iq>` },
    {
      actor: "alice",
      receives: `<iq type="result" id="ping-1" from="${server}" to="{optional}" xml:lang="{optional}"/>`,
      exact: true,
      note: "an empty result",
    },
    { actor: "alice", sends: '<iq type="get" id="ping-2"><ping xmlns="urn:xmpp:ping"/></iq>' },
    { actor: "alice", receives: '<iq type="result" id="ping-2"/>', note: "no 'to': the server answers for the account" },
  ],
};

export const discoInfoServer: Conversation = {
  name: "disco#info on the server",
  specs: ["XEP-0030 §3.1", "RFC 6120 (identity category server, type im)"],
  actors: { alice: { account: "alice", resource: "laptop" } },
  steps: [
    { actor: "alice", connects: true },
    { actor: "alice", sends: `<iq type="get" id="disco-1" to="${server}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>` },
    {
      actor: "alice",
      receives: `<iq type="result" id="disco-1" from="${server}">
        <query xmlns="http://jabber.org/protocol/disco#info">
          <identity category="server" type="im"/>
          <feature var="http://jabber.org/protocol/disco#info"/>
          <feature var="urn:xmpp:ping"/>
        </query>
      </iq>`,
      note: "XEP-0030: at least one identity, and every entity supports disco#info itself",
    },
  ],
};
