// Every conversation script in test/conversations, against our daemon, with
// @xmpp/client as the client. The same scripts pass on Prosody
// (test/harness/conversations.test.ts), so they test RFC behaviour, not ours.
import { conversationAccounts, conversations } from "../conversations/index.js";
import { knownDeviations, runConversation } from "../support/conversation.js";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";

let server: InProcessDaemon | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

for (const conversation of conversations) {
  test(conversation.name, async () => {
    // A deviation marked for us would be a bug to fix, not to document.
    expect(knownDeviations(conversation, "purple-onion").size).toBe(0);
    server = await startDaemon(conversationAccounts);
    await runConversation(server, conversation, { serverName: "purple-onion" });
  });
}
