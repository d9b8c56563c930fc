// The parser of tor's side of the SOCKS5 handshake, fed in every possible split.
import { ServerHandshake } from "../../src/tor/socks-handshake.js";

const GREETING = [0x05, 0x02];
const AUTH_OK = [0x01, 0x00];
const REPLY_IPV4 = (rep: number) => [0x05, rep, 0x00, 0x01, 127, 0, 0, 1, 0x14, 0x95];
const REPLY_NAME = [0x05, 0x00, 0x00, 0x03, 4, ...Buffer.from("abcd"), 0x00, 0x50];
const REPLY_IPV6 = [0x05, 0x00, 0x00, 0x04, ...new Array<number>(16).fill(0), 0x00, 0x50];

/** Feeds `bytes` in pieces of `size`; returns how many were taken as handshake. */
function feedInPieces(h: ServerHandshake, bytes: number[], size: number): number {
  let used = 0;
  for (let i = 0; i < bytes.length; i += size) used += h.feed(Buffer.from(bytes.slice(i, i + size)));
  return used;
}

describe("ServerHandshake", () => {
  test.each([
    ["IPv4", REPLY_IPV4(0)],
    ["domain name", REPLY_NAME],
    ["IPv6", REPLY_IPV6],
  ])("a granted CONNECT with a %s BND.ADDR, in every piece size, stops exactly at the peer's data", (_what, reply) => {
    const handshake = [...GREETING, ...AUTH_OK, ...reply];
    const stream = [...handshake, ...Buffer.from("peer data")];
    for (let size = 1; size <= stream.length; size++) {
      const h = new ServerHandshake();
      expect(feedInPieces(h, stream, size)).toBe(handshake.length);
      expect(h.succeeded).toBe(true);
      expect(h.failed).toBe(false);
      expect(h).toMatchObject({ version: 5, method: 2, authStatus: 0, reply: 0 });
    }
  });

  test("the reply code is known from its second byte on", () => {
    const h = new ServerHandshake();
    h.feed(Buffer.from([...GREETING, ...AUTH_OK, 0x05]));
    expect(h.reply).toBeUndefined();
    h.feed(Buffer.from([0xf6]));
    expect(h.reply).toBe(0xf6);
    expect(h.failed).toBe(true);
    expect(h.succeeded).toBe(false);
  });

  test("a method other than username/password ends the handshake at the greeting", () => {
    const h = new ServerHandshake();
    expect(h.feed(Buffer.from([0x05, 0x00, 0x05, 0x00]))).toBe(2);
    expect(h).toMatchObject({ method: 0, authStatus: undefined, reply: undefined });
    expect(h.failed).toBe(true);
  });

  test("a rejected authentication, a wrong version and a bad ATYP fail", () => {
    const auth = new ServerHandshake();
    auth.feed(Buffer.from([...GREETING, 0x01, 0x01]));
    expect(auth.failed).toBe(true);
    const version = new ServerHandshake();
    version.feed(Buffer.from("HTTP/1.0"));
    expect(version.version).toBe("H".charCodeAt(0));
    expect(version.failed).toBe(true);
    const atyp = new ServerHandshake();
    atyp.feed(Buffer.from([...GREETING, ...AUTH_OK, 0x05, 0x00, 0x00, 0x09, 0x00]));
    expect(atyp.malformedReply).toBe(true);
    expect(atyp.failed).toBe(true);
    expect(atyp.succeeded).toBe(false);
  });
});
