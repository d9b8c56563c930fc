// Every byte a process tree sent or received on its sockets, read from `strace -f`: the client
// (the bridge's Node with libpurple and our plugin), the daemon its plugin starts and the tor that
// daemon launches. Stanzas cross those sockets in clear (c2s on 127.0.0.1, s2s inside SOCKS before
// tor encrypts it), so searching the payloads finds an address, a host name or a time zone
// wherever a stanza carried it, whichever code put it there. The same trace gives the network
// report of strace-parse.ts (connects, DNS, resolver sockets).
//
//   strace -f -qq [--seccomp-bpf] -e signal=none -y -s 1048576 -e trace=<below> -o FILE
//
// -y prints each fd with what it is (`21<socket:[1234]>`, `5</path>`, `7<pipe:[99]>`): only
// socket payloads are kept.
import { findProgram, straceProbe } from "./prerequisites.js";
import { decodeLiteral, straceCalls } from "./strace-parse.js";

const CALLS = [
  "connect", "bind", "listen", "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg",
  "read", "write", "readv", "writev", "close", "execve", "clone", "clone3", "fork", "vfork", "open", "openat",
].join(",");

/** The command prefix that runs a program under this capture, writing to `traceFile`. */
export function captureWrap(traceFile: string): string[] {
  const { reason, seccomp } = straceProbe();
  if (reason) throw new Error(reason);
  return [findProgram("strace")!, "-f", "-qq", ...(seccomp ? ["--seccomp-bpf"] : []), "-e", "signal=none", "-y", "-s", "1048576", "-e", `trace=${CALLS}`, "-o", traceFile];
}

export interface SocketIo {
  pid: number;
  /** The command line of the process (its last execve), e.g. "/usr/sbin/tor -f ...". */
  command: string;
  fd: number;
  call: string;
  direction: "in" | "out";
  data: string;
}

export interface Capture {
  io: SocketIo[];
  /** Processes seen, by pid: their command lines. */
  commands: Map<number, string>;
  /** bind()s to an AF_INET/AF_INET6 address and listen()s, by process. */
  binds: { pid: number; command: string; line: string }[];
  /**
   * Files only a name lookup opens (glibc's getaddrinfo: /etc/hosts, /etc/gai.conf,
   * /etc/host.conf). A connect to nscd's socket alone proves nothing: glibc tries it for user
   * and group lookups too (getpwuid), and without nscd nothing shows what was asked. Nor does
   * /etc/resolv.conf: Node's c-ares reads it when node:dns is loaded, resolving nothing (a
   * c-ares query would show as a send to port 53).
   */
  resolverFiles: { pid: number; command: string; path: string }[];
}

const RESOLVER_FILES = new Set(["/etc/hosts", "/etc/gai.conf", "/etc/host.conf"]);

const DATA_CALL = /^(read|write|readv|writev|recvfrom|sendto|recvmsg|sendmsg|recvmmsg|sendmmsg)\((\d+)<socket:\[\d+\]>, (.*)\) += (-?\d+)/;
const OUT = new Set(["write", "writev", "sendto", "sendmsg", "sendmmsg"]);


/** Every C string literal in a call's text, decoded, in order. */
function literals(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(decodeLiteral(m[1]!));
  return out;
}

/** The argv of an execve line: the literals inside its first [...] (literals may hold "]"). */
function execArgv(body: string): string[] {
  const args: string[] = [];
  let i = body.indexOf("[");
  if (i < 0) return args;
  for (i++; i < body.length && body[i] !== "]"; i++) {
    if (body[i] !== '"') continue;
    let j = i + 1;
    while (j < body.length && body[j] !== '"') j += body[j] === "\\" ? 2 : 1;
    args.push(decodeLiteral(body.slice(i + 1, j)));
    i = j;
  }
  return args;
}

export function parseCapture(output: string): Capture {
  const capture: Capture = { io: [], commands: new Map(), binds: [], resolverFiles: [] };
  const tgidOf = new Map<number, number>();
  const processOf = (tid: number): number => tgidOf.get(tid) ?? tid;
  const commandOf = (pid: number): string => capture.commands.get(pid) ?? "?";
  for (const { tid, body } of straceCalls(output)) {
    const pid = processOf(tid);
    if (body.startsWith("execve(") && / = 0$/.test(body)) {
      capture.commands.set(pid, execArgv(body).join(" ") || "?");
      continue;
    }
    const clone = /^(clone3?|fork|vfork)\((.*)\) += (\d+)$/.exec(body);
    if (clone) {
      const child = Number(clone[3]);
      if (/CLONE_THREAD/.test(clone[2]!)) tgidOf.set(child, pid);
      else capture.commands.set(child, commandOf(pid));
      continue;
    }
    if (/^(bind|listen)\(/.test(body) && / = 0$/.test(body)) {
      if (body.startsWith("listen(") || /AF_INET6?\b/.test(body)) capture.binds.push({ pid, command: commandOf(pid), line: body });
      continue;
    }
    const open = /^open(?:at)?\((?:AT_FDCWD(?:<[^>]*>)?, )?"((?:[^"\\]|\\.)*)"/.exec(body);
    if (open) {
      const file = decodeLiteral(open[1]!);
      if (RESOLVER_FILES.has(file)) capture.resolverFiles.push({ pid, command: commandOf(pid), path: file });
      continue;
    }
    const data = DATA_CALL.exec(body);
    if (!data || Number(data[4]) <= 0) continue;
    const [, call, fd, args] = data as unknown as [string, string, string, string];
    // Netlink (getifaddrs asking the kernel for the interfaces): strace decodes it, addresses in
    // text and all, but it never leaves the machine.
    if (/AF_NETLINK|nlmsg_len/.test(args)) continue;
    // A read's buffer is all the data; a sendto/recvfrom's address literal (AF_UNIX paths) is not.
    const text = literals(args.replace(/\{sa_family=[^{}]*\}/g, "")).join("");
    capture.io.push({ pid, command: commandOf(pid), fd: Number(fd), call, direction: OUT.has(call) ? "out" : "in", data: text });
  }
  return capture;
}

export interface Needle {
  /** What it would reveal, for the failure message: "decoy IPv4 address". */
  what: string;
  text: string;
}

export interface Finding {
  what: string;
  pid: number;
  command: string;
  call: string;
  excerpt: string;
}

/** Where each needle occurs in the payloads (case-insensitive), with 120 characters around it. */
export function findNeedles(io: readonly SocketIo[], needles: readonly Needle[]): Finding[] {
  const found: Finding[] = [];
  for (const x of io) {
    const hay = x.data.toLowerCase();
    for (const n of needles) {
      const at = hay.indexOf(n.text.toLowerCase());
      if (at < 0) continue;
      found.push({ what: n.what, pid: x.pid, command: x.command.slice(0, 120), call: x.call, excerpt: x.data.slice(Math.max(0, at - 120), at + n.text.length + 120) });
    }
  }
  return found;
}
