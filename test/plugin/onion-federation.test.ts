// purple-onion.so in libpurple (through the bridge), against a real daemon it starts itself
// (serve_args "--tor none"): ticking "Federate over Tor onion service" on a clearnet account X
// makes an onion companion that signs on, while X never connects to its own server; unticking
// brings X back; ticking again reuses the same onion; unload and reload leave things working.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccountRef } from "../../src/bridge/api.js";
import { startBridgeProcess, type BridgeProcess } from "../support/bridge-process.js";
import { NATIVE_BUILD_DIR } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { runCli } from "../support/daemon.js";

const PLUGIN = path.join(NATIVE_BUILD_DIR, "purple-onion.so");
const PREFS = "/plugins/core/core-purple-onion";
const X: Required<AccountRef> = { username: "alice@example.org/pidgin", protocol: "prpl-jabber" };
const COMPANION = /^u[0-9a-f]{10}@[a-z2-7]{56}\.onion\/onion$/;

/** X's clearnet server: nothing must ever connect while X is ticked. */
function clearnetTrap(): Promise<{ port: number; connections: () => number; close: () => void }> {
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    s.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, connections: () => count, close: () => server.close() })),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An event that comes after the first `since` events. */
async function waitForNew(bridge: BridgeProcess, since: number, name: string, pred: (data: { account: AccountRef }) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!bridge.events.slice(since).some((e) => e.name === name && pred(e.data as { account: AccountRef }))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${name}: ${JSON.stringify(bridge.events.slice(since))}\n${bridge.output().split("\n").filter((l) => /onion|account|connection/.test(l)).slice(-40).join("\n")}`);
    await sleep(100);
  }
}

requires("native").describe("purple-onion plugin: tick, untick, tick again", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-plugin-"));
  const dataDir = path.join(root, "d");
  let bridge: BridgeProcess;
  let trap: Awaited<ReturnType<typeof clearnetTrap>>;
  let companion: Required<AccountRef>;

  const account = async (ref: AccountRef) => (await bridge.call("accounts")).find((a) => a.username === ref.username);

  beforeAll(async () => {
    trap = await clearnetTrap();
    // debug: the plugin's refusals of DNS lookups show in the output. No stun_server pref: the
    // _stun._udp.<onion> lookup prpl-jabber makes after login must be refused by the plugin.
    bridge = await startBridgeProcess({ home: path.join(root, "home"), name: "plugin", debug: true });
    const info = await bridge.call("loadPlugin", PLUGIN);
    expect(info).toMatchObject({ id: "core-purple-onion", loaded: true });
    expect(info.actions).toEqual(["Onion federation status…", "Show my onion address"]);
    await bridge.call("setPref", `${PREFS}/data_dir`, dataDir);
    await bridge.call("setPref", `${PREFS}/serve_args`, "--tor none");
    await bridge.call("addAccount", X);
    await bridge.call("setSetting", X, "connect_server", "127.0.0.1");
    await bridge.call("setSetting", X, "port", trap.port);
    await bridge.call("setPassword", X, "clearnet-secret");
    await bridge.call("start");
  }, 30_000);

  afterAll(async () => {
    await bridge?.stop();
    trap?.close();
    await runCli(["stop", "--data-dir", dataDir]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  test("ticking asks for a name, makes a companion that signs on; X stays offline", async () => {
    await bridge.call("setSetting", X, "onion_federation", true);
    const ask = await bridge.waitFor("request", (r) => r.kind === "action", 5_000, "the localpart question");
    expect(ask.choices).toEqual(["Random name (recommended)", 'Use "alice"', "Cancel"]);
    await bridge.call("answerRequest", ask.id, 0);
    const on = await bridge.waitFor("signed-on", (e) => COMPANION.test(e.account.username), 40_000, "the companion to sign on");
    companion = on.account;
    const key = await bridge.call("getSetting", X, "purple_onion_key", "string");
    expect(key).toMatch(/^po-[0-9a-f]{32}$/);
    expect(await bridge.call("getSetting", companion, "purple_onion_companion_of", "string")).toBe(key);
    expect(await bridge.call("getSetting", companion, "purple_onion_managed", "bool")).toBe(true);
    expect(await bridge.call("getSetting", companion, "connect_server", "string")).toBe("127.0.0.1");
    expect(await bridge.call("getSetting", X, "connect_server", "string")).toBe("127.0.0.1"); // X untouched
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
    expect(trap.connections()).toBe(0);
    // prpl-jabber asks _stun._udp.<domain> once the server's disco#info names it (disco.c):
    // every such query for an onion must have been refused by the plugin, not sent to DNS.
    await sleep(2_000);
    const asked = [...bridge.output().matchAll(/dnssrv: querying SRV record for [^:]+: (\S+\.onion)$/gm)].map((m) => m[1]!);
    for (const name of asked) expect(bridge.output()).toContain(`refusing a DNS SRV/TXT lookup of ${name}`);
  }, 60_000);

  test("X enabled by the host while ticked: disabled again, never connects", async () => {
    await bridge.call("setEnabled", X, true);
    await sleep(1_500);
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
    expect(bridge.events.some((e) => e.name === "account-connecting" && (e.data as { account: AccountRef }).account.username === X.username)).toBe(false);
    expect(trap.connections()).toBe(0);
  });

  test("Show my onion address offers the companion's JID", async () => {
    await bridge.call("runPluginAction", "core-purple-onion", "Show my onion address");
    const r = await bridge.waitFor("request", (q) => q.kind === "input", 5_000, "the address");
    expect(r.defaultValue).toBe(companion.username.replace(/\/onion$/, ""));
    await bridge.call("runPluginAction", "core-purple-onion", "Onion federation status…");
    const n = await bridge.waitFor("notify", (q) => q.kind === "formatted" && q.title === "Onion federation status", 5_000, "the status");
    expect(n.text).toContain("Tor: none");
    expect(n.text).toContain(`${companion.username.replace(/\/onion$/, "")}: onion not served (no Tor), 1 session(s)`);
  });

  test("unticking disables the companion and brings X back (it was enabled meanwhile)", async () => {
    await bridge.call("setSetting", X, "onion_federation", false);
    await bridge.waitFor("account-disabled", (e) => e.account.username === companion.username, 5_000, "the companion to go");
    await bridge.waitFor("account-enabled", (e) => e.account.username === X.username, 5_000, "X to come back");
    expect(await account(companion)).toMatchObject({ enabled: false });
  });

  test("ticking again reuses the same companion and onion; X goes offline", async () => {
    const before = bridge.events.length;
    await bridge.call("setSetting", X, "onion_federation", true);
    await bridge.waitFor("account-disabled", (e) => e.account.username === X.username, 5_000, "X to go offline");
    const connectionsWhenTicked = trap.connections();
    await bridge.waitFor("account-enabled", (e) => e.account.username === companion.username, 20_000, "the companion");
    await new Promise<void>((resolve, reject) => {
      const check = async (): Promise<void> => {
        const a = await account(companion);
        if (a?.state === "connected") return resolve();
        setTimeout(() => void check().catch(reject), 200);
      };
      void check();
    });
    expect(bridge.events.slice(before).some((e) => e.name === "request")).toBe(false);
    expect((await bridge.call("accounts")).filter((a) => COMPANION.test(a.username))).toHaveLength(1);
    await sleep(500);
    expect(trap.connections()).toBe(connectionsWhenTicked);
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
  }, 30_000);

  test("companion deleted by the user: ticking again gets a new password for the same onion", async () => {
    const unticked = bridge.events.length;
    await bridge.call("setSetting", X, "onion_federation", false);
    await waitForNew(bridge, unticked, "account-disabled", (d) => d.account.username === companion.username, 5_000);
    await bridge.call("removeAccount", companion);
    const since = bridge.events.length;
    await bridge.call("setSetting", X, "onion_federation", true);
    await waitForNew(bridge, since, "signed-on", (d) => d.account.username === companion.username, 20_000);
    expect((await bridge.call("accounts")).filter((a) => COMPANION.test(a.username))).toHaveLength(1);
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
  }, 30_000);

  test("the daemon stopped: the plugin starts it again and the companion signs on again", async () => {
    const since = bridge.events.length;
    const stopped = await runCli(["stop", "--data-dir", dataDir]);
    expect(stopped.code).toBe(0);
    await waitForNew(bridge, since, "signed-off", (d) => d.account.username === companion.username, 10_000);
    await waitForNew(bridge, since, "signed-on", (d) => d.account.username === companion.username, 40_000);
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
  }, 60_000);

  test("unload removes the option's effect; reload verifies and signs the companion on again", async () => {
    expect(await bridge.call("unloadPlugin", "core-purple-onion")).toBe(true);
    const since = bridge.events.length;
    await bridge.call("loadPlugin", PLUGIN);
    // At load an enabled companion is disabled, its port refreshed and pinned, then enabled.
    await waitForNew(bridge, since, "account-disabled", (d) => d.account.username === companion.username, 5_000);
    await waitForNew(bridge, since, "signed-on", (d) => d.account.username === companion.username, 20_000);
    expect(await account(X)).toMatchObject({ enabled: false });
  }, 30_000);

  test("restart with X saved enabled and ticked: the plugin (loaded before start) keeps X offline", async () => {
    // X saved as enabled: without the plugin, pointed at a closed port meanwhile.
    expect(await bridge.call("unloadPlugin", "core-purple-onion")).toBe(true);
    await bridge.call("setSetting", X, "port", 9);
    await bridge.call("setEnabled", X, true);
    await bridge.call("flush");
    await bridge.stop();
    bridge = await startBridgeProcess({ home: path.join(root, "home"), name: "plugin-restarted", debug: true });
    await bridge.call("setSetting", X, "port", trap.port);
    expect(await account(X)).toMatchObject({ enabled: true });
    const before = trap.connections();
    await bridge.call("loadPlugin", PLUGIN);
    expect(await account(X)).toMatchObject({ enabled: false });
    await bridge.call("start");
    await bridge.waitFor("signed-on", (e) => e.account.username === companion.username, 20_000, "the companion after restart");
    await sleep(1_000);
    expect(await account(X)).toMatchObject({ enabled: false, state: "disconnected" });
    expect(trap.connections()).toBe(before);
  }, 40_000);
});
