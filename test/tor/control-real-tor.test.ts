// The control client against a real tor (Debian's 0.4.9), one throwaway tor per
// authentication mode, all with DisableNetwork 1 (test/support/real-tor.ts).
import { copyFileSync, symlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  TorAuthError,
  TorControlConnection,
  TorControlError,
  type ControlTarget,
  type TorReply,
} from "../../src/tor/control-connection.js";
import { parseQuotedList } from "../../src/tor/control-reply.js";
import { expandedSecretKey, generateOnionSeed, onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { eventType, parseBootstrap } from "../../src/tor/tor-events.js";
import { startRealTor, type RealTor } from "../support/real-tor.js";
import { requires } from "../support/requires.js";

const describeTor = requires("tor").describe;

const START_TIMEOUT = 20_000;

/** Connections opened by a test, closed after it. */
const opened: TorControlConnection[] = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.close();
});

async function open(target: ControlTarget): Promise<TorControlConnection> {
  const c = await TorControlConnection.connect(target);
  opened.push(c);
  return c;
}

function serviceIdOf(seed: Buffer): string {
  return onionAddressFromSeed(seed).replace(/\.onion$/, "");
}

function onionKey(seed: Buffer): { ed25519V3: string } {
  return { ed25519V3: expandedSecretKey(seed).toString("base64") };
}

async function until<T>(get: () => Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeTor("real tor with CookieAuthentication 1 (TCP and Unix socket)", () => {
  let tor: RealTor;
  const cookie = () => ({ method: "SAFECOOKIE" as const, cookieFile: tor.cookieFile! });
  beforeAll(async () => {
    tor = await startRealTor({ auth: "cookie", controlSocket: true });
  }, START_TIMEOUT);
  afterAll(async () => {
    for (const c of opened.splice(0)) c.close();
    await tor?.stop();
  });

  test("PROTOCOLINFO offers COOKIE and SAFECOOKIE and names the cookie file (we use only SAFECOOKIE)", async () => {
    const c = await open(tor.control);
    const info = await c.protocolInfo();
    expect(info.methods.sort()).toEqual(["COOKIE", "SAFECOOKIE"]);
    expect(info.cookieFile).toBe(tor.cookieFile);
    expect(info.torVersion).toMatch(/^0\.4\./);
    // Cached: tor would close the connection on a second PROTOCOLINFO before AUTHENTICATE.
    expect(await c.protocolInfo()).toBe(info);
    expect(await c.authenticate(cookie())).toBe("SAFECOOKIE");
  });

  test("SAFECOOKIE with the cookie file; GETINFO version and listeners", async () => {
    const c = await open(tor.control);
    expect(await c.authenticate(cookie())).toBe("SAFECOOKIE");
    const info = await c.getInfo("version", "net/listeners/socks", "net/listeners/control");
    expect(info["version"]).toMatch(/^0\.4\.\d+\.\d+/);
    expect(parseQuotedList(info["net/listeners/socks"]!)).toEqual([]); // SocksPort 0
    expect(parseQuotedList(info["net/listeners/control"]!)).toEqual([`127.0.0.1:${tor.control.port}`, `unix:${tor.controlSocket}`]);
  });

  test("a cookie file owned by another user is refused before anything is sent", async () => {
    const copy = join(tor.dir, "cookie-copy");
    copyFileSync(tor.cookieFile!, copy);
    const c = await open(tor.control);
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: copy, cookieOwnerUid: process.getuid!() + 1 }).catch((e: Error) => e);
    expect((err as TorAuthError).reason).toBe("cookie-unreadable");
    expect((err as Error).message).toMatch(/belongs to uid \d+, not to tor's uid/);
    expect(c.isOpen).toBe(false);
  });

  test("a symbolic link as cookie file is not followed", async () => {
    const link = join(tor.dir, "cookie-link");
    symlinkSync(tor.cookieFile!, link);
    const c = await open(tor.control);
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: link }).catch((e: Error) => e);
    expect((err as TorAuthError).reason).toBe("cookie-unreadable");
    expect((err as Error).message).toMatch(/ELOOP/);
  });

  test("the Unix control socket works the same", async () => {
    const c = await open({ path: tor.controlSocket! });
    expect(await c.authenticate(cookie())).toBe("SAFECOOKIE");
    expect((await c.getInfo("version"))["version"]).toMatch(/^0\.4\./);
  });

  test("a wrong cookie: SAFECOOKIE notices tor's hash does not match before sending anything", async () => {
    const wrong = join(tor.dir, "wrong-cookie");
    writeFileSync(wrong, randomBytes(32));
    const c = await open(tor.control);
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: wrong }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorAuthError);
    expect((err as TorAuthError).reason).toBe("server-hash-mismatch");
    expect(await c.closed).toBeUndefined(); // we closed it
  });

  test("a command before AUTHENTICATE: tor answers 514 and closes", async () => {
    const c = await open(tor.control);
    const err = await c.command("GETINFO version").catch((e: Error) => e);
    expect((err as TorControlError).status).toBe(514);
    expect((await c.closed)?.message).toMatch(/tor closed the control connection/);
  });

  test("SETEVENTS STATUS_CLIENT HS_DESC is accepted, an unknown event is a 552, and real events arrive", async () => {
    const c = await open(tor.control);
    await c.authenticate(cookie());
    await c.setEvents(["STATUS_CLIENT", "HS_DESC"]);
    const err = await c.setEvents(["BOGUS"]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorControlError);
    expect((err as TorControlError).status).toBe(552);
    // With DisableNetwork nothing bootstraps; SIGNAL events are the ones we can cause.
    // (Not NEWNYM: a tor younger than 10 s rate-limits it and sends no event at once.)
    const events: TorReply[] = [];
    c.onEvent((e) => events.push(e));
    await c.setEvents(["STATUS_CLIENT", "HS_DESC", "SIGNAL"]);
    await c.command("SIGNAL CLEARDNSCACHE");
    await until(async () => (events.length ? true : undefined));
    expect(eventType(events[0]!)).toBe("SIGNAL");
    expect(events[0]!.lines[0]!.text).toBe("SIGNAL CLEARDNSCACHE");
  });

  test("GETINFO status/bootstrap-phase parses (tor without network sits at 0%)", async () => {
    const c = await open(tor.control);
    await c.authenticate(cookie());
    const phase = (await c.getInfo("status/bootstrap-phase"))["status/bootstrap-phase"]!;
    expect(parseBootstrap(phase)).toEqual({ progress: 0, tag: "starting", summary: "Starting" });
  });

  test("ADD_ONION with our expanded key: tor's ServiceID is the address we computed; DEL_ONION removes it", async () => {
    const seed = generateOnionSeed();
    const c = await open(tor.control);
    await c.authenticate(cookie());
    const added = await c.addOnion(onionKey(seed), [{ virtPort: 5269, target: `unix:${join(tor.dir, "s2s.sock")}` }]);
    expect(added).toEqual({ serviceId: serviceIdOf(seed) });
    expect((await c.getInfo("onions/current"))["onions/current"]).toBe(serviceIdOf(seed));
    await c.delOnion(added.serviceId);
    expect((await c.getInfo("onions/current"))["onions/current"]).toBe("");
    await expect(c.delOnion(added.serviceId)).rejects.toMatchObject({ status: 552 });
  });

  test("ADD_ONION with MaxStreams, MaxStreamsCloseCircuit and proof-of-work defenses is accepted by this tor", async () => {
    const seed = generateOnionSeed();
    const c = await open(tor.control);
    await c.authenticate(cookie());
    const limits = { maxStreams: 8, maxStreamsCloseCircuit: true, pow: { queueRate: 50, queueBurst: 200 } };
    const added = await c.addOnion(onionKey(seed), [{ virtPort: 5269, target: "127.0.0.1:9" }], [], limits);
    expect(added).toEqual({ serviceId: serviceIdOf(seed) });
    // An out-of-range value is refused here, before tor sees it.
    expect(() => c.addOnion(onionKey(seed), [{ virtPort: 5269, target: "127.0.0.1:9" }], [], { maxStreams: 70000 })).rejects.toThrow(/MaxStreams/);
    await c.delOnion(added.serviceId);
  });

  test("several onions on one connection: onions/current comes as a data block", async () => {
    const seeds = [generateOnionSeed(), generateOnionSeed()];
    const c = await open(tor.control);
    await c.authenticate(cookie());
    for (const s of seeds) await c.addOnion(onionKey(s), [{ virtPort: 5269, target: "127.0.0.1:9" }]);
    const current = (await c.getInfo("onions/current"))["onions/current"]!;
    expect(current.split("\n").sort()).toEqual(seeds.map(serviceIdOf).sort());
  });

  test("NEW keys: tor returns the private key unless DiscardPK", async () => {
    const c = await open(tor.control);
    await c.authenticate(cookie());
    const fresh = await c.addOnion("NEW", [{ virtPort: 80, target: "127.0.0.1:9" }]);
    expect(fresh.serviceId).toMatch(/^[a-z2-7]{56}$/);
    expect(fresh.privateKey).toMatch(/^ED25519-V3:[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(fresh.privateKey!.slice("ED25519-V3:".length), "base64")).toHaveLength(64);
    const discarded = await c.addOnion("NEW", [{ virtPort: 80, target: "127.0.0.1:9" }], ["DiscardPK"]);
    expect(discarded.privateKey).toBeUndefined();
  });

  test("an onion added without Detach disappears when its connection closes", async () => {
    const seed = generateOnionSeed();
    const port = [{ virtPort: 5269, target: `unix:${join(tor.dir, "s2s.sock")}` }];
    const owner = await open(tor.control);
    await owner.authenticate(cookie());
    await owner.addOnion(onionKey(seed), port);

    // onions/current lists only the asking connection's onions, so a second connection
    // sees the service through the address collision it causes.
    const other = await open(tor.control);
    await other.authenticate(cookie());
    expect((await other.getInfo("onions/current"))["onions/current"]).toBe("");
    const collision = await other.addOnion(onionKey(seed), port).catch((e: Error) => e);
    expect(collision).toBeInstanceOf(TorControlError);
    expect((collision as TorControlError).status).toBe(550);
    expect((collision as Error).message).toMatch(/collision/i);

    owner.close();
    // Tor removes it once it has processed the close; retry until the key is free again.
    const readded = await until(() => other.addOnion(onionKey(seed), port).catch(() => undefined));
    expect(readded.serviceId).toBe(serviceIdOf(seed));
    expect((await other.getInfo("onions/current"))["onions/current"]).toBe(serviceIdOf(seed));
  });

  test("with Detach the onion outlives its connection and another connection can delete it", async () => {
    const seed = generateOnionSeed();
    const a = await open(tor.control);
    await a.authenticate(cookie());
    await a.addOnion(onionKey(seed), [{ virtPort: 5269, target: "127.0.0.1:9" }], ["Detach"]);
    a.close();
    const b = await open(tor.control);
    await b.authenticate(cookie());
    expect((await b.getInfo("onions/detached"))["onions/detached"]!.split("\n")).toContain(serviceIdOf(seed));
    await b.delOnion(serviceIdOf(seed));
    expect((await b.getInfo("onions/detached"))["onions/detached"]!.split("\n")).not.toContain(serviceIdOf(seed));
  });
});

describeTor("real tor with HashedControlPassword", () => {
  // Spaces, quotes, backslashes, C-escape lookalikes, a TAB and non-ASCII: sent as a QuotedString.
  const password = 'pa ss"wo\\rd \\n é\tend\\';
  let tor: RealTor;
  beforeAll(async () => {
    tor = await startRealTor({ auth: "password", password });
  }, START_TIMEOUT);
  afterAll(async () => {
    for (const c of opened.splice(0)) c.close();
    await tor?.stop();
  });

  test("PROTOCOLINFO offers HASHEDPASSWORD only; the right password authenticates", async () => {
    const c = await open(tor.control);
    expect((await c.protocolInfo()).methods).toEqual(["HASHEDPASSWORD"]);
    expect(await c.authenticate({ method: "HASHEDPASSWORD", password })).toBe("HASHEDPASSWORD");
    expect((await c.getInfo("version"))["version"]).toMatch(/^0\.4\./);
  });

  test("a password with a line break is sent hex-encoded (a QuotedString cannot carry it)", async () => {
    const multiLine = "line one\r\nline two\n";
    const other = await startRealTor({ auth: "password", password: multiLine });
    try {
      const c = await open(other.control);
      expect(await c.authenticate({ method: "HASHEDPASSWORD", password: multiLine })).toBe("HASHEDPASSWORD");
    } finally {
      await other.stop();
    }
  });

  test("a wrong password: a clear error and tor closes the connection", async () => {
    const c = await open(tor.control);
    const err = await c.authenticate({ method: "HASHEDPASSWORD", password: password + "x" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorAuthError);
    expect((err as TorAuthError).reason).toBe("password-rejected");
    expect((err as Error).message).toMatch(/^tor rejected the control password \(check the file given to --tor-password-file\): 515 Authentication failed/);
    expect((err as Error).message).not.toContain("pa ss");
    expect(c.isOpen).toBe(false);
  });

  test("asking for SAFECOOKIE from a tor that offers only a password: refused before anything is sent", async () => {
    const c = await open(tor.control);
    await expect(c.authenticate({ method: "SAFECOOKIE", cookieFile: "/nonexistent" })).rejects.toMatchObject({ reason: "method-not-offered" });
    expect(c.isOpen).toBe(false);
  });
});

describeTor("real tor without authentication", () => {
  let tor: RealTor;
  beforeAll(async () => {
    tor = await startRealTor({ auth: "none" });
  }, START_TIMEOUT);
  afterAll(async () => {
    for (const c of opened.splice(0)) c.close();
    await tor?.stop();
  });

  test("NULL when chosen", async () => {
    const c = await open(tor.control);
    expect((await c.protocolInfo()).methods).toEqual(["NULL"]);
    expect(await c.authenticate({ method: "NULL" })).toBe("NULL");
    expect((await c.getInfo("version"))["version"]).toMatch(/^0\.4\./);
  });

  test("stop() kills tor by its pid", async () => {
    const pid = tor.pid;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await tor.stop();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
