import { ReplyParser, type TorReply } from "../../src/tor/control-reply.js";
import { eventType, parseBootstrap, parseHsDesc } from "../../src/tor/tor-events.js";

function reply(text: string): TorReply {
  const [r, ...rest] = new ReplyParser().push(Buffer.from(text));
  if (!r || rest.length) throw new Error("expected exactly one reply");
  return r;
}

describe("eventType", () => {
  test("the keyword of an event; undefined for a synchronous reply", () => {
    expect(eventType(reply("650 HS_DESC UPLOADED x NO_AUTH UNKNOWN\r\n"))).toBe("HS_DESC");
    expect(eventType(reply("650-CIRC 1 BUILT\r\n650 OK\r\n"))).toBe("CIRC");
    expect(eventType(reply("250 OK\r\n"))).toBeUndefined();
  });
});

describe("parseBootstrap", () => {
  test("NOTICE BOOTSTRAP event (tor 0.4.9 wording)", () => {
    expect(
      parseBootstrap(reply('650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"\r\n')),
    ).toEqual({ progress: 100, tag: "done", summary: "Done" });
  });

  test("WARN BOOTSTRAP with WARNING, REASON and arguments we do not know", () => {
    const e = reply(
      '650 STATUS_CLIENT WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY="Connected to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore HOST=ABCD HOSTADDR="127.0.0.1:5000" NEWTHING=1\r\n',
    );
    expect(parseBootstrap(e)).toEqual({
      progress: 10,
      tag: "conn_done",
      summary: "Connected to a relay",
      warning: "Connection refused",
      reason: "CONNECTREFUSED",
      recommendation: "ignore",
      count: 3,
      hostAddr: "127.0.0.1:5000",
    });
  });

  test("arguments in another order", () => {
    expect(parseBootstrap(reply('650 STATUS_CLIENT NOTICE BOOTSTRAP SUMMARY="Starting" TAG=starting PROGRESS=0\r\n'))).toEqual({
      progress: 0,
      tag: "starting",
      summary: "Starting",
    });
  });

  test("the GETINFO status/bootstrap-phase reply (as tor 0.4.9 sends it) and its value", () => {
    const r = reply('250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"\r\n250 OK\r\n');
    expect(parseBootstrap(r)).toEqual({ progress: 0, tag: "starting", summary: "Starting" });
    expect(parseBootstrap('NOTICE BOOTSTRAP PROGRESS=75 TAG=enough_dirinfo SUMMARY="Loaded enough directory info to build circuits"')).toEqual({
      progress: 75,
      tag: "enough_dirinfo",
      summary: "Loaded enough directory info to build circuits",
    });
  });

  test("the GETINFO value wrapped as the text of a 250 line", () => {
    const wrapped: TorReply = { status: 250, lines: [{ status: 250, separator: " ", text: 'NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"' }] };
    expect(parseBootstrap(wrapped)).toEqual({ progress: 0, tag: "starting", summary: "Starting" });
  });

  test("other events and malformed progress give undefined", () => {
    expect(parseBootstrap(reply('650 STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED\r\n'))).toBeUndefined();
    expect(parseBootstrap(reply("650 STATUS_GENERAL NOTICE BOOTSTRAP PROGRESS=5\r\n"))).toBeUndefined();
    expect(parseBootstrap(reply("650 HS_DESC UPLOADED x NO_AUTH UNKNOWN\r\n"))).toBeUndefined();
    expect(parseBootstrap(reply("650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=abc TAG=x\r\n"))).toBeUndefined();
    expect(parseBootstrap(reply("650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=101 TAG=x\r\n"))).toBeUndefined();
    expect(parseBootstrap(reply("650 STATUS_CLIENT NOTICE BOOTSTRAPPING PROGRESS=5\r\n"))).toBeUndefined();
    expect(parseBootstrap(reply("250 OK\r\n"))).toBeUndefined();
    expect(parseBootstrap("")).toBeUndefined();
  });
});

describe("parseHsDesc", () => {
  const addr = "y4fvsc65wghzejrn2bsiarrfq2xhthuegdmlr3hmezyzihu4swsztgid";
  const hsdir = "$E3C2D1E1A08C0F32B39AE1B9B8C5E5B6C5F1E2A3~relay2";

  test("UPLOAD and UPLOADED as a v3 service emits them", () => {
    expect(
      parseHsDesc(reply(`650 HS_DESC UPLOAD ${addr} UNKNOWN ${hsdir} 2Q3n0i8Hh6O3fmAgoPGlXT8M7LQ0/zUcJ1yFl4kdBeo HSDIR_INDEX=ABCDEF\r\n`)),
    ).toEqual({ action: "UPLOAD", address: addr, authType: "UNKNOWN", hsDir: hsdir, descriptorId: "2Q3n0i8Hh6O3fmAgoPGlXT8M7LQ0/zUcJ1yFl4kdBeo" });
    expect(parseHsDesc(reply(`650 HS_DESC UPLOADED ${addr} UNKNOWN ${hsdir}\r\n`))).toEqual({
      action: "UPLOADED",
      address: addr,
      authType: "UNKNOWN",
      hsDir: hsdir,
    });
  });

  test("FAILED with a REASON; an UNKNOWN HsDir is left out", () => {
    expect(parseHsDesc(reply(`650 HS_DESC FAILED ${addr} NO_AUTH UNKNOWN REASON=QUERY_NO_HSDIR\r\n`))).toEqual({
      action: "FAILED",
      address: addr,
      authType: "NO_AUTH",
      reason: "QUERY_NO_HSDIR",
    });
    expect(parseHsDesc(reply(`650 HS_DESC FAILED ${addr} NO_AUTH ${hsdir} descid REASON=UPLOAD_REJECTED REPLICA=0\r\n`))).toMatchObject({
      hsDir: hsdir,
      descriptorId: "descid",
      reason: "UPLOAD_REJECTED",
    });
  });

  test("unknown actions are kept (clients must tolerate new values)", () => {
    expect(parseHsDesc(reply(`650 HS_DESC SOMETHING_NEW ${addr} NO_AUTH UNKNOWN\r\n`))?.action).toBe("SOMETHING_NEW");
  });

  test("other events and truncated ones give undefined", () => {
    expect(parseHsDesc(reply("650 HS_DESC_CONTENT x y z\r\n"))).toBeUndefined();
    expect(parseHsDesc(reply("650 HS_DESC UPLOADED\r\n"))).toBeUndefined();
    expect(parseHsDesc(reply("250 HS_DESC UPLOADED x NO_AUTH UNKNOWN\r\n"))).toBeUndefined();
  });
});
