// TorControlConnection against an in-process fake control port (test/support/fake-tor-control.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ControlProtocolError,
  TorAuthError,
  TorControlClosedError,
  TorControlConnection,
  TorControlError,
  type TorReply,
} from "../../src/tor/control-connection.js";
import { startFakeTorControl, type FakeTorControl } from "../support/fake-tor-control.js";

let fake: FakeTorControl;
let conn: TorControlConnection | undefined;

beforeEach(async () => {
  fake = await startFakeTorControl();
});
afterEach(async () => {
  conn?.close();
  conn = undefined;
  await fake.close();
});

async function open(): Promise<TorControlConnection> {
  conn = await TorControlConnection.connect(fake.target);
  return conn;
}

function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error) => ({ ok: false as const, error }),
  );
}

describe("commands and replies", () => {
  test("PROTOCOLINFO is parsed and NULL authentication sends a bare AUTHENTICATE", async () => {
    const c = await open();
    expect(await c.protocolInfo()).toEqual({ methods: ["NULL"], torVersion: "0.4.9.11" });
    expect(await c.authenticate({ method: "NULL" })).toBe("NULL");
    const server = await fake.connection(0);
    expect(server.lines).toEqual(["PROTOCOLINFO 1", "AUTHENTICATE"]);
  });

  test("pipelined commands get their own replies, in order, even when all replies arrive in one chunk", async () => {
    fake.handler = (_line, server) => {
      if (server.lines.length < 3) return null;
      // After the third command: all three replies (and an event in between) at once.
      return "250-a=1\r\n250 OK\r\n650 SIGNAL NEWNYM\r\n552 Unrecognized key \"b\"\r\n250-c=\r\n250+d=\r\nx\r\n.\r\n250 OK\r\n";
    };
    const c = await open();
    const events: TorReply[] = [];
    c.onEvent((e) => events.push(e));
    const [r1, r2, r3] = await Promise.all([settle(c.command("GETINFO a")), settle(c.command("GETINFO b")), settle(c.command("GETINFO c d"))]);
    expect(r1.ok && r1.value.lines[0]!.text).toBe("a=1");
    expect(!r2.ok && r2.error).toBeInstanceOf(TorControlError);
    expect(!r2.ok && (r2.error as TorControlError).status).toBe(552);
    expect(r3.ok && r3.value.lines.map((l) => l.data)).toEqual([undefined, "x", undefined]);
    expect(events.map((e) => e.lines[0]!.text)).toEqual(["SIGNAL NEWNYM"]);
  });

  test("an error reply names the command keyword but never its arguments", async () => {
    fake.handler = () => "515 Authentication failed: Password did not match\r\n";
    const c = await open();
    const err = await c.command('AUTHENTICATE "hunter2"').catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorControlError);
    expect((err as TorControlError).status).toBe(515);
    expect((err as Error).message).toBe("tor refused AUTHENTICATE: 515 Authentication failed: Password did not match");
    expect((err as Error).message).not.toContain("hunter2");
    expect((err as TorControlError).reply?.lines).toHaveLength(1);
  });

  test("events are delivered while a command is pending; the command then completes", async () => {
    fake.handler = (line) => (line === "GETINFO version" ? null : undefined);
    const c = await open();
    const events: string[] = [];
    c.onEvent((e) => events.push(e.lines.map((l) => l.text).join("|")));
    const pending = c.command("GETINFO version");
    const server = await fake.connection(0);
    await fake.waitForLines(server, 1);
    server.write("650-CIRC 1 BUILT\r\n650 EXTRA=1\r\n");
    server.write('650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="x"\r\n');
    await until(() => events.length === 2);
    let done = false;
    void pending.then(() => (done = true));
    // The event lines were parsed (both events arrived); a reply wrongly completed by
    // them would have settled in a microtask, which all run before this immediate.
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    server.write("250-version=0.4.9.11\r\n250 OK\r\n");
    expect((await pending).lines[0]!.text).toBe("version=0.4.9.11");
    expect(events).toEqual(["CIRC 1 BUILT|EXTRA=1", 'STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="x"']);
  });

  test("a throwing event subscriber does not stop other subscribers or the connection", async () => {
    const c = await open();
    const seen: number[] = [];
    c.onEvent(() => {
      throw new Error("subscriber bug");
    });
    const off = c.onEvent(() => seen.push(1));
    fake.handler = (line) => (line === "SIGNAL NEWNYM" ? "250 OK\r\n650 SIGNAL NEWNYM\r\n" : undefined);
    await c.command("SIGNAL NEWNYM");
    await until(() => seen.length === 1);
    off();
    await c.command("SIGNAL NEWNYM");
    expect((await c.command("GETINFO version")).status).toBe(250);
    expect(seen).toEqual([1]);
  });

  test("command lines with CR, LF or NUL are refused without sending anything", async () => {
    const c = await open();
    await expect(c.command("GETINFO version\r\nSIGNAL HALT")).rejects.toThrow(TypeError);
    await expect(c.command("GETINFO a\nb")).rejects.toThrow(TypeError);
    await expect(c.command("GETINFO a\0")).rejects.toThrow(TypeError);
    await c.command("GETINFO version");
    expect(fake.connections[0]!.lines).toEqual(["GETINFO version"]);
  });
});

describe("closing", () => {
  test("a timeout rejects the command, rejects everything queued, and closes the connection", async () => {
    fake.handler = () => null; // tor hangs
    const c = await open();
    const first = settle(c.command("GETINFO a", { timeoutMs: 100 }));
    const second = settle(c.command("GETINFO b", { timeoutMs: 0 }));
    const r1 = await first;
    expect(!r1.ok && r1.error.message).toMatch(/did not answer GETINFO within 100 ms/);
    const r2 = await second;
    expect(!r2.ok && r2.error).toBeInstanceOf(TorControlClosedError);
    expect((await c.closed)?.message).toMatch(/did not answer GETINFO/);
    expect(c.isOpen).toBe(false);
    await expect(c.command("GETINFO version")).rejects.toThrow(/cannot send GETINFO: tor did not answer/);
    // The fake sees the socket close: a late reply can no longer be misattributed.
    await until(() => fake.connections[0]!.socket.destroyed || fake.connections[0]!.socket.readableEnded);
  });

  test("malformed data from the server rejects pending commands with ControlProtocolError and closes", async () => {
    fake.handler = () => "HTTP/1.0 400 Bad Request\r\n";
    const c = await open();
    const err = await c.command("GETINFO version").catch((e: Error) => e);
    expect(err).toBeInstanceOf(ControlProtocolError);
    expect((await c.closed)).toBe(err);
  });

  test("replies completed before a malformed line in the same chunk are still delivered", async () => {
    fake.handler = (_line, server) => (server.lines.length < 2 ? null : "250 OK\r\ngarbage\r\n");
    const c = await open();
    const [a, b] = await Promise.all([settle(c.command("SIGNAL A")), settle(c.command("SIGNAL B"))]);
    expect(a.ok).toBe(true);
    expect(!b.ok && b.error).toBeInstanceOf(ControlProtocolError);
  });

  test("a reply nobody asked for closes the connection", async () => {
    const c = await open();
    await c.command("GETINFO version");
    fake.connections[0]!.write("250 OK\r\n");
    const reason = await c.closed;
    expect(reason).toBeInstanceOf(ControlProtocolError);
    expect(reason?.message).toMatch(/reply nobody asked for: 250 OK/);
  });

  test("the server closing the connection rejects pending commands and resolves `closed` with a reason", async () => {
    fake.handler = (_line, server) => {
      setTimeout(() => server.destroy(), 10);
      return null;
    };
    const c = await open();
    const err = await c.command("GETINFO version").catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorControlClosedError);
    expect((await c.closed)?.message).toMatch(/tor closed the control connection 127\.0\.0\.1:\d+/);
  });

  test("close() rejects pending commands and resolves `closed` with undefined", async () => {
    fake.handler = () => null;
    const c = await open();
    const pending = settle(c.command("GETINFO version"));
    c.close();
    const r = await pending;
    expect(!r.ok && r.error).toBeInstanceOf(TorControlClosedError);
    expect(await c.closed).toBeUndefined();
    c.close(); // idempotent
  });

  test("connecting to a port nobody listens on says so", async () => {
    const port = await closedPort();
    await expect(TorControlConnection.connect({ host: "127.0.0.1", port })).rejects.toThrow(
      /cannot connect to tor's control port 127\.0\.0\.1:\d+: ECONNREFUSED.*is tor running with a ControlPort\?/,
    );
  });

  test("connecting to a missing Unix socket says so", async () => {
    await expect(TorControlConnection.connect({ path: "/nonexistent/purple-onion/control" })).rejects.toThrow(
      /unix:\/nonexistent\/purple-onion\/control: ENOENT/,
    );
  });
});

describe("GETINFO, SETEVENTS, ADD_ONION, DEL_ONION", () => {
  test("getInfo reads single-line and data-block values", async () => {
    fake.handler = () => '250-version=0.4.9.11\r\n250-net/listeners/socks="127.0.0.1:9050"\r\n250+onions/current=\r\naaa\r\nbbb\r\n.\r\n250 OK\r\n';
    const c = await open();
    expect(await c.getInfo("version", "net/listeners/socks", "onions/current")).toEqual({
      version: "0.4.9.11",
      "net/listeners/socks": '"127.0.0.1:9050"',
      "onions/current": "aaa\nbbb",
    });
    expect(fake.connections[0]!.lines).toEqual(["GETINFO version net/listeners/socks onions/current"]);
  });

  test("getInfo refuses keys with spaces and complains about a reply missing a key", async () => {
    const c = await open();
    await expect(c.getInfo("a b")).rejects.toThrow(TypeError);
    fake.handler = () => "250-other=1\r\n250 OK\r\n";
    await expect(c.getInfo("version")).rejects.toThrow(/no value for version/);
  });

  test("setEvents sends one SETEVENTS line and validates names", async () => {
    const c = await open();
    await c.setEvents(["STATUS_CLIENT", "HS_DESC"]);
    await c.setEvents([]);
    await expect(c.setEvents(["BAD EVENT"])).rejects.toThrow(TypeError);
    expect(fake.connections[0]!.lines).toEqual(["SETEVENTS STATUS_CLIENT HS_DESC", "SETEVENTS"]);
  });

  test("setEvents rejects with tor's 552 for an unknown event", async () => {
    fake.handler = () => '552 Unrecognized event "BOGUS"\r\n';
    const c = await open();
    await expect(c.setEvents(["BOGUS"])).rejects.toMatchObject({ status: 552 });
  });

  test("addOnion writes the spec'd command and reads ServiceID / PrivateKey", async () => {
    const id = "6l4z7ycb5kmn22edqbb3riupa2dtq6nwy5ndgh3tgdiezhoht5q7ggid";
    fake.handler = (line) =>
      line.startsWith("ADD_ONION NEW")
        ? `250-ServiceID=${id}\r\n250-PrivateKey=ED25519-V3:QUJD+/==\r\n250 OK\r\n`
        : `250-ServiceID=${id}\r\n250 OK\r\n`;
    const c = await open();
    const key = Buffer.alloc(64, 7).toString("base64");
    expect(await c.addOnion({ ed25519V3: key }, [{ virtPort: 5269, target: "unix:/tmp/x/s2s.sock" }])).toEqual({ serviceId: id });
    expect(await c.addOnion("NEW", [{ virtPort: 80, target: "127.0.0.1:8080" }, { virtPort: 81, target: "8081" }], ["Detach"])).toEqual({
      serviceId: id,
      privateKey: "ED25519-V3:QUJD+/==",
    });
    expect(fake.connections[0]!.lines).toEqual([
      `ADD_ONION ED25519-V3:${key} Port=5269,unix:/tmp/x/s2s.sock`,
      "ADD_ONION NEW:ED25519-V3 Flags=Detach Port=80,127.0.0.1:8080 Port=81,8081",
    ]);
  });

  test("addOnion validates its arguments before sending", async () => {
    const c = await open();
    const key = { ed25519V3: Buffer.alloc(64).toString("base64") };
    await expect(c.addOnion({ ed25519V3: Buffer.alloc(32).toString("base64") }, [{ virtPort: 1, target: "1" }])).rejects.toThrow(/64-byte/);
    await expect(c.addOnion({ ed25519V3: "not base64!" }, [{ virtPort: 1, target: "1" }])).rejects.toThrow(TypeError);
    await expect(c.addOnion(key, [])).rejects.toThrow(/at least one port/);
    await expect(c.addOnion(key, [{ virtPort: 0, target: "1" }])).rejects.toThrow(/virtual port/);
    await expect(c.addOnion(key, [{ virtPort: 1, target: "unix:/tmp/a b/s.sock" }])).rejects.toThrow(/spaces/);
    await expect(c.addOnion(key, [{ virtPort: 1, target: "1 Port=2" }])).rejects.toThrow(/spaces/);
    await expect(c.addOnion(key, [{ virtPort: 1, target: "1" }], ["Detach Port=9"])).rejects.toThrow(/flag/);
    expect(fake.connections[0]!.lines).toEqual([]);
  });

  test("addOnion without a ServiceID in the reply is a protocol error", async () => {
    fake.handler = () => "250 OK\r\n";
    const c = await open();
    await expect(c.addOnion("NEW", [{ virtPort: 1, target: "1" }])).rejects.toThrow(ControlProtocolError);
  });

  test("delOnion accepts an id with or without .onion and refuses anything else", async () => {
    const id = "6l4z7ycb5kmn22edqbb3riupa2dtq6nwy5ndgh3tgdiezhoht5q7ggid";
    fake.handler = () => "250 OK\r\n";
    const c = await open();
    await c.delOnion(id);
    await c.delOnion(`${id}.onion`);
    await expect(c.delOnion("abc")).rejects.toThrow(TypeError);
    await expect(c.delOnion(`${id} x`)).rejects.toThrow(TypeError);
    expect(fake.connections[0]!.lines).toEqual([`DEL_ONION ${id}`, `DEL_ONION ${id}`]);
  });
});

describe("authentication choices (fake tor)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "purple-onion-auth-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function offering(methods: string, cookieFile?: string) {
    fake.handler = (line) => {
      if (line.startsWith("PROTOCOLINFO")) {
        const cookie = cookieFile ? ` COOKIEFILE="${cookieFile}"` : "";
        return `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods}${cookie}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`;
      }
      return undefined;
    };
  }

  test("HASHEDPASSWORD: the password is sent as an escaped QuotedString", async () => {
    offering("HASHEDPASSWORD");
    const c = await open();
    expect(await c.authenticate({ method: "HASHEDPASSWORD", password: 'a "b" \\c\\nd' })).toBe("HASHEDPASSWORD");
    expect(fake.connections[0]!.lines[1]).toBe('AUTHENTICATE "a \\"b\\" \\\\c\\\\nd"');
  });

  test("HASHEDPASSWORD: a password with a line break goes hex-encoded, never as a raw line break", async () => {
    offering("HASHEDPASSWORD");
    const c = await open();
    expect(await c.authenticate({ method: "HASHEDPASSWORD", password: "a\r\nGETINFO x" })).toBe("HASHEDPASSWORD");
    expect(fake.connections[0]!.lines[1]).toBe(`AUTHENTICATE ${Buffer.from("a\r\nGETINFO x").toString("hex")}`);
    expect(fake.connections[0]!.lines).toHaveLength(2);
  });

  test("a method tor does not offer: refused, nothing secret sent, connection closed", async () => {
    offering("HASHEDPASSWORD");
    const c = await open();
    const err = await c.authenticate({ method: "NULL" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TorAuthError);
    expect((err as TorAuthError).reason).toBe("method-not-offered");
    expect((err as Error).message).toBe("tor does not offer NULL authentication (it offers HASHEDPASSWORD)");
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
    expect(c.isOpen).toBe(false);
  });

  test("COOKIE is never used: a tor offering only COOKIE gets no cookie", async () => {
    const cookie = join(dir, "cookie");
    writeFileSync(cookie, Buffer.alloc(32, 0xab));
    offering("COOKIE", cookie);
    const c = await open();
    await expect(c.authenticate({ method: "SAFECOOKIE", cookieFile: cookie })).rejects.toMatchObject({ reason: "method-not-offered" });
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
  });

  test("a cookie file that is missing or not 32 bytes is refused before anything is sent", async () => {
    const cookie = join(dir, "cookie");
    writeFileSync(cookie, Buffer.alloc(31));
    offering("COOKIE,SAFECOOKIE", cookie);
    const c = await open();
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: cookie }).catch((e: Error) => e);
    expect((err as TorAuthError).reason).toBe("cookie-unreadable");
    expect((err as Error).message).toMatch(/is not 32 bytes long/);
    expect(fake.connections[0]!.lines).toEqual(["PROTOCOLINFO 1"]);
    const c2 = await open();
    await expect(c2.authenticate({ method: "SAFECOOKIE", cookieFile: join(dir, "missing") })).rejects.toThrow(/cannot read tor's cookie file .*missing: ENOENT/);
  });

  test("SAFECOOKIE uses the cookie file it is given, not the one tor names", async () => {
    const mine = join(dir, "cookie");
    writeFileSync(mine, Buffer.alloc(32, 7));
    offering("SAFECOOKIE", "/elsewhere/cookie");
    const prev = fake.handler!;
    let challenged = "";
    fake.handler = (line, s) => {
      if (!line.startsWith("AUTHCHALLENGE")) return prev(line, s);
      challenged = line;
      return `250 AUTHCHALLENGE SERVERHASH=${"00".repeat(32)} SERVERNONCE=${"11".repeat(32)}\r\n`;
    };
    const c = await open();
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: mine }).catch((e: Error) => e);
    expect(challenged).toMatch(/^AUTHCHALLENGE SAFECOOKIE [0-9a-f]{64}$/);
    expect((err as Error).message).toContain(mine);
  });

  test("a SAFECOOKIE server hash that does not match: refused, AUTHENTICATE never sent", async () => {
    const cookie = join(dir, "cookie");
    writeFileSync(cookie, Buffer.alloc(32, 1));
    offering("COOKIE,SAFECOOKIE", cookie);
    const prev = fake.handler!;
    fake.handler = (line, s) =>
      line.startsWith("AUTHCHALLENGE") ? `250 AUTHCHALLENGE SERVERHASH=${"00".repeat(32)} SERVERNONCE=${"11".repeat(32)}\r\n` : prev(line, s);
    const c = await open();
    const err = await c.authenticate({ method: "SAFECOOKIE", cookieFile: cookie }).catch((e: Error) => e);
    expect((err as TorAuthError).reason).toBe("server-hash-mismatch");
    expect((err as Error).message).toMatch(/does not know the cookie/);
    expect(fake.connections[0]!.lines.map((l) => l.split(" ")[0])).toEqual(["PROTOCOLINFO", "AUTHCHALLENGE"]);
    expect(c.isOpen).toBe(false);
  });

  test("tor's 515 becomes a TorAuthError with tor's reason", async () => {
    offering("HASHEDPASSWORD");
    const prev = fake.handler!;
    fake.handler = (line, s) => (line.startsWith("AUTHENTICATE") ? "515 Authentication failed: Password did not match HashedControlPassword value from configuration\r\n" : prev(line, s));
    const c = await open();
    const err = await c.authenticate({ method: "HASHEDPASSWORD", password: "wrong" }).catch((e: Error) => e);
    expect((err as TorAuthError).reason).toBe("password-rejected");
    expect((err as Error).message).toBe(
      "tor rejected the control password (check the file given to --tor-password-file): 515 Authentication failed: Password did not match HashedControlPassword value from configuration",
    );
    expect((err as Error).message).not.toContain("wrong\"");
  });
});

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
