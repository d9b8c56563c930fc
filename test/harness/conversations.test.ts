// Every conversation in test/conversations against a fresh Prosody each, to
// validate the scripts and the runner on a real server. Steps marked as a
// known Prosody deviation must fail exactly there. Needs prosody
// (test/support/requires.ts).
import { conversationAccounts, conversations } from "../conversations/index.js";
import { ConversationFailure, knownDeviations, runConversation } from "../support/conversation.js";
import { startProsody, type ProsodyServer } from "../support/prosody.js";
import { requires } from "../support/requires.js";

requires("prosody").describe("conversations against Prosody [prosody]", () => {
  let server: ProsodyServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  for (const conversation of conversations) {
    const deviations = knownDeviations(conversation, "prosody");
    const marked = [...deviations.keys()].map((n) => `step ${n}`).join(", ");
    const title = deviations.size ? `${conversation.name} (known Prosody deviation at ${marked})` : conversation.name;

    test(title, async () => {
      server = await startProsody({ accounts: conversationAccounts });
      const run = runConversation(server, conversation, { serverName: "prosody" });
      if (deviations.size === 0) {
        await run;
        return;
      }
      const outcome = await run.then(
        () => new Error(`expected Prosody to fail at ${marked}, but the conversation passed: remove the deviation mark`),
        (err: unknown) => err,
      );
      if (!(outcome instanceof ConversationFailure) || outcome.deviation === undefined) throw outcome;
      expect([...deviations.values()]).toContain(outcome.deviation);
    });
  }
});
