// account.ensure on a real daemon: the plugin's stable key for a libpurple account always finds
// the same daemon account (and onion), whatever the localpart; the password only once.
import { rmSync } from "node:fs";
import { connectControl } from "../../src/daemon/control-client.js";
import type { AccountEnsureResult } from "../../src/daemon/control-protocol.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import { tlsIdentityKey } from "../../src/s2s/tls-identities.js";
import { openStore } from "../../src/store/store.js";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";

let d: InProcessDaemon;
afterEach(() => d?.stop());

async function request<T>(op: string, args: Record<string, unknown>): Promise<T> {
  const c = await connectControl(controlSocketPath(d.dataDir));
  try {
    return await c.request<T>(op, args);
  } finally {
    c.close();
  }
}
const ensure = (args: Record<string, unknown>) => request<AccountEnsureResult>("account.ensure", args);
const failure = (p: Promise<unknown>) => p.then(() => ({ code: "none" }), (e: { code: string; message: string }) => e);

const KEY_A = "pidgin-7f3c9e2a41d05b86";
const KEY_B = "pidgin-0a9b8c7d6e5f4a3b";

test("the same key gives the same account, its password only the first time; another key another account", async () => {
  d = await startDaemon([]);
  const first = await ensure({ key: KEY_A, localpart: "alice" });
  expect(first).toMatchObject({ jid: expect.stringMatching(/^alice@[a-z2-7]{56}\.onion$/), created: true, host: "127.0.0.1", port: d.port });
  expect(first.password).toMatch(/.{16,}/);
  const again = await ensure({ key: KEY_A, localpart: "alice" });
  expect(again).toEqual({ jid: first.jid, host: "127.0.0.1", port: d.port, onion: first.onion, created: false });
  const other = await ensure({ key: KEY_B });
  expect(other.created).toBe(true);
  expect(other.onion).not.toBe(first.onion);
  // No localpart asked: a random one that says nothing about its owner.
  expect(other.jid).toMatch(/^u[0-9a-f]{10}@/);
});

test("two client accounts with the same localpart do not collide: the second is refused by name, not merged", async () => {
  d = await startDaemon([]);
  await ensure({ key: KEY_A, localpart: "alice" });
  expect(await failure(ensure({ key: KEY_B, localpart: "alice" }))).toMatchObject({ code: "account-exists" });
  expect((await ensure({ key: KEY_B })).created).toBe(true);
});

test("a removed account's link goes with it: ensuring again makes a new onion", async () => {
  d = await startDaemon([]);
  const first = await ensure({ key: KEY_A });
  await request("account.remove", { jid: first.jid });
  const second = await ensure({ key: KEY_A });
  expect(second.created).toBe(true);
  expect(second.onion).not.toBe(first.onion);
});

test("a removed account's TLS identity goes with it; another account's stays", async () => {
  d = await startDaemon([]);
  const dataDir = d.dataDir;
  const gone = await ensure({ key: KEY_A });
  const kept = await ensure({ key: KEY_B });
  await d.daemon.stop("restart");
  // What federation saves the first time a peer wants TLS (s2s/tls-identities.ts).
  const store = openStore(dataDir);
  for (const a of [gone, kept]) store.settings.set(tlsIdentityKey(a.onion), "{}");
  store.close();
  d = await startDaemon([], { dataDir });
  try {
    await request("account.remove", { jid: gone.jid });
    await d.daemon.stop("restart");
    const after = openStore(dataDir);
    expect(after.settings.get(tlsIdentityKey(gone.onion))).toBeUndefined();
    expect(after.settings.get(tlsIdentityKey(kept.onion))).toBe("{}");
    after.close();
  } finally {
    await d.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("the link survives a restart of the daemon", async () => {
  d = await startDaemon([]);
  const dataDir = d.dataDir;
  const first = await ensure({ key: KEY_A });
  await d.daemon.stop("restart");
  d = await startDaemon([], { dataDir });
  try {
    expect(await ensure({ key: KEY_A })).toMatchObject({ jid: first.jid, created: false });
  } finally {
    await d.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a key that is missing, too short or not plain characters is a bad request", async () => {
  d = await startDaemon([]);
  for (const key of [undefined, "short", "x".repeat(129), "pidgin key with spaces", "pidgin-<key>-0123456789"]) {
    expect(await failure(ensure(key === undefined ? {} : { key }))).toMatchObject({ code: "bad-request" });
  }
  expect(await failure(ensure({ key: KEY_A, localpart: "al ice" }))).toMatchObject({ code: "invalid-localpart" });
});
