// The --help text of every command. One place, so they stay consistent with each other.
import { LOG_LEVELS } from "../daemon/logger.js";

const DATA_DIR_LINE = "  --data-dir DIR   the daemon's data dir (default: see 'purple-onion --help')";
const JSON_LINE = "  --json           print one JSON object instead of text (for scripts)";
const HELP_LINE = "  -h, --help       show this help";

export function topLevelHelp(defaultDataDir: string): string {
  return `purple-onion: a private XMPP server for each of your Pidgin accounts,
federating only over Tor onion services.

Usage: purple-onion COMMAND [OPTIONS]

Commands:
  serve                        run the daemon in the foreground
  account add LOCALPART        create an account and show its password
  account list                 list the accounts
  account remove JID           delete an account and everything stored for it
  account reset-password JID   give an account a new random password
  status                       show what the running daemon is doing
  stop                         ask the running daemon to shut down
  reach ONION --from ACCOUNT   check that an account's server reaches an onion through Tor
  tor repin                    trust the tor that answers now (after you reconfigured tor)
  help [COMMAND]               show the help of a command

Options:
  -h, --help       show this help
  -V, --version    print the version

Every command takes --data-dir DIR. The default is $PURPLE_ONION_DATA_DIR,
else $XDG_DATA_HOME/purple-onion, else ~/.local/share/purple-onion
(here: ${defaultDataDir}).

Exit status: 0 on success, 1 when the command failed, 2 for a bad command line.
Run 'purple-onion COMMAND --help' for a command's options and an example.
`;
}

const SERVE = `Usage: purple-onion serve [--data-dir DIR] [--tor launch|attach|none] [--c2s-port N] [--log-level LEVEL]
                          [--tor-control T] [--tor-socks S] [--tor-auth A] [--tor-cookie-file F]
                          [--tor-password-file F] [--tor-user U] [--tor-torrc-append F]
                          [--s2s-tls when-required|always]

Runs the purple-onion daemon in the foreground until SIGINT (Ctrl-C) or SIGTERM.
It serves every account in the data dir to XMPP clients on 127.0.0.1, gives
each account its own Tor onion service, and listens for 'purple-onion'
commands on DIR/control.sock. One daemon per data dir.

Options:
${DATA_DIR_LINE}
  --tor MODE       how to reach Tor (default: launch):
                     launch  start our own tor (Debian package 'tor') with a
                             private DataDirectory in DIR/tor and its control
                             and SOCKS sockets in there; no torrc needed
                     attach  use a tor that is already running (see below)
                     none    no Tor and no federation: local accounts only
  --tor-control T  attach: tor's ControlPort as 127.0.0.1:PORT, or its
                   ControlSocket as unix:PATH
  --tor-socks S    attach: tor's SocksPort as 127.0.0.1:PORT or unix:PATH
                   (default: asked from tor, a Unix socket preferred)
  --tor-auth A     attach: safecookie (default; tor's CookieAuthentication),
                   password (needs --tor-password-file), or none (only over a
                   Unix ControlSocket)
  --tor-cookie-file F
                   attach: tor's cookie file, when not the path tor names
  --tor-password-file F
                   attach: the control password (HashedControlPassword), first line of F
  --tor-user U     attach: the user tor runs as (name or uid); default: the
                   owner of the control port at the first connection
                   The first successful connection pins the control endpoint, the
                   authentication, the cookie file and tor's user; later connections
                   that differ are refused and nothing is sent to them (onion keys
                   included). After reconfiguring tor: 'purple-onion tor repin'.
  --tor-torrc-append F
                   launch: extra torrc lines from F (private test networks, experts)
  --s2s-tls P      STARTTLS on server-to-server streams (self-signed, one
                   certificate per onion; the onion address authenticates):
                     when-required  (default) offered to every peer, used toward
                                    servers that require it (a stock Prosody);
                                    off between purple-onion servers
                     always         required of peers, used whenever offered
  --c2s-port N     loopback port for XMPP clients (0 = any free port)
  --log-level L    ${LOG_LEVELS.join(", ")} (default: info); logs go to stderr,
                   and contact addresses and messages appear only at debug
${HELP_LINE}

Examples:
  purple-onion serve
  purple-onion serve --tor attach --tor-control 127.0.0.1:9051
  purple-onion serve --tor attach --tor-control unix:/run/tor/control
  purple-onion serve --tor none --c2s-port 5222 --log-level debug
`;

const ACCOUNT = `Usage: purple-onion account SUBCOMMAND [OPTIONS]

Manages the accounts of the running daemon.

Subcommands:
  add LOCALPART        create an account and show its password
  list                 list the accounts
  remove JID           delete an account and everything stored for it
  reset-password JID   give an account a new random password

Run 'purple-onion account SUBCOMMAND --help' for details.

Example:
  purple-onion account add alice
  purple-onion account list
`;

const ACCOUNT_ADD = `Usage: purple-onion account add LOCALPART [--data-dir DIR] [--json]

Creates the account LOCALPART@<its own onion address> in the running daemon and
prints its JID, the server to connect to and its password, with how to set it up
in Pidgin. The password is shown only this once (the daemon keeps only a salted
hash); 'purple-onion account reset-password' makes a new one.

Options:
${DATA_DIR_LINE}
${JSON_LINE}:
                   {"jid", "host", "port", "password", "onion"}
${HELP_LINE}

Example:
  purple-onion account add alice
`;

const ACCOUNT_LIST = `Usage: purple-onion account list [--data-dir DIR] [--json]

Lists the accounts of the running daemon: JID, server and creation time.

Options:
${DATA_DIR_LINE}
${JSON_LINE}:
                   {"accounts": [{"jid", "host", "port", "onion", "createdAt"}]}
${HELP_LINE}

Example:
  purple-onion account list --json
`;

const ACCOUNT_REMOVE = `Usage: purple-onion account remove JID [--data-dir DIR] [--json]

Deletes the account JID and everything the daemon stores for it (roster, queued
messages, its onion key: the onion address is gone for good). Clients logged in
to it are disconnected.

Options:
${DATA_DIR_LINE}
${JSON_LINE}: {"jid"}
${HELP_LINE}

Example:
  purple-onion account remove alice@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion
`;

const ACCOUNT_RESET_PASSWORD = `Usage: purple-onion account reset-password JID [--data-dir DIR] [--json]

Gives the account JID a new random password and prints it. The old password
stops working at once; enter the new one in Pidgin.

Options:
${DATA_DIR_LINE}
${JSON_LINE}: {"jid", "password"}
${HELP_LINE}

Example:
  purple-onion account reset-password alice@xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion
`;

const STATUS = `Usage: purple-onion status [--data-dir DIR] [--json]

Shows the running daemon: pid, uptime, data dir, the loopback XMPP server, Tor,
and each account with its number of connected clients, its onion service and
its server streams (outbound authenticated/open, inbound, and stanzas waiting
in the outbox for peers; counts only, never the peers). Exits with status 1
when no daemon is running for the data dir.

Options:
${DATA_DIR_LINE}
${JSON_LINE}:
                   {"pid", "dataDir", "uptimeSeconds", "c2s", "tor", "accounts"}
${HELP_LINE}

Example:
  purple-onion status
`;

const REACH = `Usage: purple-onion reach ONION --from ACCOUNT [--data-dir DIR] [--json]

Opens a server-to-server XMPP stream from ACCOUNT's server to ONION (port 5269)
through Tor, with ACCOUNT's own circuit isolation, and prints how long the peer
took to answer and what it answered. Nothing is sent but a stream header; no
name is ever resolved outside Tor. Exits with status 1 when the onion cannot be
reached (the message says why: not published yet, unreachable, ...).

Options:
  --from ACCOUNT   one of the daemon's accounts: its JID or its local part
${DATA_DIR_LINE}
${JSON_LINE}:
                   {"from", "onion", "ms", "answer"}
${HELP_LINE}

Example:
  purple-onion reach 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion --from alice
`;

const STOP = `Usage: purple-onion stop [--data-dir DIR]

Asks the running daemon to shut down and waits until it has closed its
control socket. Exits with status 1 when no daemon is running.

Options:
${DATA_DIR_LINE}
${HELP_LINE}

Example:
  purple-onion stop
`;

const TOR = `Usage: purple-onion tor repin [--data-dir DIR] [--json]

The daemon trusts one tor: the one it first connected to (attach mode), as
pinned then: its control endpoint, how to authenticate, its cookie file and the
user it runs as. A tor that differs is refused, so that no program squatting on
tor's port while tor restarts receives the onion keys. 'status' shows the pin.

  repin   forget the pin, connect again at once and pin what answers now; use
          it after you changed tor's configuration (port, authentication, user)

Options:
${DATA_DIR_LINE}
${JSON_LINE}:
                   {"previous", "pin", "state", "error"}
${HELP_LINE}

Example:
  purple-onion tor repin
`;

const HELP = `Usage: purple-onion help [COMMAND [SUBCOMMAND]]

Shows the help of a command, the same as 'purple-onion COMMAND --help'.

Example:
  purple-onion help account add
`;

/** Help texts by command path ("account add"). */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  serve: SERVE,
  account: ACCOUNT,
  "account add": ACCOUNT_ADD,
  "account list": ACCOUNT_LIST,
  "account remove": ACCOUNT_REMOVE,
  "account reset-password": ACCOUNT_RESET_PASSWORD,
  status: STATUS,
  stop: STOP,
  reach: REACH,
  tor: TOR,
  "tor repin": TOR,
  help: HELP,
};
