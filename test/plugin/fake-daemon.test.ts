// purple-onion.so against a scripted daemon on the control socket, to reach what a real daemon
// never does: a c2s port held by another user (pinning), a server that offers PLAIN and
// STARTTLS (stream features rewritten), a daemon speaking another protocol version, a server
// whose identity has a name (prpl-jabber then looks up _stun._udp.<domain>).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import type { AccountRef } from "../../src/bridge/api.js";
import { addAccount, DaemonProcess, tempDataDir } from "../support/daemon.js";
import { parseStrace } from "../support/strace.js";
import { captureWrap, parseCapture } from "../support/wire-capture.js";
import { startBridgeProcess, type BridgeProcess } from "../support/bridge-process.js";
import { squatAsOtherUser } from "../support/other-user.js";
import { NATIVE_BUILD_DIR } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";

const PLUGIN = path.join(NATIVE_BUILD_DIR, "purple-onion.so");
const PREFS = "/plugins/core/core-purple-onion";
const ONION = "a".repeat(56);

type Handler = (op: string, args: Record<string, unknown>) => Record<string, unknown>;

/** A control socket answering with `handler`'s results (an "error" member makes it a failure). */
function fakeDaemon(dataDir: string, handler: Handler, events: (op: string) => object[] = () => []): Promise<{ ops: string[]; close: () => void }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const ops: string[] = [];
  const server = net.createServer((s) => {
    let buffer = "";
    s.on("data", (d) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const req = JSON.parse(buffer.slice(0, nl)) as { id: number; op: string; args?: Record<string, unknown> };
        buffer = buffer.slice(nl + 1);
        ops.push(req.op);
        const out = handler(req.op, req.args ?? {});
        s.write(JSON.stringify("error" in out ? { id: req.id, ok: false, error: out.error } : { id: req.id, ok: true, result: out }) + "\n");
        for (const e of events(req.op)) s.write(JSON.stringify(e) + "\n");
      }
    });
    s.on("error", () => undefined);
  });
  return new Promise((resolve) => server.listen(path.join(dataDir, "control.sock"), () => resolve({ ops, close: () => server.close() })));
}

const ensureAt = (port: number): Handler => (op) => {
  if (op === "hello") return { protocol: 1, pid: 1 };
  if (op === "status") return { c2s: { host: "127.0.0.1", port }, tor: { mode: "none" }, accounts: [] };
  if (op === "account.ensure") return { jid: `ubbbbbbbbbb@${ONION}.onion`, host: "127.0.0.1", port, onion: `${ONION}.onion`, created: true, password: "pw-from-daemon" };
  return {};
};

async function tickedClient(root: string, name: string, opts: { wrap?: string[]; debug?: boolean } = {}): Promise<BridgeProcess> {
  const bridge = await startBridgeProcess({ home: path.join(root, name), name, ...opts });
  await bridge.call("setPref", "/purple/network/stun_server", "127.0.0.1");
  await bridge.call("loadPlugin", PLUGIN);
  await bridge.call("setPref", `${PREFS}/data_dir`, path.join(root, `${name}-d`));
  await bridge.call("setPref", `${PREFS}/ask_localpart`, false);
  const x: AccountRef = { username: `${name}@example.org/pidgin` };
  await bridge.call("addAccount", x);
  await bridge.call("setSetting", x, "connect_server", "127.0.0.1");
  await bridge.call("setSetting", x, "port", 9); // discard: nothing listens
  await bridge.call("start");
  await bridge.call("setSetting", x, "onion_federation", true);
  return bridge;
}

describe("purple-onion plugin against a scripted daemon", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-fake-"));
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(root, { recursive: true, force: true });
  });

  requires("native", "other-user").test("a c2s port held by another user: the companion is not enabled and nothing is sent there", async () => {
    const probe = net.createServer();
    const port = await new Promise<number>((r) => probe.listen(0, "127.0.0.1", () => r((probe.address() as net.AddressInfo).port)));
    await new Promise((r) => probe.close(r));
    const squatter = await squatAsOtherUser(port);
    cleanups.push(() => squatter.stop());
    const daemon = await fakeDaemon(path.join(root, "pin-d"), ensureAt(port));
    cleanups.push(daemon.close);
    const bridge = await tickedClient(root, "pin");
    cleanups.push(() => bridge.stop());
    const notice = await bridge.waitFor("notify", (n) => n.primary === "The onion account was not signed on", 15_000, "the refusal");
    expect(notice.secondary).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} is held by another user \\(uid \\d+\\)`));
    const companion = (await bridge.call("accounts")).find((a) => a.username.endsWith(".onion/onion"));
    expect(companion).toMatchObject({ enabled: false, state: "disconnected" });
    await new Promise((r) => setTimeout(r, 500));
    expect(squatter.connections()).toBe(0);
  }, 30_000);

  requires("native").test("a server offering STARTTLS and PLAIN: libpurple sees SCRAM only and never picks PLAIN", async () => {
    let received = "";
    const xmpp = net.createServer((s) => {
      s.on("data", (d) => {
        const text = d.toString();
        received += text;
        if (text.includes("<stream:stream")) {
          s.write(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='" +
              `${ONION}.onion' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` +
              "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>DIGEST-MD5</mechanism>" +
              "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
          );
        }
        if (text.includes("<auth")) s.end("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure></stream:stream>");
      });
      s.on("error", () => undefined);
    });
    const port = await new Promise<number>((r) => xmpp.listen(0, "127.0.0.1", () => r((xmpp.address() as net.AddressInfo).port)));
    cleanups.push(() => xmpp.close());
    const daemon = await fakeDaemon(path.join(root, "feat-d"), ensureAt(port));
    cleanups.push(daemon.close);
    const bridge = await tickedClient(root, "feat");
    cleanups.push(() => bridge.stop());
    const deadline = Date.now() + 15_000;
    while (!received.includes("<auth") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(received).toMatch(/<auth [^>]*mechanism=['"]SCRAM-SHA-1['"]/);
    expect(received).not.toContain("<starttls");
    expect(received).not.toMatch(/mechanism=['"](PLAIN|DIGEST-MD5)['"]/);
  }, 30_000);

  // disco.c (jabber_disco_server_info_result_cb): when the server's server/im identity has a name
  // and no STUN server is set, prpl-jabber asks DNS for _stun._udp.<domain>. Our daemon's identity
  // has no name; a proxy in front of a real daemon adds one, so the plugin cannot rely on that.
  requires("native", "strace").test("a server identity with a name: the _stun._udp SRV lookup of the onion is refused, nothing reaches DNS", async () => {
    const realDir = tempDataDir();
    const real = new DaemonProcess(realDir);
    cleanups.push(() => real.stop());
    cleanups.push(() => rmSync(realDir, { recursive: true, force: true }));
    await real.start();
    const account = await addAccount(realDir, "stun");
    let named = 0;
    const proxy = net.createServer((client) => {
      const upstream = net.connect(account.port, "127.0.0.1");
      client.pipe(upstream);
      upstream.on("data", (d: Buffer) => {
        const text = d.toString();
        const renamed = text.replace(/<identity category="server" type="im"\/>/g, () => {
          named++;
          return '<identity category="server" type="im" name="A named server"/>';
        });
        client.write(renamed);
      });
      for (const s of [client, upstream]) s.on("error", () => undefined);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    const port = await new Promise<number>((r) => proxy.listen(0, "127.0.0.1", () => r((proxy.address() as net.AddressInfo).port)));
    cleanups.push(() => proxy.close());
    const domain = account.jid.split("@")[1]!;
    const daemon = await fakeDaemon(path.join(root, "stun-d"), (op) => {
      if (op === "hello") return { protocol: 1, pid: 1 };
      if (op === "status") return { c2s: { host: "127.0.0.1", port }, tor: { mode: "none" }, accounts: [] };
      if (op === "account.ensure") return { jid: account.jid, host: "127.0.0.1", port, onion: domain, created: true, password: account.password };
      return {};
    });
    cleanups.push(daemon.close);
    const trace = path.join(root, "stun.trace");
    const bridge = await tickedClient(root, "stun", { wrap: captureWrap(trace), debug: true });
    cleanups.push(() => bridge.stop());
    await bridge.waitFor("signed-on", (e) => e.account.username.startsWith(account.jid), 20_000, "the companion to sign on");
    const deadline = Date.now() + 15_000;
    while (!bridge.stderr().includes(`refusing a DNS SRV/TXT lookup of _stun._udp.${domain}`)) {
      if (Date.now() > deadline) throw new Error(`no refused _stun._udp lookup (identities renamed: ${named})\n${bridge.stderr().split("\n").slice(-30).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(named).toBeGreaterThan(0);
    const text = readFileSync(trace, "utf8");
    const seen = parseStrace(text);
    expect({ dns: seen.dnsConnects, dnsSends: seen.dnsSends, outside: seen.nonLoopback, hostsFiles: parseCapture(text).resolverFiles }).toEqual({ dns: [], dnsSends: 0, outside: [], hostsFiles: [] });
  }, 60_000);

  requires("native").test("a daemon speaking another protocol: the user is told how to stop it", async () => {
    const daemon = await fakeDaemon(path.join(root, "proto-d"), (op) => (op === "hello" ? { protocol: 2, pid: 1 } : {}));
    cleanups.push(daemon.close);
    const bridge = await tickedClient(root, "proto");
    cleanups.push(() => bridge.stop());
    const notice = await bridge.waitFor("notify", (n) => n.primary === "The purple-onion daemon is a different version", 15_000, "the version notice");
    expect(notice.secondary).toBe(
      `the running purple-onion daemon speaks protocol 2, this plugin 1: stop it with \`purple-onion stop --data-dir ${path.join(root, "proto-d")}\` and tick again`,
    );
    expect(daemon.ops).not.toContain("account.ensure");
  }, 30_000);

  requires("native").test("Cancel at the name question unticks X, asks the daemon nothing and writes no key", async () => {
    const daemon = await fakeDaemon(path.join(root, "cancel-d"), ensureAt(1));
    cleanups.push(daemon.close);
    const bridge = await startBridgeProcess({ home: path.join(root, "cancel"), name: "cancel" });
    cleanups.push(() => bridge.stop());
    await bridge.call("loadPlugin", PLUGIN);
    await bridge.call("setPref", `${PREFS}/data_dir`, path.join(root, "cancel-d"));
    const x: AccountRef = { username: "dave@example.org/pidgin" };
    await bridge.call("addAccount", x);
    await bridge.call("start");
    await bridge.call("setSetting", x, "onion_federation", true);
    const ask = await bridge.waitFor("request", (r) => r.kind === "action", 5_000, "the name question");
    expect(ask.choices).toEqual(["Random name (recommended)", 'Use "dave"', "Cancel"]);
    await bridge.call("answerRequest", ask.id, 2);
    await bridge.waitFor("request-closed", (r) => r.id === ask.id, 5_000, "the question to close");
    expect(await bridge.call("getSetting", x, "onion_federation", "bool")).toBe(false);
    expect(await bridge.call("getSetting", x, "purple_onion_key", "string")).toBeNull();
    await new Promise((r) => setTimeout(r, 1_500)); // a scan or two: nothing more happens
    expect(daemon.ops).toEqual([]);
    expect((await bridge.call("accounts")).map((a) => a.username)).toEqual([x.username]);
  }, 30_000);

  requires("native").test("tor problems from tor.changed: told once per distinct message, with what to do", async () => {
    const missing = "tor is not installed (no 'tor' on PATH)";
    const warning = "tor cannot reach any relay: check the network connection";
    const tor = (state: string, extra: object) => ({ event: "tor.changed", data: { mode: "launch", state, ...extra } });
    const daemon = await fakeDaemon(path.join(root, "tor-d"), ensureAt(1), (op) =>
      op === "subscribe"
        ? [
            tor("failed", { error: missing }),
            tor("failed", { error: missing }),
            tor("bootstrapping", { bootstrap: { progress: 5, summary: "Connecting", warning } }),
            tor("bootstrapping", { bootstrap: { progress: 5, summary: "Connecting", warning } }),
            { event: "some.future.event", data: {} },
          ]
        : [],
    );
    cleanups.push(daemon.close);
    const bridge = await tickedClient(root, "tor");
    cleanups.push(() => bridge.stop());
    await bridge.waitFor("notify", (n) => n.primary === "Tor cannot connect yet", 15_000, "the bootstrap warning");
    await new Promise((r) => setTimeout(r, 500));
    const notices = bridge.events.filter((e) => e.name === "notify").map((e) => e.data as { primary: string; secondary: string });
    expect(notices.filter((n) => n.primary === "Tor failed: onion federation is not working")).toEqual([
      expect.objectContaining({ secondary: `${missing} (install it: apt-get install tor)` }),
    ]);
    expect(notices.filter((n) => n.primary === "Tor cannot connect yet")).toEqual([expect.objectContaining({ secondary: warning })]);
  }, 30_000);
});
