// The conversation runner must fail, clearly, when a server does not do what
// a script says: checked with small scripts against a real server (Prosody).
// Needs prosody (test/support/requires.ts).
import { ConversationFailure, runConversation, type Conversation, type Step } from "../support/conversation.js";
import { startProsody, type ProsodyServer } from "../support/prosody.js";
import { requires } from "../support/requires.js";

const twoResources = { laptop: { account: "alice", resource: "laptop" }, phone: { account: "alice", resource: "phone" } };
const connectBoth: Step[] = [
  { actor: "laptop", connects: true },
  { actor: "phone", connects: true },
];
const twoMessages: Step[] = [
  { actor: "laptop", sends: '<message to="${phone.full}" type="chat" id="one"><body>one</body></message>' },
  { actor: "laptop", sends: '<message to="${phone.full}" type="chat" id="two"><body>two</body></message>' },
];

function conversation(name: string, steps: Step[], actors: Conversation["actors"] = twoResources): Conversation {
  return { name, actors, steps };
}

requires("prosody").describe("conversation runner against Prosody [prosody]", () => {
  let server: ProsodyServer;
  beforeAll(async () => {
    server = await startProsody({ accounts: ["alice", "bob"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function failure(conv: Conversation, timeoutMs = 1000): Promise<ConversationFailure> {
    const outcome = await runConversation(server, conv, { timeoutMs, serverName: "prosody" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!(outcome instanceof ConversationFailure)) throw new Error(`expected a ConversationFailure, got ${String(outcome)}`);
    return outcome;
  }

  test("a passing script resolves with a transcript of what happened", async () => {
    const transcript = await runConversation(
      server,
      conversation("in order", [
        ...connectBoth,
        ...twoMessages,
        { actor: "phone", receives: '<message id="one"><body>one</body></message><message id="two"/>' },
      ]),
    );
    expect(transcript[0]).toMatch(/^laptop connected as alice@.*\/laptop$/);
    expect(transcript.filter((l) => l.startsWith("phone received: "))).toHaveLength(2);
  });

  test("a wrong value fails with expected, received and the reason", async () => {
    const err = await failure(
      conversation("wrong body", [...connectBoth, twoMessages[0]!, { actor: "phone", receives: '<message id="one"><body>uno</body></message>' }]),
    );
    expect(err.message).toMatch(/failed at step 4 of 4 \(phone receives\)/);
    expect(err.message).toMatch(/--- expected ---\n<message xmlns="jabber:client" id="one">\n {2}<body>uno<\/body>/);
    expect(err.message).toMatch(/--- received ---\n<message[^\n]* id="one"/);
    expect(err.message).toMatch(/--- why ---\n\/message\/body: text expected "uno", got "one"/);
    expect(err.message).toMatch(/--- Prosody log tail/);
    expect(err.deviation).toBeUndefined();
  });

  test("order matters unless unordered; the report says when the order was the problem", async () => {
    const reversed = '<message id="two"/><message id="one"/>';
    const err = await failure(conversation("strict order", [...connectBoth, ...twoMessages, { actor: "phone", receives: reversed }]));
    expect(err.message).toMatch(/a matching stanza did arrive later/);
    await runConversation(server, conversation("any order", [...connectBoth, ...twoMessages, { actor: "phone", receives: reversed, unordered: true }]));
  });

  test("skipping drops stanzas that match nothing; without it they fail the step", async () => {
    const onlyTwo = '<message id="two"/>';
    await runConversation(server, conversation("skip", [...connectBoth, ...twoMessages, { actor: "phone", receives: onlyTwo, skipping: true }]));
    const err = await failure(conversation("no skip", [...connectBoth, ...twoMessages, { actor: "phone", receives: onlyTwo }]));
    expect(err.message).toMatch(/attribute id expected "two", got "one"/);
  });

  test("a missing stanza times out with what was expected", async () => {
    const err = await failure(conversation("nothing comes", [...connectBoth, { actor: "phone", receives: '<message id="never"/>' }]), 300);
    expect(err.message).toMatch(/phone expected this stanza but nothing more arrived within 300 ms:\n<message xmlns="jabber:client" id="never"\/>/);
  });

  test("receivesNothing fails when something arrives", async () => {
    const err = await failure(conversation("quiet", [...connectBoth, twoMessages[0]!, { actor: "phone", receivesNothing: true }]));
    expect(err.message).toMatch(/phone should have received nothing, but got 1 stanza\(s\) before the pong:\n<message/);
  });

  test("a step marked as a known deviation of this server reports it", async () => {
    const marked: Step = { actor: "phone", receives: '<message id="never"/>', deviations: { prosody: "does not invent messages" } };
    const err = await failure(conversation("marked", [...connectBoth, marked]), 200);
    expect(err.deviation).toBe("does not invent messages");
    expect(err.message).toMatch(/known deviation of prosody: does not invent messages/);
  });

  test("script mistakes are reported as such", async () => {
    expect((await failure(conversation("typo", [{ actor: "lapton", connects: true }]))).message).toMatch(/unknown actor "lapton"/);
    expect((await failure(conversation("early", [{ actor: "laptop", sends: "<presence/>" }]))).message).toMatch(/laptop has not connected/);
    expect((await failure(conversation("full too early", [{ actor: "laptop", connects: true }, { actor: "laptop", sends: '<message to="${phone.full}"/>' }]))).message).toMatch(
      /\$\{phone\.full\} used before phone connected/,
    );
    expect((await failure(conversation("bad field", [{ actor: "laptop", connects: true }, { actor: "laptop", sends: '<message to="${phone.jid}"/>' }]))).message).toMatch(
      /unknown placeholder \$\{phone\.jid\}/,
    );
    expect((await failure(conversation("bad xml", [{ actor: "laptop", connects: true }, { actor: "laptop", sends: "<message>" }]))).message).toMatch(/invalid XML in test script/);
    expect((await failure(conversation("no account", [], { x: { account: "mallory" } }))).message).toMatch(/account "mallory", which the server under test does not have/);
  });
});
