// Whom the daemon trusts as its tor, and what a stranger gets: a real tor for
// the happy path and the pin, squatters run as another local user (nobody) on
// ports we point at, and scripted control ports for what tor might answer.
// The rule under test: a refused endpoint receives nothing at all (no
// PROTOCOLINFO even, when the owner is wrong; nothing secret, ever).
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { createLogger, type Logger } from "../../src/daemon/logger.js";
import { TorTrust, TorTrustError, type TorTrustConfig } from "../../src/tor/tor-trust.js";
import { memoryPinStore, parsePin, settingsPinStore, type TorPin } from "../../src/tor/tor-pin.js";
import { dialThroughTor } from "../../src/tor/socks-dialer.js";
import { listenerUids, readSocketTables, socketPeerUid, TCP_STATE } from "../../src/net/socket-owner.js";
import { startFakeTorControl, type FakeTorControl } from "../support/fake-tor-control.js";
import { squatAsOtherUser, type Squatter } from "../support/other-user.js";
import { startRealTor, type RealTor } from "../support/real-tor.js";
import { requires } from "../support/requires.js";
import { lookupUser } from "../support/prerequisites.js";
import { freePorts } from "../support/tornet/ports.js";

const me = process.getuid!();

function logger(): { log: Logger; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { log: createLogger({ level: "debug", stream }), text: () => text };
}

async function refusal(p: Promise<unknown>): Promise<TorTrustError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TorTrustError)) throw new Error(`expected a TorTrustError, got ${String(err)}`);
  return err;
}

requires("tor").describe("TorTrust with a real tor (cookie authentication)", () => {
  let tor: RealTor;
  beforeAll(async () => {
    tor = await startRealTor({ auth: "cookie", controlSocket: true });
  }, 20_000);
  afterAll(() => tor?.stop());

  test("the first connection pins endpoint, SAFECOOKIE, the cookie file and tor's uid; the next one must match", async () => {
    const pins = memoryPinStore();
    const { log, text } = logger();
    const trust = new TorTrust({ control: tor.control }, pins, log);
    const first = await trust.connect();
    first.conn.close();
    expect(first.newlyPinned).toBe(true);
    expect(first.method).toBe("SAFECOOKIE");
    expect(pins.load()).toMatchObject({ control: `127.0.0.1:${tor.control.port}`, auth: "SAFECOOKIE", cookieFile: tor.cookieFile, uid: me });
    expect(text()).toMatch(/pinned tor: later connections must match/);
    const second = await trust.connect();
    second.conn.close();
    expect(second.newlyPinned).toBe(false);
  });

  test("the Unix control socket: owner from the socket file", async () => {
    const trust = new TorTrust({ control: { path: tor.controlSocket! } }, memoryPinStore(), logger().log);
    const t = await trust.connect();
    t.conn.close();
    expect(t.torUid).toBe(me);
    expect(t.pin.control).toBe(`unix:${tor.controlSocket}`);
  });

  test("another endpoint than the pinned one is refused without connecting; repin accepts it", async () => {
    const pins = memoryPinStore();
    (await new TorTrust({ control: tor.control }, pins, logger().log).connect()).conn.close();
    const other = await startFakeTorControl();
    try {
      const trust = new TorTrust({ control: other.target }, pins, logger().log);
      const err = await refusal(trust.connect());
      expect(err.reason).toBe("pin-mismatch");
      expect(err.message).toMatch(/purple-onion tor repin/);
      expect(other.acceptedAt).toHaveLength(0);
      trust.repin();
      expect(pins.load()).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  test("the listener is replaced between the check and the connect: the peer of our very connection is checked, nothing is sent", async () => {
    // The first table read (the LISTEN check) is the real one; by the second (our connection's
    // peer) a stranger, uid 4242, owns tor's end.
    let reads = 0;
    const readSocketTable = () => {
      const table = readSocketTables();
      if (reads++ === 0) return table;
      return table.map((e) => (e.local.port === tor.control.port && e.state === TCP_STATE.ESTABLISHED ? { ...e, uid: 4242 } : e));
    };
    const trust = new TorTrust({ control: tor.control, readSocketTable, torUid: me }, memoryPinStore(), logger().log);
    const err = await refusal(trust.connect());
    expect(err.reason).toBe("wrong-owner");
    expect(err.message).toMatch(/was answered by uid 4242, not tor \(.*\); nothing was sent to it/);
    expect(reads).toBe(2);
  });

  test("a pin stored in the settings survives (and a damaged one is not trusted)", () => {
    const kv = new Map<string, string>();
    const settings = { get: (k: string) => kv.get(k), set: (k: string, v: string) => void kv.set(k, v), delete: (k: string) => kv.delete(k) };
    const pin: TorPin = { control: "127.0.0.1:9051", auth: "SAFECOOKIE", cookieFile: "/run/tor/control.authcookie", uid: 102, pinnedAt: "2026-12-01T00:00:00.000Z" };
    settingsPinStore(settings).save(pin);
    expect(settingsPinStore(settings).load()).toEqual(pin);
    expect(parsePin('{"control":"x","auth":"COOKIE","uid":1,"pinnedAt":"t"}')).toBeUndefined();
    expect(parsePin('{"control":"x","auth":"SAFECOOKIE","uid":1,"pinnedAt":"t"}')).toBeUndefined(); // no cookie path
    expect(parsePin("not json")).toBeUndefined();
  });
});

requires("other-user").describe("a squatter run by another local user", () => {
  let squatter: Squatter | undefined;
  afterEach(async () => {
    await squatter?.stop();
    squatter = undefined;
  });

  test("on the pinned control port (tor restarting): refused before connecting, it receives nothing", async () => {
    squatter = await squatAsOtherUser(0);
    const pin: TorPin = { control: `127.0.0.1:${squatter.port}`, auth: "SAFECOOKIE", cookieFile: "/nonexistent/cookie", uid: me, pinnedAt: new Date().toISOString() };
    const trust = new TorTrust({ control: { host: "127.0.0.1", port: squatter.port } }, memoryPinStore(pin), logger().log);
    const err = await refusal(trust.connect());
    expect(err.reason).toBe("wrong-owner");
    expect(err.message).toMatch(/belongs to nobody \(uid 65534\), but tor runs as .*\(pinned\)/);
    expect(err.message).toMatch(/nothing was sent/);
    expect(squatter.connections()).toBe(0);
  });

  test("on a port named by --tor-user's tor: refused the same way on the very first connection", async () => {
    squatter = await squatAsOtherUser(0);
    const config: TorTrustConfig = { control: { host: "127.0.0.1", port: squatter.port }, torUid: me };
    const err = await refusal(new TorTrust(config, memoryPinStore(), logger().log).connect());
    expect(err.reason).toBe("wrong-owner");
    expect(squatter.connections()).toBe(0);
  });

  test("on tor's SOCKS port: the listener check refuses it", async () => {
    squatter = await squatAsOtherUser(0);
    const trust = new TorTrust({ control: { host: "127.0.0.1", port: 1 } }, memoryPinStore(), logger().log);
    expect(() => trust.checkSocksListener({ host: "127.0.0.1", port: squatter!.port }, me)).toThrow(/belongs to nobody \(uid 65534\), not to tor/);
  });

  test("on tor's SOCKS port between two dials: the dialer checks the peer and sends not a byte (no credentials, no onion name)", async () => {
    squatter = await squatAsOtherUser(0);
    const onion = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";
    const err = await dialThroughTor(onion, 5269, {
      socks: { host: "127.0.0.1", port: squatter.port },
      verifyProxy: (s) => (socketPeerUid(s) === me ? undefined : `answered by uid ${socketPeerUid(s)}`),
      credentials: { username: "u", password: "p" },
      timeoutMs: 5000,
    }).catch((e: Error & { code?: string }) => e);
    expect((err as { code?: string }).code).toBe("tor-untrusted");
    expect((err as Error).message).toMatch(/answered by uid 65534; nothing was sent/);
    // Everything the connection carried is reported before its end.
    while (squatter.closed() < 1) await new Promise((r) => setTimeout(r, 20));
    expect(squatter.connections()).toBe(1);
    expect(squatter.received()).toBe("");
  });
});

requires("tor", "other-user").describe("a tor started by root that switches to debian-tor (how Debian's service runs)", () => {
  let base: string;
  let child: ChildProcess | undefined;
  let controlPort: number;
  let socksPort: number;
  let torUid: number;
  const run = () => path.join(base, "run");
  beforeAll(async () => {
    const user = lookupUser("debian-tor")!;
    torUid = user.uid;
    base = mkdtempSync(path.join(tmpdir(), "po-systor-"));
    chmodSync(base, 0o755);
    for (const [dir, mode] of [[path.join(base, "data"), 0o700], [run(), 0o2750]] as const) {
      mkdirSync(dir, { mode });
      chmodSync(dir, mode);
      chownSync(dir, user.uid, user.gid);
    }
    [controlPort, socksPort] = (await freePorts(2)) as [number, number];
    const dead = "F".repeat(40);
    // Debian's /usr/share/tor/tor-service-defaults-torrc, with our paths, plus a TCP ControlPort.
    // Its only directory authority refuses connections: nothing leaves 127.0.0.1.
    writeFileSync(
      path.join(base, "torrc"),
      [
        `DataDirectory ${path.join(base, "data")}`,
        "User debian-tor",
        `ControlSocket ${path.join(run(), "control")} GroupWritable RelaxDirModeCheck`,
        "ControlSocketsGroupWritable 1",
        `SocksPort unix:${path.join(run(), "socks")} WorldWritable`,
        `SocksPort 127.0.0.1:${socksPort}`,
        `ControlPort 127.0.0.1:${controlPort}`,
        "CookieAuthentication 1",
        "CookieAuthFileGroupReadable 1",
        `CookieAuthFile ${path.join(run(), "control.authcookie")}`,
        `Log notice file ${path.join(run(), "log")}`,
        "TestingTorNetwork 1",
        `DirAuthority dead orport=1 no-v2 v3ident=${dead} 127.0.0.1:1 ${dead}`,
        "UseDefaultFallbackDirs 0",
        `__OwningControllerProcess ${process.pid}`,
      ].join("\n") + "\n",
      { mode: 0o644 },
    );
    child = spawn("/usr/sbin/tor", ["-f", path.join(base, "torrc"), "--defaults-torrc", "/dev/null"], { stdio: "ignore" });
    // The Unix sockets open a moment after the switch to debian-tor.
    const deadline = Date.now() + 20_000;
    while (!existsSync(path.join(run(), "control")) || !existsSync(path.join(run(), "control.authcookie"))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error("the service-like tor did not open its control socket");
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);
  afterAll(async () => {
    child?.kill("SIGKILL");
    rmSync(base, { recursive: true, force: true });
  });

  test("its TCP listeners belong to root, its Unix sockets and cookie to debian-tor", () => {
    expect(listenerUids("127.0.0.1", controlPort)).toEqual([0]);
    expect(statSync(path.join(run(), "control")).uid).toBe(torUid);
    expect(statSync(path.join(run(), "control.authcookie")).uid).toBe(torUid);
  });

  test.each(["tcp", "unix"] as const)("attached over %s, tor is pinned as debian-tor, and its SOCKS listeners pass", async (how) => {
    const control = how === "tcp" ? { host: "127.0.0.1", port: controlPort } : { path: path.join(run(), "control") };
    const trust = new TorTrust({ control }, memoryPinStore(), logger().log);
    const t = await trust.connect();
    t.conn.close();
    expect(t.torUid).toBe(torUid);
    expect(t.pin).toMatchObject({ uid: torUid, auth: "SAFECOOKIE", cookieFile: path.join(run(), "control.authcookie") });
    expect(() => trust.checkSocksListener({ host: "127.0.0.1", port: socksPort }, torUid)).not.toThrow();
    expect(() => trust.checkSocksListener({ path: path.join(run(), "socks") }, torUid)).not.toThrow();
    // Reconnecting with the pin works the same.
    (await trust.connect()).conn.close();
  });
});

describe("what tor offers, against the policy (scripted control ports)", () => {
  let dir: string;
  let fake: FakeTorControl | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "po-trust-"));
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const offering = (methods: string, cookieFile?: string) => (line: string) =>
    line.startsWith("PROTOCOLINFO")
      ? `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods}${cookieFile ? ` COOKIEFILE="${cookieFile}"` : ""}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`
      : undefined;

  test("tor names another cookie file than the pinned one: refused after PROTOCOLINFO, the cookie is never used", async () => {
    fake = await startFakeTorControl(offering("SAFECOOKIE", "/somewhere/else/cookie"));
    const where = fake.target as { host: string; port: number };
    const pin: TorPin = { control: `127.0.0.1:${where.port}`, auth: "SAFECOOKIE", cookieFile: path.join(dir, "cookie"), uid: me, pinnedAt: "t" };
    const err = await refusal(new TorTrust({ control: where }, memoryPinStore(pin), logger().log).connect());
    expect(err.reason).toBe("pin-mismatch");
    expect(err.message).toMatch(/now names its cookie file \/somewhere\/else\/cookie, but the pinned one is/);
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
  });

  test("the authentication method changed since pinning (tor now wants a password): refused, says to repin", async () => {
    fake = await startFakeTorControl(offering("HASHEDPASSWORD"));
    const where = fake.target as { host: string; port: number };
    const pin: TorPin = { control: `127.0.0.1:${where.port}`, auth: "SAFECOOKIE", cookieFile: path.join(dir, "cookie"), uid: me, pinnedAt: "t" };
    const err = await refusal(new TorTrust({ control: where }, memoryPinStore(pin), logger().log).connect());
    expect(err.reason).toBe("pin-mismatch");
    expect(err.message).toMatch(/tor repin/);
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
  });

  test("a TCP control port without authentication is refused, configured or not", async () => {
    fake = await startFakeTorControl(offering("NULL"));
    const where = fake.target as { host: string; port: number };
    const unconfigured = await refusal(new TorTrust({ control: where, torUid: me }, memoryPinStore(), logger().log).connect());
    expect(unconfigured.message).toMatch(/needs no authentication, which any local user could abuse: set CookieAuthentication 1/);
    const configured = await refusal(new TorTrust({ control: where, auth: { method: "NULL" }, torUid: me }, memoryPinStore(), logger().log).connect());
    expect(configured.message).toMatch(/without authentication over TCP/);
    for (const c of fake.connections) expect(c.lines).toEqual(["PROTOCOLINFO 1"]);
  });

  test("NULL over a Unix control socket owned by tor's uid, when configured: accepted and pinned", async () => {
    fake = await startFakeTorControl(undefined, { path: path.join(dir, "control") });
    const pins = memoryPinStore();
    const t = await new TorTrust({ control: fake.target, auth: { method: "NULL" }, torUid: me }, pins, logger().log).connect();
    t.conn.close();
    expect(t.method).toBe("NULL");
    expect(pins.load()).toMatchObject({ auth: "NULL", uid: me });
    // Later without --tor-auth none: refused.
    const err = await refusal(new TorTrust({ control: fake.target }, pins, logger().log).connect());
    expect(err.message).toMatch(/--tor-auth none is not given now/);
  });

  test("only COOKIE offered: refused with a sentence, the cookie never sent", async () => {
    fake = await startFakeTorControl(offering("COOKIE", path.join(dir, "cookie")));
    const err = await refusal(new TorTrust({ control: fake.target, torUid: me }, memoryPinStore(), logger().log).connect());
    expect(err.message).toMatch(/offers only COOKIE authentication/);
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
  });

  test("nothing listening: says so", async () => {
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const err = await refusal(new TorTrust({ control: { host: "127.0.0.1", port } }, memoryPinStore(), logger().log).connect());
    expect(err.reason).toBe("not-listening");
    expect(err.message).toMatch(/nothing listens on 127\.0\.0\.1:\d+: is tor running/);
  });
});
