// What a client saved comes back in its next process, and saved accounts come online only on
// start(): the moment a host has loaded its plugins (as Pidgin loads its plugins first).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { prepareClient, signOn } from "../support/bridge-clients.js";
import { startBridgeProcess, type BridgeProcess } from "../support/bridge-process.js";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { requires } from "../support/requires.js";

requires("native").describe("libpurple bridge: restart", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-restart-"));
  const dataDir = tempDataDir();
  const daemon = new DaemonProcess(dataDir);
  const running: BridgeProcess[] = [];

  afterAll(async () => {
    await Promise.all(running.map((b) => b.stop()));
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);

  test("accounts, settings and buddies survive; enabled accounts connect on start(), after plugins load", async () => {
    await daemon.start();
    const dave = await prepareClient(dataDir, root, "dave");
    running.push(dave.bridge);
    await signOn(dave);
    await dave.bridge.call("addBuddy", dave.ref, "someone@example.invalid", "Someone");
    expect(await dave.bridge.stop()).toMatchObject({ code: 0, killed: false });

    const again = await startBridgeProcess({ home: path.join(root, "dave"), name: "dave-again" });
    running.push(again);
    expect(await again.call("accounts")).toEqual([
      { username: dave.ref.username, protocol: "prpl-jabber", alias: null, enabled: true, state: "disconnected" },
    ]);
    expect(await again.call("getSetting", dave.ref, "connect_server", "string")).toBe("127.0.0.1");
    expect((await again.call("buddies", dave.ref)).map((b) => b.name)).toEqual(["someone@example.invalid"]);

    const idle = (await again.call("plugins")).find((p) => p.id === "core-idle")!;
    await again.call("loadPlugin", idle.path);
    // Nothing connects before start(), however long the host takes to load its plugins.
    await new Promise((r) => setTimeout(r, 300));
    expect(again.events.filter((e) => e.name === "account-connecting" || e.name === "signed-on")).toEqual([]);
    await again.call("start");
    await again.waitFor("signed-on", (e) => e.account.username === dave.ref.username, 15_000, "dave signs on again");
    await again.call("start"); // idempotent
  }, 40_000);
});
