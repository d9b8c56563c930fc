// The purple-onion command line without a daemon: help, version, argument errors, serve's options.
import path from "node:path";

import type { CliDeps } from "../../src/cli/common.js";
import type { DaemonOptions } from "../../src/daemon/daemon.js";
import { runCli } from "./run-cli.js";

function run(argv: string[], deps: CliDeps = {}, env?: NodeJS.ProcessEnv) {
  return runCli(argv, deps, env);
}

describe("help", () => {
  test("--help lists every command and the default data dir", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    for (const cmd of ["serve", "account add", "account list", "account remove", "account reset-password", "status", "stop", "help"]) {
      expect(r.stdout).toContain(cmd);
    }
    expect(r.stdout).toContain("/home/tester/.local/share/purple-onion");
  });

  test("no arguments: the overview on stderr and exit 2", async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Usage: purple-onion COMMAND");
  });

  const commands: Array<[string[], string]> = [
    [["serve"], "Usage: purple-onion serve"],
    [["account"], "Usage: purple-onion account SUBCOMMAND"],
    [["account", "add"], "Usage: purple-onion account add LOCALPART"],
    [["account", "list"], "Usage: purple-onion account list"],
    [["account", "remove"], "Usage: purple-onion account remove JID"],
    [["account", "reset-password"], "Usage: purple-onion account reset-password JID"],
    [["status"], "Usage: purple-onion status"],
    [["stop"], "Usage: purple-onion stop"],
  ];

  test.each(commands)("%p --help says what it does, its options and an example", async (cmd, usage) => {
    for (const flag of ["--help", "-h"]) {
      const r = await run([...cmd, flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(usage)).toBe(true);
      expect(r.stdout).toContain("Example");
      if (cmd[0] !== "account" || cmd.length > 1) expect(r.stdout).toContain("--data-dir DIR");
    }
  });

  test.each(commands)("help %p is the same text", async (cmd) => {
    const viaHelp = await run(["help", ...cmd]);
    const viaFlag = await run([...cmd, "--help"]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
  });

  test("--help wins over other mistakes on the line", async () => {
    const r = await run(["account", "add", "--bogus", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: purple-onion account add");
  });

  test("help for an unknown command is a usage error", async () => {
    const r = await run(["help", "frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  test("--version prints the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^purple-onion \d+\.\d+\.\d+\n$/);
    }
  });
});

describe("usage errors exit 2 with a short message and a --help hint", () => {
  test.each([
    [["frobnicate"], "purple-onion: unknown command 'frobnicate'", "Try 'purple-onion --help'."],
    [["--frob"], "purple-onion: unknown option '--frob'", "Try 'purple-onion --help'."],
    [["account"], "purple-onion account: missing subcommand", "Try 'purple-onion account --help'."],
    [["account", "rename", "x"], "unknown subcommand 'account rename'", "Try 'purple-onion account --help'."],
    [["account", "add"], "purple-onion account add: missing LOCALPART", "Try 'purple-onion account add --help'."],
    [["account", "add", "a", "b"], "unexpected argument 'b'", "Try 'purple-onion account add --help'."],
    [["account", "add", "alice@example.org"], "the part before the '@'", "account add --help"],
    [["account", "add", "alice", "--frob"], "unknown option '--frob'", "Try 'purple-onion account add --help'."],
    [["account", "add", "alice", "--data-dir"], "'--data-dir <value>' argument missing", "account add --help"],
    [["account", "add", "alice", "--data-dir", ""], "--data-dir must not be empty", "account add --help"],
    [["account", "list", "extra"], "unexpected argument 'extra'", "account list --help"],
    [["account", "remove"], "missing JID", "account remove --help"],
    [["account", "reset-password"], "missing JID", "account reset-password --help"],
    [["status", "--json=yes"], "'--json' does not take an argument", "status --help"],
    [["stop", "--json"], "unknown option '--json'", "stop --help"],
    [["serve", "--tor", "system"], "--tor must be launch, attach or none, not 'system'", "serve --help"],
    [["serve", "--tor", "attach"], "--tor attach needs --tor-control", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "10.0.0.1:9051"], "--tor-control must be a loopback HOST:PORT", "serve --help"],
    [["serve", "--tor", "none", "--tor-socks", "127.0.0.1:9050"], "--tor-socks makes no sense with --tor none", "serve --help"],
    [["serve", "--tor-control", "127.0.0.1:9051"], "--tor-control is for --tor attach", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-torrc-append", "x"], "--tor-torrc-append is for --tor launch", "serve --help"],
    [["serve", "--tor-torrc-append", "/nonexistent/torrc"], "--tor-torrc-append /nonexistent/torrc", "serve --help"],
    [["serve", "--tor-auth", "none"], "--tor-auth is for --tor attach", "serve --help"],
    [["tor"], "tor needs a subcommand: repin", "tor --help"],
    [["tor", "frob"], "unknown tor subcommand 'frob'", "tor --help"],
    [["tor", "repin", "extra"], "unexpected argument 'extra'", "tor repin --help"],
    [["serve", "--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-auth", "none"], "--tor-auth none is accepted only with a Unix ControlSocket", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-auth", "password"], "--tor-auth password needs --tor-password-file FILE", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-auth", "cookie"], "--tor-auth must be safecookie, password or none, not 'cookie'", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "unix:run/tor/control"], "unix:PATH needs an absolute path", "serve --help"],
    [["serve", "--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-user", "no-such-user-here"], "--tor-user: no user 'no-such-user-here'", "serve --help"],
    [["serve", "--c2s-port", "http"], "--c2s-port must be a port number from 0 to 65535", "serve --help"],
    [["serve", "--c2s-port", "70000"], "not '70000'", "serve --help"],
    [["serve", "--c2s-port", "-1"], "--c2s-port", "serve --help"],
    [["serve", "--log-level", "trace"], "--log-level must be one of error, warn, info, debug", "serve --help"],
    [["serve", "now"], "unexpected argument 'now'", "serve --help"],
    [["serve", "--s2s-tls", "never"], "--s2s-tls must be when-required or always, not 'never'", "serve --help"],
    [["serve", "--tor", "none", "--s2s-tls", "always"], "--s2s-tls makes no sense with --tor none", "serve --help"],
  ])("%p", async (argv, message, hint) => {
    let called = false;
    const r = await run(argv, { runDaemon: async () => void (called = true) });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(hint);
    expect(r.stderr.split("\n").length).toBeLessThanOrEqual(3);
    expect(called).toBe(false);
  });
});

describe("serve", () => {
  async function serveWith(argv: string[], env?: NodeJS.ProcessEnv) {
    let got: DaemonOptions | undefined;
    const r = await run(["serve", ...argv], { runDaemon: async (o) => void (got = o) }, env);
    return { ...r, got };
  }

  test("defaults: data dir from the environment, tor launched by the daemon, info", async () => {
    const r = await serveWith([], { HOME: "/home/tester", XDG_DATA_HOME: "/xdg" });
    expect(r.code).toBe(0);
    expect(r.got).toEqual({ dataDir: "/xdg/purple-onion", tor: "launch", logLevel: "info" });
  });

  test("attach mode takes tor's control port (TCP or Unix socket) and optionally its SOCKS port", async () => {
    const tcp = await serveWith(["--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-socks", "localhost:9050"]);
    expect(tcp.got).toMatchObject({ tor: "attach", torControl: { host: "127.0.0.1", port: 9051 }, torSocks: { host: "127.0.0.1", port: 9050 } });
    const unix = await serveWith(["--tor", "attach", "--tor-control", "unix:/run/tor/control"]);
    expect(unix.got).toMatchObject({ tor: "attach", torControl: { path: "/run/tor/control" } });
  });

  test("attach mode: how to authenticate, and which user tor runs as", async () => {
    const cookie = await serveWith(["--tor", "attach", "--tor-control", "127.0.0.1:9051", "--tor-cookie-file", "/run/tor/control.authcookie", "--tor-user", "0"]);
    expect(cookie.got).toMatchObject({ torAuth: { method: "SAFECOOKIE", cookieFile: "/run/tor/control.authcookie" }, torUid: 0 });
    const none = await serveWith(["--tor", "attach", "--tor-control", "unix:/run/tor/control", "--tor-auth", "none", "--tor-socks", "unix:/run/tor/socks"]);
    expect(none.got).toMatchObject({ torAuth: { method: "NULL" }, torSocks: { path: "/run/tor/socks" } });
    const byDefault = await serveWith(["--tor", "attach", "--tor-control", "unix:/run/tor/control"]);
    expect(byDefault.got?.torAuth).toBeUndefined(); // SAFECOOKIE with the cookie file tor names, then pinned
  });

  test("every option is passed through; a relative --data-dir becomes absolute", async () => {
    const r = await serveWith(["--data-dir", "rel/dir", "--tor", "none", "--c2s-port", "5222", "--log-level", "debug"]);
    expect(r.got).toEqual({ dataDir: path.resolve("rel/dir"), tor: "none", c2sPort: 5222, logLevel: "debug" });
  });

  test("--s2s-tls: STARTTLS on server streams; unset leaves the daemon's default", async () => {
    expect((await serveWith(["--s2s-tls", "always"])).got?.s2sTls).toBe("always");
    expect((await serveWith(["--s2s-tls", "when-required"])).got?.s2sTls).toBe("when-required");
    expect((await serveWith([])).got?.s2sTls).toBeUndefined();
  });

  test("--c2s-port 0 means any free port", async () => {
    expect((await serveWith(["--c2s-port", "0"])).got?.c2sPort).toBe(0);
  });

  test("an error from the daemon is one line on stderr and exit 1", async () => {
    const r = await run(["serve", "--data-dir", "/tmp/x"], {
      runDaemon: async () => {
        throw new Error("port 5222 is already in use: choose another with --c2s-port");
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("purple-onion: port 5222 is already in use: choose another with --c2s-port\n");
  });
});
