// One account = one virtual host: the domain <onion>.onion with its single user.
import { Jid, jid } from "../xmpp/jid.js";
import type { C2sSession } from "./c2s-session.js";

export class AccountHost {
  readonly bareJid: Jid;
  /** Bound sessions by resource. */
  readonly sessions = new Map<string, C2sSession>();

  constructor(readonly localpart: string, readonly domain: string) {
    this.bareJid = jid(localpart, domain);
  }

  /** Is `j` this account's user (any resource)? */
  isUser(j: Jid): boolean {
    return j.domain === this.domain && j.local === this.localpart;
  }

  availableSessions(): C2sSession[] {
    return [...this.sessions.values()].filter((s) => s.available);
  }

  /**
   * Where a message to the bare JID goes: the available resources with the
   * highest non-negative priority (RFC 6121 8.5.2.1.1).
   */
  messageTargets(): C2sSession[] {
    let best = -1;
    for (const s of this.sessions.values()) if (s.available && s.priority > best) best = s.priority;
    if (best < 0) return [];
    return [...this.sessions.values()].filter((s) => s.available && s.priority === best);
  }
}
