// XEP-0160 offline storage with XEP-0203 delay stamps, delivered at least once.
// https://xmpp.org/extensions/xep-0160.html
//
// Stored messages leave the store only once the client has shown it received them: after
// handing them to a session we send it an XEP-0199 ping, and its answer (a result, or an error
// from a client that does not know pings) proves that everything before it arrived, the stream
// being ordered (RFC 6120 10.1). The rows go in the unit that handles that answer. A session
// that closes first leaves them stored, for the account's next available resource: a rare
// duplicate, never a loss. Rows handed to one session and not yet acknowledged are claimed by
// it, so that two resources coming online together do not both get them.
import type { Logger } from "../daemon/logger.js";
import { StoreError, type Store } from "../store/store.js";
import { NS } from "../xmpp/namespaces.js";
import { xml, type Element } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Router } from "./router.js";
import { cloneElement, newId, xmppStamp } from "./stanza.js";
import type { UnitOfWork } from "./unit-of-work.js";

export class OfflineMessages {
  /** Row id -> the session it was handed to, until that session acknowledges it or closes. */
  private readonly claims = new Map<number, C2sSession>();

  constructor(private readonly router: Router, private readonly db: Store, private readonly log: Logger) {}

  register(): void {
    // After the router's delivery (priority 0) found no resource for a message to the bare JID.
    this.router.stanzas.on("message/bare", ({ unit, host, stanza }) => (this.store(unit, host!, stanza), true), -10);
    this.router.sessions.on("session-available", ({ unit, host, session }) => this.deliver(unit, host, session));
    this.router.use({ name: "offline", features: ["msgoffline"] });
  }

  /** A message for an account with no available resource (XEP-0160 section 3). */
  store(unit: UnitOfWork, host: AccountHost, message: Element): void {
    const type = message.attrs.type ?? "normal";
    if (type !== "normal" && type !== "chat") return;
    // XEP-0334: the sender asked us not to keep it.
    if (message.getChild("no-store", NS.HINTS)) return;
    // Nothing worth keeping: chat states alone and similar ephemera.
    if (!message.getChild("body") && !message.getChild("subject") && !message.getChild("x")) return;
    const stamp = Date.now();
    const stored = xml("message", { ...message.attrs });
    for (const child of message.children) stored.cnode(typeof child === "string" ? child : cloneElement(child));
    stored.c("delay", { xmlns: NS.DELAY, from: host.domain, stamp: xmppStamp(stamp) });
    try {
      // Committed (and fsynced) with the unit, before we read the next stanza: a crash after this loses nothing.
      this.db.offline.push(host.bareJid.toString(), stored.toString(), stamp);
    } catch (err) {
      if (err instanceof StoreError && err.code === "quota") {
        this.log.warn("offline storage full; bouncing a message", { account: host.bareJid.toString() });
        return this.router.bounce(unit, message, "service-unavailable", "the recipient's offline storage is full");
      }
      throw err;
    }
  }

  /**
   * Hand the stored messages nobody holds to a session that is available, oldest first, then
   * ping it; the answer deletes them.
   */
  deliver(unit: UnitOfWork, host: AccountHost, session: C2sSession): void {
    const stored = this.db.offline.list(host.bareJid.toString()).filter((m) => !this.claimed(m.id));
    if (stored.length === 0) return;
    const ids = stored.map((m) => m.id);
    for (const m of stored) unit.send(session, m.stanzaXml);
    const ping = xml("iq", { type: "get", id: `offline-${newId()}`, from: host.domain, to: session.fullJid }, xml("ping", { xmlns: NS.PING }));
    this.router.iqs.send(unit, session, ping, {
      answered: (answering) => {
        this.db.offline.remove(ids);
        answering.afterCommit(() => this.release(ids, session));
        this.log.info("offline messages acknowledged", { count: ids.length, session: session.id });
      },
      abandoned: () => {
        this.release(ids, session);
        this.log.info("offline messages not acknowledged; kept for the next login", { count: ids.length, session: session.id });
      },
    });
    unit.afterCommit(() => {
      for (const id of ids) this.claims.set(id, session);
    });
    this.log.info("delivered offline messages", { count: ids.length, session: session.id });
  }

  private claimed(id: number): boolean {
    const holder = this.claims.get(id);
    if (holder === undefined) return false;
    if (holder.state !== "closed") return true;
    // A claim dies with its session, even if handling the close failed.
    this.claims.delete(id);
    return false;
  }

  private release(ids: number[], session: C2sSession): void {
    for (const id of ids) if (this.claims.get(id) === session) this.claims.delete(id);
  }
}
