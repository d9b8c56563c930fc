// The private Tor network harness itself (test/support/tornet): one network
// for the whole file (starting one costs ~10 s), stopped in afterAll.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MiniControl } from "../support/tornet/control.js";
import { connectToOnion, roundTrip, socksConnect, startEchoServer, type EchoServer } from "../support/tornet/onion-probe.js";
import { freePorts } from "../support/tornet/ports.js";
import { PortInUseError, TorProcess } from "../support/tornet/tor-process.js";
import { RELAYS, startTorNet, type TorNet, type TorNetClient } from "../support/tornet/tornet.js";
import { requires } from "../support/requires.js";
import { isAlive, torE2eScenarios } from "../support/tor-e2e-scenarios.js";
import { federationScenarios } from "../support/federation-scenarios.js";
import { pluginScenarios } from "../support/plugin-scenarios.js";
import { privacyScenarios } from "../support/privacy-scenarios.js";
import { prosodyScenarios } from "../support/prosody-scenarios.js";
import { prosodyMucScenarios } from "../support/prosody-muc-scenarios.js";

const ONION_PORT = 5269;

let net: TorNet | undefined;
let startMs = 0;
let echo: EchoServer | undefined;
let onion: { control: MiniControl; serviceId: string } | undefined;

function theNet(): TorNet {
  if (!net) throw new Error("the network did not start (see beforeAll)");
  return net;
}

function client(name: string): TorNetClient {
  const found = theNet().clients.find((c) => c.name === name);
  if (!found) throw new Error(`no client ${name}`);
  return found;
}

/** PIDs of processes whose command line mentions `dir`. */
function torsUnder(dir: string): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** An onion service on client1 forwarding ONION_PORT to the echo server, published. */
async function ensureOnion(): Promise<{ control: MiniControl; serviceId: string }> {
  if (onion) return onion;
  echo ??= await startEchoServer();
  const c1 = client("client1");
  const control = await MiniControl.connect(c1.controlPort, c1.cookieFile);
  await control.command("SETEVENTS HS_DESC");
  // The service lives as long as this control connection.
  const serviceId = await control.addOnion(ONION_PORT, echo.port, 30_000);
  onion = { control, serviceId };
  return onion;
}

requires("tornet").describe("private Tor network", () => {
  beforeAll(async () => {
    const started = Date.now();
    net = await startTorNet({ clients: 2 });
    startMs = Date.now() - started;
  }, 120_000);

  afterAll(async () => {
    onion?.control.close();
    echo?.close();
    // A figure for every run: whether the network itself stayed whole while the tests used it.
    if (net) console.log(`tornet health: ${net.health()}`);
    await net?.stop();
  }, 30_000);

  test(`starts an authority, ${RELAYS} relays and 2 bootstrapped clients on distinct loopback ports`, () => {
    const tornet = theNet();
    // Figures for the report: start time on this machine and memory.
    const rss = tornet.rssKb();
    console.log(`tornet: started in ${startMs} ms; RSS ${JSON.stringify(rss)} kB`);
    expect(Object.keys(rss).sort()).toEqual(["authority", "client1", "client2", ...Array.from({ length: RELAYS }, (_, i) => `relay${i + 1}`)]);
    expect(tornet.clients.map((c) => c.name)).toEqual(["client1", "client2"]);
    const ports = tornet.clients.flatMap((c) => [c.socksPort, c.controlPort]);
    expect(new Set(ports).size).toBe(4);
    for (const c of tornet.clients) {
      expect(isAlive(c.pid)).toBe(true);
      expect(existsSync(c.cookieFile)).toBe(true);
      expect(c.dataDir.startsWith(tornet.dir)).toBe(true);
      expect(existsSync(c.torrcPath)).toBe(true);
    }
  });

  test("clientTorrcLines() has the network's settings and nothing local", () => {
    const lines = theNet().clientTorrcLines();
    expect(lines).toContain("TestingTorNetwork 1");
    expect(lines).toContain("UseDefaultFallbackDirs 0");
    // A tor that joins (the plugin's launched one) gets the fixed circuit build timeout too (torrc.ts).
    expect(lines).toEqual(expect.arrayContaining(["LearnCircuitBuildTimeout 0", "CircuitBuildTimeout 10"]));
    expect(lines.filter((l) => /^DirAuthority tnauth orport=\d+ no-v2 v3ident=[0-9A-F]{40} 127\.0\.0\.1:\d+ [0-9A-F]{40}$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^(DataDirectory|SocksPort|ControlPort|Log|ORPort|__OwningControllerProcess)\b/.test(l))).toEqual([]);
  });

  test("a new tor given only clientTorrcLines() bootstraps and reaches an onion on client1", async () => {
    const tornet = theNet();
    const dir = join(tornet.dir, "newcomer");
    mkdirSync(join(dir, "data"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "empty.torrc"), "");
    const [socksPort] = await freePorts(1);
    const newcomer = new TorProcess({
      name: "newcomer",
      torrcPath: join(dir, "torrc"),
      // What a launcher adds: its own DataDirectory, ports and log.
      torrcLines: [...tornet.clientTorrcLines(), `DataDirectory ${join(dir, "data")}`, `SocksPort 127.0.0.1:${socksPort} ExtendedErrors`, `Log notice file ${join(dir, "log")}`],
      logFile: join(dir, "log"),
      stdoutFile: join(dir, "stdout"),
      emptyTorrc: join(dir, "empty.torrc"),
      ports: [socksPort!],
    });
    try {
      // Publishing the onion and bootstrapping the newcomer overlap.
      const [{ serviceId }] = await Promise.all([
        ensureOnion(),
        newcomer.start(20_000).then(() => newcomer.waitForLog((l) => /Bootstrapped 100%/.test(l), 30_000, "Bootstrapped 100%")),
      ]);
      const socket = await connectToOnion(socksPort!, `${serviceId}.onion`, ONION_PORT);
      try {
        expect((await roundTrip(socket, Buffer.from("newcomer"))).toString()).toBe("newcomer");
      } finally {
        socket.destroy();
      }
    } finally {
      await newcomer.stop();
    }
  }, 60_000);

  test("an onion service added on client1 echoes through client2's SOCKS port", async () => {
    const { serviceId } = await ensureOnion();
    const socket = await connectToOnion(client("client2").socksPort, `${serviceId}.onion`, ONION_PORT);
    try {
      const before = echo!.received();
      const payload = randomBytes(64 * 1024);
      const answer = await roundTrip(socket, payload);
      expect(echo!.received() - before).toBe(payload.length);
      expect(answer.equals(payload)).toBe(true);
    } finally {
      socket.destroy();
    }
  }, 60_000);

  test("stopClient/startClient: a client comes back on the same ports, bootstrapped, and reaches the onion", async () => {
    const tornet = theNet();
    const { serviceId } = await ensureOnion();
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const before = client("client2");
      await tornet.stopClient("client2", signal);
      expect(isAlive(before.pid)).toBe(false);
      await expect(socksConnect(before.socksPort, `${serviceId}.onion`, ONION_PORT)).rejects.toThrow(/ECONNREFUSED/);

      const after = await tornet.startClient("client2");
      expect(after.pid).not.toBe(before.pid);
      expect(isAlive(after.pid)).toBe(true);
      expect({ ...after, pid: 0 }).toEqual({ ...before, pid: 0 });
      expect(client("client2")).toEqual(after);
      await tornet.waitBootstrapped("client2", 1000);

      // A clean-clone CI run saw the first rendezvous of a restarted client take over 20 s.
      const socket = await connectToOnion(after.socksPort, `${serviceId}.onion`, ONION_PORT, 60_000);
      try {
        const payload = Buffer.from(`after ${signal}`);
        expect((await roundTrip(socket, payload)).toString()).toBe(`after ${signal}`);
      } finally {
        socket.destroy();
      }
    }
  }, 180_000);

  test("startClient refuses a client that is running; unknown names are errors", async () => {
    await expect(theNet().startClient("client1")).rejects.toThrow(/already running/);
    await expect(theNet().stopClient("client9")).rejects.toThrow(/no tornet client named client9/);
  });

  // The end-to-end tests of purple-onion itself share this network (one per test run).
  describe("purple-onion on it", () => torE2eScenarios(theNet));

  // Federation between daemons, and a hostile server (federation-scenarios.ts). Only these,
  // on a network of their own run: npm run test:federation (jest -t federation).
  describe("federation", () => federationScenarios(theNet));

  describe("prosody", () => prosodyScenarios(theNet));

  requires("native").describe("plugin", () => pluginScenarios(theNet));

  requires("native", "prosody-onions").describe("group chat over tor", () => prosodyMucScenarios(theNet));

  // The client behind the onion leaks nothing (privacy-scenarios.ts): npm run test:privacy.
  requires("native", "strace").describe("privacy", () => privacyScenarios(theNet));
});

requires("tornet").describe("tor processes of the harness", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "purple-onion-tornet-proc-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function torProcess(lines: string[], ports: number[]): TorProcess {
    // --defaults-torrc must name an existing (empty) file.
    const empty = join(dir, "empty.torrc");
    writeFileSync(empty, "");
    return new TorProcess({
      name: "probe",
      torrcPath: join(dir, "probe.torrc"),
      torrcLines: [
        `DataDirectory ${join(dir, "data")}`,
        `Log notice file ${join(dir, "probe.log")}`,
        // Listeners only open with the network enabled: a dead authority
        // (port 1) and no fallbacks keep this tor on loopback.
        "TestingTorNetwork 1",
        `DirAuthority dead orport=1 no-v2 v3ident=${"F".repeat(40)} 127.0.0.1:1 ${"F".repeat(40)}`,
        "UseDefaultFallbackDirs 0",
        ...lines,
      ],
      logFile: join(dir, "probe.log"),
      stdoutFile: join(dir, "probe.stdout"),
      emptyTorrc: empty,
      ports,
    });
  }

  test("a tor that cannot start fails with the tail of its output", async () => {
    const tor = torProcess(["SocksPort 0", "NoSuchOption 1"], []);
    await expect(tor.start(10_000)).rejects.toThrow(/Unknown option 'NoSuchOption'/);
    expect(tor.running).toBe(false);
  });

  test("a network that cannot start in time stops every tor it started and says why", async () => {
    const netDir = join(dir, "net");
    const error: unknown = await startTorNet({ dir: netDir, timeoutMs: 700 }).then(
      () => new Error("started in 0.7 s?"),
      (err: unknown) => err,
    );
    expect(String(error)).toMatch(/the private Tor network did not start: .*(within \d+ ms|consensus does not list)/);
    expect(String(error)).toMatch(/--- \S+\.log \(last 25 lines\) ---\n.*\[notice\]/);
    if (process.env.PURPLE_ONION_TORNET_KEEP !== "1") expect(existsSync(netDir)).toBe(false);
    expect(torsUnder(netDir)).toEqual([]);
  });

  test("a port taken by someone else is reported as PortInUseError", async () => {
    const [port] = await freePorts(1);
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const tor = torProcess([`SocksPort 127.0.0.1:${port}`], [port!]);
      await expect(tor.start(10_000)).rejects.toBeInstanceOf(PortInUseError);
      expect(tor.running).toBe(false);
    } finally {
      squatter.close();
    }
  });
});
