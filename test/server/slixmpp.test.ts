// Debian's slixmpp (a client we did not write) against our daemon: login with
// SCRAM and PLAIN, roster, contacts, messages both ways, offline delivery.
import { startDaemon } from "../support/daemon.js";
import { requires } from "../support/requires.js";
import { slixmppScenarios } from "../support/slixmpp-scenarios.js";

requires("slixmpp").describe("slixmpp against purple-onion", () => {
  slixmppScenarios(() => startDaemon(["alice", "bob", "carol"]));
});
