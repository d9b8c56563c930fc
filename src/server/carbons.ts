// XEP-0280 Message Carbons: every resource of an account sees its chats.
// https://xmpp.org/extensions/xep-0280.html
import { NS } from "../xmpp/namespaces.js";
import { xml, type Element } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Router, ServerModule } from "./router.js";
import { cloneElement, errorReply, iqResult } from "./stanza.js";
import type { UnitOfWork } from "./unit-of-work.js";

// https://xmpp.org/extensions/xep-0280.html#which-messages
function eligible(message: Element): boolean {
  if ((message.attrs.type ?? "normal") !== "chat") return false;
  if (message.getChild("private", NS.CARBONS) || message.getChild("no-copy", NS.HINTS)) return false;
  return !message.getChild("received", NS.CARBONS) && !message.getChild("sent", NS.CARBONS);
}

export class Carbons {
  module(): ServerModule {
    return {
      name: "carbons",
      features: [NS.CARBONS],
      iq: {
        [`set ${NS.CARBONS}`]: ({ iq, session }) => {
          const on = iq.getChild("enable", NS.CARBONS) ? true : iq.getChild("disable", NS.CARBONS) ? false : undefined;
          if (on === undefined) return errorReply(iq, "bad-request");
          if (!session) return errorReply(iq, "not-allowed", "carbons are enabled by the account's own clients");
          session.carbons = on;
          return iqResult(iq);
        },
      },
    };
  }

  register(router: Router): void {
    router.use(this.module());
    router.stanzas.on("pre-message", ({ unit, origin, stanza }) => void (origin.kind === "c2s" && this.afterSent(unit, origin.session, stanza)), 10);
    // Copies for the resources the message does not reach (the router delivers at priority 0).
    router.stanzas.on("message/full", ({ unit, host, stanza, to }) => {
      const session = host!.sessions.get(to.resource);
      if (session) this.afterReceived(unit, host!, stanza, [session]);
    }, 10);
    router.stanzas.on("message/bare", ({ unit, host, stanza }) => {
      const targets = host!.messageTargets();
      if (targets.length > 0) this.afterReceived(unit, host!, stanza, targets);
    }, 10);
  }

  /** A local user's client sent a message: its other carbons-enabled resources get a copy. */
  afterSent(unit: UnitOfWork, sender: C2sSession, message: Element): void {
    if (!eligible(message)) return;
    for (const s of sender.host!.sessions.values()) if (s !== sender && s.carbons) unit.send(s, this.wrap("sent", sender.host!, message, s));
  }

  /** A message reached some resources of a local user: the other carbons-enabled ones get a copy. */
  afterReceived(unit: UnitOfWork, host: AccountHost, message: Element, deliveredTo: C2sSession[]): void {
    if (!eligible(message)) return;
    for (const s of host.sessions.values()) if (s.carbons && !deliveredTo.includes(s)) unit.send(s, this.wrap("received", host, message, s));
  }

  private wrap(kind: "sent" | "received", host: AccountHost, message: Element, to: C2sSession): Element {
    return xml(
      "message",
      { xmlns: NS.CLIENT, type: message.attrs.type, from: host.bareJid.toString(), to: to.fullJid },
      xml(kind, { xmlns: NS.CARBONS }, xml("forwarded", { xmlns: NS.FORWARD }, cloneElement(message))),
    );
  }
}
