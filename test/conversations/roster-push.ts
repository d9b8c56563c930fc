// Roster set, update and remove from one resource; the other resource of the
// same account sees every change as a roster push.
import type { Conversation } from "../support/conversation.js";
import { emptyRosterResult, getsRoster, jid, rosterPush } from "./steps.js";

const juliet = `juliet@${jid("laptop", "domain")}`;

export const rosterPushToAllResources: Conversation = {
  name: "roster set, update and remove are pushed to both resources",
  specs: ["RFC 6121 §2.1.6 (roster push)", "§2.3 (add)", "§2.4 (update)", "§2.5 (delete)"],
  actors: {
    laptop: { account: "alice", resource: "laptop" },
    phone: { account: "alice", resource: "phone" },
  },
  steps: [
    { actor: "laptop", connects: true },
    { actor: "phone", connects: true },
    ...getsRoster("laptop"),
    ...getsRoster("phone"),
    {
      actor: "laptop",
      sends: `<iq type="set" id="add-1"><query xmlns="jabber:iq:roster"><item jid="${juliet}" name="Juliet"><group>Friends</group></item></query></iq>`,
    },
    {
      actor: "laptop",
      receives: `<iq type="result" id="add-1"/>` + rosterPush(`jid="${juliet}" name="Juliet" subscription="none" ask="{absent}"`, "<group>Friends</group>"),
      unordered: true,
      note: "RFC 6121 §2.3.2: result to the requester and a push to every interested resource, the requester included",
    },
    { actor: "phone", receives: rosterPush(`jid="${juliet}" name="Juliet" subscription="none"`, "<group>Friends</group>") },
    { actor: "phone", sends: '<iq type="get" id="get-1"><query xmlns="jabber:iq:roster"/></iq>' },
    {
      actor: "phone",
      receives: `<iq type="result" id="get-1"><query xmlns="jabber:iq:roster"><item jid="${juliet}" name="Juliet" subscription="none"><group>Friends</group></item></query></iq>`,
    },
    {
      actor: "phone",
      sends: `<iq type="set" id="update-1"><query xmlns="jabber:iq:roster"><item jid="${juliet}" name="Juliet C."><group>Friends</group><group>Verona</group></item></query></iq>`,
    },
    {
      actor: "phone",
      receives:
        `<iq type="result" id="update-1"/>` +
        rosterPush(`jid="${juliet}" name="Juliet C." subscription="none"`, "<group>Verona</group><group>Friends</group>"),
      unordered: true,
      note: "RFC 6121 §2.4: an update replaces name and groups (group order is not significant)",
    },
    {
      actor: "laptop",
      receives: rosterPush(`jid="${juliet}" name="Juliet C." subscription="none"`, "<group>Friends</group><group>Verona</group>"),
    },
    {
      actor: "laptop",
      sends: `<iq type="set" id="remove-1"><query xmlns="jabber:iq:roster"><item jid="${juliet}" subscription="remove"/></query></iq>`,
    },
    {
      actor: "laptop",
      receives: `<iq type="result" id="remove-1"/>` + rosterPush(`jid="${juliet}" subscription="remove"`),
      unordered: true,
      note: "RFC 6121 §2.5.2: removal is pushed with subscription='remove'",
    },
    { actor: "phone", receives: rosterPush(`jid="${juliet}" subscription="remove"`) },
    { actor: "phone", sends: '<iq type="get" id="get-2"><query xmlns="jabber:iq:roster"/></iq>' },
    { actor: "phone", receives: emptyRosterResult("get-2"), exact: true },
  ],
};
