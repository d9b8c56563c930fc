// The `purple-onion` command: dispatches to one module per command group.
// main.ts is the bin; it loads this file only after `serve` has set up the heap.
import { DaemonNotRunningError } from "../daemon/control-client.js";
import { ControlError } from "../daemon/control-protocol.js";
import { defaultDataDir } from "../daemon/paths.js";
import { accountCommand, ACCOUNT_SUBCOMMANDS } from "./account.js";
import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  isHelpRequested,
  packageVersion,
  UsageError,
  type CliDeps,
  type CliIo,
} from "./common.js";
import { COMMAND_HELP, topLevelHelp } from "./help.js";
import { reachCommand } from "./reach.js";
import { serveCommand } from "./serve.js";
import { statusCommand, stopCommand } from "./status.js";
import { torCommand, TOR_SUBCOMMANDS } from "./tor.js";

type Command = (args: string[], io: CliIo, deps: CliDeps) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: serveCommand,
  account: accountCommand,
  status: statusCommand,
  stop: stopCommand,
  reach: reachCommand,
  tor: torCommand,
  help: helpCommand,
};

/** argv is what follows the program name (process.argv.slice(2)); resolves with the exit status. */
export async function main(argv: string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  try {
    return await dispatch(argv, io, deps);
  } catch (err) {
    return reportError(err, io);
  }
}

async function dispatch(argv: string[], io: CliIo, deps: CliDeps): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(topLevelHelp(defaultDataDir(io.env ?? process.env)));
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h") {
    io.stdout.write(topLevelHelp(defaultDataDir(io.env ?? process.env)));
    return EXIT_OK;
  }
  if (first === "--version" || first === "-V") {
    io.stdout.write(`purple-onion ${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (first.startsWith("-")) throw new UsageError(`unknown option '${first}' (a command comes first)`, "");
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) throw new UsageError(`unknown command '${first}'`, "");

  if (first !== "help" && isHelpRequested(rest)) {
    io.stdout.write(helpFor(first, rest));
    return EXIT_OK;
  }
  return command(rest, io, deps);
}

/** The most specific help for `command rest...`: "account add --help" shows account add's. */
function helpFor(command: string, rest: string[]): string {
  const sub = rest.find((a) => !a.startsWith("-"));
  if (command === "account" && sub !== undefined && ACCOUNT_SUBCOMMANDS.includes(sub)) {
    return COMMAND_HELP[`account ${sub}`]!;
  }
  if (command === "tor" && sub !== undefined && TOR_SUBCOMMANDS.includes(sub)) return COMMAND_HELP[`tor ${sub}`]!;
  return COMMAND_HELP[command]!;
}

async function helpCommand(args: string[], io: CliIo): Promise<number> {
  const words = args.filter((a) => a !== "--help" && a !== "-h");
  if (words.length === 0) {
    io.stdout.write(topLevelHelp(defaultDataDir(io.env ?? process.env)));
    return EXIT_OK;
  }
  const key = words.join(" ");
  const text = Object.hasOwn(COMMAND_HELP, key) ? COMMAND_HELP[key] : undefined;
  if (text === undefined) throw new UsageError(`no help for unknown command '${key}'`, "");
  io.stdout.write(text);
  return EXIT_OK;
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    const where = err.command ? `purple-onion ${err.command}` : "purple-onion";
    io.stderr.write(`${where}: ${err.message}\nTry '${where} --help'.\n`);
    return EXIT_USAGE;
  }
  if (err instanceof DaemonNotRunningError || err instanceof ControlError) {
    io.stderr.write(`purple-onion: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  if (err instanceof Error) {
    // Errors from the daemon and the data dir carry messages meant for the user; a stack
    // trace helps only when PURPLE_ONION_DEBUG is set.
    const debug = (io.env ?? process.env).PURPLE_ONION_DEBUG;
    io.stderr.write(`purple-onion: ${err.message}\n${debug && err.stack ? err.stack + "\n" : ""}`);
    return EXIT_FAILURE;
  }
  io.stderr.write(`purple-onion: ${String(err)}\n`);
  return EXIT_FAILURE;
}
