// `purple-onion status` and `purple-onion stop`: what the daemon is doing, and asking it to end.
import { OPS, type StatusResult } from "../daemon/control-protocol.js";
import { table } from "./account.js";
import { describePin } from "./tor.js";
import {
  DATA_DIR_OPTION,
  EXIT_FAILURE,
  EXIT_OK,
  JSON_OPTION,
  parseCommandArgs,
  resolveDataDir,
  withDaemon,
  writeJson,
  type CliIo,
} from "./common.js";

export async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs("status", args, { ...DATA_DIR_OPTION, ...JSON_OPTION }, []);
  const dataDir = resolveDataDir(values["data-dir"], "status", io.env ?? process.env);
  const status = await withDaemon(dataDir, (c) => c.request<StatusResult>(OPS.STATUS));
  if (values.json) writeJson(io, status);
  else io.stdout.write(describeStatus(status));
  return EXIT_OK;
}

export function describeStatus(s: StatusResult): string {
  const accounts = Array.isArray(s.accounts) ? s.accounts : [];
  let text =
    `purple-onion daemon running (pid ${s.pid}, up ${formatDuration(s.uptimeSeconds)})\n` +
    `  data dir:  ${s.dataDir}\n` +
    `  c2s:       ${s.c2s?.host}:${s.c2s?.port}\n` +
    `  tor:       ${describeTor(s.tor)}\n` +
    `  accounts:  ${accounts.length}\n`;
  if (accounts.length > 0) {
    const withTor = s.tor?.mode !== undefined && s.tor.mode !== "none";
    const federation = (a: StatusResult["accounts"][number]) => (a.s2s ? `${a.s2s.established}/${a.s2s.outbound} out, ${a.s2s.inbound} in, ${a.s2s.queued} queued` : "-");
    const rows = accounts.map((a) => [a.jid, `${a.host}:${a.port}`, String(a.sessions), ...(withTor ? [a.onionState ?? "-", federation(a)] : [])]);
    text += "\n" + table(["JID", "SERVER", "SESSIONS", ...(withTor ? ["ONION SERVICE", "SERVER STREAMS"] : [])], rows);
    for (const a of accounts) if (a.onionError) text += `\n${a.jid}: onion service failed: ${a.onionError}`;
    if (accounts.some((a) => a.onionError)) text += "\n";
  }
  return text;
}

function describeTor(t: StatusResult["tor"] | undefined): string {
  if (!t || t.mode === "none") return "none (no federation)";
  const how = t.mode === "launch" ? `launched by the daemon${t.pid ? ` (pid ${t.pid})` : ""}` : "attached to a running tor";
  const progress = t.bootstrap ? `, bootstrap ${t.bootstrap.progress}% (${t.bootstrap.summary})` : "";
  const socks = t.socks ? `, SOCKS ${t.socks}` : "";
  const problem = t.error ? `\n             ${t.error}` : t.bootstrap?.warning ? `\n             problem: ${t.bootstrap.warning}` : "";
  const pin = t.pin ? `\n             trusted: ${describePin(t.pin)}` : "";
  return `${how}: ${t.state ?? "unknown"}${progress}${socks}${problem}${pin}`;
}

/** 3725 -> "1h 2m 5s"; "3d 4h 0m 0s" for long runs. */
export function formatDuration(totalSeconds: number): string {
  let rest = Math.max(0, Math.floor(Number(totalSeconds) || 0));
  const days = Math.floor(rest / 86400);
  rest %= 86400;
  const hours = Math.floor(rest / 3600);
  rest %= 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest % 60;
  if (days > 0) return `${days}d ${hours}h ${minutes}m ${seconds}s`;
  if (hours > 0) return `${hours}h ${minutes}m ${seconds}s`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

/** How long `stop` waits for the daemon to close the connection after acknowledging. */
const STOP_WAIT_MS = 15_000;

export async function stopCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs("stop", args, DATA_DIR_OPTION, []);
  const dataDir = resolveDataDir(values["data-dir"], "stop", io.env ?? process.env);
  return withDaemon(dataDir, async (client, hello) => {
    await client.request(OPS.SHUTDOWN);
    // The daemon closes every control connection as it shuts down; that is our signal.
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([
      client.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!gone) {
      io.stderr.write(
        `purple-onion: the daemon (pid ${hello.pid}) accepted the shutdown but was still running after ` +
          `${STOP_WAIT_MS / 1000} s; check its log, or end it with 'kill ${hello.pid}'\n`,
      );
      return EXIT_FAILURE;
    }
    io.stdout.write(`Stopped the purple-onion daemon (pid ${hello.pid}).\n`);
    return EXIT_OK;
  });
}
