// XMPP accounts of a purple-onion daemon, each used by a libpurple client in its own bridge
// process (bridge-process.ts): the steps the bridge tests share.
import path from "node:path";
import type { AccountRef } from "../../src/bridge/api.js";
import type { AccountAddResult } from "../../src/daemon/control-protocol.js";
import { startBridgeProcess, type BridgeProcess, type BridgeProcessOptions } from "./bridge-process.js";
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
