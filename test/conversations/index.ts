// Every conversation, for harnesses that run them all against one server.
import type { Conversation } from "../support/conversation.js";
import { carbonsCopies } from "./carbons.js";
import { unknownIqNamespace } from "./iq-errors.js";
import { loginAndEmptyRoster } from "./login-roster.js";
import { messagesBetweenAccounts, messagesBetweenOwnResources } from "./messages.js";
import { offlineMessage } from "./offline.js";
import { presenceProbesAtLogin } from "./presence-probes.js";
import { presenceSubscription, presenceUnsubscribe } from "./presence-subscription.js";
import { rosterPushToAllResources } from "./roster-push.js";
import { discoInfoServer, pingServer } from "./server-queries.js";
import { vcardStoreAndFetch } from "./vcard.js";

export const conversations: Conversation[] = [
  loginAndEmptyRoster,
  rosterPushToAllResources,
  presenceSubscription,
  presenceUnsubscribe,
  messagesBetweenOwnResources,
  messagesBetweenAccounts,
  offlineMessage,
  unknownIqNamespace,
  pingServer,
  discoInfoServer,
  carbonsCopies,
  vcardStoreAndFetch,
  presenceProbesAtLogin,
];

/** Accounts the conversations use; a server under test must provide them. */
export const conversationAccounts = [...new Set(conversations.flatMap((c) => Object.values(c.actors).map((a) => a.account)))];
