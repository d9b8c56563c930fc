// Plugins through the bridge, with a plugin every libpurple ships (idle.so, "core-idle"): load,
// list its actions, run them, and answer what they ask (a notify and a fields request).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { PluginInfo } from "../../src/bridge/api.js";
import { startBridgeProcess, type BridgeProcess } from "../support/bridge-process.js";
import { requires } from "../support/requires.js";

requires("native").describe("libpurple bridge: plugins, their actions, notices and requests", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-plugins-"));
  let bridge: BridgeProcess;
  let idle: PluginInfo;

  beforeAll(async () => {
    bridge = await startBridgeProcess({ home: path.join(root, "home"), name: "plugins" });
  });

  afterAll(async () => {
    await bridge?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("the system plugin dir is probed at open; loadPlugin loads by path and lists actions", async () => {
    const probed = (await bridge.call("plugins")).find((p) => p.id === "core-idle");
    expect(probed).toMatchObject({ loaded: false, actions: [] });
    idle = await bridge.call("loadPlugin", probed!.path);
    expect(idle).toMatchObject({ id: "core-idle", loaded: true });
    expect(idle.actions).toEqual(expect.arrayContaining(["Set Account Idle Time", "Unset Account Idle Time", "Set Idle Time for All Accounts"]));
    expect((await bridge.call("plugins")).find((p) => p.id === "core-idle")?.loaded).toBe(true);
  });

  test("loadPlugin says why it cannot load", async () => {
    await expect(bridge.call("loadPlugin", path.join(root, "missing.so"))).rejects.toThrow(`cannot load plugin ${path.join(root, "missing.so")}: no such file`);
    const junk = path.join(root, "junk.so");
    writeFileSync(junk, "not an ELF file");
    await expect(bridge.call("loadPlugin", junk)).rejects.toThrow(`cannot load plugin ${junk}`);
    await expect(bridge.call("loadPlugin", 7 as unknown as string)).rejects.toThrow(TypeError);
  });

  test("an action that notifies: a notify event", async () => {
    await bridge.call("runPluginAction", "core-idle", "Unset Account Idle Time");
    const notice = await bridge.waitFor("notify", (n) => n.primary === "None of your accounts are idle.", 5_000, "idle's notice");
    expect(notice).toMatchObject({ kind: "message", level: "info" });
  });

  test("an action that asks: a fields request, answered; wrong answers throw", async () => {
    await bridge.call("runPluginAction", "core-idle", "Set Idle Time for All Accounts");
    const request = await bridge.waitFor("request", (r) => r.kind === "fields" && r.fields?.mins === 10, 5_000, "idle's request");
    await expect(bridge.call("answerRequest", request.id, { mins: "five" })).rejects.toThrow('field "mins" takes a number');
    await expect(bridge.call("answerRequest", request.id, "five")).rejects.toThrow(TypeError);
    await bridge.call("answerRequest", request.id, { mins: 5 });
    await bridge.waitFor("request-closed", (e) => e.id === request.id, 5_000, "the request to close");
    await expect(bridge.call("answerRequest", 99_999, null)).rejects.toThrow("no such request: 99999");
  });

  test("unknown actions and plugins throw with what exists", async () => {
    await expect(bridge.call("runPluginAction", "core-idle", "Fly")).rejects.toThrow(/has no action "Fly" \(actions: Set Account Idle Time, /);
    await expect(bridge.call("runPluginAction", "core-nope", "Fly")).rejects.toThrow("no such plugin: core-nope");
  });

  test("prefs: plugins' own, typed", async () => {
    await bridge.call("setPref", "/plugins/core/bridge-test/count", 3);
    await bridge.call("setPref", "/plugins/core/bridge-test/name", "x");
    expect(await bridge.call("getPref", "/plugins/core/bridge-test/count")).toBe(3);
    expect(await bridge.call("getPref", "/plugins/core/bridge-test/name")).toBe("x");
    expect(await bridge.call("getPref", "/purple/logging/log_ims")).toBe(false);
    expect(await bridge.call("getPref", "/no/such/pref")).toBeNull();
    await expect(bridge.call("setPref", "/plugins/core/bridge-test/count", "three")).rejects.toThrow("is an integer");
  });

  test("unloadPlugin", async () => {
    expect(await bridge.call("unloadPlugin", "core-idle")).toBe(true);
    expect(await bridge.call("unloadPlugin", "core-idle")).toBe(false);
    await expect(bridge.call("runPluginAction", "core-idle", "Unset Account Idle Time")).rejects.toThrow("is not loaded");
  });
});
