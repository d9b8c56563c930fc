// Scripted XMPP conversations, in the spirit of Prosody's scansion: who
// connects, who sends what, what must come back. A conversation is plain data
// (test/conversations/*.ts) and runs against any ServerUnderTest.
//
// Semantics of the steps:
// * { actor, connects: true }    TCP + SASL + resource binding; no presence is sent.
// * { actor, disconnects: true } closes the stream (</stream:stream>) and socket.
// * { actor, sends: xml }        writes the XML text as given (after placeholders).
// * { actor, receives: xml }     one or more expected stanzas. By default the next
//     stanzas that arrive for the actor, oldest first, must match them in order;
//     anything else arriving first is a failure. Options:
//       unordered: true  the expected stanzas may arrive in any order (they must
//                        still be the next N stanzas unless skipping); each
//                        arriving stanza takes the first expectation it fits,
//                        so write the more specific expectations first;
//       skipping: true   stanzas that match nothing are dropped (and listed if
//                        the step fails);
//       exact: true      no extra attributes/children/text (stanza-match.ts);
//       ordered: true    child elements in the order written (stanza-match.ts);
//       timeoutMs        how long to wait for the stanzas (default 5000).
//     Matching rules are in test/support/stanza-match.ts.
// * { actor, receivesNothing: true } nothing may arrive (or be left
//     unconsumed) for the actor. Not a sleep: every other connected actor, then
//     this one, sends an XEP-0199 ping to its server and waits for the pong.
//     A server handles each stream in order, so once the others' pongs are
//     back it has handled what they sent before; and anything it sent this
//     actor before answering its ping arrives before the pong.
// Any step may carry `note` (why, with the RFC section; shown on failure) and
// `deviations: { prosody: "why" }`: a server known to fail that step; the
// failure then carries `deviation` so a harness can expect exactly it.
// Placeholders in sends/receives: ${alice} bare JID, ${alice.full} full JID as
// bound (after connects), ${alice.domain}, ${alice.local}, ${alice.resource}.
// In a TS template literal write them as \${alice}; in '...' strings as is.
import { escapeXML, type Element } from "../../src/xmpp/xml.js";
import { splitBareJid, type ServerUnderTest } from "./server-under-test.js";
import { matchUnordered, mismatch, prettyXml, type MatchOptions } from "./stanza-match.js";
import { parseXmlFragment } from "./xml-fragment.js";
import { connectClient, type SaslMechanism, type TestClient } from "./xmpp-client.js";

export interface ActorSpec {
  /** Key into ServerUnderTest.accounts. Several actors may share an account. */
  account: string;
  /** Resource to request; default the actor's name. */
  resource?: string;
  mechanisms?: SaslMechanism[];
  /** Answer the server's XEP-0199 pings, as libpurple does; they never show up in steps. */
  answersPings?: boolean;
}

interface StepBase {
  actor: string;
  /** Why this step is here (cite the RFC section), shown in failure reports. */
  note?: string;
  /**
   * Servers known to fail this step, by server name ("prosody"), with why.
   * A failure at such a step is reported with `deviation` set, so a harness
   * can expect exactly that failure (and notice when it goes away).
   */
  deviations?: Record<string, string>;
}
export interface ConnectStep extends StepBase {
  connects: true;
}
export interface DisconnectStep extends StepBase {
  disconnects: true;
}
export interface SendStep extends StepBase {
  sends: string;
}
export interface ReceiveStep extends StepBase {
  receives: string;
  unordered?: boolean;
  skipping?: boolean;
  exact?: boolean;
  ordered?: boolean;
  timeoutMs?: number;
}
export interface ReceiveNothingStep extends StepBase {
  receivesNothing: true;
}
export type Step = ConnectStep | DisconnectStep | SendStep | ReceiveStep | ReceiveNothingStep;

export interface Conversation {
  name: string;
  /** The RFC/XEP sections the conversation checks. */
  specs?: string[];
  actors: Record<string, ActorSpec>;
  steps: Step[];
}

export interface RunOptions {
  /** Default wait of `receives` steps. Default 5000 ms. */
  timeoutMs?: number;
  /** Name of the server under test, matched against steps' `deviations`. */
  serverName?: string;
}

export class ConversationFailure extends Error {
  constructor(
    message: string,
    /** Set when the failing step is marked as a known deviation of this server. */
    readonly deviation?: string,
  ) {
    super(message);
    this.name = "ConversationFailure";
  }
}

/** The deviations a conversation declares for a server, by step number (1-based). */
export function knownDeviations(conversation: Conversation, serverName: string): Map<number, string> {
  const found = new Map<number, string>();
  conversation.steps.forEach((step, i) => {
    const why = step.deviations?.[serverName];
    if (why) found.set(i + 1, why);
  });
  return found;
}

interface ActorState {
  name: string;
  spec: ActorSpec;
  bareJid: string;
  fullJid?: string;
  client?: TestClient;
}

/** Run a conversation; resolves with its transcript, throws ConversationFailure. */
export async function runConversation(
  server: ServerUnderTest,
  conversation: Conversation,
  options: RunOptions = {},
): Promise<string[]> {
  const transcript: string[] = [];
  const actors = new Map<string, ActorState>();
  for (const [name, spec] of Object.entries(conversation.actors)) {
    const account = server.accounts[spec.account];
    if (!account) {
      throw new ConversationFailure(
        `${conversation.name}: actor ${name} uses account "${spec.account}", which the server under test does not have ` +
          `(it has: ${Object.keys(server.accounts).join(", ")})`,
      );
    }
    actors.set(name, { name, spec, bareJid: account.jid });
  }
  let index = 0;
  try {
    for (; index < conversation.steps.length; index++) {
      await runStep(server, conversation.steps[index]!, actors, transcript, options.timeoutMs ?? 5000);
    }
  } catch (err) {
    const step = conversation.steps[index];
    const why = err instanceof Error ? err.message : String(err);
    const where = step ? `step ${index + 1} of ${conversation.steps.length} (${describeStep(step)})` : "setup";
    const recent = transcript.slice(-12).map((l) => `  ${l.replace(/\n/g, "\n    ")}`).join("\n");
    const extra = server.diagnostics ? `\n${server.diagnostics()}` : "";
    const deviation = options.serverName ? step?.deviations?.[options.serverName] : undefined;
    const known = deviation ? `\n(known deviation of ${options.serverName}: ${deviation})` : "";
    throw new ConversationFailure(
      `Conversation "${conversation.name}" failed at ${where}${step?.note ? ` — ${step.note}` : ""}:\n${why}${known}\n` +
        `--- last steps ---\n${recent}${extra}`,
      deviation,
    );
  } finally {
    await Promise.all([...actors.values()].map((a) => a.client?.close()));
  }
  return transcript;
}

function describeStep(step: Step): string {
  if ("connects" in step) return `${step.actor} connects`;
  if ("disconnects" in step) return `${step.actor} disconnects`;
  if ("sends" in step) return `${step.actor} sends`;
  if ("receives" in step) return `${step.actor} receives`;
  return `${step.actor} receives nothing`;
}

async function runStep(
  server: ServerUnderTest,
  step: Step,
  actors: Map<string, ActorState>,
  transcript: string[],
  defaultTimeoutMs: number,
): Promise<void> {
  const actor = actors.get(step.actor);
  if (!actor) throw new Error(`unknown actor "${step.actor}" (actors: ${[...actors.keys()].join(", ")})`);
  if ("connects" in step) {
    if (actor.client?.online) throw new Error(`${actor.name} is already connected`);
    const { local, domain } = splitBareJid(actor.bareJid);
    actor.client = await connectClient({
      host: server.host,
      port: server.port,
      domain,
      username: local,
      password: server.accounts[actor.spec.account]!.password,
      resource: actor.spec.resource ?? actor.name,
      ...(actor.spec.mechanisms ? { mechanisms: actor.spec.mechanisms } : {}),
      ...(actor.spec.answersPings ? { answerPings: true } : {}),
    });
    actor.fullJid = actor.client.jid;
    transcript.push(`${actor.name} connected as ${actor.fullJid}`);
    return;
  }
  const client = actor.client;
  if (!client) throw new Error(`${actor.name} has not connected (add { actor: "${actor.name}", connects: true } first)`);
  if ("disconnects" in step) {
    await client.close();
    actor.client = undefined;
    transcript.push(`${actor.name} disconnected`);
    return;
  }
  if ("sends" in step) {
    const text = substitute(step.sends, actors);
    parseXmlFragment(text); // refuse malformed script XML before it reaches the server
    await client.send(text);
    transcript.push(`${actor.name} sent: ${text.trim()}`);
    return;
  }
  if ("receives" in step) {
    const expected = parseXmlFragment(substitute(step.receives, actors));
    await receive(actor.name, client, expected, step, step.timeoutMs ?? defaultTimeoutMs, transcript);
    return;
  }
  const others = [...actors.values()].filter((a) => a !== actor && a.client?.online);
  await Promise.all(others.map((a) => pingServer(a, defaultTimeoutMs)));
  await pingServer(actor, defaultTimeoutMs);
  const pending = client.pending();
  if (pending.length > 0) {
    throw new Error(
      `${actor.name} should have received nothing, but got ${pending.length} stanza(s) before the pong:\n${pending.map((s) => prettyXml(s)).join("\n")}`,
    );
  }
  transcript.push(`${actor.name} received nothing (ping round trips: ${[...others, actor].map((a) => a.name).join(", ")})`);
}

let pings = 0;

/** An XEP-0199 ping from the actor to its server; resolves with the pong (which it consumes). */
async function pingServer(actor: ActorState, timeoutMs: number): Promise<void> {
  const { domain } = splitBareJid(actor.bareJid);
  const id = `nothing-${++pings}`;
  const reply = await actor.client!.iq(`<iq type="get" to="${escapeXML(domain)}" id="${id}"><ping xmlns="urn:xmpp:ping"/></iq>`, timeoutMs);
  if (reply.attrs.type !== "result") throw new Error(`${actor.name}'s ping to ${domain} was answered with an error:\n${prettyXml(reply)}`);
}

async function receive(
  name: string,
  client: TestClient,
  expected: Element[],
  step: ReceiveStep,
  timeoutMs: number,
  transcript: string[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const opts = { exact: step.exact ?? false, ordered: step.ordered ?? false };
  const taken: Element[] = [];
  const skipped: Element[] = [];
  let remaining = [...expected];
  while (remaining.length > 0) {
    const stanza = await client.take(Math.max(0, deadline - Date.now()));
    if (!stanza) {
      const state = client.online ? `within ${timeoutMs} ms` : "before the stream closed";
      throw new Error(
        `${name} expected ${remaining.length === 1 ? "this stanza" : `these ${remaining.length} stanzas`} but nothing more arrived ${state}:\n` +
          remaining.map((e) => prettyXml(e)).join("\n") +
          listing("already matched in this step", taken) +
          listing("skipped (matched nothing)", skipped) +
          clientErrors(client),
      );
    }
    const candidates = step.unordered ? remaining : [remaining[0]!];
    const hit = candidates.findIndex((e) => mismatch(e, stanza, opts) === undefined);
    if (hit >= 0) {
      transcript.push(`${name} received: ${stanza.toString()}`);
      taken.push(stanza);
      remaining = remaining.filter((e) => e !== candidates[hit]);
      continue;
    }
    if (step.skipping) {
      transcript.push(`${name} skipped: ${stanza.toString()}`);
      skipped.push(stanza);
      continue;
    }
    // The step has failed; wait a moment so the order hint below also sees
    // stanzas that were already on their way.
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
    throw new Error(
      `${name} received a stanza that does not match.\n--- expected ---\n${prettyXml(candidates[0]!)}\n` +
        `--- received ---\n${prettyXml(stanza)}\n--- why ---\n${closestReason(candidates, stanza, opts)}` +
        orderHint(candidates, client.pending(), opts) +
        listing("already matched in this step", taken),
    );
  }
}

function closestReason(candidates: Element[], stanza: Element, opts: MatchOptions): string {
  const reasons = candidates.map((e) => mismatch(e, stanza, opts) ?? "");
  return reasons.length === 1 ? reasons[0]! : reasons.map((r, i) => `expected #${i + 1}: ${r}`).join("\n");
}

// If what we wanted is already queued behind the unexpected stanza, say so:
// the server sent it, only in another order.
function orderHint(candidates: Element[], pending: readonly Element[], opts: MatchOptions): string {
  if (matchUnordered([candidates[0]!], [...pending], opts)) {
    return "\n(note: a matching stanza did arrive later; if the order is not specified, use unordered: true or skipping: true)";
  }
  return "";
}

function listing(title: string, stanzas: Element[]): string {
  return stanzas.length === 0 ? "" : `\n--- ${title} ---\n${stanzas.map((s) => prettyXml(s)).join("\n")}`;
}

function clientErrors(client: TestClient): string {
  return client.errors.length === 0 ? "" : `\n--- connection errors ---\n${client.errors.map((e) => e.message).join("\n")}`;
}

const PLACEHOLDER = /\$\{([A-Za-z_][\w-]*)(?:\.([a-z]+))?\}/g;

/** Replace ${actor}, ${actor.full}, ${actor.domain}, ${actor.local}, ${actor.resource}. */
function substitute(text: string, actors: Map<string, ActorState>): string {
  const out = text.replace(PLACEHOLDER, (whole, name: string, field: string | undefined) => {
    const actor = actors.get(name);
    if (!actor) throw new Error(`unknown placeholder ${whole}: no actor "${name}"`);
    const { local, domain } = splitBareJid(actor.bareJid);
    switch (field) {
      case undefined:
        return escapeXML(actor.bareJid);
      case "domain":
        return escapeXML(domain);
      case "local":
        return escapeXML(local);
      case "full":
      case "resource": {
        if (!actor.fullJid) throw new Error(`${whole} used before ${name} connected`);
        const value = field === "full" ? actor.fullJid : actor.fullJid.slice(actor.fullJid.indexOf("/") + 1);
        return escapeXML(value);
      }
      default:
        throw new Error(`unknown placeholder ${whole}: use .full, .domain, .local or .resource`);
    }
  });
  const leftover = /\$\{[^}]*\}/.exec(out);
  if (leftover) throw new Error(`malformed placeholder ${leftover[0]}`);
  return out;
}
