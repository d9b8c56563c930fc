// A file from one libpurple client to another through the bridge (sendFile / acceptFile).
// Both clients run in a network namespace with only loopback: prpl-jabber offers every local
// interface address as a SOCKS5 streamhost, which must not be tried here; with none but loopback
// it falls back to in-band bytestreams (XEP-0047) through the daemon.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { befriend, prepareClient, signOn, type BridgeClient } from "../support/bridge-clients.js";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { controlRequest } from "../support/federation.js";
import { findProgram, startLoopbackNetns, type LoopbackNetns } from "../support/loopback-netns.js";
import { requires } from "../support/requires.js";
import type { StatusResult } from "../../src/daemon/control-protocol.js";

requires("native", "netns").describe("libpurple bridge: file transfer between two clients", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-ft-"));
  const dataDir = tempDataDir();
  const daemon = new DaemonProcess(dataDir);
  let netns: LoopbackNetns | undefined;
  let alice: BridgeClient | undefined;
  let bob: BridgeClient | undefined;

  afterAll(async () => {
    await Promise.all([alice?.bridge.stop(), bob?.bridge.stop()]);
    await netns?.close();
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);

  test("alice sends bob a file; bob accepts it into a path of his choosing", async () => {
    await daemon.start();
    const port = (await controlRequest<StatusResult>(dataDir, "status")).c2s.port;
    netns = await startLoopbackNetns({ dir: root, port, target: { host: "127.0.0.1", port } });
    const wrap = [findProgram("nsenter")!, `--net=${netns.nsPath}`, "--"];
    [alice, bob] = await Promise.all([prepareClient(dataDir, root, "alice", { wrap }), prepareClient(dataDir, root, "bob", { wrap })]);
    for (const c of [alice, bob]) await c.bridge.call("setSetting", c.ref, "ft_proxies", "");
    await Promise.all([signOn(alice), signOn(bob)]);
    await befriend(alice, bob);

    const content = Buffer.alloc(100_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7919) % 251;
    const source = path.join(root, "photo.bin");
    writeFileSync(source, content);
    const dest = path.join(root, "received.bin");

    await alice.bridge.call("sendFile", alice.ref, bob.fullJid, source);
    const offer = await bob.bridge.waitFor("xfer", (x) => x.direction === "receive", 15_000, "bob to be offered the file");
    expect(offer).toMatchObject({ filename: "photo.bin", size: content.length });
    await bob.bridge.call("acceptFile", offer.id, dest);
    await bob.bridge.waitFor("xfer", (x) => x.id === offer.id && x.status === "done", 30_000, "bob's transfer to finish");
    await alice.bridge.waitFor("xfer", (x) => x.direction === "send" && x.status === "done", 15_000, "alice's transfer to finish");
    expect(readFileSync(dest).equals(content)).toBe(true);
    await expect(bob.bridge.call("acceptFile", 9_999, dest)).rejects.toThrow("no such file transfer: 9999");

    // Refused: alice hears that bob cancelled.
    await alice.bridge.call("sendFile", alice.ref, bob.fullJid, source);
    const second = await bob.bridge.waitFor("xfer", (x) => x.direction === "receive" && x.id !== offer.id, 15_000, "the second offer");
    await bob.bridge.call("acceptFile", second.id, null);
    await alice.bridge.waitFor("xfer", (x) => x.direction === "send" && x.status === "cancel_remote", 15_000, "alice to hear the refusal");
  }, 90_000);
});
