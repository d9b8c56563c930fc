// XEP-0160 offline storage with XEP-0203 delay stamps.
// https://xmpp.org/extensions/xep-0160.html
import type { Logger } from "../daemon/logger.js";
import { StoreError, type Store } from "../store/store.js";
import { NS } from "../xmpp/namespaces.js";
import { xml, type Element } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Router } from "./router.js";
import { cloneElement, xmppStamp } from "./stanza.js";
import type { UnitOfWork } from "./unit-of-work.js";

export class OfflineMessages {
  constructor(private readonly router: Router, private readonly db: Store, private readonly log: Logger) {}

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

  /** Hand stored messages to a session that just became available, oldest first. */
  deliver(unit: UnitOfWork, host: AccountHost, session: C2sSession): void {
    const owner = host.bareJid.toString();
    const stored = this.db.offline.list(owner);
    if (stored.length === 0) return;
    for (const m of stored) unit.send(session, m.stanzaXml);
    this.db.offline.remove(stored.map((m) => m.id));
    this.log.info("delivered offline messages", { count: stored.length, session: session.id });
  }
}
