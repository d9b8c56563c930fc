// Named events with prioritized handlers, in the spirit of Prosody's module:hook and ejabberd's
// hooks: the router fires an event named by what a stanza is and where it goes
// ("message/bare", "presence/full", "route/remote"), and features (presence, carbons, offline
// storage, federation) register for the ones they care about. The router never knows a feature.
import type { Element } from "../xmpp/xml.js";
import type { Jid } from "../xmpp/jid.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Origin } from "./origin.js";
import type { UnitOfWork } from "./unit-of-work.js";

/**
 * Events a stanza fires, by kind and addressing:
 * - `pre-<kind>`: sent by an account's own client, before routing (presence and carbons hook it);
 * - `<kind>/bare`, `<kind>/full`, `<kind>/host`: addressed to a local account's bare JID, to one
 *   of its resources, or to the server domain;
 * - `route/remote`: addressed to another server (federation hooks it; policy first).
 */
export type StanzaEventName = `${"pre-"}${StanzaKind}` | `${StanzaKind}/${"bare" | "full" | "host"}` | "route/remote";
export type StanzaKind = "message" | "presence" | "iq";

export interface StanzaEvent {
  unit: UnitOfWork;
  origin: Origin;
  stanza: Element;
  /** The parsed `to` (for pre- events of a stanza without one: the sender's bare JID). */
  to: Jid;
  /** The local account addressed (bare/full/host events) or sending (pre- events). */
  host: AccountHost | undefined;
}

/** A bound session becoming available, or going away. */
export interface SessionEvent {
  unit: UnitOfWork;
  session: C2sSession;
  host: AccountHost;
}
export type SessionEventName = "session-available" | "session-closed";

/** Returns true when it handled the event: the handlers after it do not run. */
export type Handler<E> = (event: E) => boolean | void;

export class Hooks<Name extends string, E> {
  private readonly chains = new Map<Name, { priority: number; fn: Handler<E> }[]>();

  /** Higher priority runs first; equal priorities run in registration order. */
  on(name: Name, fn: Handler<E>, priority = 0): void {
    const chain = this.chains.get(name) ?? [];
    const at = chain.findIndex((h) => h.priority < priority);
    chain.splice(at < 0 ? chain.length : at, 0, { priority, fn });
    this.chains.set(name, chain);
  }

  /** Run the chain; true if a handler took the event. */
  fire(name: Name, event: E): boolean {
    for (const h of this.chains.get(name) ?? []) if (h.fn(event) === true) return true;
    return false;
  }
}
