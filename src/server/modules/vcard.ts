// XEP-0054 vcard-temp: the user edits their own card; anyone may read it
// (that is what Pidgin's "Get Info" does).
import type { Store } from "../../store/store.js";
import type { Policy } from "../policy.js";
import { NS } from "../../xmpp/namespaces.js";
import { parseTrustedXml, xml } from "../../xmpp/xml.js";
import type { ServerModule } from "../router.js";
import { errorReply, iqResult } from "../stanza.js";

export function vcardModule(store: Store, policy: Policy, maxBytes: number): ServerModule {
  return {
    name: "vcard",
    features: [NS.VCARD],
    iq: {
      [`get ${NS.VCARD}`]: ({ iq, host, from }) => {
        if (!policy.mayReadVcard(host, from)) return errorReply(iq, "service-unavailable");
        const saved = store.vcards.get(host.bareJid.toString());
        return iqResult(iq, saved ? parseTrustedXml(saved) : xml("vCard", { xmlns: NS.VCARD }));
      },
      [`set ${NS.VCARD}`]: ({ iq, host, from }) => {
        if (!policy.mayWriteVcard(host, from)) return errorReply(iq, "forbidden");
        const card = iq.getChild("vCard", NS.VCARD)!;
        const text = card.toString();
        if (Buffer.byteLength(text) > maxBytes) return errorReply(iq, "not-acceptable", `vCard larger than ${maxBytes} bytes`);
        store.vcards.set(host.bareJid.toString(), text);
        return iqResult(iq);
      },
    },
  };
}
