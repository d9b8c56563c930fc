// stop_daemon_on_quit: the plugin owns the daemon it started and asks it to shut down on unload.
// (By default the daemon it starts is detached and keeps serving: the other plugin tests stop it.)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { startBridgeProcess } from "../support/bridge-process.js";
import { runCli } from "../support/daemon.js";
import { NATIVE_BUILD_DIR } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";

const PREFS = "/plugins/core/core-purple-onion";

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

requires("native").test("stop_daemon_on_quit: unloading the plugin stops the daemon it started", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-stop-"));
  const dataDir = path.join(root, "d");
  const bridge = await startBridgeProcess({ home: path.join(root, "home"), name: "stop" });
  try {
    await bridge.call("setPref", "/purple/network/stun_server", "127.0.0.1");
    await bridge.call("loadPlugin", path.join(NATIVE_BUILD_DIR, "purple-onion.so"));
    await bridge.call("setPref", `${PREFS}/data_dir`, dataDir);
    await bridge.call("setPref", `${PREFS}/serve_args`, "--tor none");
    await bridge.call("setPref", `${PREFS}/ask_localpart`, false);
    await bridge.call("setPref", `${PREFS}/stop_daemon_on_quit`, true);
    const x = { username: "carol@example.net/pidgin" };
    await bridge.call("addAccount", x);
    await bridge.call("setSetting", x, "connect_server", "127.0.0.1");
    await bridge.call("setSetting", x, "port", 9);
    await bridge.call("start");
    await bridge.call("setSetting", x, "onion_federation", true);
    await bridge.waitFor("signed-on", (e) => e.account.username.endsWith(".onion/onion"), 40_000, "the companion");
    const socket = path.join(dataDir, "control.sock");
    expect(await answers(socket)).toBe(true);
    expect(await bridge.call("unloadPlugin", "core-purple-onion")).toBe(true);
    const deadline = Date.now() + 10_000;
    while ((await answers(socket)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await answers(socket)).toBe(false);
  } finally {
    await bridge.stop();
    if (existsSync(path.join(dataDir, "control.sock"))) await runCli(["stop", "--data-dir", dataDir]).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}, 60_000);
