// What `purple-onion status` prints for an account that federates: its onion's state and its
// server streams as counts (peers are contacts: never named).
import { describeStatus } from "../../src/cli/status.js";
import type { StatusResult } from "../../src/daemon/control-protocol.js";

const onion = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";

test("status shows each account's server streams and queued stanzas", () => {
  const s: StatusResult = {
    pid: 1,
    dataDir: "/d",
    uptimeSeconds: 5,
    c2s: { host: "127.0.0.1", port: 5222 },
    tor: { mode: "attach", state: "ready" } as StatusResult["tor"],
    accounts: [
      { jid: `alice@${onion}`, host: "127.0.0.1", port: 5222, onion, sessions: 1, onionState: "published", published: true, s2s: { inbound: 2, outbound: 3, established: 1, queued: 4 } },
    ],
  };
  const text = describeStatus(s);
  expect(text).toMatch(/SERVER STREAMS/);
  expect(text).toContain("1/3 out, 2 in, 4 queued");
});
