// One place that answers "may X see / send / ask this" (ARCHITECTURE.md): who sees an account's
// presence and answers about it, where stanzas may go (onion-only), and the per-account and
// per-peer budgets. Handlers ask; they do not decide on their own.
//
// Strangers (no roster item) may send messages and subscription requests: that is how a first
// contact happens. What bounds them is the per-onion stanza budget of the s2s streams and the
// pending-request limits here.
import type { Store } from "../store/store.js";
import { parseOnionAddress } from "../tor/onion-address.js";
import type { Jid } from "../xmpp/jid.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { ServerLimits } from "./limits.js";
import type { S2sLimits } from "./policy-limits.js";
import type { Router } from "./router.js";

export class Policy {
  constructor(
    private readonly store: Store,
    readonly limits: ServerLimits,
    readonly s2s: S2sLimits,
  ) {}

  /** Presence, probes and queries about the account: only the user and those it lets see its presence (RFC 6121 4.3.2). */
  maySeePresence(host: AccountHost, from: Jid): boolean {
    if (host.isUser(from)) return true;
    const sub = this.store.roster.get(host.bareJid.toString(), from.bare().toString())?.subscription;
    return sub === "from" || sub === "both";
  }

  /** disco#info / disco#items on the account's bare JID: same circle as presence, or a stranger learns the account exists. */
  mayQueryAccount(host: AccountHost, from: Jid): boolean {
    return this.maySeePresence(host, from);
  }

  /**
   * vcard-temp of the account: anyone may read it, strangers included, because that is what
   * Pidgin's "Get Info" on a new contact does; it holds only what the user chose to publish.
   * Only the user may change it.
   */
  mayReadVcard(_host: AccountHost, _from: Jid): boolean {
    return true;
  }

  mayWriteVcard(host: AccountHost, from: Jid): boolean {
    return host.isUser(from);
  }

  /**
   * Why a stanza may not go to `domain`, or undefined when it may. Federation is onion-only:
   * anything else would leave Tor or need DNS.
   */
  remoteProblem(domain: string): string | undefined {
    if (onionOf(domain)) return undefined;
    return `purple-onion federates only with onion services: ${domain} is not a .onion address`;
  }

  /**
   * A subscription request from `contact` may wait for the user's answer: at most
   * maxPendingSubscriptionsPerPeer per peer domain and maxPendingSubscriptions in all, so one peer cannot fill the store.
   */
  mayHoldSubscriptionRequest(host: AccountHost, contact: Jid): boolean {
    const pending = this.store.roster.listPendingIn(host.bareJid.toString());
    if (pending.some((p) => p.contact === contact.bare().toString())) return true;
    if (pending.length >= this.s2s.maxPendingSubscriptions) return false;
    // Per peer server: its onion, so that subdomains of one peer share its budget.
    const peer = onionOf(contact.domain) ?? contact.domain;
    const fromPeer = pending.filter((p) => {
      const domain = p.contact.slice(p.contact.indexOf("@") + 1);
      return (onionOf(domain) ?? domain) === peer;
    }).length;
    return fromPeer < this.s2s.maxPendingSubscriptionsPerPeer;
  }

  /** The rules the router consults before federation hooks run. */
  register(router: Router): void {
    // Onion-only: decided before anything is queued or dialed, with an error that says why.
    router.stanzas.on(
      "route/remote",
      ({ unit, stanza, to }) => {
        const problem = this.remoteProblem(to.domain);
        if (!problem) return false;
        router.bounce(unit, stanza, "remote-server-not-found", problem);
        return true;
      },
      100,
    );
  }

  /** A session may keep this many directed presences (RFC 6121 4.6), each one a promise to say goodbye. */
  mayDirectPresence(session: C2sSession, to: string): boolean {
    return session.directedPresence.has(to) || session.directedPresence.size < this.s2s.maxDirectedPresencePerSession;
  }
}

/** The v3 onion a domain belongs to (itself or a subdomain's parent), or undefined. */
export function onionOf(domain: string): string | undefined {
  const labels = domain.toLowerCase().split(".");
  if (labels.length < 2 || labels[labels.length - 1] !== "onion") return undefined;
  const onion = labels.slice(-2).join(".");
  return parseOnionAddress(onion) ? onion : undefined;
}
