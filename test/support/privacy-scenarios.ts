// The client behind the onion leaks nothing (issue 9), shown on the private Tor network with
// everything real: two libpurple clients (the bridge, each in a process of its own) with our
// plugin loaded, each of whose plugins starts its own daemon, which launches its own tor. Each
// client process tree (client, daemon, tor) runs under strace -f, which records every connect and
// every byte on every socket (wire-capture.ts). The test namespace gives the machine decoy LAN
// addresses (10.77.77.77, fd77::77 on d0) and a decoy host name (scripts/in-loopback-netns.sh),
// and the clients run with TZ=Pacific/Chatham (+13:45 in December): if any of those reached a
// stanza, the capture shows it.
//
// They sign on, become contacts, chat, send a file each way, alice changes her avatar and goes
// idle, and carol (a contact on bob's server) asks alice's full JID for her time, version and
// last activity. Then: no DNS, no resolver socket, nothing outside loopback, no listening socket
// in the clients, and none of the decoys in any byte either tree sent or received.
//
// Run by test/tor/tornet.test.ts on its network; only these:
//   node --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/tor/tornet.test.js -t privacy
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import type { AccountInfo, AccountRef } from "../../src/bridge/api.js";
import type { StatusResult } from "../../src/daemon/control-protocol.js";
import { addAccount } from "./daemon.js";
import { befriend } from "./bridge-clients.js";
import { bare, controlRequest, Phases } from "./federation.js";
import { sendFileAndWait } from "./file-transfer.js";
import { decoyAddresses } from "./loopback-netns.js";
import { bareOf, PurpleClient, Trap } from "./plugin-host.js";
import { RawXmpp } from "./raw-xmpp.js";
import { parseStrace } from "./strace.js";
import type { TorNet } from "./tornet/tornet.js";
import { captureWrap, findNeedles, parseCapture, type Capture, type Needle } from "./wire-capture.js";

const ZONE = "Pacific/Chatham";

/** What must never appear on a socket of either client tree. */
function needles(): Needle[] {
  const host = process.env.PURPLE_ONION_DECOY_HOSTNAME;
  const list: Needle[] = decoyAddresses().map((a) => ({ what: `decoy address ${a}`, text: a }));
  list.push({ what: "decoy IPv6 address, expanded", text: "fd77:0:0:0:0:0:0:77" });
  if (host) list.push({ what: "decoy host name", text: host });
  list.push(
    { what: "time zone name", text: ZONE },
    { what: "time zone abbreviation", text: "CHADT" },
    { what: "time zone offset", text: "+13:45" },
    { what: "kernel release", text: release() },
  );
  return list;
}

interface Side {
  name: string;
  dataDir: string;
  traceFile: string;
  client: PurpleClient;
  clearnet: AccountRef;
  onion: AccountInfo;
  trap: Trap;
}

export function privacyScenarios(getNet: () => TorNet): void {
  jest.setTimeout(300_000);
  const phases = new Phases("privacy");
  const root = mkdtempSync(path.join(tmpdir(), "po-privacy-"));
  const sides: Side[] = [];
  let alice: Side;
  let bob: Side;
  let carol: RawXmpp | undefined;
  let carolJid = "";

  const status = (s: Side) => controlRequest<StatusResult>(s.dataDir, "status");
  const capture = (s: Side): Capture => parseCapture(readFileSync(s.traceFile, "utf8"));
  /** What the daemon wrote to the client (stanzas as the client got them). */
  const toClient = (s: Side): string =>
    capture(s)
      .io.filter((x) => x.direction === "in" && x.command.includes("bridge-child"))
      .map((x) => x.data)
      .join("");
  const fromClient = (s: Side): string =>
    capture(s)
      .io.filter((x) => x.direction === "out" && x.command.includes("bridge-child") && x.fd > 3)
      .map((x) => x.data)
      .join("");

  beforeAll(async () => {
    const net = getNet();
    phases.explainFailuresWith(() => `--- the private Tor network: ${net.health()}`);
    for (const name of ["alice", "bob"]) {
      const dataDir = mkdtempSync(path.join(tmpdir(), `po-pv${name[0]}-`));
      const torrc = path.join(dataDir, "tornet.torrc");
      writeFileSync(torrc, net.clientTorrcLines().join("\n") + "\n");
      const traceFile = path.join(root, `${name}.trace`);
      const trap = await Trap.start();
      const client = await phases.run(`start ${name}'s client under strace`, () =>
        PurpleClient.start({
          name,
          dataDir,
          serveArgs: `--tor launch --tor-torrc-append ${torrc}`,
          wrap: captureWrap(traceFile),
          env: { TZ: ZONE },
          libpurpleNetworkDefaults: true,
        }),
      );
      // The user has UPnP/NAT-PMP and automatic IP discovery on (libpurple 2.14.5+ starts with them
      // off; the bridge leaves them to libpurple here): the plugin must turn them off itself.
      await client.bridge.call("setPref", "/purple/network/map_ports", true);
      await client.bridge.call("setPref", "/purple/network/auto_ip", true);
      const clearnet = await client.addClearnetAccount(`${name}@clearnet.example/pidgin`, trap, false);
      sides.push({ name, dataDir, traceFile, client, clearnet, trap, onion: undefined as unknown as AccountInfo });
    }
    [alice, bob] = sides as [Side, Side];
  }, 120_000);

  afterAll(async () => {
    carol?.close();
    // The daemons (and their tors) first: strace ends only when every process it traces has,
    // and a daemon the plugin started outlives its client.
    await Promise.all(sides.map((s) => controlRequest(s.dataDir, "shutdown").catch(() => undefined)));
    await Promise.all(sides.map((s) => s.client.stop()));
    for (const s of sides) {
      s.trap.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    rmSync(root, { recursive: true, force: true });
  }, 120_000);

  test("v1 sign-on: both tick the box; their plugins start daemons that launch tor; both onions published", async () => {
    for (const s of sides) await s.client.tick(s.clearnet);
    for (const s of sides) s.onion = await s.client.companionSignedOn(s.clearnet, 120_000);
    await phases.run("both onions published", async () => {
      const deadline = Date.now() + 180_000;
      for (const s of sides) {
        for (;;) {
          const st = await status(s);
          if (st.tor.state === "ready" && st.accounts.length > 0 && st.accounts.every((a) => a.published)) break;
          if (Date.now() > deadline) throw new Error(`${s.name}'s onion was not published: ${JSON.stringify(st.tor)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    });
    // The bound resource is the companion's own, never the host name.
    for (const s of sides) expect(s.onion.username).toMatch(/\/onion$/);
  });

  test("v2 contacts: alice asks, bob authorizes and asks back, both see each other online", async () => {
    const friend = (x: Side) => ({ bridge: x.client.bridge, ref: x.onion as Required<AccountRef>, jid: bareOf(x.onion) });
    await phases.run("subscriptions both ways, each sees the other online", () => befriend(friend(alice), friend(bob), 120_000));
  });

  test("v3 a conversation both ways", async () => {
    const [aj, bj] = [bareOf(alice.onion), bareOf(bob.onion)];
    await alice.client.bridge.call("sendIm", alice.onion, bj, "hi bob, where are you?");
    expect((await bob.client.bridge.waitFor("received-im", (e) => bare(e.who) === aj, 60_000, "alice's message")).text).toBe("hi bob, where are you?");
    await bob.client.bridge.call("sendIm", bob.onion, aj, "somewhere in Tor");
    expect((await alice.client.bridge.waitFor("received-im", (e) => bare(e.who) === bj, 60_000, "bob's message")).text).toBe("somewhere in Tor");
  });

  test("v4 a file each way, in-band through both servers", async () => {
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const t = await sendFileAndWait({ bridge: from.client.bridge, account: from.onion }, { bridge: to.client.bridge, account: to.onion }, root, `from-${from.name}.bin`, Buffer.alloc(24_000, from.name));
      phases.note(`${from.name} → ${to.name}: ${t.bytes} bytes in ${t.totalMs} ms`);
    }
    // In-band: the data crossed bob's daemon as XEP-0047 <data/> in iq stanzas.
    expect(toClient(bob)).toContain("http://jabber.org/protocol/ibb");
  });

  test("v5 alice changes her avatar: it reaches bob inline (vCard photo hash in her presence)", async () => {
    // A 1×1 PNG.
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
    const file = path.join(root, "avatar.png");
    writeFileSync(file, png);
    const hash = createHash("sha1").update(png).digest("hex");
    await alice.client.bridge.call("setIcon", alice.onion, file);
    const deadline = Date.now() + 90_000;
    while (!toClient(bob).includes(hash)) {
      if (Date.now() > deadline) throw new Error("alice's avatar hash never reached bob's client");
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  test("v6 alice goes idle: no idle time in her presence or anywhere she sends", async () => {
    const before = fromClient(alice).length;
    await alice.client.bridge.call("setIdle", alice.onion, 900);
    // A message after the idle presence: the s2s stream is ordered, so when bob has it, he has the presence too.
    await alice.client.bridge.call("sendIm", alice.onion, bareOf(bob.onion), "back later");
    await bob.client.bridge.waitFor("received-im", (e) => e.text === "back later", 60_000, "alice's message after idling");
    const sent = fromClient(alice).slice(before);
    expect(sent).toContain("back later");
    expect(sent).not.toMatch(/jabber:iq:last|urn:xmpp:idle/);
    expect(toClient(bob)).not.toMatch(/jabber:iq:last|urn:xmpp:idle/);
  });

  test("v7 carol, a contact on bob's server, asks alice's full JID for her time, version and last activity", async () => {
    const account = await addAccount(bob.dataDir, "carol");
    carolJid = account.jid;
    carol = await RawXmpp.connect((await status(bob)).c2s.port);
    await carol.login(account.jid, account.password, "probe");
    const aj = bareOf(alice.onion);
    carol.send("<presence/>");
    carol.send(`<presence to='${aj}' type='subscribe'/>`);
    const ask = await alice.client.bridge.waitFor("authorization-requested", (e) => bare(e.who) === carolJid, 120_000, "carol's request at alice");
    await alice.client.bridge.call("respondAuthorization", ask.id, true);
    const presence = await carol.waitFor(new RegExp(`<presence[^>]*from="(${aj.replace(/\./g, "\\.")}/[^"]+)"`), 120_000);
    const full = presence[1]!;
    expect(full).toBe(`${aj}/onion`);
    const ask1 = async (id: string, query: string): Promise<string> => {
      carol!.send(`<iq type='get' id='${id}' to='${full}'>${query}</iq>`);
      return (await carol!.waitFor(new RegExp(`<iq[^>]*id="${id}"[\\s\\S]*?</iq>|<iq[^>]*id="${id}"[^>]*/>`), 90_000))[0];
    };
    const time = await ask1("t1", "<time xmlns='urn:xmpp:time'/>");
    const version = await ask1("v1", "<query xmlns='jabber:iq:version'/>");
    const last = await ask1("l1", "<query xmlns='jabber:iq:last'/>");
    phases.note(`answers to carol: ${[time, version, last].join(" | ")}`);
    expect(time).toMatch(/type="error"/);
    expect(time).not.toMatch(/<tzo>|<utc>/);
    expect(version).not.toMatch(/<os>|Linux|2\.14\.\d/);
    expect(last).not.toMatch(/seconds="[1-9]/);
  });

  test("v8 strace: no DNS, no resolver socket, nothing outside loopback, no listening socket in the clients", () => {
    for (const s of sides) {
      const text = readFileSync(s.traceFile, "utf8");
      const net = parseStrace(text);
      const cap = parseCapture(text);
      phases.note(`${s.name}'s tree: ${net.lines} traced calls, ${net.connects.length} connects, ${cap.io.length} socket reads/writes`);
      // nscd's socket: glibc tries it for user lookups too (getpwuid); a name lookup would also
      // read /etc/hosts or /etc/resolv.conf (resolverFiles), and systemd-resolved has its own socket.
      const resolved = net.resolverConnects.filter((c) => !/nscd/.test(c.path ?? ""));
      phases.note(`${s.name}'s tree: ${net.resolverConnects.length - resolved.length} attempt(s) at nscd's socket (user lookups; no nscd runs here)`);
      // Datagrams too (UPnP's SSDP multicast, NAT-PMP to the gateway, STUN): only to loopback.
      const sentOutside = net.sends.filter((x) => {
        const d = x.destination;
        if (!d || (d.family !== "AF_INET" && d.family !== "AF_INET6")) return false;
        return !/^(127\.|::1$|::ffff:127\.)/.test(d.address ?? "");
      });
      expect({ who: s.name, dns: net.dnsConnects, dnsSends: net.dnsSends, resolver: resolved, resolverFiles: cap.resolverFiles, outside: net.nonLoopback, sentOutside }).toEqual({
        who: s.name,
        dns: [],
        dnsSends: 0,
        resolver: [],
        resolverFiles: [],
        outside: [],
        sentOutside: [],
      });
      // The client itself never listens (no SOCKS5 streamhost, no UPnP/NAT-PMP mapping).
      expect(cap.binds.filter((b) => b.command.includes("bridge-child")).map((b) => b.line)).toEqual([]);
    }
  });

  test("v9 no decoy address, host name, time zone or kernel release in any byte either tree sent or received", () => {
    for (const s of sides) {
      // fds 0–3 of the client are this test's pipes and IPC channel, not the network.
      const io = capture(s).io.filter((x) => !(x.command.includes("bridge-child") && x.fd <= 3));
      expect(io.length).toBeGreaterThan(100);
      expect(findNeedles(io, needles())).toEqual([]);
    }
  });
}
