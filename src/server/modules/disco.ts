// XEP-0030 service discovery for the server domain and account bare JIDs.
import type { Policy } from "../policy.js";
import { NS } from "../../xmpp/namespaces.js";
import { xml } from "../../xmpp/xml.js";
import type { IqRequest, ServerModule } from "../router.js";
import { errorReply, iqResult } from "../stanza.js";

export function discoModule(policy: Policy, features: () => string[]): ServerModule {
  // An account's own JID answers only to itself and to contacts it shares presence with.
  const mayAsk = ({ from, host }: IqRequest) => policy.mayQueryAccount(host, from);
  return {
    name: "disco",
    features: [NS.DISCO_INFO, NS.DISCO_ITEMS],
    iq: {
      [`get ${NS.DISCO_INFO}`]: (req) => {
        const { iq, to } = req;
        if (iq.getChild("query")?.attrs.node) return errorReply(iq, "item-not-found");
        const query = xml("query", { xmlns: NS.DISCO_INFO });
        if (to.local) {
          if (!mayAsk(req)) return errorReply(iq, "service-unavailable");
          query.c("identity", { category: "account", type: "registered" });
          query.c("feature", { var: NS.DISCO_INFO });
        } else {
          // No name or version here: the identity says what, never which software.
          query.c("identity", { category: "server", type: "im" });
          for (const f of features()) query.c("feature", { var: f });
        }
        return iqResult(iq, query);
      },
      [`get ${NS.DISCO_ITEMS}`]: (req) => {
        if (req.iq.getChild("query")?.attrs.node) return errorReply(req.iq, "item-not-found");
        if (req.to.local && !mayAsk(req)) return errorReply(req.iq, "service-unavailable");
        return iqResult(req.iq, xml("query", { xmlns: NS.DISCO_ITEMS }));
      },
    },
  };
}
