// XMPP accounts of a purple-onion daemon, each used by a libpurple client in its own bridge
// process (bridge-process.ts): the steps the bridge tests share.
import path from "node:path";
import type { AccountRef, BridgeEvents } from "../../src/bridge/api.js";
import type { AccountAddResult } from "../../src/daemon/control-protocol.js";
import { startBridgeProcess, type BridgeEvent, type BridgeProcess, type BridgeProcessOptions } from "./bridge-process.js";
import { controlRequest } from "./federation.js";

export interface BridgeClient {
  bridge: BridgeProcess;
  ref: Required<AccountRef>;
  /** Bare JID. */
  jid: string;
  /** The JID libpurple signs on with (resource "bridge"). */
  fullJid: string;
  password: string;
}

export function bareJid(jid: string): string {
  return jid.split("/")[0]!;
}

/**
 * Creates `localpart` on the daemon and a bridge process (HOME <root>/<localpart>) with the
 * account added and pointed at the daemon; not enabled, password not set.
 */
export async function prepareClient(
  dataDir: string,
  root: string,
  localpart: string,
  options: Partial<BridgeProcessOptions> & { port?: number } = {},
): Promise<BridgeClient> {
  const account = await controlRequest<AccountAddResult>(dataDir, "account.add", { localpart });
  return prepareAccount({ jid: account.jid, password: account.password, port: options.port ?? account.port }, root, localpart, options);
}

/** A bridge process (HOME <root>/<name>) with an existing account on any server at 127.0.0.1:port. */
export async function prepareAccount(
  account: { jid: string; password: string; port: number },
  root: string,
  name: string,
  options: Partial<BridgeProcessOptions> = {},
): Promise<BridgeClient> {
  const bridge = await startBridgeProcess({ home: path.join(root, name), name, ...options });
  const fullJid = `${account.jid}/bridge`;
  const ref = { username: fullJid, protocol: "prpl-jabber" };
  // A STUN server given as an address: prpl-jabber would otherwise ask DNS for
  // _stun._udp.<the account's domain> after login (design/BRIDGE.md).
  await bridge.call("setPref", "/purple/network/stun_server", "127.0.0.1");
  await bridge.call("addAccount", ref);
  await bridge.call("setSetting", ref, "connect_server", "127.0.0.1");
  await bridge.call("setSetting", ref, "port", account.port);
  // No STARTTLS on these test servers (loopback only).
  await bridge.call("setSetting", ref, "connection_security", "opportunistic_tls");
  return { bridge, ref, jid: account.jid, fullJid, password: account.password };
}

/** Saves the password, starts the bridge, enables the account and waits until it is signed on. */
export async function signOn(c: BridgeClient, timeoutMs = 15_000): Promise<void> {
  await c.bridge.call("setPassword", c.ref, c.password);
  await c.bridge.call("start");
  await c.bridge.call("setEnabled", c.ref, true);
  await c.bridge.waitFor("signed-on", (e) => e.account.username === c.ref.username, timeoutMs, `${c.jid} to sign on`);
}

/** Each adds the other and authorizes the other's request; both then see each other online. */
/** What befriend needs of a client: any bridge account (a daemon's own, or a plugin's companion). */
export type Friend = Pick<BridgeClient, "bridge" | "ref" | "jid">;

export async function befriend(a: Friend, b: Friend, timeoutMs = 15_000): Promise<void> {
  await a.bridge.call("addBuddy", a.ref, b.jid);
  const askB = await b.bridge.waitFor("authorization-requested", (e) => bareJid(e.who) === a.jid, timeoutMs, `${a.jid}'s subscription request`);
  await b.bridge.call("respondAuthorization", askB.id, true);
  await b.bridge.call("addBuddy", b.ref, a.jid);
  const askA = await a.bridge.waitFor("authorization-requested", (e) => bareJid(e.who) === b.jid, timeoutMs, `${b.jid}'s subscription request`);
  await a.bridge.call("respondAuthorization", askA.id, true);
  await a.bridge.waitFor("buddy-signed-on", (e) => e.buddy === b.jid, timeoutMs, `${a.jid} to see ${b.jid} online`);
  await b.bridge.waitFor("buddy-signed-on", (e) => e.buddy === a.jid, timeoutMs, `${b.jid} to see ${a.jid} online`);
}

// ---- group chat (XEP-0045) ----

function foldOccupancy(nicks: Set<string>, room: string, e: BridgeEvent): void {
  if ((e.data as { room?: string }).room !== room) return;
  if (e.name === "chat-joined" || e.name === "chat-left") nicks.clear();
  else if (e.name === "chat-user-joined") nicks.add((e.data as BridgeEvents["chat-user-joined"]).nick);
  else if (e.name === "chat-user-left") nicks.delete((e.data as BridgeEvents["chat-user-left"]).nick);
}

/**
 * The nicks in `room`, sorted, as `c`'s events so far tell them: what chatUsers answers, read
 * from the events alone (an answer to a call can overtake an event the child has queued). Nick
 * changes have no event: a renamed occupant stays here under the old nick.
 */
export function occupantsHeard(c: BridgeClient, room: string): string[] {
  const nicks = new Set<string>();
  for (const e of c.bridge.events) foldOccupancy(nicks, room, e);
  return [...nicks].sort();
}

async function waitOccupancy(c: BridgeClient, room: string, nick: string, present: boolean, timeoutMs: number): Promise<void> {
  const holds = (): boolean => occupantsHeard(c, room).includes(nick) === present;
  if (holds()) return;
  const event = present ? "chat-user-joined" : "chat-user-left";
  await c.bridge.waitFor(event, (e) => e.room === room && e.nick === nick && holds(), timeoutMs, `${nick} ${present ? "in" : "out of"} ${room}`);
}

/** Resolves once `c` has heard that `nick` is in `room` (its chat-user-joined has arrived). */
export function waitOccupant(c: BridgeClient, room: string, nick: string, timeoutMs = 10_000): Promise<void> {
  return waitOccupancy(c, room, nick, true, timeoutMs);
}

/** Resolves once `c`, still in `room`, has heard that `nick` is no longer there (its chat-user-left has arrived). */
export function waitOccupantGone(c: BridgeClient, room: string, nick: string, timeoutMs = 10_000): Promise<void> {
  return waitOccupancy(c, room, nick, false, timeoutMs);
}

/**
 * Joins `room` as `nick` and waits until our own nick is an occupant: the room sends our own
 * presence last, after everyone already there, whereas chat-joined comes with the first presence.
 * A room this join creates gets prpl-jabber's default configuration (the new-room question is
 * answered). One join at a time per client: that question does not name its room.
 *
 * The join is sent again, harmlessly (prpl-jabber sends nothing for a room it is already joining):
 * - when refused with item-not-found: another client's new room stays locked until its owner's
 *   configuration, sent on the owner's own stream, reaches the server (a CI run saw the race);
 * - after 2 s of silence: prpl-jabber drops a join, without a word, while it still waits for the
 *   room to confirm our previous leave.
 */
export async function joinRoom(c: BridgeClient, room: string, nick: string, timeoutMs = 15_000): Promise<void> {
  const since = c.bridge.events.length;
  // Only an event that arrives from now on: right after leaveChat, its chat-left (and so the end
  // of our previous stay) may still be on its way.
  const before = new Set<unknown>(c.bridge.events.map((e) => e.data));
  const inRoom = c.bridge.waitFor("chat-user-joined", (e) => !before.has(e) && e.room === room && e.nick === nick, timeoutMs, `${nick} in ${room}`);
  inRoom.catch(() => {}); // a refusal below can end the join first
  let answer: (outcome: string) => void = () => {};
  const off = c.bridge.on("notify", (n) => {
    if (n.title?.startsWith(`Error joining chat ${room}`)) answer(n.secondary ?? n.primary ?? "refused");
  });
  try {
    for (;;) {
      await c.bridge.call("joinChat", c.ref, room, nick);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        inRoom.then(() => "joined"),
        new Promise<string>((resolve) => {
          answer = resolve;
          timer = setTimeout(() => resolve("silence"), 2_000);
        }),
      ]).finally(() => clearTimeout(timer));
      if (outcome === "joined") break;
      if (outcome !== "Item Not Found" && outcome !== "silence") throw new Error(`${c.jid} cannot join ${room} as ${nick}: ${outcome}`);
      if (outcome === "Item Not Found") await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    off();
  }
  await answerNewRoom(c, since);
}

/**
 * A new room stays locked until its owner configures it. prpl-jabber asks while it handles our own
 * presence, before adding us: by the time we are an occupant the question is among the events.
 */
async function answerNewRoom(c: BridgeClient, since: number): Promise<void> {
  const create = c.bridge.events
    .slice(since)
    .map((e) => (e.name === "request" ? (e.data as BridgeEvents["request"]) : undefined))
    .find((r) => r?.kind === "action" && (r.choices ?? []).includes("_Accept Defaults"));
  if (create) await c.bridge.call("answerRequest", create.id, create.choices!.indexOf("_Accept Defaults"));
}
