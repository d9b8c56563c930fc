// Which local user owns the other end of a loopback TCP connection, or a
// listening port: read from the kernel's socket tables (/proc/net/tcp and
// tcp6, proc(5)), never from what the peer says about itself. Any local user
// can connect to a 127.0.0.1 port, or bind one we left free; these answers
// let the daemon talk only to its own user's clients and to the tor it pinned.
//
// Each table line is "sl local rem st queues tr:when retrnsmt uid timeout inode ...";
// addresses are the raw in-kernel words printed in hex: one 32-bit word for IPv4,
// four for IPv6, each in host byte order (an IPv4-mapped 127.0.0.1 is
// 0000000000000000FFFF00000100007F on little-endian machines); ports are plain hex.
import { accessSync, constants, readFileSync } from "node:fs";
import { endianness } from "node:os";

export const TCP_STATE = { ESTABLISHED: 0x01, LISTEN: 0x0a } as const;

export interface TcpEndpoint {
  /** Dotted IPv4 ("127.0.0.1", also for IPv4-mapped IPv6) or a lowercase IPv6 address. */
  address: string;
  port: number;
}

export interface TcpSocketEntry {
  local: TcpEndpoint;
  remote: TcpEndpoint;
  state: number;
  uid: number;
  inode: number;
}

const TABLES = ["/proc/net/tcp", "/proc/net/tcp6"] as const;
const readText = (f: string): string => readFileSync(f, "utf8");

/** True where the socket tables exist (Linux with /proc); elsewhere no owner can be known. */
export function canReadSocketOwners(): boolean {
  try {
    accessSync(TABLES[0], constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** One 8-hex-digit word as printed by the kernel: the bytes of a host-order u32. */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const v = Number.parseInt(hex, 16);
  const big = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return littleEndian ? big.reverse() : big;
}

export function decodeAddress(hex: string, littleEndian = endianness() === "LE"): string | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  if (hex.length === 8) return wordBytes(hex, littleEndian).join(".");
  if (hex.length !== 32) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < 32; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8), littleEndian));
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.slice(12).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return compressIpv6(groups);
}

/** RFC 5952 text form: the longest run of two or more zero groups becomes "::". */
function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

function decodeEndpoint(text: string, littleEndian: boolean): TcpEndpoint | undefined {
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  const address = decodeAddress(text.slice(0, colon), littleEndian);
  const port = Number.parseInt(text.slice(colon + 1), 16);
  if (address === undefined || !Number.isInteger(port)) return undefined;
  return { address, port };
}

/** Parses the text of /proc/net/tcp or tcp6; lines it cannot read are left out. */
export function parseSocketTable(text: string, littleEndian = endianness() === "LE"): TcpSocketEntry[] {
  const out: TcpSocketEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0]!)) continue;
    const local = decodeEndpoint(f[1]!, littleEndian);
    const remote = decodeEndpoint(f[2]!, littleEndian);
    const state = Number.parseInt(f[3]!, 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(uid) || !Number.isInteger(state)) continue;
    out.push({ local, remote, state, uid, inode });
  }
  return out;
}

/** Every TCP socket of this network namespace; [] where the tables cannot be read. */
export function readSocketTables(read: (file: string) => string = readText): TcpSocketEntry[] {
  const out: TcpSocketEntry[] = [];
  for (const file of TABLES) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue; // no IPv6 in this kernel, or no /proc at all
    }
    out.push(...parseSocketTable(text));
  }
  return out;
}

/** "::ffff:127.0.0.1" and "127.0.0.1" name the same peer. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith("::ffff:") && lower.includes(".") ? lower.slice(7) : lower;
}

const sameEndpoint = (e: TcpEndpoint, address: string, port: number) => e.port === port && e.address === normalizeAddress(address);

/**
 * The uid owning the other end of a connected socket whose ends are (ourAddress:ourPort,
 * peerAddress:peerPort): the ESTABLISHED entry whose *local* end is the peer's. Matching the
 * whole 4-tuple matters: an entry with our port as its local end is our own socket, owned by us.
 * Undefined when no such entry exists (peer gone, not local, or no /proc).
 */
export function peerUidOf(
  ends: { ourAddress: string; ourPort: number; peerAddress: string; peerPort: number },
  table: TcpSocketEntry[] = readSocketTables(),
): number | undefined {
  const found = table.filter(
    (e) =>
      e.state === TCP_STATE.ESTABLISHED &&
      sameEndpoint(e.local, ends.peerAddress, ends.peerPort) &&
      sameEndpoint(e.remote, ends.ourAddress, ends.ourPort),
  );
  // Two entries for one 4-tuple cannot happen in one namespace; if it did, trust neither.
  return found.length === 1 ? found[0]!.uid : undefined;
}

/** The same for a connected net.Socket. */
export function socketPeerUid(
  socket: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number },
  table?: TcpSocketEntry[],
): number | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (!localAddress || !localPort || !remoteAddress || !remotePort) return undefined;
  return peerUidOf({ ourAddress: localAddress, ourPort: localPort, peerAddress: remoteAddress, peerPort: remotePort }, table);
}

const WILDCARDS = new Set(["0.0.0.0", "::"]);

/**
 * The owners of every LISTEN socket that could accept a connection to host:port: bound to that
 * address, or to a wildcard address, on that port. Empty when nothing listens there.
 */
export function listenerUids(host: string, port: number, table: TcpSocketEntry[] = readSocketTables()): number[] {
  const address = normalizeAddress(host);
  const uids = table
    .filter((e) => e.state === TCP_STATE.LISTEN && e.local.port === port && (e.local.address === address || WILDCARDS.has(e.local.address)))
    .map((e) => e.uid);
  return [...new Set(uids)];
}

/** The users of /etc/passwd as (name, uid); none when it cannot be read (containers). */
function passwdUsers(read: (file: string) => string): { name: string; uid: number }[] {
  let text: string;
  try {
    text = read("/etc/passwd");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((line) => {
    const [name, , id] = line.split(":");
    return name && /^\d+$/.test(id ?? "") ? [{ name, uid: Number(id) }] : [];
  });
}

/** "debian-tor (uid 102)", from /etc/passwd; just "uid 102" when the name is unknown. */
export function describeUid(uid: number, read: (file: string) => string = readText): string {
  const user = passwdUsers(read).find((u) => u.uid === uid);
  return user ? `${user.name} (uid ${uid})` : `uid ${uid}`;
}

/** The uid of a user name or a numeric string, from /etc/passwd; undefined when unknown. */
export function uidOfUser(user: string, read: (file: string) => string = readText): number | undefined {
  if (/^\d+$/.test(user)) return Number(user);
  return passwdUsers(read).find((u) => u.name === user)?.uid;
}
