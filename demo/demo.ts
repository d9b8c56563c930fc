// `npm run demo`: purple-onion end to end, offline, in about a minute. A private Tor network on
// 127.0.0.1 (test/support/tornet), two purple-onion daemons attached to two of its client tors,
// and two libpurple clients (each a bridge in a process of its own, with our plugin loaded, as
// in Pidgin). Alice and Bob each tick "Federate over Tor onion service" on a clearnet account,
// become contacts, chat both ways and send a file; every step is printed with its time. Then
// everything it started is stopped and its temp dir removed, also on Ctrl-C, SIGTERM or failure.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccountInfo, AccountRef } from "../src/bridge/api.js";
import { distinctiveBytes, rate, sendFileAndWait } from "../test/support/file-transfer.js";
import { bare, FedDaemon } from "../test/support/federation.js";
import { bareOf, PurpleClient, Trap } from "../test/support/plugin-host.js";
import { BRIDGE_NODE, PLUGIN_SO } from "../test/support/prerequisites.js";
import { RELAYS, startTorNet, type TorNet } from "../test/support/tornet/tornet.js";
import { torNetMissing } from "../test/support/tornet/tor-binaries.js";
import { Cleanup } from "./cleanup.js";
import { ms, Timeline } from "./timeline.js";

const HELP = `purple-onion demo: two Pidgin users, each with a private XMPP server reachable only as a
Tor onion service, chatting and sending a file, all offline on this machine.

  npm run demo                      (builds, then runs it in a loopback-only network namespace)
  node dist/demo/demo.js [--verbose]

What it does, printing a timeline with elapsed times:
  1. starts a private Tor network on 127.0.0.1 (1 directory authority, 5 relays, 2 client tors);
     it cannot reach the real Tor network, and nothing leaves 127.0.0.1;
  2. starts two purple-onion daemons, one per client tor, and two libpurple clients (each in its
     own process with the purple-onion plugin loaded, as Pidgin would have it);
  3. Alice and Bob each tick "Federate over Tor onion service" on a clearnet XMPP account: the
     plugin makes an onion account on their daemon, whose onion service is published;
  4. Alice asks Bob to be contacts, Bob authorizes and asks back, Alice authorizes;
  5. they exchange messages both ways (each with its latency, send to receipt) and Alice sends
     Bob a small file (in-band bytestreams through both servers and Tor: size, time, bytes/s);
  6. stops everything it started (tor, daemons, clients) and removes its temp dir: also on
     Ctrl-C, SIGTERM or a failure. Exit status 0 on success, 1 with the reason on failure.

It takes 20 to 40 s on an idle machine (the Tor network needs ~13 s to bootstrap), up to
2 minutes on a busy one; it gives up after 5 minutes.

Prerequisites:
  * tor and tor-gencert (Debian: apt-get install tor); the system tor service is not used;
  * libpurple-dev, cmake and a C/C++ compiler, then: npm run build:native (plugin and bridge);
  * npm run build;
  * root, for the loopback-only network namespace (scripts/in-loopback-netns.sh); without it
    the demo runs in the normal network (it still uses only 127.0.0.1).

Options:
  --verbose   also print process ids, directories and, on failure, the daemons' and clients'
              logs
  --help      this text
`;

const MESSAGES: { from: "alice" | "bob"; text: string }[] = [
  { from: "alice", text: "Hi Bob! This went through my onion service and yours." },
  { from: "bob", text: "Hi Alice, got it. No clearnet server saw it." },
  { from: "alice", text: "I'll send you a photo." },
  { from: "bob", text: "Ready when you are." },
];
const FILE_BYTES = 32 * 1024;
/** The whole demo gives up after this long. */
const DEADLINE_MS = 5 * 60_000;

interface Person {
  name: "alice" | "bob";
  Name: string;
  daemon: FedDaemon;
  client: PurpleClient;
  trap: Trap;
  clearnet: AccountRef;
  onion: AccountInfo;
}

class Interrupted extends Error {}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = argv.filter((a) => a !== "--verbose");
  if (unknown.length > 0) {
    process.stderr.write(`demo: unknown argument ${unknown[0]} (see --help)\n`);
    return 2;
  }
  const verbose = argv.includes("--verbose");
  const problem = torNetMissing() ?? (existsSync(PLUGIN_SO) && existsSync(BRIDGE_NODE) ? undefined : `the plugin and the bridge are not built (${PLUGIN_SO}): apt-get install libpurple-dev cmake g++, then npm run build:native`);
  if (problem) {
    process.stderr.write(`demo: cannot run: ${problem}\n`);
    return 1;
  }

  // Every temp dir of the demo (the Tor network, the daemons, the clients' homes) and every
  // process it starts lives under one root: children inherit TMPDIR.
  const root = mkdtempSync(path.join(tmpdir(), "pod-"));
  process.env.TMPDIR = root;
  const cleanup = new Cleanup(root);
  cleanup.dir(root);
  const t = new Timeline();
  let interrupted: NodeJS.Signals | undefined;

  const finish = async (): Promise<boolean> => {
    t.event("cleaning up: stopping the clients, the daemons and the Tor network");
    const count = (what: string) => [...cleanup.processes().values()].filter((w) => w.startsWith(what)).length;
    const summary = `${count("libpurple")} libpurple clients, ${count("daemon")} daemons, ${count("tor")} tor processes`;
    const failures = await cleanup.run();
    const leftovers = existsSync(root) ? [`${root} is still there`] : [];
    for (const f of [...failures, ...leftovers]) t.detail(`cleanup: ${f}`);
    t.event(failures.length + leftovers.length === 0 ? `cleaned up: stopped ${summary}; removed ${root}` : "cleanup finished with problems (above)");
    return failures.length + leftovers.length === 0;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      process.stderr.write(`demo: ${signal} again: killing everything now\n`);
      // The exit handlers SIGKILL every registered process (tors, daemons, bridges).
      rmSync(root, { recursive: true, force: true });
      process.exit(1);
    }
    interrupted = signal;
    t.event(`${signal}: stopping (again to kill everything at once)`);
    void finish().then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);

  t.plain("purple-onion demo: Alice and Bob, each with a private XMPP server reachable only as a Tor onion service");
  t.plain(hasDefaultRoute() ? "(this network has a route off the machine: npm run demo as root runs in a loopback-only namespace; the demo still uses only 127.0.0.1)" : "(no route leads off this machine: the demo runs offline)");
  t.plain();
  if (verbose) t.detail(`temp dir: ${root}`);

  let deadline: NodeJS.Timeout | undefined;
  /** The logs of what runs (daemons, clients), printed with --verbose on a failure. */
  const logs: { name: string; text: () => string }[] = [];
  try {
    const run = scenario(t, cleanup, verbose, () => interrupted !== undefined, logs);
    const timeout = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`the demo did not finish within ${ms(DEADLINE_MS)}`)), DEADLINE_MS);
    });
    await Promise.race([run, timeout]);
  } catch (err) {
    if (interrupted || err instanceof Interrupted) return new Promise(() => undefined); // onSignal exits
    const message = err instanceof Error ? err.message : String(err);
    t.event(`FAILED: ${verbose ? message : message.split("\n")[0]}`);
    if (!verbose) t.detail("(run with --verbose for the daemons' and clients' logs)");
    else for (const log of logs) t.plain(`--- ${log.name} (last 40 lines) ---\n${log.text().trimEnd().split("\n").slice(-40).join("\n")}`);
    await finish();
    return 1;
  } finally {
    clearTimeout(deadline);
  }
  if (interrupted) return new Promise(() => undefined);
  const clean = await finish();
  t.plain();
  t.plain(clean ? "demo finished: everything worked, and nothing it started is left." : "demo finished, but the cleanup had problems (above).");
  return clean ? 0 : 1;
}

async function scenario(t: Timeline, cleanup: Cleanup, verbose: boolean, stopping: () => boolean, logs: { name: string; text: () => string }[]): Promise<void> {
  const step = <T>(v: T): T => {
    if (stopping()) throw new Interrupted();
    return v;
  };

  // 1. The private Tor network.
  t.event(`starting a private Tor network on 127.0.0.1: 1 directory authority, ${RELAYS} relays, 2 client tors`);
  const netStarted = Date.now();
  const net: TorNet = await t.waiting("the Tor network", () => startTorNet({ clients: 2, log: (line) => t.detail(line.replace(/^tornet: /, "")) }));
  cleanup.add("stop the Tor network", () => net.stop());
  // Its tors stop with it; remembered by pid in case the stop does not finish.
  for (const pid of pidsMentioning(net.dir)) cleanup.process(pid, "tor");
  const rssMb = Math.round(Object.values(net.rssKb()).reduce((a, b) => a + b, 0) / 1024);
  t.event(step(`Tor network bootstrapped in ${ms(Date.now() - netStarted)} (${pidsMentioning(net.dir).length} tor processes, ${rssMb} MB resident)`));
  if (verbose) t.detail(`network dir ${net.dir}; client tors: ${net.clients.map((c) => `${c.name} SOCKS ${c.socksPort} control ${c.controlPort} pid ${c.pid}`).join("; ")}`);

  // 2. Two daemons, two libpurple clients.
  const started = await t.waiting("the daemons and the clients", async () => {
    const make = async (name: "alice" | "bob", index: number): Promise<Omit<Person, "onion">> => {
      const Name = name === "alice" ? "Alice" : "Bob";
      const daemon = new FedDaemon(`${Name}'s daemon`, net, index, false);
      cleanup.add(`stop ${Name}'s daemon`, () => daemon.dispose());
      logs.push({ name: `${Name}'s daemon`, text: () => daemon.output });
      await daemon.start();
      const pid = (await daemon.status()).pid;
      cleanup.process(pid, `daemon of ${Name}`);
      const trap = await Trap.start();
      cleanup.add(`close ${Name}'s clearnet stand-in`, async () => trap.close());
      // debug: libpurple's log (kept in memory) names the IBB blocks of the file transfer.
      const client = await PurpleClient.start({ name, dataDir: daemon.dir, debug: true });
      cleanup.add(`stop ${Name}'s libpurple client`, () => client.stop());
      cleanup.process(client.bridge.pid, `libpurple client of ${Name}`);
      logs.push({ name: `${Name}'s libpurple client`, text: () => client.bridge.stderr() });
      const clearnet = await client.addClearnetAccount(`${name}@clearnet.example/pidgin`, trap, false);
      if (verbose) t.detail(`${Name}: daemon pid ${pid} (data dir ${daemon.dir}), libpurple client pid ${client.bridge.pid}`);
      return { name, Name, daemon, client, trap, clearnet };
    };
    return Promise.all([make("alice", 0), make("bob", 1)]);
  });
  t.event(step(`2 purple-onion daemons (attached to the client tors) and 2 libpurple clients with the plugin are running`));

  // 3. The tick: an onion account each, signed on, its onion service published.
  const people: Person[] = [];
  for (const p of started) {
    const tickedAt = Date.now();
    await p.client.tick(p.clearnet);
    t.event(step(`${p.Name} ticks "Federate over Tor onion service" on ${p.clearnet.username}`));
    const onion = await t.waiting(`${p.Name}'s onion account to sign on`, () => p.client.companionSignedOn(p.clearnet, 90_000));
    people.push({ ...p, onion });
    t.event(step(`${p.Name}'s onion account signed on to ${p.name === "alice" ? "her" : "his"} daemon: ${bareOf(onion)} (${ms(Date.now() - tickedAt)} after the tick)`));
  }
  const [alice, bob] = people as [Person, Person];
  await Promise.all(
    people.map(async (p) => {
      const status = await t.waiting(`${p.Name}'s onion service to be published`, () => p.daemon.waitPublished(120_000));
      const onion = status.accounts.find((a) => a.jid === bareOf(p.onion))?.onion ?? bareOf(p.onion).split("@")[1];
      t.event(step(`${p.Name}'s onion service published: ${onion}`));
    }),
  );

  // 4. Contacts: request and authorization, both ways.
  const aliceJid = bareOf(alice.onion);
  const bobJid = bareOf(bob.onion);
  let asked = Date.now();
  await alice.client.bridge.call("addBuddy", alice.onion, bobJid);
  t.event(step("Alice adds Bob and asks to see his presence (subscription request)"));
  const askBob = await t.waiting("Alice's request to reach Bob", () => bob.client.bridge.waitFor("authorization-requested", (e) => bare(e.who) === aliceJid, 120_000, "Alice's request at Bob"));
  t.event(step(`Bob is asked by ${aliceJid} (${ms(Date.now() - asked)} after the request)`));
  await bob.client.bridge.call("respondAuthorization", askBob.id, true);
  t.event(step("Bob authorizes Alice"));
  asked = Date.now();
  await bob.client.bridge.call("addBuddy", bob.onion, aliceJid);
  t.event(step("Bob adds Alice and asks back"));
  const askAlice = await t.waiting("Bob's request to reach Alice", () => alice.client.bridge.waitFor("authorization-requested", (e) => bare(e.who) === bobJid, 120_000, "Bob's request at Alice"));
  t.event(step(`Alice is asked by ${bobJid} (${ms(Date.now() - asked)} after the request)`));
  await alice.client.bridge.call("respondAuthorization", askAlice.id, true);
  t.event(step("Alice authorizes Bob: they are contacts both ways"));
  await t.waiting("each to see the other online", () =>
    Promise.all([
      alice.client.bridge.waitFor("buddy-signed-on", (e) => bare(e.buddy) === bobJid, 120_000, "Bob online at Alice"),
      bob.client.bridge.waitFor("buddy-signed-on", (e) => bare(e.buddy) === aliceJid, 120_000, "Alice online at Bob"),
    ]),
  );
  t.event(step("each sees the other online"));

  // 5. Messages, then a file.
  const latencies: number[] = [];
  for (const m of MESSAGES) {
    const [from, to] = m.from === "alice" ? [alice, bob] : [bob, alice];
    const fromJid = bareOf(from.onion);
    const mark = to.client.bridge.events.length;
    const sentAt = Date.now();
    await from.client.bridge.call("sendIm", from.onion, bareOf(to.onion), m.text);
    await to.client.bridge.waitFor("received-im", (e) => bare(e.who) === fromJid && e.text === m.text, 60_000, `${from.Name}'s message at ${to.Name}`);
    const got = to.client.bridge.events.slice(mark).find((e) => e.name === "received-im" && (e.data as { text: string }).text === m.text)!;
    const latency = got.at - sentAt;
    latencies.push(latency);
    t.event(step(`message ${from.Name} → ${to.Name} received in ${ms(latency)}: "${m.text}"`));
  }

  const files = path.join(process.env.TMPDIR!, "files");
  mkdirSync(files, { mode: 0o700 });
  t.event(step(`Alice sends Bob a file: photo.jpg, ${FILE_BYTES} bytes`));
  const transfer = await t.waiting("the file", () => sendFileAndWait({ bridge: alice.client.bridge, account: alice.onion }, { bridge: bob.client.bridge, account: bob.onion }, files, "photo.jpg", distinctiveBytes(FILE_BYTES, 7)));
  if (transfer.ibbBytes < transfer.bytes) throw new Error(`the file did not travel in-band (Bob's libpurple logged ${transfer.ibbBytes} of ${transfer.bytes} bytes over IBB)`);
  t.event(
    step(
      `file received by Bob: ${transfer.bytes} bytes in ${ms(transfer.dataMs)} after he accepted (${Math.round((transfer.bytes * 1000) / transfer.dataMs)} bytes/s, ${rate(transfer.bytes, transfer.dataMs)}), ` +
        `${transfer.ibbBlocks} in-band blocks through both servers and Tor; contents identical`,
    ),
  );

  const sorted = [...latencies].sort((a, b) => a - b);
  t.detail(`messages: ${latencies.length}, latency median ${ms(sorted[Math.floor(sorted.length / 2)]!)}, max ${ms(sorted.at(-1)!)}`);
  const clearnet = alice.trap.connections.length + bob.trap.connections.length;
  if (clearnet > 0) throw new Error(`${clearnet} connection(s) reached a clearnet server stand-in after the tick`);
  t.detail("the clearnet accounts stayed offline: nothing reached their servers");
}

/** A default route (IPv4, or IPv6 through anything but lo) leads off the machine: not in scripts/in-loopback-netns.sh's namespace. */
function hasDefaultRoute(): boolean {
  const lines = (file: string): string[] => {
    try {
      return readFileSync(file, "utf8").trim().split("\n");
    } catch {
      return [];
    }
  };
  const v4 = lines("/proc/net/route").slice(1).some((l) => l.split(/\s+/)[1] === "00000000");
  const v6 = lines("/proc/net/ipv6_route").some((l) => {
    const f = l.trim().split(/\s+/);
    return f[0] === "0".repeat(32) && f[1] === "00" && f[9] !== "lo";
  });
  return v4 || v6;
}

/** Processes whose command line names `text` (the tors of the network: their torrc is in its dir). */
function pidsMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
