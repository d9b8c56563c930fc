// Reading socket owners from the kernel's tables: the parser on fixed text
// (both byte orders, IPv4, IPv6, IPv4-mapped), the 4-tuple rule, listeners
// on wildcard addresses, and the live tables of this machine.
import { createServer, connect, type Server, type Socket } from "node:net";
import {
  decodeAddress,
  listenerUids,
  parseSocketTable,
  peerUidOf,
  readSocketTables,
  socketPeerUid,
  TCP_STATE,
  describeUid,
  uidOfUser,
} from "../../src/net/socket-owner.js";
import { connectAsOtherUser } from "../support/other-user.js";
import { requires } from "../support/requires.js";

// Lines as Linux prints them (x86-64, little-endian): a listener on 127.0.0.1:9051 (uid 102),
// a connection 127.0.0.1:40000 -> 127.0.0.1:9051 from uid 1000 and the accepted end (uid 102).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:235B 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 11111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:235B 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:235B 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   102        0 33333 1 0000000000000000 20 4 30 10 -1
   3: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 44444 1 0000000000000000 100 0 0 10 0
`;
// An IPv4-mapped client (AF_INET6 socket to ::ffff:127.0.0.1:9051) and a [::1]:5222 listener.
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:9C41 0000000000000000FFFF00000100007F:235B 01 00000000:00000000 00:00000000 00000000  1001        0 55555 1 0000000000000000 20 4 30 10 -1
   1: 00000000000000000000000001000000:1466 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   500        0 66666 1 0000000000000000 100 0 0 10 0
`;

describe("decoding the kernel's hex addresses", () => {
  test("IPv4 words are host order: 0100007F is 127.0.0.1 on little-endian, 1.0.0.127 on big-endian", () => {
    expect(decodeAddress("0100007F", true)).toBe("127.0.0.1");
    expect(decodeAddress("7F000001", false)).toBe("127.0.0.1");
    expect(decodeAddress("0100007F", false)).toBe("1.0.0.127");
  });

  test("IPv6: four host-order words; IPv4-mapped becomes the dotted address; ::1 and :: compress", () => {
    expect(decodeAddress("0000000000000000FFFF00000100007F", true)).toBe("127.0.0.1");
    expect(decodeAddress("00000000000000000000000001000000", true)).toBe("::1");
    expect(decodeAddress("00000000000000000000000000000000", true)).toBe("::");
    expect(decodeAddress("B80D0120000000000000000001000000", true)).toBe("2001:db8::1");
    expect(decodeAddress("20010DB8000000000000000000000001", false)).toBe("2001:db8::1");
  });

  test("garbage is undefined, not a wrong address", () => {
    expect(decodeAddress("0100007", true)).toBeUndefined();
    expect(decodeAddress("XYZ0007F", true)).toBeUndefined();
  });
});

describe("the tables", () => {
  const table = [...parseSocketTable(TCP, true), ...parseSocketTable(TCP6, true)];

  test("every line is read, with state, uid and inode; the header is not", () => {
    expect(table).toHaveLength(6);
    expect(table[0]).toEqual({ local: { address: "127.0.0.1", port: 9051 }, remote: { address: "0.0.0.0", port: 0 }, state: TCP_STATE.LISTEN, uid: 102, inode: 11111 });
    expect(table[4]!.local).toEqual({ address: "127.0.0.1", port: 40001 });
  });

  test("the peer of a connection is the entry whose LOCAL end is the peer's: the whole 4-tuple, not a port", () => {
    // tor's side (uid 102) asks who connected from 127.0.0.1:40000: uid 1000.
    expect(peerUidOf({ ourAddress: "127.0.0.1", ourPort: 9051, peerAddress: "127.0.0.1", peerPort: 40000 }, table)).toBe(1000);
    // The client's side asks who it talks to: tor's accepted socket, uid 102.
    expect(peerUidOf({ ourAddress: "127.0.0.1", ourPort: 40000, peerAddress: "127.0.0.1", peerPort: 9051 }, table)).toBe(102);
    // A peer with the right port but another remote end is not our peer.
    expect(peerUidOf({ ourAddress: "127.0.0.1", ourPort: 9052, peerAddress: "127.0.0.1", peerPort: 40000 }, table)).toBeUndefined();
  });

  test("an IPv4-mapped peer in tcp6 is found from its dotted or its mapped address", () => {
    expect(peerUidOf({ ourAddress: "127.0.0.1", ourPort: 9051, peerAddress: "127.0.0.1", peerPort: 40001 }, table)).toBe(1001);
    expect(peerUidOf({ ourAddress: "::ffff:127.0.0.1", ourPort: 9051, peerAddress: "::ffff:127.0.0.1", peerPort: 40001 }, table)).toBe(1001);
  });

  test("listeners: the exact address and the wildcard both count", () => {
    expect(listenerUids("127.0.0.1", 9051, table)).toEqual([102]);
    expect(listenerUids("127.0.0.1", 8080, table)).toEqual([0]); // 0.0.0.0:8080 accepts 127.0.0.1 too
    expect(listenerUids("::1", 5222, table)).toEqual([500]);
    expect(listenerUids("127.0.0.1", 1, table)).toEqual([]);
  });

  test("user names come from the passwd file", () => {
    const passwd = () => "root:x:0:0::/root:/bin/sh\ndebian-tor:x:102:105::/var/lib/tor:/bin/false\n";
    expect(describeUid(102, passwd)).toBe("debian-tor (uid 102)");
    expect(describeUid(7, passwd)).toBe("uid 7");
    expect(uidOfUser("debian-tor", passwd)).toBe(102);
    expect(uidOfUser("4242", passwd)).toBe(4242);
    expect(uidOfUser("nobody-here", passwd)).toBeUndefined();
  });
});

describe("on this machine's live tables", () => {
  let server: Server;
  let port: number;
  const accepted: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise((r) => server.close(r));
  });

  test("our own listener and our own connection belong to our uid", async () => {
    expect(listenerUids("127.0.0.1", port)).toEqual([process.getuid!()]);
    const client = connect({ host: "127.0.0.1", port });
    await new Promise((r) => client.once("connect", r));
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    expect(socketPeerUid(accepted.at(-1)!)).toBe(process.getuid!());
    expect(socketPeerUid(client)).toBe(process.getuid!());
    client.destroy();
  });

  requires("other-user").test("a connection from another user (nobody, via setpriv) shows that user's uid", async () => {
    const seen = new Promise<number | undefined>((resolve) => server.once("connection", (s: Socket) => resolve(socketPeerUid(s, readSocketTables()))));
    const [uid, stranger] = await Promise.all([seen, connectAsOtherUser(port, "", { waitMs: 1000 })]);
    expect(stranger.uid).toBe(65534);
    expect(uid).toBe(65534);
  });
});
