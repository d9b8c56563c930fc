// `purple-onion reach ONION --from ACCOUNT`: can this account's server reach that onion through Tor?
import { OPS, type TorReachResult } from "../daemon/control-protocol.js";
import { DATA_DIR_OPTION, EXIT_OK, JSON_OPTION, parseCommandArgs, resolveDataDir, UsageError, withDaemon, writeJson, type CliIo } from "./common.js";

export async function reachCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs("reach", args, { ...DATA_DIR_OPTION, ...JSON_OPTION, from: { type: "string" } }, ["ONION"]);
  const dataDir = resolveDataDir(values["data-dir"], "reach", io.env ?? process.env);
  const from = values.from;
  const onion = positionals[0]!;
  if (!from) throw new UsageError("reach needs --from ACCOUNT: the account whose server opens the stream", "reach");
  // Opening a circuit to a fresh onion can take a while; say so before the wait.
  if (!values.json) io.stderr.write(`Reaching ${onion} through Tor...\n`);
  const r = await withDaemon(dataDir, (c) => c.request<TorReachResult>(OPS.TOR_REACH, { from, onion }));
  if (values.json) writeJson(io, r);
  else io.stdout.write(`${r.onion} answered ${r.from} in ${r.ms} ms: ${r.answer}\n`);
  return EXIT_OK;
}
