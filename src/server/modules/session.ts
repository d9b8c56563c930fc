// RFC 3921 legacy session establishment: a no-op that old clients (and
// libpurple) still send; RFC 6121 appendix E lets us answer it with success.
import { NS } from "../../xmpp/namespaces.js";
import type { ServerModule } from "../router.js";
import { iqResult } from "../stanza.js";

export const legacySessionModule: ServerModule = {
  name: "session",
  iq: { [`set ${NS.SESSION}`]: ({ iq }) => iqResult(iq) },
};
