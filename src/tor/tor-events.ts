// Typed views of the asynchronous Tor events we use.
// https://spec.torproject.org/control-spec/replies.html#asynchronous-events (control-spec 4.1)
// Events may grow new arguments and lines at any time (4.1, 1.1): parsers read what they
// know and ignore the rest; an event of another type gives undefined.
import { parseKeywords, type TorReply } from "./control-reply.js";

/** The event's keyword ("STATUS_CLIENT", "HS_DESC", ...), or undefined for a non-event reply. */
export function eventType(e: TorReply): string | undefined {
  const first = e.lines[0];
  if (!first || first.status < 600 || first.status > 699) return undefined;
  return first.text.split(" ", 1)[0];
}

export interface BootstrapStatus {
  /** 0..100 */
  progress: number;
  /** Stable phase tag ("starting", "conn", "done", ...; control-spec 5.5). */
  tag: string;
  /** Human-readable description of the next task. */
  summary: string;
  /** Only for WARN BOOTSTRAP: tor's hint why bootstrapping has trouble. */
  warning?: string;
  /** Only for WARN BOOTSTRAP: a stable reason keyword (as in ORCONN events). */
  reason?: string;
  /** Only for WARN BOOTSTRAP: "ignore" (tor expects to recover) or "warn". */
  recommendation?: string;
  /** Only for WARN BOOTSTRAP: how many times this problem happened. */
  count?: number;
  /** Only for WARN BOOTSTRAP: the relay or bridge involved (address:port, fingerprint): say it at debug level only. */
  hostAddr?: string;
  hostId?: string;
}

/**
 * A bootstrap status from
 *  - the event `650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=.. TAG=.. SUMMARY=".."`
 *    (or `WARN BOOTSTRAP ... WARNING=".." REASON=..`), control-spec 4.1.10;
 *  - a GETINFO status/bootstrap-phase reply (`250-status/bootstrap-phase=NOTICE BOOTSTRAP ...`);
 *  - that GETINFO value as a string (`NOTICE BOOTSTRAP ...`), control-spec 3.9, or as the
 *    text of a non-event reply line.
 */
export function parseBootstrap(e: TorReply | string): BootstrapStatus | undefined {
  if (typeof e === "string") return parseBootstrapPhase(e);
  for (const line of e.lines) {
    let text = line.text;
    if (line.status >= 600 && line.status <= 699) {
      if (!text.startsWith("STATUS_CLIENT ")) return undefined;
      text = text.slice("STATUS_CLIENT ".length);
    } else if (text.startsWith("status/bootstrap-phase=")) {
      text = line.data ?? text.slice("status/bootstrap-phase=".length);
    } else if (!/^(NOTICE|WARN|ERR) BOOTSTRAP /.test(text)) continue; // else: a bare GETINFO value
    return parseBootstrapPhase(text);
  }
  return undefined;
}

function parseBootstrapPhase(text: string): BootstrapStatus | undefined {
  const m = /^(NOTICE|WARN|ERR) BOOTSTRAP( |$)/.exec(text);
  if (!m) return undefined;
  const kv = parseKeywords(text);
  const progress = Number(kv["PROGRESS"]);
  if (!Number.isInteger(progress) || progress < 0 || progress > 100) return undefined;
  const status: BootstrapStatus = { progress, tag: kv["TAG"] ?? "", summary: kv["SUMMARY"] ?? "" };
  if (kv["WARNING"] !== undefined) status.warning = kv["WARNING"];
  if (kv["REASON"] !== undefined) status.reason = kv["REASON"];
  if (kv["RECOMMENDATION"] !== undefined) status.recommendation = kv["RECOMMENDATION"];
  if (kv["COUNT"] !== undefined && /^\d+$/.test(kv["COUNT"])) status.count = Number(kv["COUNT"]);
  if (kv["HOSTADDR"] !== undefined) status.hostAddr = kv["HOSTADDR"];
  if (kv["HOSTID"] !== undefined) status.hostId = kv["HOSTID"];
  return status;
}

export interface HsDescEvent {
  /** REQUESTED, UPLOAD, RECEIVED, UPLOADED, IGNORE, FAILED, CREATED, ... (tolerate others). */
  action: string;
  /** The onion address without ".onion", or "UNKNOWN". */
  address: string;
  authType?: string;
  /** The HSDir relay ($fingerprint~nickname); undefined when tor says UNKNOWN. */
  hsDir?: string;
  descriptorId?: string;
  /** For FAILED: BAD_DESC, UPLOAD_REJECTED, NOT_FOUND, QUERY_NO_HSDIR, ... */
  reason?: string;
}

/**
 * `650 HS_DESC Action HSAddress AuthType HsDir [DescriptorID] [REASON=..] [REPLICA=..]
 * [HSDIR_INDEX=..]` (control-spec 4.1.25).
 */
export function parseHsDesc(e: TorReply): HsDescEvent | undefined {
  if (eventType(e) !== "HS_DESC") return undefined;
  const text = e.lines[0]!.text;
  const words = text.split(" ");
  const positional = words.slice(1).filter((w) => !/^[A-Z_]+=/.test(w));
  const [action, address, authType, hsDir, descriptorId] = positional;
  if (!action || !address) return undefined;
  const kv = parseKeywords(text);
  const out: HsDescEvent = { action, address };
  if (authType) out.authType = authType;
  if (hsDir && hsDir !== "UNKNOWN") out.hsDir = hsDir;
  if (descriptorId) out.descriptorId = descriptorId;
  if (kv["REASON"] !== undefined) out.reason = kv["REASON"];
  return out;
}
