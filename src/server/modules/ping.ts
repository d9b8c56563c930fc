// XEP-0199: answer pings to the server and to an account's bare JID.
// (Pings from the server to idle clients live in the c2s session.)
import { NS } from "../../xmpp/namespaces.js";
import type { ServerModule } from "../router.js";
import { iqResult } from "../stanza.js";

export const pingModule: ServerModule = {
  name: "ping",
  features: [NS.PING],
  iq: { [`get ${NS.PING}`]: ({ iq }) => iqResult(iq) },
};
