// `purple-onion account add|list|remove|reset-password`: thin wrappers around the
// daemon's account.* control ops (docs/control-protocol.md).
import {
  OPS,
  type AccountAddResult,
  type AccountListResult,
  type AccountRemoveResult,
  type AccountResetPasswordResult,
} from "../daemon/control-protocol.js";
import {
  DATA_DIR_OPTION,
  EXIT_OK,
  JSON_OPTION,
  parseCommandArgs,
  resolveDataDir,
  UsageError,
  withDaemon,
  writeJson,
  type CliIo,
} from "./common.js";

const OPTIONS = { ...DATA_DIR_OPTION, ...JSON_OPTION } as const;

type Subcommand = (args: string[], io: CliIo) => Promise<number>;

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  add: accountAdd,
  list: accountList,
  remove: accountRemove,
  "reset-password": accountResetPassword,
};

export const ACCOUNT_SUBCOMMANDS = Object.keys(SUBCOMMANDS);

/** args starts after "account"; the caller has handled --help. */
export async function accountCommand(args: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name.startsWith("-")) {
    throw new UsageError(
      name === undefined ? "missing subcommand" : `unknown option '${name}' (a subcommand comes first)`,
      "account",
    );
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) throw new UsageError(`unknown subcommand 'account ${name}'`, "account");
  return sub(rest, io);
}

async function accountAdd(args: string[], io: CliIo): Promise<number> {
  const cmd = "account add";
  const { values, positionals } = parseCommandArgs(cmd, args, OPTIONS, ["LOCALPART"]);
  const dataDir = resolveDataDir(values["data-dir"], cmd, io.env ?? process.env);
  const localpart = positionals[0]!;
  if (localpart === "") throw new UsageError("LOCALPART must not be empty", cmd);
  if (localpart.includes("@")) {
    throw new UsageError(
      `LOCALPART is the part before the '@' (e.g. 'alice'); the daemon picks the domain, not '${localpart}'`,
      cmd,
    );
  }
  const result = await withDaemon(dataDir, (c) => c.request<AccountAddResult>(OPS.ACCOUNT_ADD, { localpart }));
  if (values.json) writeJson(io, result);
  else io.stdout.write(describeNewAccount(result));
  return EXIT_OK;
}

/** What a person needs to set the new account up in Pidgin, with labels as Pidgin shows them. */
export function describeNewAccount(a: AccountAddResult): string {
  const at = a.jid.lastIndexOf("@");
  const username = at > 0 ? a.jid.slice(0, at) : a.jid;
  const domain = at > 0 ? a.jid.slice(at + 1) : "";
  return `Created account ${a.jid}

  JID:       ${a.jid}
  Server:    ${a.host}:${a.port}
  Password:  ${a.password}
${a.onion && a.onion !== domain ? `  Onion:     ${a.onion}\n` : ""}
The password is shown only this once; 'purple-onion account reset-password ${a.jid}'
makes a new one.

To use it in Pidgin: Accounts > Manage Accounts > Add, protocol XMPP.
  Basic tab:     Username ${username}, Domain ${domain}, Password as above
  Advanced tab:  Connection security "Use encryption if available",
                 tick "Allow plaintext auth over unencrypted streams",
                 Connect port ${a.port}, Connect server ${a.host}
`;
}

async function accountList(args: string[], io: CliIo): Promise<number> {
  const cmd = "account list";
  const { values } = parseCommandArgs(cmd, args, OPTIONS, []);
  const dataDir = resolveDataDir(values["data-dir"], cmd, io.env ?? process.env);
  const result = await withDaemon(dataDir, (c) => c.request<AccountListResult>(OPS.ACCOUNT_LIST));
  if (values.json) {
    writeJson(io, result);
    return EXIT_OK;
  }
  const accounts = Array.isArray(result.accounts) ? result.accounts : [];
  if (accounts.length === 0) {
    io.stdout.write("No accounts yet. Create one with: purple-onion account add LOCALPART\n");
    return EXIT_OK;
  }
  const rows = accounts.map((a) => [a.jid, `${a.host}:${a.port}`, a.createdAt]);
  io.stdout.write(table(["JID", "SERVER", "CREATED"], rows));
  return EXIT_OK;
}

async function accountRemove(args: string[], io: CliIo): Promise<number> {
  const cmd = "account remove";
  const { values, positionals } = parseCommandArgs(cmd, args, OPTIONS, ["JID"]);
  const dataDir = resolveDataDir(values["data-dir"], cmd, io.env ?? process.env);
  const jid = positionals[0]!;
  if (jid === "") throw new UsageError("JID must not be empty", cmd);
  const result = await withDaemon(dataDir, (c) => c.request<AccountRemoveResult>(OPS.ACCOUNT_REMOVE, { jid }));
  if (values.json) writeJson(io, result);
  else io.stdout.write(`Removed account ${result.jid ?? jid}\n`);
  return EXIT_OK;
}

async function accountResetPassword(args: string[], io: CliIo): Promise<number> {
  const cmd = "account reset-password";
  const { values, positionals } = parseCommandArgs(cmd, args, OPTIONS, ["JID"]);
  const dataDir = resolveDataDir(values["data-dir"], cmd, io.env ?? process.env);
  const jid = positionals[0]!;
  if (jid === "") throw new UsageError("JID must not be empty", cmd);
  const result = await withDaemon(dataDir, (c) =>
    c.request<AccountResetPasswordResult>(OPS.ACCOUNT_RESET_PASSWORD, { jid }),
  );
  if (values.json) writeJson(io, result);
  else {
    io.stdout.write(
      `New password for ${result.jid}: ${result.password}\n` +
        "The old password no longer works; enter this one in Pidgin (Accounts > Manage Accounts > Modify).\n",
    );
  }
  return EXIT_OK;
}

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd() + "\n";
  return [header, ...rows].map(line).join("");
}
