// Parsing `strace -f` output (strace 6.x text format) into the network activity it shows.
// See strace.ts for the command line this expects.
//
// Lines look like
//   1234  connect(21, {sa_family=AF_INET, sin_port=htons(9050), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (...)
//   1234  connect(21, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
//   1234  connect(21, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 110) = 0      (sun_path=@"name" when abstract)
//   1234  sendto(21, "...", 33, MSG_NOSIGNAL, NULL, 0) = 33
//   1234  sendmmsg(21, [{msg_hdr={msg_name=NULL, ...}, ...}], 2, MSG_NOSIGNAL) = 2
// and, when threads interleave, a call split in two:
//   1234  connect(21, {...}, 16 <unfinished ...>
//   1234  <... connect resumed>) = 0
// Data buffers are string literals too, and may contain anything (even "sin_port=htons(53)"):
// every literal is blanked before matching, except the few that are addresses or paths.

export interface SocketAddress {
  /** "AF_INET", "AF_INET6", "AF_UNIX", "AF_UNSPEC", ... */
  family: string;
  address?: string;
  port?: number;
  /** AF_UNIX path; "@name" for an abstract socket. */
  path?: string;
}

export interface TracedConnect extends SocketAddress {
  /** The process (thread group) that called connect(). */
  pid: number;
  /** Its program, from its last execve, when the trace shows it. */
  program?: string;
  fd: number;
  /** What connect() returned: "0", "-1 EINPROGRESS", "-1 ENOENT", ... */
  result: string;
}

export interface TracedSend {
  pid: number;
  program?: string;
  syscall: "sendto" | "sendmsg" | "sendmmsg";
  fd: number;
  /** Where it went: the address in the call, else the address the socket was connect()ed to. */
  destination?: SocketAddress;
}

export interface StraceReport {
  /** Every connect() in order, whatever its result. */
  connects: TracedConnect[];
  /** Every send with a known destination. */
  sends: TracedSend[];
  /** Sends to port 53 (DNS), addressed in the call or on a socket connected to port 53. */
  dnsSends: number;
  /** connect() calls to port 53. */
  dnsConnects: TracedConnect[];
  /** connect() calls to the name-service sockets of nscd or systemd-resolved (glibc's getaddrinfo tries nscd first). */
  resolverConnects: TracedConnect[];
  /** AF_INET/AF_INET6 connect() calls to anything but 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 (or 0.0.0.0, ::). */
  nonLoopback: TracedConnect[];
  /** Successful execve() calls. */
  execs: { pid: number; path: string }[];
  /** Lines read, and the ones not understood (at most 20 kept). */
  lines: number;
  unparsed: string[];
}

const RESOLVER_SOCKETS = [/^\/(var\/)?run\/nscd\//, /^\/run\/systemd\/resolve\//];

/**
 * Each call in `strace -f` output, whole: a call split by another thread ("<unfinished ...>",
 * then "<... read resumed>") joined again. `seen` is told of every non-empty line; a resumption
 * without its start goes to `orphan`.
 */
export function* straceCalls(output: string, seen: (line: string) => void = () => undefined, orphan: (line: string) => void = () => undefined): Generator<{ tid: number; body: string; line: string }> {
  const pending = new Map<number, string>(); // tid -> first half of an unfinished call
  for (const line of output.split("\n")) {
    if (line.trim() === "") continue;
    seen(line);
    const head = /^(\d+)\s+(.*)$/.exec(line);
    const tid = head ? Number(head[1]) : 0;
    let body = head ? head[2]! : line;
    if (body.endsWith(" <unfinished ...>")) {
      pending.set(tid, body.slice(0, -" <unfinished ...>".length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(body);
    if (resumed) {
      const first = pending.get(tid);
      pending.delete(tid);
      if (first === undefined) {
        orphan(line);
        continue;
      }
      body = first + resumed[1];
    }
    yield { tid, body, line };
  }
}

/** Decodes a C string literal as strace prints it (without the quotes). */
export function decodeLiteral(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === "x") return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return { n: "\n", t: "\t", r: "\r", v: "\v", f: "\f", a: "\x07", b: "\b" }[e] ?? e;
  });
}

// Literals kept (they are addresses, paths or the program): what precedes them.
const KEEP_AFTER = [/sun_path=@?$/, /inet_addr\($/, /inet_pton\(AF_INET6?, $/, /^execve\($/];

/** The call with every data literal replaced by "", and the kept literals decoded in a side table. */
function blankData(body: string): { text: string; literals: string[] } {
  let text = "";
  const literals: string[] = [];
  let i = 0;
  while (i < body.length) {
    const ch = body[i]!;
    if (ch !== '"') {
      text += ch;
      i++;
      continue;
    }
    let j = i + 1;
    while (j < body.length && body[j] !== '"') j += body[j] === "\\" ? 2 : 1;
    const literal = body.slice(i + 1, j);
    i = j + 1;
    if (KEEP_AFTER.some((re) => re.test(text))) {
      // Kept as an index, so a path with odd characters cannot confuse the patterns below.
      text += `"#${literals.length}"`;
      literals.push(decodeLiteral(literal));
    } else {
      text += '""';
    }
  }
  return { text, literals };
}

function parseSockaddr(inner: string, literals: string[]): SocketAddress {
  const family = /^sa_family=(\w+)/.exec(inner)?.[1] ?? "unknown";
  const lit = (re: RegExp): string | undefined => {
    const m = re.exec(inner);
    return m ? literals[Number(m[1])] : undefined;
  };
  const port = /sin6?_port=htons\((\d+)\)/.exec(inner)?.[1];
  const out: SocketAddress = { family };
  if (family === "AF_INET") out.address = lit(/inet_addr\("#(\d+)"\)/);
  if (family === "AF_INET6") out.address = lit(/inet_pton\(AF_INET6, "#(\d+)"/);
  if (port !== undefined) out.port = Number(port);
  if (family === "AF_UNIX") {
    const abstract = /sun_path=@/.test(inner);
    const p = lit(/sun_path=@?"#(\d+)"/);
    if (p !== undefined) out.path = abstract ? `@${p}` : p;
  }
  return out;
}

/** Every {sa_family=...} in the text (sockaddrs never contain braces themselves). */
function sockaddrs(text: string, literals: string[]): SocketAddress[] {
  return [...text.matchAll(/\{(sa_family=[^{}]*)\}/g)].map((m) => parseSockaddr(m[1]!, literals));
}

function isLoopback(a: SocketAddress): boolean {
  const addr = (a.address ?? "").toLowerCase();
  if (a.family === "AF_INET") return addr.startsWith("127.") || addr === "0.0.0.0";
  if (a.family === "AF_INET6") return addr === "::1" || addr === "::" || /^::ffff:127\./.test(addr);
  return true;
}

export function parseStrace(output: string): StraceReport {
  const report: StraceReport = {
    connects: [],
    sends: [],
    dnsSends: 0,
    dnsConnects: [],
    resolverConnects: [],
    nonLoopback: [],
    execs: [],
    lines: 0,
    unparsed: [],
  };
  const tgidOf = new Map<number, number>(); // thread -> process
  const programOf = new Map<number, string>(); // process -> program
  const connected = new Map<string, SocketAddress>(); // "process:fd" -> peer
  const processOf = (tid: number): number => tgidOf.get(tid) ?? tid;
  const unparsed = (line: string): void => {
    if (report.unparsed.length < 20) report.unparsed.push(line);
  };

  const count = (): void => {
    report.lines++;
  };
  for (const { tid, body, line } of straceCalls(output, count, unparsed)) {
    const { text, literals } = blankData(body);
    const call = /^(\w+)\((.*)\) += (.*)$/.exec(text);
    if (!call) {
      unparsed(line);
      continue;
    }
    const [, name, args, resultText] = call as unknown as [string, string, string, string];
    const result = /^(-?\d+|\?)(?: (E\w+))?/.exec(resultText);
    const resultShort = result ? (result[2] ? `${result[1]} ${result[2]}` : result[1]!) : resultText;
    const pid = processOf(tid);
    const program = programOf.get(pid);
    const fd = Number(/^(\d+)/.exec(args)?.[1] ?? -1);
    const key = `${pid}:${fd}`;

    switch (name) {
      case "connect": {
        const addr = sockaddrs(args, literals)[0] ?? { family: "unknown" };
        const entry: TracedConnect = { ...addr, pid, fd, result: resultShort };
        if (program !== undefined) entry.program = program;
        report.connects.push(entry);
        if (addr.family === "AF_UNSPEC") connected.delete(key);
        else if (resultShort === "0" || /EINPROGRESS|EALREADY|EISCONN/.test(resultShort)) connected.set(key, addr);
        if ((addr.family === "AF_INET" || addr.family === "AF_INET6") && addr.port === 53) report.dnsConnects.push(entry);
        if (addr.family === "AF_UNIX" && RESOLVER_SOCKETS.some((re) => re.test(addr.path ?? ""))) report.resolverConnects.push(entry);
        if (!isLoopback(addr)) report.nonLoopback.push(entry);
        break;
      }
      case "sendto":
      case "sendmsg":
      case "sendmmsg": {
        const explicit = sockaddrs(args, literals);
        const destinations = explicit.length > 0 ? explicit : connected.has(key) ? [connected.get(key)!] : [undefined];
        for (const destination of destinations) {
          const entry: TracedSend = { pid, syscall: name, fd };
          if (program !== undefined) entry.program = program;
          if (destination) entry.destination = destination;
          if (destination) report.sends.push(entry);
          if (destination?.port === 53 && (destination.family === "AF_INET" || destination.family === "AF_INET6")) report.dnsSends++;
        }
        break;
      }
      case "close":
        if (resultShort === "0") connected.delete(key);
        break;
      case "execve":
        if (resultShort === "0") {
          const path = /^"#(\d+)"/.exec(args);
          if (path) {
            programOf.set(pid, literals[Number(path[1])]!);
            report.execs.push({ pid, path: literals[Number(path[1])]! });
          }
        }
        break;
      case "clone":
      case "clone3":
      case "fork":
      case "vfork": {
        const child = Number(resultShort);
        if (!(child > 0)) break;
        if (/CLONE_THREAD/.test(args)) {
          tgidOf.set(child, pid);
        } else {
          if (program !== undefined) programOf.set(child, program);
          // A new process starts with its parent's descriptors.
          for (const [k, v] of connected) if (k.startsWith(`${pid}:`)) connected.set(`${child}:${k.slice(k.indexOf(":") + 1)}`, v);
        }
        break;
      }
      default:
        break;
    }
  }
  return report;
}
