// What every purple-onion command shares: its I/O, exit codes, option parsing with
// user-facing errors, the data dir, and a connection to the running daemon.
import fs from "node:fs";
import path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";

import { connectControl, type ControlClient } from "../daemon/control-client.js";
import { OPS, PROTOCOL_VERSION, type HelloArgs, type HelloResult } from "../daemon/control-protocol.js";
import type { DaemonOptions } from "../daemon/daemon.js";
import { controlSocketPath, defaultDataDir } from "../daemon/paths.js";

export const EXIT_OK = 0;
/** The command was understood but failed: no daemon, daemon-side error, I/O error. */
export const EXIT_FAILURE = 1;
/** The command line is wrong: unknown command or option, missing or bad argument. */
export const EXIT_USAGE = 2;

export interface TextSink {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** Environment for defaults (PURPLE_ONION_DATA_DIR, XDG_DATA_HOME, HOME); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Replaceable parts, for tests. */
export interface CliDeps {
  runDaemon?: (opts: DaemonOptions) => Promise<void>;
}

/** A mistake on the command line; `command` names whose --help to suggest. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

export function isHelpRequested(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

export const DATA_DIR_OPTION = { "data-dir": { type: "string" } } as const satisfies OptionSpecs;
export const JSON_OPTION = { json: { type: "boolean" } } as const satisfies OptionSpecs;

/**
 * node:util parseArgs with our error messages. `positionalNames` are the required positionals;
 * more or fewer is a usage error.
 */
export function parseCommandArgs<O extends OptionSpecs>(
  command: string,
  args: string[],
  options: O,
  positionalNames: string[],
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(describeParseError(err as NodeJS.ErrnoException), command);
  }
  const { positionals } = parsed;
  if (positionals.length < positionalNames.length) {
    throw new UsageError(`missing ${positionalNames[positionals.length]}`, command);
  }
  if (positionals.length > positionalNames.length) {
    throw new UsageError(`unexpected argument '${positionals[positionalNames.length]}'`, command);
  }
  return parsed;
}

function describeParseError(err: NodeJS.ErrnoException): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option '${quoted ?? "?"}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (err.message.includes("ambiguous") && quoted) {
        return `option '${quoted}' needs a value; for a value starting with '-', write ${quoted}=VALUE`;
      }
      // "Option '--data-dir <value>' argument missing" or "Option '--json' does not take an argument"
      return firstLine(err.message).replace(/^Option /, "option ").replace(/\.$/, "");
    default:
      return firstLine(err.message);
  }
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]!;
}

/** --data-dir as an absolute path, else the default for this environment. */
export function resolveDataDir(value: string | undefined, command: string, env: NodeJS.ProcessEnv): string {
  if (value === undefined) return defaultDataDir(env);
  if (value === "") throw new UsageError("--data-dir must not be empty", command);
  return path.resolve(value);
}

/**
 * Connects to the daemon for dataDir, checks it speaks our protocol, runs fn, closes.
 * Throws DaemonNotRunningError when no daemon listens there.
 */
export async function withDaemon<T>(dataDir: string, fn: (client: ControlClient, hello: HelloResult) => Promise<T>): Promise<T> {
  const client = await connectControl(controlSocketPath(dataDir));
  try {
    const helloArgs: HelloArgs = { protocol: PROTOCOL_VERSION, client: `purple-onion-cli/${packageVersion()}` };
    const hello = await client.request<HelloResult>(OPS.HELLO, { ...helloArgs });
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new Error(
        `the daemon (pid ${hello.pid}) speaks control protocol ${hello.protocol} and this command speaks ` +
          `${PROTOCOL_VERSION}: restart the daemon with this version of purple-onion`,
      );
    }
    return await fn(client, hello);
  } finally {
    client.close();
  }
}

/** Exactly one JSON object on stdout, one line. */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + "\n");
}

let cachedVersion: string | undefined;

/** The version in package.json (three levels above this file in src/ and in dist/src/). */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = "unknown";
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "purple-onion" && typeof pkg.version === "string") {
        cachedVersion = pkg.version;
        break;
      }
    } catch {
      // try the next candidate
    }
  }
  return cachedVersion;
}
