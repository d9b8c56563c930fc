// What an onion companion tells a hostile contact (issue 9, items 1-3, plugin side): no clock, no
// idle time, no software version or OS, no hostname, no IP address, no direct connection. A
// daemon (--tor none), a libpurple client with the plugin whose ticked account's companion signs
// on to it, and "eve", a raw XMPP client on another account of the same daemon, who asks and
// offers what a hostile contact would. Each check fails without the plugin's privacy parts:
// libpurple answers time, last and version, prefers SOCKS5 bytestreams, puts idle seconds in
// presence and advertises all of it in disco#info (docs/plugin.md, "What the plugin changes…").
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import type { AccountRef } from "../../src/bridge/api.js";
import type { StatusResult } from "../../src/daemon/control-protocol.js";
import type { Element } from "../../src/xmpp/xml.js";
import { addAccount, DaemonProcess, tempDataDir } from "../support/daemon.js";
import { controlRequest } from "../support/federation.js";
import { bareOf, PurpleClient, Trap } from "../support/plugin-host.js";
import { RawXmpp } from "../support/raw-xmpp.js";
import { requires } from "../support/requires.js";
import { parseXmlFragment } from "../support/xml-fragment.js";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_CAPS = "http://jabber.org/protocol/caps";
const NS_BYTESTREAMS = "http://jabber.org/protocol/bytestreams";
const NS_IBB = "http://jabber.org/protocol/ibb";
const HIDDEN = [/^urn:xmpp:time$/, /^jabber:iq:last$/, /^jabber:iq:oob$/, /^http:\/\/jabber\.org\/protocol\/bytestreams$/, /^urn:xmpp:jingle:/, /^http:\/\/www\.google\.com\/xmpp\/protocol\//];

/** Every complete top-level element named `name` in `text` (stanzas do not nest in themselves). */
function elements(text: string, name: string): Element[] {
  const re = new RegExp(`<${name}\\b(?:[^>]*/>|[^>]*>[\\s\\S]*?</${name}>)`, "g");
  return [...text.matchAll(re)].flatMap((m) => parseXmlFragment(m[0]));
}

/** XEP-0115 §5.1 verification string, SHA-1, base64 (no forms: libpurple's answer has none). */
function capsVer(query: Element): string {
  const ids = query.getChildren("identity").map((i) => `${i.attrs.category ?? ""}/${i.attrs.type ?? ""}/${i.attrs["xml:lang"] ?? ""}/${i.attrs.name ?? ""}`);
  const features = query.getChildren("feature").map((f) => String(f.attrs.var));
  const s = [...ids.sort(), ...features.sort()].map((x) => `${x}<`).join("");
  return createHash("sha1").update(s, "utf8").digest("base64");
}

requires("native").describe("purple-onion plugin: what a companion never tells a contact", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-privacy-"));
  const dataDir = tempDataDir();
  const daemon = new DaemonProcess(dataDir);
  const X: AccountRef = { username: "alice@example.org/pidgin", protocol: "prpl-jabber" };
  let trap: Trap;
  let client: PurpleClient;
  let eve: RawXmpp;
  let eveJid: string;
  let companion: Required<AccountRef>;
  let full: string;
  let nextId = 0;

  /** Eve's iq to the companion and its answer (parsed). */
  async function ask(type: "get" | "set", payload: string, to = full): Promise<Element> {
    const id = `eve-${++nextId}`;
    eve.send(`<iq type='${type}' id='${id}' to='${to}'>${payload}</iq>`);
    await eve.waitFor(new RegExp(`<iq[^>]*id="${id}"[^>]*(?:/>|>[\\s\\S]*?</iq>)`), 10_000);
    return elements(eve.received, "iq").find((e) => e.attrs.id === id)!;
  }

  /** setIdle(600), then until the companion's next presence reaches eve (at most 10 s); the count before. */
  async function goIdle(): Promise<number> {
    const before = presencesFromCompanion().length;
    await client.bridge.call("setIdle", companion, 600);
    const deadline = Date.now() + 10_000;
    while (presencesFromCompanion().length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return before;
  }

  const presencesFromCompanion = (): Element[] => elements(eve.received, "presence").filter((p) => p.attrs.from === full && p.attrs.type === undefined);

  /** Eve answers the companion's disco#info like a client that takes SI file transfer over IBB. */
  const answered = new Set<string>();
  function autoAnswer(): void {
    for (const iq of elements(eve.received, "iq")) {
      const id = String(iq.attrs.id);
      if (iq.attrs.type !== "get" || answered.has(id) || iq.attrs.from === undefined) continue;
      answered.add(id);
      if (iq.getChild("query", NS_DISCO_INFO)) {
        const feats = [NS_DISCO_INFO, "http://jabber.org/protocol/si", "http://jabber.org/protocol/si/profile/file-transfer", NS_IBB, NS_BYTESTREAMS];
        eve.send(`<iq type='result' id='${id}' to='${iq.attrs.from}'><query xmlns='${NS_DISCO_INFO}'><identity category='client' type='pc'/>${feats.map((f) => `<feature var='${f}'/>`).join("")}</query></iq>`);
      } else {
        eve.send(`<iq type='error' id='${id}' to='${iq.attrs.from}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
      }
    }
  }

  beforeAll(async () => {
    await daemon.start();
    const port = (await controlRequest<StatusResult>(dataDir, "status")).c2s.port;
    const eveAccount = await addAccount(dataDir, "eve");
    trap = await Trap.start();
    client = await PurpleClient.start({ name: "privacy", dataDir, debug: true, libpurpleNetworkDefaults: true });
    // The user turned UPnP/NAT-PMP and automatic IP on (libpurple 2.14.5+ has them off for a new
    // user; the bridge leaves them alone with libpurpleNetworkDefaults) and has a STUN server (an
    // IP: setting it resolves nothing).
    await client.bridge.call("setPref", "/purple/network/map_ports", true);
    await client.bridge.call("setPref", "/purple/network/auto_ip", true);
    await client.bridge.call("setPref", "/purple/network/stun_server", "127.0.0.1");
    await client.addClearnetAccount(X.username, trap, false);
    await client.tick(X);
    companion = (await client.companionSignedOn(X)) as Required<AccountRef>;
    full = companion.username;

    eve = await RawXmpp.connect(port);
    eveJid = await eve.login(eveAccount.jid, eveAccount.password, "hostile");
    eve.socket.on("data", () => autoAnswer());
    eve.send("<presence/>");
    eve.send(`<presence type='subscribe' to='${bareOf(companion)}'/>`);
    const asked = await client.bridge.waitFor("authorization-requested", (e) => e.who.startsWith(eveAccount.jid), 15_000, "eve's subscription request");
    await client.bridge.call("respondAuthorization", asked.id, true);
    await client.bridge.call("addBuddy", companion, eveAccount.jid);
    await eve.waitFor(new RegExp(`<presence[^>]*type="subscribe"`), 10_000);
    eve.send(`<presence type='subscribed' to='${bareOf(companion)}'/>`);
    await eve.waitFor(new RegExp(`<presence[^>]*from="${full.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"`), 10_000);
  }, 90_000);

  afterAll(async () => {
    eve?.close();
    await client?.stop();
    trap?.close();
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);

  test("the bound resource names no host", () => {
    expect(full).toMatch(/\/onion$/);
    const host = hostname().split(".")[0]!.toLowerCase();
    for (const p of presencesFromCompanion()) expect(String(p.attrs.from).toLowerCase()).not.toContain(host);
  });

  test("time (XEP-0202 and legacy), last activity (XEP-0012): refused", async () => {
    for (const payload of ["<time xmlns='urn:xmpp:time'/>", "<query xmlns='jabber:iq:time'/>", "<query xmlns='jabber:iq:last'/>"]) {
      const answer = await ask("get", payload);
      expect(answer.attrs.type).toBe("error");
      expect(answer.getChild("error")?.getChild("service-unavailable")).toBeDefined();
      expect(answer.toString()).not.toMatch(/<tzo|<utc|seconds=/);
    }
  });

  test("version (XEP-0092): purple-onion, no OS, no libpurple or UI version", async () => {
    const answer = await ask("get", "<query xmlns='jabber:iq:version'/>");
    expect(answer.attrs.type).toBe("result");
    const q = answer.getChild("query")!;
    expect(q.getChildText("name")).toBe("purple-onion");
    expect(q.getChild("os")).toBeUndefined();
    expect(answer.toString()).not.toMatch(/libpurple|2\.1\d\.\d|Linux|bridge/i);
  });

  test("an out-of-band URL (XEP-0066) is refused and never fetched", async () => {
    const web = await listener();
    const answer = await ask("set", `<query xmlns='jabber:iq:oob'><url>http://127.0.0.1:${port(web)}/photo.jpg</url></query>`);
    expect(answer.attrs.type).toBe("error");
    expect(answer.getChild("error")?.getChild("not-acceptable")).toBeDefined();
    await new Promise((r) => setTimeout(r, 500));
    expect(connections.get(web)).toBe(0);
    web.close();
  });

  test("a SOCKS5 bytestream with a streamhost (XEP-0065) is refused; nothing connects to it", async () => {
    const socks = await listener();
    const answer = await ask("set", `<query xmlns='${NS_BYTESTREAMS}' sid='s1' mode='tcp'><streamhost jid='${eveJid}' host='127.0.0.1' port='${port(socks)}'/></query>`);
    expect(answer.attrs.type).toBe("error");
    await new Promise((r) => setTimeout(r, 500));
    expect(connections.get(socks)).toBe(0);
    socks.close();
  });

  test("a file offered with bytestreams and IBB: libpurple sees IBB only and answers IBB", async () => {
    const id = `eve-${++nextId}`;
    const options = [NS_BYTESTREAMS, NS_IBB].map((m) => `<option><value>${m}</value></option>`).join("");
    eve.send(
      `<iq type='set' id='${id}' to='${full}'><si xmlns='http://jabber.org/protocol/si' id='sid-1' profile='http://jabber.org/protocol/si/profile/file-transfer'>` +
        `<file xmlns='http://jabber.org/protocol/si/profile/file-transfer' name='a.txt' size='3'/>` +
        `<feature xmlns='http://jabber.org/protocol/feature-neg'><x xmlns='jabber:x:data' type='form'><field var='stream-method' type='list-single'>${options}</field></x></feature></si></iq>`,
    );
    const offer = await client.bridge.waitFor("xfer", (x) => x.direction === "receive" && x.filename === "a.txt", 10_000, "the offer");
    await client.bridge.call("acceptFile", offer.id, path.join(root, "a.txt"));
    await eve.waitFor(new RegExp(`<iq[^>]*id="${id}"[\\s\\S]*?</iq>`), 10_000);
    const answer = elements(eve.received, "iq").find((e) => e.attrs.id === id)!;
    expect(answer.attrs.type).toBe("result");
    expect(answer.toString()).toContain(NS_IBB);
    expect(answer.toString()).not.toContain(NS_BYTESTREAMS);
  });

  test("a file the companion sends is offered over IBB only", async () => {
    const file = path.join(root, "out.txt");
    writeFileSync(file, "hello");
    await client.bridge.call("sendFile", companion, eveJid, file);
    await eve.waitFor(/<si [^>]*profile="http:\/\/jabber.org\/protocol\/si\/profile\/file-transfer"[\s\S]*?<\/iq>/, 15_000);
    const offer = elements(eve.received, "iq").find((e) => e.getChild("si", "http://jabber.org/protocol/si") && e.attrs.from === full)!;
    const values = offer.toString().match(/<value>[^<]*<\/value>/g) ?? [];
    expect(values).toEqual([`<value>${NS_IBB}</value>`]);
  });

  test("idle: the companion's presence carries no idle time", async () => {
    const before = await goIdle();
    const after = presencesFromCompanion();
    expect(after.length).toBeGreaterThan(before);
    for (const p of after) {
      expect(p.getChild("query", "jabber:iq:last")).toBeUndefined();
      expect(p.getChild("idle", "urn:xmpp:idle:1")).toBeUndefined();
    }
    const last = await ask("get", "<query xmlns='jabber:iq:last'/>");
    expect(last.attrs.type).toBe("error");
    await client.bridge.call("setIdle", companion, 0);
  });

  test("disco#info: none of the refused features, and the caps ver in presence is its hash", async () => {
    const answer = await ask("get", `<query xmlns='${NS_DISCO_INFO}'/>`);
    expect(answer.attrs.type).toBe("result");
    const query = answer.getChild("query", NS_DISCO_INFO)!;
    const features = query.getChildren("feature").map((f) => String(f.attrs.var));
    expect(features).toContain(NS_IBB);
    for (const f of features) for (const re of HIDDEN) expect(f).not.toMatch(re);
    const c = presencesFromCompanion().at(-1)!.getChild("c", NS_CAPS)!;
    expect(c.attrs.ext).toBeUndefined();
    expect(c.attrs.ver).toBe(capsVer(query));
  });

  test("setIcon: the avatar reaches the contact inline, as a vCard photo announced by hash", async () => {
    // A 1x1 PNG.
    const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
    const file = path.join(root, "me.png");
    writeFileSync(file, png);
    const sha1 = createHash("sha1").update(png).digest("hex");
    await client.bridge.call("setIcon", companion, file);
    await eve.waitFor(new RegExp(`<photo>${sha1}</photo>`), 15_000);
    const vcard = await ask("get", "<vCard xmlns='vcard-temp'/>", bareOf(companion));
    const binval = vcard.getChild("vCard", "vcard-temp")?.getChild("PHOTO")?.getChildText("BINVAL") ?? "";
    expect(Buffer.from(binval.replace(/\s+/g, ""), "base64").equals(png)).toBe(true);
  });

  test("share_idle on: the user chose to tell, and libpurple's idle answers come back", async () => {
    await client.bridge.call("setPref", "/plugins/core/core-purple-onion/share_idle", true);
    try {
      await goIdle();
      expect(presencesFromCompanion().at(-1)?.getChild("query", "jabber:iq:last")?.attrs.seconds).toMatch(/^\d+$/);
      const last = await ask("get", "<query xmlns='jabber:iq:last'/>");
      expect(last.attrs.type).toBe("result");
      const info = await ask("get", `<query xmlns='${NS_DISCO_INFO}'/>`);
      expect(info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var)).toContain("jabber:iq:last");
    } finally {
      await client.bridge.call("setIdle", companion, 0);
      await client.bridge.call("setPref", "/plugins/core/core-purple-onion/share_idle", false);
    }
  });

  test("a resource the user set to __HOSTNAME__ or to one holding the host name is put back to onion before sign-on", async () => {
    const bareJid = bareOf(companion);
    const host = hostname().split(".")[0]!;
    const state = async (): Promise<{ username: string; state: string } | undefined> =>
      (await client.accounts()).find((a) => a.username.startsWith(`${bareJid}/`));
    for (const resource of ["__HOSTNAME__", `${host}-laptop`]) {
      // As in Pidgin's account editor: the resource field edited, the account reconnected.
      const renamed = { username: `${bareJid}/${resource}`, protocol: "prpl-jabber" };
      await client.bridge.call("setUsername", companion, renamed.username);
      await client.bridge.call("setEnabled", renamed, false);
      for (let deadline = Date.now() + 10_000; (await state())?.state !== "disconnected"; ) {
        if (Date.now() > deadline) throw new Error(`the companion did not go offline: ${JSON.stringify(await state())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const seen = eve.received.length;
      await client.bridge.call("setEnabled", renamed, true);
      for (let deadline = Date.now() + 15_000; (await state())?.state !== "connected"; ) {
        if (Date.now() > deadline) throw new Error(`the companion did not sign on again: ${JSON.stringify(await state())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await state())!.username).toBe(full);
      // The resource it bound is the one its presence comes from.
      for (let deadline = Date.now() + 10_000; !eve.received.slice(seen).includes(`from="${full}"`); ) {
        if (Date.now() > deadline) throw new Error(`no presence from ${full} after it signed on again`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const after = eve.received.slice(seen);
      expect(after.toLowerCase()).not.toContain(host.toLowerCase());
      expect(after).not.toContain("__HOSTNAME__");
    }
  }, 60_000);

  test("network prefs: off while the companion is in use, the user's again after untick, off again, restored at unload", async () => {
    const prefs = async () => [
      await client.bridge.call("getPref", "/purple/network/map_ports"),
      await client.bridge.call("getPref", "/purple/network/auto_ip"),
      await client.bridge.call("getPref", "/purple/network/stun_server"),
    ];
    expect(await prefs()).toEqual([false, false, ""]);
    await client.tick(X, false);
    await client.bridge.waitFor("account-disabled", (e) => e.account.username === full, 10_000, "the companion to go");
    await new Promise((r) => setTimeout(r, 300));
    expect(await prefs()).toEqual([true, true, "127.0.0.1"]);
    await client.tick(X, true);
    await client.companionSignedOn(X, 30_000);
    expect(await prefs()).toEqual([false, false, ""]);
    expect(await client.bridge.call("unloadPlugin", "core-purple-onion")).toBe(true);
    expect(await prefs()).toEqual([true, true, "127.0.0.1"]);
  }, 60_000);

  const connections = new Map<Server, number>();
  async function listener(): Promise<Server> {
    const server = createServer((s) => {
      connections.set(server, (connections.get(server) ?? 0) + 1);
      s.destroy();
    });
    connections.set(server, 0);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return server;
  }
  const port = (s: Server): number => (s.address() as { port: number }).port;
});
