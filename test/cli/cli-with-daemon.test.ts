// The CLI against a real daemon process: the happy path a user walks, and the
// errors they can hit, each with a message that says what to do.
import { jest } from "@jest/globals";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { DaemonProcess, runCli, tempDataDir } from "../support/daemon.js";

jest.setTimeout(60_000);

const dirs: string[] = [];
const daemons: DaemonProcess[] = [];
function dataDir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}
async function startDaemon(dir: string, ...args: string[]): Promise<DaemonProcess> {
  const d = new DaemonProcess(dir, args);
  daemons.push(d);
  await d.start();
  return d;
}
afterAll(async () => {
  for (const d of daemons) await d.stop("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("account add / list / status / remove, in JSON and for people", async () => {
  const d = await startDaemon(dataDir());
  const added = await d.cli("account", "add", "alice", "--json");
  expect(added.code).toBe(0);
  const alice = JSON.parse(added.stdout);
  expect(alice.jid).toMatch(/^alice@[a-z2-7]{56}\.onion$/);
  expect(alice.host).toBe("127.0.0.1");
  expect(alice.port).toBeGreaterThan(0);
  expect(alice.password).toMatch(/^\S{16,}$/);

  const human = await d.cli("account", "add", "bob");
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/bob@[a-z2-7]{56}\.onion/);
  expect(human.stdout).toContain(`127.0.0.1`);

  const list = JSON.parse((await d.cli("account", "list", "--json")).stdout);
  expect(list.accounts.map((a: { jid: string }) => a.jid.split("@")[0]).sort()).toEqual(["alice", "bob"]);

  const status = JSON.parse((await d.cli("status", "--json")).stdout);
  expect(status.tor.mode).toBe("none");
  expect(status.c2s.port).toBe(alice.port);
  expect(status.accounts).toHaveLength(2);

  const removed = await d.cli("account", "remove", alice.jid);
  expect(removed.code).toBe(0);
  const after = JSON.parse((await d.cli("account", "list", "--json")).stdout);
  expect(after.accounts.map((a: { jid: string }) => a.jid)).not.toContain(alice.jid);
});

test("the password is stored only as SCRAM hashes, the key and database are private", async () => {
  const dir = dataDir();
  const d = await startDaemon(dir);
  const alice = JSON.parse((await d.cli("account", "add", "alice", "--json")).stdout);
  await d.stop();
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(path.join(dir, "purple-onion.sqlite"), { readonly: true });
  const dump = JSON.stringify(db.prepare("SELECT * FROM accounts").all());
  db.close();
  expect(dump).not.toContain(alice.password);
  expect(statSync(path.join(dir, "purple-onion.sqlite")).mode & 0o777).toBe(0o600);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
});

test("adding an account that exists is refused with a clear error", async () => {
  const d = await startDaemon(dataDir());
  await d.cli("account", "add", "alice");
  const again = await d.cli("account", "add", "alice");
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already exists/);
});

test("an invalid name is refused and says what a name may contain", async () => {
  const d = await startDaemon(dataDir());
  const bad = await d.cli("account", "add", "al ice");
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/cannot be the name part of a JID/);
  const withDomain = await d.cli("account", "add", "alice@example.org");
  expect(withDomain.code).toBe(2);
  expect(withDomain.stderr).toMatch(/the part before the '@'/);
});

test("a command with no daemon running says how to start one", async () => {
  const dir = dataDir();
  const r = await runCli(["account", "list", "--data-dir", dir]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/no purple-onion daemon is running/);
  expect(r.stderr).toContain(`purple-onion serve --data-dir ${dir}`);
});

test("a second daemon on the same data dir is refused", async () => {
  const dir = dataDir();
  await startDaemon(dir);
  const second = new DaemonProcess(dir);
  await expect(second.start()).rejects.toThrow(/already running/);
});

test("a c2s port in use is a clear error naming the port and the way out", async () => {
  const blocker: Server = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const d = new DaemonProcess(dataDir(), ["--c2s-port", String(port)]);
    await expect(d.start()).rejects.toThrow(new RegExp(`127\\.0\\.0\\.1:${port} is already in use[\\s\\S]*--c2s-port`));
  } finally {
    blocker.close();
  }
});

test("a data dir that cannot be written is a clear error", async () => {
  const parent = dataDir();
  // A path below a regular file cannot be created, even by root.
  writeFileSync(path.join(parent, "file"), "");
  const d = new DaemonProcess(path.join(parent, "file", "data"));
  await expect(d.start()).rejects.toThrow(/data dir[\s\S]*(not a directory|cannot|not writable)/i);
});

test("launch mode without tor installed says which package to install", async () => {
  const noTor = (cmd: string, args: string[]) => spawn(cmd, args, { env: { ...process.env, PATH: "/nonexistent" }, stdio: ["ignore", "pipe", "pipe"] });
  const d = new DaemonProcess(dataDir(), ["--tor", "launch"], noTor);
  daemons.push(d);
  await expect(d.start()).rejects.toThrow(/tor is not installed[\s\S]*apt-get install tor/);
});

test("the data dir is created with mode 0700 when missing", async () => {
  const parent = dataDir();
  const dir = path.join(parent, "new", "nested");
  mkdirSync(path.join(parent, "new"));
  await startDaemon(dir);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
});
