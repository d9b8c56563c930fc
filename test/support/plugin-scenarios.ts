// Two Pidgin users on the private Tor network, as they would use purple-onion: each runs
// libpurple (through the bridge, in a process of its own, with its own HOME) with our plugin
// loaded, has a clearnet XMPP account, and ticks "Federate over Tor onion service".
//
// * alice runs it the way users do: the plugin finds no daemon, starts `purple-onion serve`
//   (from the purple-onion.ini install.sh writes), and that daemon launches its own tor, joined
//   to the private network by `--tor-torrc-append` (the plugin's serve_args preference).
// * bob's daemon was started beforehand (attached to tornet client2, so the test can count the
//   Tor streams it opens); his plugin finds it through its data_dir preference and reuses it.
//
// Nothing else takes part: libpurple, our plugin, our daemons and tor. Run by
// test/tor/tornet.test.ts on its network; only these:
//   node --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/tor/tornet.test.js -t plugin
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import type { AccountInfo, AccountRef } from "../../src/bridge/api.js";
import type { StatusResult } from "../../src/daemon/control-protocol.js";
import { bare, controlRequest, FedDaemon, Phases } from "./federation.js";
import { distinctiveBytes, rate, sendFileAndWait } from "./file-transfer.js";
import { bareOf, PurpleClient, Trap } from "./plugin-host.js";
import { TorStreamCounter } from "./tor-stream-counter.js";
import type { TorNet } from "./tornet/tornet.js";

export function pluginScenarios(getNet: () => TorNet): void {
  jest.setTimeout(300_000);
  const phases = new Phases("plugin");
  let net: TorNet;
  let bobDaemon: FedDaemon;
  let aliceDataDir: string;
  let alice: PurpleClient;
  let bob: PurpleClient;
  let aliceTrap: Trap;
  let bobTrap: Trap;
  let aliceX: AccountRef;
  let bobX: AccountRef;
  let aliceOnion: AccountInfo;
  let bobOnion: AccountInfo;
  let bobStreams: TorStreamCounter;
  let aliceStreams: TorStreamCounter | undefined;

  const aliceStatus = () => controlRequest<StatusResult>(aliceDataDir, "status");

  beforeAll(async () => {
    net = getNet();
    aliceDataDir = mkdtempSync(path.join(tmpdir(), "po-pa-"));
    phases.explainFailuresWith(() =>
      [
        `--- the private Tor network: ${net.health()}`,
        fileTail("alice's daemon (started by her plugin)", path.join(aliceDataDir, "daemon.log"), 30),
        fileTail("alice's tor (launched by her daemon)", path.join(aliceDataDir, "tor", "tor.log"), 15),
        `--- bob's daemon (last 30 lines) ---\n${lastLines(bobDaemon.output, 30)}`,
        net.logTail("client2"),
      ].join("\n"),
    );
    const torrc = path.join(aliceDataDir, "tornet.torrc");
    writeFileSync(torrc, net.clientTorrcLines().join("\n") + "\n");
    bobDaemon = new FedDaemon("bob's daemon", net, 1, false);
    await phases.run("start bob's daemon (attached to client2)", () => bobDaemon.start());
    bobStreams = await TorStreamCounter.start(net.clients[1]!);
    [aliceTrap, bobTrap] = await Promise.all([Trap.start(), Trap.start()]);
    [alice, bob] = await phases.run("start both libpurple clients with the plugin", () =>
      Promise.all([
        // libpurple's debug output (kept in memory) names the IBB blocks of p2b's transfers.
        PurpleClient.start({ name: "alice", dataDir: aliceDataDir, serveArgs: `--tor launch --tor-torrc-append ${torrc}`, debug: true }),
        PurpleClient.start({ name: "bob", dataDir: bobDaemon.dir, debug: true }),
      ]),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    aliceStreams?.close();
    bobStreams?.close();
    // The daemon alice's plugin started keeps serving after her client quits (the default):
    // stop it here, and its tor with it.
    await controlRequest(aliceDataDir, "shutdown").catch(() => undefined);
    await bobDaemon?.dispose();
    aliceTrap?.close();
    bobTrap?.close();
    rmSync(aliceDataDir, { recursive: true, force: true });
  }, 60_000);

  test("p1 ticking the box: alice's plugin starts the daemon, bob's reuses his; both onion accounts sign on, the clearnet ones stay offline", async () => {
    // alice's clearnet account is online before the tick (it reaches its server: the trap);
    // bob's was never enabled.
    aliceX = await alice.addClearnetAccount("alice@clearnet.example/pidgin", aliceTrap, true);
    bobX = await bob.addClearnetAccount("bob@clearnet.example/pidgin", bobTrap, false);
    await phases.run("alice's clearnet account reaches its server before the tick", async () => {
      const deadline = Date.now() + 10_000;
      while (aliceTrap.connections.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(aliceTrap.connections.length).toBeGreaterThan(0);
    });
    const tickedAt = Date.now();
    await alice.tick(aliceX);
    await bob.tick(bobX);
    [aliceOnion, bobOnion] = await phases.run("both onion accounts signed on (tor still bootstrapping for alice)", () =>
      Promise.all([alice.companionSignedOn(aliceX), bob.companionSignedOn(bobX)]),
    );
    phases.note(`tick → alice's onion account signed on, daemon started by the plugin: ${Date.now() - tickedAt} ms`);
    expect(bareOf(aliceOnion)).toMatch(/^u[0-9a-f]{10}@[a-z2-7]{56}\.onion$/);
    expect(bareOf(bobOnion)).toMatch(/^u[0-9a-f]{10}@[a-z2-7]{56}\.onion$/);
    // The clearnet accounts are disabled, and nothing reached a clearnet server after the tick.
    const x = (await alice.accounts()).find((a) => a.username === aliceX.username)!;
    expect(x).toMatchObject({ enabled: false, state: "disconnected" });
    expect((await bob.accounts()).find((a) => a.username === bobX.username)).toMatchObject({ enabled: false, state: "disconnected" });
    expect(aliceTrap.connections.filter((t) => t > tickedAt + 500)).toEqual([]);
    expect(bobTrap.connections).toEqual([]);
    // bob's account lives on the daemon that was already running; alice's on the one her plugin started.
    expect((await bobDaemon.status()).accounts.map((a) => a.jid)).toContain(bareOf(bobOnion));
    expect((await aliceStatus()).accounts.map((a) => a.jid)).toContain(bareOf(aliceOnion));
  });

  test("p2 they add each other, authorize, and chat both ways through Tor", async () => {
    await phases.run("both onions published", async () => {
      await bobDaemon.waitPublished();
      const deadline = Date.now() + 120_000;
      for (;;) {
        const s = await aliceStatus();
        if (s.tor.state === "ready" && s.accounts.every((a) => a.published)) break;
        if (Date.now() > deadline) throw new Error(`alice's onion was not published: ${JSON.stringify(s.tor)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    });
    aliceStreams = await TorStreamCounter.start({
      name: "alice's launched tor",
      control: { path: path.join(aliceDataDir, "tor", "control.sock") },
      cookieFile: path.join(aliceDataDir, "tor", "data", "control_auth_cookie"),
    });
    const aliceJid = bareOf(aliceOnion);
    const bobJid = bareOf(bobOnion);
    const fromBob = bobStreams.mark();
    const fromAlice = aliceStreams.mark();
    await phases.run("alice asks bob, bob authorizes and asks back, alice authorizes", async () => {
      await alice.bridge.call("addBuddy", aliceOnion, bobJid);
      const askBob = await bob.bridge.waitFor("authorization-requested", (e) => bare(e.who) === aliceJid, 120_000, "alice's request at bob");
      await bob.bridge.call("respondAuthorization", askBob.id, true);
      await bob.bridge.call("addBuddy", bobOnion, aliceJid);
      const askAlice = await alice.bridge.waitFor("authorization-requested", (e) => bare(e.who) === bobJid, 120_000, "bob's request at alice");
      await alice.bridge.call("respondAuthorization", askAlice.id, true);
    });
    await phases.run("each sees the other online", () =>
      Promise.all([
        alice.bridge.waitFor("buddy-signed-on", (e) => bare(e.buddy) === bobJid, 120_000, "bob online at alice"),
        bob.bridge.waitFor("buddy-signed-on", (e) => bare(e.buddy) === aliceJid, 120_000, "alice online at bob"),
      ]),
    );
    await phases.run("alice → bob", async () => {
      await alice.bridge.call("sendIm", aliceOnion, bobJid, "hello bob, over Tor <3");
      const got = await bob.bridge.waitFor("received-im", (e) => bare(e.who) === aliceJid, 60_000, "alice's message at bob");
      expect(got.text).toBe("hello bob, over Tor <3");
    });
    await phases.run("bob → alice", async () => {
      await bob.bridge.call("sendIm", bobOnion, aliceJid, "hi alice & welcome");
      const got = await alice.bridge.waitFor("received-im", (e) => bare(e.who) === bobJid, 60_000, "bob's message at alice");
      expect(got.text).toBe("hi alice & welcome");
    });
    // Tor carried it: each side's tor opened streams to the other's onion, and they succeeded.
    const aliceOnionName = aliceJid.split("@")[1]!;
    const bobOnionName = bobJid.split("@")[1]!;
    phases.note(`Tor streams: bob → alice's onion ${bobStreams.newStreams(aliceOnionName, fromBob)}, alice → bob's onion ${aliceStreams.newStreams(bobOnionName, fromAlice)}`);
    expect(bobStreams.succeeded(aliceOnionName, fromBob)).toBeGreaterThanOrEqual(1);
    expect(aliceStreams.succeeded(bobOnionName, fromAlice)).toBeGreaterThanOrEqual(1);
  });

  test("p2b alice sends bob a file through Tor, and bob sends one back", async () => {
    // No ft_proxies change: the plugin itself offers and accepts only in-band bytestreams for
    // onion accounts (privacy-xfer.c), which the IBB count below proves.
    const dir = mkdtempSync(path.join(tmpdir(), "po-p2b-"));
    try {
      const toBob = await phases.run("alice → bob: 64 KiB file offered, accepted, received", () =>
        sendFileAndWait({ bridge: alice.bridge, account: aliceOnion }, { bridge: bob.bridge, account: bobOnion }, dir, "for-bob.bin", distinctiveBytes(64 * 1024, 1)),
      );
      const toAlice = await phases.run("bob → alice: 64 KiB + 1 file offered, accepted, received", () =>
        sendFileAndWait({ bridge: bob.bridge, account: bobOnion }, { bridge: alice.bridge, account: aliceOnion }, dir, "for-alice.bin", distinctiveBytes(64 * 1024 + 1, 2)),
      );
      for (const [who, t] of [["alice → bob", toBob], ["bob → alice", toAlice]] as const) {
        phases.note(`${who}: ${t.bytes} bytes in ${t.dataMs} ms after the accept (${rate(t.bytes, t.dataMs)}, ${Math.round((t.bytes * 1000) / t.dataMs)} bytes/s), ${t.totalMs} ms from the offer; ${t.ibbBlocks} IBB blocks, ${t.streamhosts} SOCKS5 streamhosts offered`);
        // Every byte came as XEP-0047 <data/> iqs through both daemons and Tor, not over a
        // SOCKS5 bytestream (which logs no IBB block): the receiver's libpurple names each one.
        expect(t.ibbBytes).toBe(t.bytes);
        expect(t.ibbBlocks).toBeGreaterThanOrEqual(Math.ceil(t.bytes / 4096));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("p3 unticking returns alice to her clearnet account; ticking again gives back the same onion", async () => {
    const before = aliceTrap.connections.length;
    await alice.tick(aliceX, false);
    await phases.run("the clearnet account is enabled again and reaches its server", async () => {
      const deadline = Date.now() + 15_000;
      while (aliceTrap.connections.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(aliceTrap.connections.length).toBeGreaterThan(before);
    });
    const accounts = await alice.accounts();
    expect(accounts.find((a) => a.username === aliceOnion.username)).toMatchObject({ enabled: false, state: "disconnected" });
    expect(accounts.find((a) => a.username === aliceX.username)).toMatchObject({ enabled: true });
    const retick = Date.now();
    await alice.tick(aliceX, true);
    const again = await alice.companionSignedOn(aliceX);
    phases.note(`re-tick → signed on: ${Date.now() - retick} ms`);
    expect(again.username).toBe(aliceOnion.username);
    expect((await alice.accounts()).filter((a) => a.username.endsWith(".onion/onion"))).toHaveLength(1);
  });

  test("p4 the daemon alice's plugin started keeps serving after her client quits", async () => {
    await alice.stop();
    const s = await aliceStatus();
    expect(s.accounts.map((a) => a.jid)).toContain(bareOf(aliceOnion));
  });
}

const lastLines = (text: string, lines: number): string => text.trimEnd().split("\n").slice(-lines).join("\n");

function fileTail(what: string, file: string, lines: number): string {
  const text = existsSync(file) ? lastLines(readFileSync(file, "utf8"), lines) : "(no such file)";
  return `--- ${what}: ${file} (last ${lines} lines) ---\n${text}`;
}
