// The purple-onion commands that talk to a daemon, against a ControlServer with fake
// handlers (the real daemon's behaviour is tested with the daemon).
import { ControlError, type ControlHandler, type ControlServer } from "../../src/daemon/control-server.js";
import type {
  AccountAddResult,
  AccountListEntry,
  StatusResult,
} from "../../src/daemon/control-protocol.js";
import { removeDir, startServer, tempDir } from "../daemon/control-fixtures.js";
import { runCli } from "./run-cli.js";

const ONION = "a".repeat(56) + ".onion";

/** An in-memory stand-in for the daemon's account ops. */
function fakeDaemon() {
  const accounts = new Map<string, AccountListEntry>();
  const calls: Array<{ op: string; args: Record<string, unknown> }> = [];
  const record = (op: string, fn: ControlHandler): ControlHandler => (args, conn) => {
    calls.push({ op, args });
    return fn(args, conn);
  };
  const handlers: Record<string, ControlHandler> = {
    "account.add": record("account.add", (args) => {
      const localpart = String(args.localpart);
      if (!/^[a-z0-9._-]+$/.test(localpart)) throw new ControlError("invalid-localpart", `"${localpart}" cannot be a localpart`);
      const jid = `${localpart}@${ONION}`;
      if (accounts.has(jid)) throw new ControlError("account-exists", `an account named "${localpart}" already exists here`);
      accounts.set(jid, { jid, host: "127.0.0.1", port: 5222, onion: ONION, createdAt: "2026-11-26T22:00:00.000Z" });
      const result: AccountAddResult = { jid, host: "127.0.0.1", port: 5222, password: "pw-" + localpart, onion: ONION };
      return result;
    }),
    "account.list": record("account.list", () => ({ accounts: [...accounts.values()] })),
    "account.remove": record("account.remove", (args) => {
      const jid = String(args.jid);
      if (!accounts.delete(jid)) throw new ControlError("no-such-account", `no account ${jid} here: see 'purple-onion account list'`);
      return { jid };
    }),
    "account.reset-password": record("account.reset-password", (args) => {
      const jid = String(args.jid);
      if (!accounts.has(jid)) throw new ControlError("no-such-account", `no account ${jid} here`);
      return { jid, password: "new-secret" };
    }),
    status: record("status", () => {
      const status: StatusResult = {
        pid: 4242,
        dataDir: "/data",
        uptimeSeconds: 3725,
        c2s: { host: "127.0.0.1", port: 5222 },
        tor: { mode: "none" },
        accounts: [...accounts.values()].map((a) => ({ jid: a.jid, host: a.host, port: a.port, onion: a.onion, sessions: 1 })),
      };
      return status;
    }),
  };
  return { handlers, calls, accounts };
}

let dir: string;
let server: ControlServer;
let fake: ReturnType<typeof fakeDaemon>;

beforeEach(async () => {
  dir = tempDir("po-cli-");
  fake = fakeDaemon();
  ({ server } = await startServer(dir, fake.handlers));
});

afterEach(async () => {
  await server.close();
  removeDir(dir);
});

const cli = (...argv: string[]) => runCli([...argv, "--data-dir", dir]);

describe("account add", () => {
  test("--json prints exactly one JSON object with jid, host, port, password", async () => {
    const r = await cli("account", "add", "alice", "--json");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ jid: `alice@${ONION}`, host: "127.0.0.1", port: 5222, password: "pw-alice", onion: ONION });
    expect(fake.calls).toEqual([{ op: "account.add", args: { localpart: "alice" } }]);
  });

  test("human output: JID, server, password and how to set up Pidgin", async () => {
    const r = await cli("account", "add", "alice");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`JID:       alice@${ONION}`);
    expect(r.stdout).toContain("Server:    127.0.0.1:5222");
    expect(r.stdout).toContain("Password:  pw-alice");
    expect(r.stdout).toContain(`Username alice, Domain ${ONION}`);
    expect(r.stdout).toContain('"Use encryption if available"');
    expect(r.stdout).toContain('"Allow plaintext auth over unencrypted streams"');
    expect(r.stdout).toContain("Connect port 5222, Connect server 127.0.0.1");
  });

  test("a daemon-side error is its message on stderr and exit 1", async () => {
    await cli("account", "add", "alice");
    const r = await cli("account", "add", "alice", "--json");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`purple-onion: an account named "alice" already exists here\n`);
    const bad = await cli("account", "add", "Ali Ce");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("cannot be a localpart");
  });
});

describe("account list / remove / reset-password", () => {
  test("list with no accounts says how to make one", async () => {
    const r = await cli("account", "list");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("purple-onion account add");
  });

  test("list shows a table; --json the daemon's result", async () => {
    await cli("account", "add", "alice");
    await cli("account", "add", "bob");
    const human = await cli("account", "list");
    const lines = human.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^JID\s+SERVER\s+CREATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      [`alice@${ONION}`, "127.0.0.1:5222", "2026-11-26T22:00:00.000Z"],
      [`bob@${ONION}`, "127.0.0.1:5222", "2026-11-26T22:00:00.000Z"],
    ]);
    const json = await cli("account", "list", "--json");
    expect(JSON.parse(json.stdout).accounts.map((a: AccountListEntry) => a.jid)).toEqual([`alice@${ONION}`, `bob@${ONION}`]);
  });

  test("remove, then the account is gone; removing again fails with exit 1", async () => {
    await cli("account", "add", "alice");
    const r = await cli("account", "remove", `alice@${ONION}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Removed account alice@${ONION}\n`);
    expect(JSON.parse((await cli("account", "list", "--json")).stdout)).toEqual({ accounts: [] });
    const again = await cli("account", "remove", `alice@${ONION}`);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no account alice@${ONION} here`);
  });

  test("remove --json", async () => {
    await cli("account", "add", "alice");
    const r = await cli("account", "remove", `alice@${ONION}`, "--json");
    expect(JSON.parse(r.stdout)).toEqual({ jid: `alice@${ONION}` });
  });

  test("reset-password prints the new password; --json gives jid and password", async () => {
    await cli("account", "add", "alice");
    const human = await cli("account", "reset-password", `alice@${ONION}`);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`New password for alice@${ONION}: new-secret`);
    const json = await cli("account", "reset-password", `alice@${ONION}`, "--json");
    expect(JSON.parse(json.stdout)).toEqual({ jid: `alice@${ONION}`, password: "new-secret" });
    expect(fake.calls.at(-1)).toEqual({ op: "account.reset-password", args: { jid: `alice@${ONION}` } });
  });
});

describe("status and stop", () => {
  test("status, human and --json", async () => {
    await cli("account", "add", "alice");
    const human = await cli("status");
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("purple-onion daemon running (pid 4242, up 1h 2m 5s)");
    expect(human.stdout).toContain("c2s:       127.0.0.1:5222");
    expect(human.stdout).toContain("tor:       none (no federation)");
    expect(human.stdout).toMatch(new RegExp(`alice@${ONION}\\s+127\\.0\\.0\\.1:5222\\s+1`));
    const json = await cli("status", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ pid: 4242, uptimeSeconds: 3725, tor: { mode: "none" } });
  });

  test("stop sends shutdown and waits for the daemon to go", async () => {
    let asked = false;
    fake.handlers.shutdown = () => {
      asked = true;
      setImmediate(() => void server.close());
      return {};
    };
    const r = await cli("stop");
    expect(asked).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Stopped the purple-onion daemon (pid ${process.pid}).\n`);
  });

  test("an op this daemon lacks is reported, exit 1", async () => {
    const r = await cli("stop");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown op 'shutdown'");
  });
});

describe("no daemon", () => {
  test.each([
    [["status"]],
    [["status", "--json"]],
    [["account", "list"]],
    [["account", "add", "alice", "--json"]],
    [["account", "remove", "x@y"]],
    [["account", "reset-password", "x@y"]],
    [["stop"]],
  ])("%p -> how to start one, exit 1, nothing on stdout", async (argv) => {
    const empty = tempDir("po-cli-none-");
    try {
      const r = await runCli([...argv, "--data-dir", empty]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `purple-onion: no purple-onion daemon is running for data dir ${empty}: ` +
          `start one with \`purple-onion serve --data-dir ${empty}\`\n`,
      );
    } finally {
      removeDir(empty);
    }
  });

  test("the default data dir comes from the environment", async () => {
    const r = await runCli(["status"], {}, { PURPLE_ONION_DATA_DIR: "/nonexistent/po-data" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("for data dir /nonexistent/po-data:");
  });
});
