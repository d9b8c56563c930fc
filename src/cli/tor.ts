// `purple-onion tor repin`: forget which tor the daemon trusts, and trust the one that answers now.
import { OPS, type TorPinInfo, type TorRepinResult } from "../daemon/control-protocol.js";
import { DATA_DIR_OPTION, EXIT_FAILURE, EXIT_OK, JSON_OPTION, parseCommandArgs, resolveDataDir, UsageError, withDaemon, writeJson, type CliIo } from "./common.js";

export const TOR_SUBCOMMANDS: readonly string[] = ["repin"];

export async function torCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError("tor needs a subcommand: repin", "tor");
  if (sub !== "repin") throw new UsageError(`unknown tor subcommand '${sub}'`, "tor");
  const { values } = parseCommandArgs("tor repin", rest, { ...DATA_DIR_OPTION, ...JSON_OPTION }, []);
  const dataDir = resolveDataDir(values["data-dir"], "tor repin", io.env ?? process.env);
  if (!values.json) io.stderr.write("Forgetting the pinned tor and connecting again...\n");
  const r = await withDaemon(dataDir, (c) => c.request<TorRepinResult>(OPS.TOR_REPIN));
  if (values.json) {
    writeJson(io, r);
    return r.pin ? EXIT_OK : EXIT_FAILURE;
  }
  if (r.previous) io.stdout.write(`Was pinned:  ${describePin(r.previous)}\n`);
  if (r.pin) {
    io.stdout.write(`Now pinned:  ${describePin(r.pin)}\n`);
    return EXIT_OK;
  }
  io.stderr.write(`purple-onion: no tor could be pinned: ${r.error ?? `tor is ${r.state}`}\n`);
  return EXIT_FAILURE;
}

export function describePin(p: TorPinInfo): string {
  const cookie = p.cookieFile ? ` with ${p.cookieFile}` : "";
  return `${p.control}, ${p.auth}${cookie}, tor runs as ${p.user} (since ${p.pinnedAt})`;
}
