// Two libpurple clients (the XMPP code Pidgin uses), each a bridge in its own process with its own
// HOME, sign on to a real purple-onion daemon (--tor none), become each other's contacts and talk.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bareJid as bare, prepareClient, type BridgeClient as Client } from "../support/bridge-clients.js";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { requires } from "../support/requires.js";

const STEP_MS = 15_000;

/** What the child spent, from /proc: CPU ticks and context switches (each one a wakeup or more). */
function procUsage(pid: number): { ticks: number; switches: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  let switches = 0;
  for (const task of ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]) {
    const m = new RegExp(`${task}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    switches += Number(m?.[1] ?? 0);
  }
  return { ticks, switches };
}

requires("native").describe("libpurple bridge: two clients on a purple-onion daemon", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-"));
  const dataDir = tempDataDir();
  const daemon = new DaemonProcess(dataDir);
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    await daemon.start();
    [alice, bob] = await Promise.all([prepareClient(dataDir, root, "alice"), prepareClient(dataDir, root, "bob")]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([alice?.bridge.stop(), bob?.bridge.stop()]);
    await daemon.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);

  test("alice signs on with a saved password", async () => {
    await alice.bridge.call("setPassword", alice.ref, alice.password);
    await alice.bridge.call("start");
    await alice.bridge.call("setEnabled", alice.ref, true);
    await alice.bridge.waitFor("signed-on", (e) => e.account.username === alice.ref.username, STEP_MS, "alice signs on");
    const [info] = await alice.bridge.call("accounts");
    expect(info).toMatchObject({ username: alice.ref.username, enabled: true, state: "connected" });
  }, 20_000);

  test("bob is asked for his password (a fields request), answers, and signs on", async () => {
    await bob.bridge.call("start");
    await bob.bridge.call("setEnabled", bob.ref, true);
    const request = await bob.bridge.waitFor("request", (r) => r.kind === "fields" && r.fields !== undefined && "password" in r.fields, STEP_MS, "the password request");
    expect(request.fields).toMatchObject({ password: null, remember: false });
    await expect(bob.bridge.call("answerRequest", request.id, { nosuchfield: "x" })).rejects.toThrow(TypeError);
    await bob.bridge.call("answerRequest", request.id, { password: bob.password, remember: false });
    await bob.bridge.waitFor("request-closed", (e) => e.id === request.id, STEP_MS, "the password request to close");
    await bob.bridge.waitFor("signed-on", (e) => e.account.username === bob.ref.username, STEP_MS, "bob signs on");
    await expect(bob.bridge.call("answerRequest", request.id, "late")).rejects.toThrow(`no such request: ${request.id}`);
  }, 20_000);

  test("they add each other, authorize, and see each other online", async () => {
    await alice.bridge.call("addBuddy", alice.ref, bob.jid, "Bob", "Friends");
    const askBob = await bob.bridge.waitFor("authorization-requested", (e) => bare(e.who) === alice.jid, STEP_MS, "alice's subscription request");
    await bob.bridge.call("respondAuthorization", askBob.id, true);
    await bob.bridge.call("addBuddy", bob.ref, alice.jid);
    const askAlice = await alice.bridge.waitFor("authorization-requested", (e) => bare(e.who) === bob.jid, STEP_MS, "bob's subscription request");
    await alice.bridge.call("respondAuthorization", askAlice.id, true);
    await alice.bridge.waitFor("buddy-signed-on", (e) => e.buddy === bob.jid, STEP_MS, "alice to see bob online");
    await bob.bridge.waitFor("buddy-signed-on", (e) => e.buddy === alice.jid, STEP_MS, "bob to see alice online");
    expect(await alice.bridge.call("buddies", alice.ref)).toEqual([{ name: bob.jid, alias: "Bob", group: "Friends", online: true }]);
    await expect(alice.bridge.call("respondAuthorization", askAlice.id, true)).rejects.toThrow("no such authorization request");
  }, 30_000);

  test("IMs go both ways, markup escaped on the way out and stripped on the way in", async () => {
    const toBob = "hello bob <b>not bold</b> & 'quotes'";
    await alice.bridge.call("sendIm", alice.ref, bob.jid, toBob);
    await alice.bridge.waitFor("sent-im", (e) => e.text === toBob, STEP_MS, "alice's sent-im");
    const got = await bob.bridge.waitFor("received-im", (e) => e.text === toBob, STEP_MS, "bob to receive alice's IM");
    expect(bare(got.who)).toBe(alice.jid);
    const toAlice = "hi alice ✓ 2 < 3";
    await bob.bridge.call("sendIm", bob.ref, got.who, toAlice);
    const back = await alice.bridge.waitFor("received-im", (e) => e.text === toAlice, STEP_MS, "alice to receive bob's IM");
    expect(bare(back.who)).toBe(bob.jid);
  }, 20_000);

  test("a burst of 300 IMs arrives complete and in order (the pump keeps up without polling)", async () => {
    const n = 300;
    const received: string[] = [];
    const off = bob.bridge.on("received-im", (e) => {
      if (e.text.startsWith("burst ")) received.push(e.text);
    });
    const started = Date.now();
    for (let i = 0; i < n; i++) void alice.bridge.call("sendIm", alice.ref, bob.jid, `burst ${i}`);
    await bob.bridge.waitFor("received-im", (e) => e.text === `burst ${n - 1}`, STEP_MS, "the last IM of the burst");
    off();
    console.log(`${n} IMs from one bridge process to another through the daemon: ${Date.now() - started} ms`);
    expect(received).toEqual(Array.from({ length: n }, (_, i) => `burst ${i}`));
  }, 20_000);

  test("bad calls throw: unknown account, wrong argument types", async () => {
    await expect(alice.bridge.call("sendIm", { username: "nobody@example.invalid" }, bob.jid, "x")).rejects.toThrow(
      "no such account: nobody@example.invalid (prpl-jabber)",
    );
    await expect(alice.bridge.call("setEnabled", { username: "nobody@example.invalid" }, true)).rejects.toThrow("no such account");
    await expect(alice.bridge.call("sendIm", alice.ref, 42 as unknown as string, "x")).rejects.toThrow(TypeError);
    await expect(alice.bridge.call("getSetting", alice.ref, "port", "float" as "int")).rejects.toThrow(TypeError);
    await expect(alice.bridge.call("addAccount", alice.ref)).rejects.toThrow("account exists");
    await expect(alice.bridge.call("addAccount", { username: "x@y", protocol: "prpl-nope" })).rejects.toThrow("unknown protocol: prpl-nope");
    expect(await alice.bridge.call("getSetting", alice.ref, "port", "int")).toBeGreaterThan(0);
    expect(await alice.bridge.call("getSetting", alice.ref, "no-such-setting", "string")).toBeNull();
  });

  test("flush writes accounts.xml and blist.xml now", async () => {
    const userDir = path.join(root, "alice", ".purple");
    await alice.bridge.call("flush");
    expect(readFileSync(path.join(userDir, "accounts.xml"), "utf8")).toContain(alice.ref.username);
    expect(readFileSync(path.join(userDir, "blist.xml"), "utf8")).toContain(bob.jid);
  });

  test("an idle signed-on client costs almost nothing (measured and printed)", async () => {
    const pid = alice.bridge.pid!;
    const before = procUsage(pid);
    const seconds = 3;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = procUsage(pid);
    const cpuPercent = ((after.ticks - before.ticks) / 100 / seconds) * 100;
    const switches = after.switches - before.switches;
    console.log(`idle bridge (signed on, one contact): ${cpuPercent.toFixed(2)} % CPU, ${switches} context switches in ${seconds} s (Node's main thread, which runs libuv and GLib)`);
    // A polling loop would show hundreds of switches; libuv + GLib timers a handful.
    expect(switches).toBeLessThan(200);
  }, 10_000);

  test("close() signs off, saves, and lets the child process exit by itself", async () => {
    const result = await bob.bridge.stop();
    expect(result).toEqual({ code: 0, signal: null, killed: false });
    expect(bob.bridge.events.some((e) => e.name === "signed-off")).toBe(true);
    expect(existsSync(path.join(root, "bob", ".purple", "accounts.xml"))).toBe(true);
    expect(await bob.bridge.stop()).toEqual(result);
    await alice.bridge.waitFor("buddy-signed-off", (e) => e.buddy === bob.jid, STEP_MS, "alice to see bob go");
  }, 20_000);
});
