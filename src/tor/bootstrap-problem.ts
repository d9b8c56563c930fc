// Tor's bootstrap warnings, in words a user can act on. Tor reports them as
// `WARN BOOTSTRAP ... WARNING="..." REASON=<ORCONN reason> RECOMMENDATION=...`
// (control-spec 4.1.10; reasons in 4.1.3 ORCONN); "warning: DONE" means nothing
// to anyone. The relay's address (HOSTADDR/HOSTID) is not part of the sentence:
// it says which guard or bridge this machine uses, so it goes to debug logs only.
import type { BootstrapStatus } from "./tor-events.js";

const CANNOT_REACH = "tor cannot reach any relay: check the network connection (a firewall or a network that blocks Tor needs bridges)";

const BY_REASON: Record<string, string> = {
  DONE: CANNOT_REACH,
  CONNECTREFUSED: CANNOT_REACH,
  CONNECTRESET: CANNOT_REACH,
  NOROUTE: CANNOT_REACH,
  TIMEOUT: CANNOT_REACH,
  IOERROR: CANNOT_REACH,
  MISC: CANNOT_REACH,
  IDENTITY: "a relay tor connected to was not the relay it expected: something on the network may be interfering with Tor, or this machine's clock is wrong",
  RESOURCELIMIT: "tor ran out of resources (open files or memory): close other programs or raise the limits",
  PT_MISSING: "tor is configured with a bridge whose pluggable transport is not installed",
};

/** One sentence for a bootstrap warning, or undefined when the status carries none. */
export function explainBootstrapProblem(b: BootstrapStatus): string | undefined {
  if (b.warning === undefined && b.reason === undefined) return undefined;
  const warning = b.warning ?? "";
  if (/clock|skew/i.test(warning)) return "this machine's clock is wrong: Tor needs the correct date and time (check the clock and time zone)";
  const byReason = b.reason ? BY_REASON[b.reason.toUpperCase()] : undefined;
  if (byReason) return byReason;
  const what = b.summary ? ` while ${lowerFirst(b.summary)}` : "";
  return `tor has a problem${what}: ${warning || b.reason}`;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
