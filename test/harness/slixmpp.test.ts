// slixmpp against Prosody: validates test/support/slixmpp.ts and its script
// on a reference server. Skipped with PURPLE_ONION_SKIP_PROSODY=1.
import { prosodySkipReason, startProsody } from "../support/prosody.js";
import { slixmppScenarios } from "../support/slixmpp-scenarios.js";

const describeProsody = prosodySkipReason() ? describe.skip : describe;

describeProsody("slixmpp against Prosody [prosody]", () => {
  slixmppScenarios(() => startProsody({ accounts: ["alice", "bob", "carol"] }));
});
