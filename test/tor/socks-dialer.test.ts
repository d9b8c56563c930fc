// The SOCKS dialer against an in-process SOCKS5 server: what reaches tor, how every
// reply is reported, timeouts, and bytes flowing through.
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { isolationCredentials } from "../../src/tor/isolation.js";
import { onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { dialThroughTor, TorDialError, type TorDialErrorCode, type TorDialOptions } from "../../src/tor/socks-dialer.js";
import { KNOWN_SOCKS_REPLIES } from "../../src/tor/socks-replies.js";
import { FakeSocksServer } from "../support/fake-socks.js";

const SECRET = Buffer.alloc(32, 7);
const ONION = onionAddressFromSeed(Buffer.alloc(32, 1));
const OTHER_ONION = onionAddressFromSeed(Buffer.alloc(32, 2));
const ALICE = isolationCredentials(ONION, SECRET);

let fake: FakeSocksServer;

beforeEach(async () => {
  fake = await FakeSocksServer.start();
});
afterEach(async () => {
  await fake.close();
});

function options(extra: Partial<TorDialOptions> = {}): TorDialOptions {
  return { socks: { host: fake.host, port: fake.port }, credentials: ALICE, timeoutMs: 5000, ...extra };
}

async function dialError(promise: Promise<Socket>): Promise<TorDialError> {
  try {
    const socket = await promise;
    socket.destroy();
  } catch (error) {
    expect(error).toBeInstanceOf(TorDialError);
    return error as TorDialError;
  }
  throw new Error("the dial succeeded");
}

function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) {
        socket.removeListener("data", onData);
        resolve(got);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

async function listen(onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return server;
}

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

describe("what reaches tor's SOCKS port", () => {
  test("a CONNECT with ATYP 3, the onion name, and the account's credentials; bytes flow both ways", async () => {
    const target = await listen((s) => {
      s.write("hello from the peer\n");
      s.on("data", (d) => s.write(Buffer.concat([Buffer.from("echo:"), d])));
    });
    fake.configure({ action: { pipeTo: { host: "127.0.0.1", port: (target.address() as AddressInfo).port } } });
    const socket = await dialThroughTor(ONION, 5269, options());
    try {
      expect((await readBytes(socket, 20)).toString()).toBe("hello from the peer\n");
      socket.write("ping");
      expect((await readBytes(socket, 9)).toString()).toBe("echo:ping");
    } finally {
      socket.destroy();
      await closeServer(target);
    }
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request).toMatchObject({
      chosenMethod: 0x02,
      username: ALICE.username,
      password: ALICE.password,
      command: 0x01,
      atyp: 0x03,
      address: ONION,
      port: 5269,
    });
    expect(request!.offeredMethods).toContain(0x02);
  });

  test("a subdomain of an onion is sent as it is, lower-cased, without a trailing dot", async () => {
    fake.configure({ action: { reply: 0x00 } });
    const host = `Conference.${ONION.toUpperCase()}.`;
    (await dialThroughTor(host, 5269, options())).destroy();
    expect(fake.requests[0]).toMatchObject({ atyp: 0x03, address: `conference.${ONION}`, port: 5269 });
  });

  test("with clearnet allowed, a DNS name is still sent as ATYP 3 for tor to resolve", async () => {
    fake.configure({ action: { reply: 0x00 } });
    (await dialThroughTor("xmpp.example.org", 5269, options({ allowClearnet: true }))).destroy();
    expect(fake.requests[0]).toMatchObject({ atyp: 0x03, address: "xmpp.example.org" });
  });

  test("the returned socket has no timeout armed, and bytes sent with the reply wait for the caller", async () => {
    fake.configure({ action: { succeedWith: Buffer.from("early bytes") } });
    const socket = await dialThroughTor(ONION, 5269, options());
    try {
      expect(socket.timeout ?? 0).toBe(0);
      expect(socket.readableFlowing).toBeNull();
      // A caller that attaches its listener late must still see the bytes that came with the reply.
      await new Promise((r) => setTimeout(r, 100));
      expect((await readBytes(socket, 11)).toString()).toBe("early bytes");
      socket.write("echoed");
      expect((await readBytes(socket, 6)).toString()).toBe("echoed");
    } finally {
      socket.destroy();
    }
  });
});

describe("refused before any connection is made", () => {
  test("a clearnet name when clearnet federation is off", async () => {
    const error = await dialError(dialThroughTor("example.org", 5269, options()));
    expect(error.code).toBe("clearnet-refused");
    expect(error.message).toBe("refusing to connect to example.org outside Tor's onion services: clearnet federation is off");
    expect(fake.connections).toBe(0);
  });

  test.each([
    ["a wrong checksum", ONION.replace(/^./, (c) => (c === "a" ? "b" : "a"))],
    ["a v2-length name", "expyuzz4wqqyqhjn.onion"],
    ["a bare .onion", ".onion"],
    ["a non-base32 label", `${"0".repeat(56)}.onion`],
  ])("%s is a bad onion address", async (_what, host) => {
    const error = await dialError(dialThroughTor(host, 5269, options()));
    expect(error.code).toBe("bad-onion-address");
    expect(error.message).toContain("not a valid onion address");
    expect(fake.connections).toBe(0);
  });

  test.each(["192.0.2.1", "[2001:db8::1]", "::1"])("the IP literal %s, even with clearnet allowed", async (host) => {
    const error = await dialError(dialThroughTor(host, 5269, options({ allowClearnet: true })));
    expect(error.code).toBe("clearnet-refused");
    expect(error.message).toContain("only host names are dialled");
    expect(fake.connections).toBe(0);
  });

  test("an invalid DNS name, with clearnet allowed", async () => {
    const error = await dialError(dialThroughTor("bad..name", 5269, options({ allowClearnet: true })));
    expect(error.code).toBe("clearnet-refused");
    expect(fake.connections).toBe(0);
  });

  test("invalid arguments are RangeErrors", async () => {
    await expect(dialThroughTor(ONION, 0, options())).rejects.toBeInstanceOf(RangeError);
    await expect(dialThroughTor(ONION, 5269, options({ timeoutMs: 0 }))).rejects.toBeInstanceOf(RangeError);
    await expect(dialThroughTor(ONION, 5269, options({ socks: { host: "localhost", port: fake.port } }))).rejects.toBeInstanceOf(RangeError);
    await expect(dialThroughTor(ONION, 5269, options({ credentials: { username: "", password: "x" } }))).rejects.toBeInstanceOf(
      RangeError,
    );
    expect(fake.connections).toBe(0);
  });
});

describe("every SOCKS reply code", () => {
  const expected: [number, TorDialErrorCode, string][] = [
    [0x01, "general-failure", "general SOCKS server failure"],
    [0x02, "not-allowed", "SocksPort rules forbid it"],
    [0x03, "network-unreachable", "bootstrapped"],
    [0x04, "host-unreachable", "may be offline"],
    [0x05, "connection-refused", "nothing listens on that port"],
    [0x06, "ttl-expired", "timed out"],
    [0x07, "command-not-supported", "CONNECT"],
    [0x08, "address-type-not-supported", "host name"],
    [0xf0, "onion-not-found", "was not found"],
    [0xf1, "onion-descriptor-invalid", "cannot parse or verify"],
    [0xf2, "onion-intro-failed", "could not introduce"],
    [0xf3, "onion-rendezvous-failed", "could not rendezvous"],
    [0xf4, "onion-auth-required", "requires client authorization"],
    [0xf5, "onion-auth-wrong", "does not accept this account's client authorization"],
    [0xf6, "bad-onion-address", "not a valid onion address"],
    [0xf7, "onion-intro-timeout", "timed out introducing"],
    [0x09, "socks-error", "unknown reply 0x09"],
    [0xaa, "socks-error", "unknown reply 0xaa"],
  ];

  test("the table covers RFC 1928's and tor's extended codes", () => {
    expect([...KNOWN_SOCKS_REPLIES].sort((a, b) => a - b)).toEqual(expected.map(([r]) => r).filter((r) => r !== 0x09 && r !== 0xaa));
  });

  test.each(expected)("reply 0x%s", async (replyCode, code, phrase) => {
    fake.configure({ action: { reply: replyCode } });
    const error = await dialError(dialThroughTor(ONION, 5269, options()));
    expect(error.code).toBe(code);
    expect(error.socksReply).toBe(replyCode);
    expect(error.message).toContain(phrase);
    if (replyCode !== 0x07) expect(error.message).toContain(ONION);
    expect(fake.requests[0]).toMatchObject({ atyp: 0x03, address: ONION, answered: true });
  });

  test("a failure reply dribbled one byte per TCP segment", async () => {
    fake.configure({ dribble: true, action: { reply: 0xf0 } });
    const error = await dialError(dialThroughTor(`sub.${OTHER_ONION}`, 80, options()));
    expect(error.code).toBe("onion-not-found");
    expect(error.socksReply).toBe(0xf0);
    expect(error.message).toContain(`sub.${OTHER_ONION}`);
  });

  test("a success dribbled one byte per TCP segment, with the peer's first bytes behind it", async () => {
    fake.configure({ dribble: true, action: { succeedWith: Buffer.from("<stream>") } });
    const socket = await dialThroughTor(ONION, 5269, options());
    try {
      expect((await readBytes(socket, 8)).toString()).toBe("<stream>");
    } finally {
      socket.destroy();
    }
  });
});

describe("tor's SOCKS port itself", () => {
  test("nothing listening: tor-unreachable", async () => {
    const probe = await listen(() => {});
    const port = (probe.address() as AddressInfo).port;
    await closeServer(probe);
    const error = await dialError(dialThroughTor(ONION, 5269, options({ socks: { host: "127.0.0.1", port } })));
    expect(error.code).toBe("tor-unreachable");
    expect(error.message).toContain(`tor's SOCKS port 127.0.0.1:${port} is not answering`);
    expect(error.message).toContain("is tor running?");
  });

  test("a port that closes without answering: tor-unreachable", async () => {
    const closer = await listen((s) => s.destroy());
    const port = (closer.address() as AddressInfo).port;
    try {
      const error = await dialError(dialThroughTor(ONION, 5269, options({ socks: { host: "127.0.0.1", port } })));
      expect(error.code).toBe("tor-unreachable");
    } finally {
      await closeServer(closer);
    }
  });

  test("a port that is not SOCKS5: socks-error", async () => {
    const http = await listen((s) => s.resume().end("HTTP/1.0 400 Bad Request\r\n\r\n"));
    const port = (http.address() as AddressInfo).port;
    try {
      const error = await dialError(dialThroughTor(ONION, 5269, options({ socks: { host: "127.0.0.1", port } })));
      expect(error.code).toBe("socks-error");
      expect(error.message).toContain("does not speak SOCKS5");
    } finally {
      await closeServer(http);
    }
  });

  test("no answer to the CONNECT: timeout, on time, and the connection is dropped", async () => {
    fake.configure({ action: { stall: true } });
    const started = Date.now();
    const error = await dialError(dialThroughTor(ONION, 5269, options({ timeoutMs: 300 })));
    const elapsed = Date.now() - started;
    expect(error.code).toBe("timeout");
    expect(error.message).toContain(`no connection to ${ONION}:5269 through tor within 300 ms`);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    expect(fake.requests[0]).toMatchObject({ address: ONION, answered: false });
    await waitFor(() => fake.requests[0]!.closed);
  });

  test("no answer to the greeting: timeout", async () => {
    fake.configure({ silent: true });
    const error = await dialError(dialThroughTor(ONION, 5269, options({ timeoutMs: 200 })));
    expect(error.code).toBe("timeout");
    expect(error.message).toContain("did not answer within 200 ms");
    await waitFor(() => fake.requests[0]!.closed);
  });

  test("a port that chooses no authentication is refused before the CONNECT (isolation would be lost)", async () => {
    fake.configure({ chooseMethod: 0x00, action: { reply: 0x00 } });
    const error = await dialError(dialThroughTor(ONION, 5269, options()));
    expect(error.code).toBe("socks-error");
    expect(error.message).toContain("chose no authentication");
    await waitFor(() => fake.requests[0]!.closed);
    expect(fake.requests[0]!.command).toBeUndefined();
  });

  test("a port that accepts no offered method", async () => {
    fake.configure({ chooseMethod: 0xff });
    const error = await dialError(dialThroughTor(ONION, 5269, options()));
    expect(error.code).toBe("socks-error");
    expect(error.message).toContain("does not accept username/password");
  });

  test("credentials rejected", async () => {
    fake.configure({ authStatus: 0x01, action: { reply: 0x00 } });
    const error = await dialError(dialThroughTor(ONION, 5269, options()));
    expect(error.code).toBe("socks-error");
    expect(error.message).toContain("rejected the account's isolation credentials");
    expect(fake.requests[0]!.command).toBeUndefined();
  });
});

describe("isolation credentials", () => {
  test("differ between accounts and are stable for one account", async () => {
    fake.configure({ action: { reply: 0x00 } });
    const bob = isolationCredentials(OTHER_ONION, SECRET);
    expect(bob.username).not.toBe(ALICE.username);
    expect(bob.password).not.toBe(ALICE.password);
    expect(isolationCredentials(ONION, SECRET)).toEqual(ALICE);
    expect(isolationCredentials(`${ONION.toUpperCase()}.`, SECRET)).toEqual(ALICE);
    // Another daemon (another secret) gives the same account other credentials.
    expect(isolationCredentials(ONION, Buffer.alloc(32, 8)).username).not.toBe(ALICE.username);

    for (const creds of [ALICE, bob]) {
      for (const value of [creds.username, creds.password]) {
        expect(value).toMatch(/^[\x21-\x7e]+$/);
        expect(Buffer.byteLength(value)).toBeLessThanOrEqual(255);
      }
      expect(creds.username.startsWith("<torS0X>")).toBe(false);
    }

    (await dialThroughTor(OTHER_ONION, 5269, options({ credentials: ALICE }))).destroy();
    (await dialThroughTor(OTHER_ONION, 5269, options({ credentials: bob }))).destroy();
    expect(fake.requests.map((r) => [r.username, r.password])).toEqual([
      [ALICE.username, ALICE.password],
      [bob.username, bob.password],
    ]);
  });

  test("refuse a missing or short secret", () => {
    expect(() => isolationCredentials(ONION, Buffer.alloc(4))).toThrow(TypeError);
    expect(() => isolationCredentials("", SECRET)).toThrow(TypeError);
  });
});

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
