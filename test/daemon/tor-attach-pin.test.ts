// The daemon and its pinned tor, end to end through the CLI: attaching pins,
// status shows it, a daemon restarted with another endpoint refuses it (and
// says how to repin), `purple-onion tor repin` accepts the new one. Launch
// mode: tor's control and SOCKS listeners are Unix sockets (tor has no TCP
// listener at all), and a bootstrap problem is explained in words, logged
// once, without the relay's address.
import { jest } from "@jest/globals";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { StatusResult } from "../../src/daemon/control-protocol.js";
import { readSocketTables, TCP_STATE } from "../../src/net/socket-owner.js";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { startRealTor, type RealTor } from "../support/real-tor.js";
import { requires } from "../support/requires.js";

// Tors and daemons start as processes.
jest.setTimeout(60_000);

async function status(d: DaemonProcess): Promise<StatusResult> {
  const r = await d.cli("status", "--json");
  if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusResult;
}

async function waitStatus(d: DaemonProcess, what: string, ok: (s: StatusResult) => boolean, timeoutMs = 30_000): Promise<StatusResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(d);
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}: ${JSON.stringify(s.tor)}\n${d.output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

requires("tor").describe("attach mode: the pin", () => {
  let torA: RealTor;
  let torB: RealTor;
  let dir: string;
  const daemons: DaemonProcess[] = [];
  beforeAll(async () => {
    [torA, torB] = await Promise.all([startRealTor({ auth: "cookie" }), startRealTor({ auth: "cookie" })]);
    dir = tempDataDir();
  }, 30_000);
  afterAll(async () => {
    for (const d of daemons) await d.stop("SIGKILL");
    await Promise.all([torA?.stop(), torB?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });
  async function daemon(control: string): Promise<DaemonProcess> {
    const d = new DaemonProcess(dir, ["--tor", "attach", "--tor-control", control]);
    daemons.push(d);
    await d.start();
    return d;
  }

  test("the first connection pins tor; status shows what is trusted", async () => {
    const d = await daemon(`127.0.0.1:${torA.control.port}`);
    const s = await waitStatus(d, "tor is connected", (x) => x.tor.state === "bootstrapping" || x.tor.state === "ready");
    expect(s.tor.pin).toMatchObject({ control: `127.0.0.1:${torA.control.port}`, auth: "SAFECOOKIE", cookieFile: torA.cookieFile, user: expect.stringMatching(/uid 0\)$|^uid 0$/) });
    const text = await d.cli("status");
    expect(text.stdout).toMatch(new RegExp(`trusted: 127\\.0\\.0\\.1:${torA.control.port}, SAFECOOKIE with ${torA.cookieFile!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, tor runs as`));
    await d.stop();
  });

  test("restarted with another tor's endpoint: refused, nothing sent, and status says to repin", async () => {
    const d = await daemon(`127.0.0.1:${torB.control.port}`);
    const s = await waitStatus(d, "the daemon refuses the other tor", (x) => x.tor.state === "disconnected" && /pinned/.test(x.tor.error ?? ""));
    expect(s.tor.error).toMatch(/configured as 127\.0\.0\.1:\d+, but the pinned one is 127\.0\.0\.1:\d+; nothing was sent: if you reconfigured tor on purpose, run 'purple-onion tor repin'/);
    // torB never saw a control connection from us.
    expect(torB.logTail(200)).not.toMatch(/New control connection opened/);
  });

  test("'purple-onion tor repin' trusts the tor that answers now", async () => {
    const d = daemons.at(-1)!;
    const r = await d.cli("tor", "repin");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Was pinned:  127\\.0\\.0\\.1:${torA.control.port}, SAFECOOKIE`));
    expect(r.stdout).toMatch(new RegExp(`Now pinned:  127\\.0\\.0\\.1:${torB.control.port}, SAFECOOKIE`));
    const s = await waitStatus(d, "connected to the new tor", (x) => x.tor.state === "bootstrapping" || x.tor.state === "ready");
    expect(s.tor.pin?.control).toBe(`127.0.0.1:${torB.control.port}`);
  });
});

requires("tor").describe("launch mode", () => {
  let dir: string;
  let appendDir: string;
  let d: DaemonProcess;
  beforeAll(async () => {
    dir = tempDataDir();
    appendDir = mkdtempSync(path.join(tmpdir(), "po-append-"));
    // A network whose only directory authority refuses connections: tor cannot bootstrap,
    // and says why every second or so. Nothing here can reach the real Tor network.
    const dead = "F".repeat(40);
    writeFileSync(
      path.join(appendDir, "torrc"),
      ["TestingTorNetwork 1", `DirAuthority dead orport=1 no-v2 v3ident=${dead} 127.0.0.1:1 ${dead}`, "UseDefaultFallbackDirs 0", 'GeoIPFile ""', 'GeoIPv6File ""'].join("\n") + "\n",
    );
    d = new DaemonProcess(dir, ["--tor", "launch", "--tor-torrc-append", path.join(appendDir, "torrc")]);
    await d.start(30_000);
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(appendDir, { recursive: true, force: true });
  });

  test("tor's control and SOCKS listeners are Unix sockets in the 0700 tor folder; tor listens on no TCP port", async () => {
    const s = await waitStatus(d, "the launched tor is connected", (x) => x.tor.state === "bootstrapping" || x.tor.state === "ready");
    expect(s.tor.socks).toBe(`unix:${path.join(dir, "tor", "socks.sock")}`);
    expect(s.tor.pin).toMatchObject({ control: `unix:${path.join(dir, "tor", "control.sock")}`, auth: "SAFECOOKIE" });
    const torrc = readFileSync(path.join(dir, "tor", "torrc"), "utf8");
    expect(torrc).toMatch(/^ControlPort 0$/m);
    expect(torrc).toMatch(/^SocksPort unix:\S+ IsolateSOCKSAuth ExtendedErrors$/m);
    // The sockets tor holds, by inode, against the TCP table: none of them listens.
    const inodes = new Set(
      readdirSync(`/proc/${s.tor.pid}/fd`)
        .map((fd) => { try { return readlinkSync(`/proc/${s.tor.pid}/fd/${fd}`); } catch { return ""; } })
        .map((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1])
        .filter((x): x is string => !!x)
        .map(Number),
    );
    expect(inodes.size).toBeGreaterThan(0);
    const tcpListening = readSocketTables().filter((e) => e.state === TCP_STATE.LISTEN && inodes.has(e.inode));
    expect(tcpListening).toEqual([]);
  });

  test("a tor that cannot reach any relay: status says so in words; the log says it once, without the relay's address", async () => {
    const s = await waitStatus(d, "a bootstrap problem is reported", (x) => !!x.tor.bootstrap?.warning);
    expect(s.tor.bootstrap).toMatchObject({ warning: expect.stringMatching(/^tor cannot reach any relay: check the network connection/), reason: "CONNECTREFUSED" });
    expect((await d.cli("status")).stdout).toMatch(/problem: tor cannot reach any relay/);
    // tor repeats it about every second; wait until tor has said it several times.
    await waitStatus(d, "tor repeated the problem", (x) => (x.tor.bootstrap?.count ?? 0) >= 4, 30_000);
    const lines = d.output.split("\n").filter((l) => l.includes("tor cannot reach any relay"));
    expect(lines).toHaveLength(1);
    expect(d.output).not.toContain("127.0.0.1:1");
    expect(d.output).not.toContain("F".repeat(40));
  });
});
