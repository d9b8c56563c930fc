// `purple-onion serve`: validate the options, then hand over to the daemon until it stops.
import type { DaemonOptions } from "../daemon/daemon.js";
import { isLogLevel, LOG_LEVELS } from "../daemon/logger.js";
import { DATA_DIR_OPTION, EXIT_OK, parseCommandArgs, resolveDataDir, UsageError, type CliDeps, type CliIo } from "./common.js";

const OPTIONS = {
  ...DATA_DIR_OPTION,
  tor: { type: "string" },
  "c2s-port": { type: "string" },
  "log-level": { type: "string" },
} as const;

export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): DaemonOptions {
  const { values } = parseCommandArgs("serve", args, OPTIONS, []);

  const tor = values.tor ?? "none";
  if (tor !== "none") {
    throw new UsageError(
      `--tor ${tor} is not available yet: only '--tor none' (no federation) exists until Tor support lands`,
      "serve",
    );
  }

  let c2sPort: number | undefined;
  const portText = values["c2s-port"];
  if (portText !== undefined) {
    c2sPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(c2sPort >= 0 && c2sPort <= 65535)) {
      throw new UsageError(`--c2s-port must be a port number from 0 to 65535, not '${portText}'`, "serve");
    }
  }

  const logLevel = values["log-level"] ?? "info";
  if (!isLogLevel(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${logLevel}'`, "serve");
  }

  const opts: DaemonOptions = { dataDir: resolveDataDir(values["data-dir"], "serve", env), tor, logLevel };
  if (c2sPort !== undefined) opts.c2sPort = c2sPort;
  return opts;
}

export async function serveCommand(args: string[], io: CliIo, deps: CliDeps): Promise<number> {
  const opts = parseServeArgs(args, io.env ?? process.env);
  // Loaded only here, so that `--help` and the client commands do not load the whole server.
  const runDaemon = deps.runDaemon ?? (await import("../daemon/daemon.js")).runDaemon;
  await runDaemon(opts);
  return EXIT_OK;
}
