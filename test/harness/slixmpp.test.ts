// slixmpp against Prosody: validates test/support/slixmpp.ts and its script
// on a reference server. Needs prosody and slixmpp (test/support/requires.ts).
import { startProsody } from "../support/prosody.js";
import { requires } from "../support/requires.js";
import { slixmppScenarios } from "../support/slixmpp-scenarios.js";

requires("prosody", "slixmpp").describe("slixmpp against Prosody [prosody]", () => {
  slixmppScenarios(() => startProsody({ accounts: ["alice", "bob", "carol"] }));
});
