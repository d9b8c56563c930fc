// test/support/strace.ts: its parser on known strace lines, and on real programs: one that
// connects to a loopback port and a Unix socket, and one that resolves a name (so we know
// a DNS attempt would be caught).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { findProgram } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { parseStrace, traceProcess } from "../support/strace.js";

describe("parseStrace on known output", () => {
  const sample = [
    // A thread of process 100 (clone3 with CLONE_THREAD), and a child process 300.
    '100   execve("/usr/bin/node", ["node", "x.js"], 0x7ffc /* 35 vars */) = 0',
    "100   clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f, exit_signal=0} => {parent_tid=[101]}, 88) = 101",
    '100   connect(21, {sa_family=AF_INET, sin_port=htons(9050), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
    '100   connect(22, {sa_family=AF_UNIX, sun_path="/run/purple onion/s2s \\"x\\".sock"}, 110) = 0',
    '100   connect(23, {sa_family=AF_UNIX, sun_path=@"abstract-name"}, 16) = -1 ECONNREFUSED (Connection refused)',
    '100   connect(24, {sa_family=AF_INET6, sin6_port=htons(5269), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    // Data that looks like an address must not count.
    '100   sendmsg(25, {msg_name={sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, msg_namelen=16, msg_iov=[{iov_base="{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr(\\"8.8.8.8\\")}", iov_len=18}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 18',
    // The resolver, in the thread, split by another thread's line.
    '101   connect(26, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)',
    '101   connect(26, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16 <unfinished ...>',
    "100   close(21)                         = 0",
    "101   <... connect resumed>)            = 0",
    '101   sendmmsg(26, [{msg_hdr={msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="\\v\\320\\1\\0\\0\\1", iov_len=33}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, msg_len=33}], 2, MSG_NOSIGNAL) = 2',
    '101   sendto(26, "4\\316\\1\\0", 33, MSG_NOSIGNAL, NULL, 0) = 33',
    "101   close(26) = 0",
    '101   sendto(26, "x", 1, MSG_NOSIGNAL, NULL, 0) = 1',
    '100   sendto(27, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::53", &sin6_addr), sin6_scope_id=0}, 28) = 1',
    "100   clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 300",
    '300   connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("192.0.2.7")}, 16) = -1 ENETUNREACH (Network is unreachable)',
    '300   execve("/usr/sbin/tor", ["tor"], 0x7ffc /* 3 vars */) = 0',
    '300   connect(4, {sa_family=AF_UNSPEC, sa_data="\\0\\0\\0\\0"}, 16) = 0',
    "100   +++ exited with 0 +++",
  ].join("\n");

  const report = parseStrace(sample);

  test("every connect, with its family, address, port or path, process and program", () => {
    expect(report.connects.map(({ pid, program, family, address, port, path, result }) => ({ pid, program, family, address, port, path, result })))
      .toEqual([
        { pid: 100, program: "/usr/bin/node", family: "AF_INET", address: "127.0.0.1", port: 9050, path: undefined, result: "-1 EINPROGRESS" },
        { pid: 100, program: "/usr/bin/node", family: "AF_UNIX", address: undefined, port: undefined, path: '/run/purple onion/s2s "x".sock', result: "0" },
        { pid: 100, program: "/usr/bin/node", family: "AF_UNIX", address: undefined, port: undefined, path: "@abstract-name", result: "-1 ECONNREFUSED" },
        { pid: 100, program: "/usr/bin/node", family: "AF_INET6", address: "::1", port: 5269, path: undefined, result: "0" },
        { pid: 100, program: "/usr/bin/node", family: "AF_UNIX", address: undefined, port: undefined, path: "/var/run/nscd/socket", result: "-1 ENOENT" },
        { pid: 100, program: "/usr/bin/node", family: "AF_INET", address: "10.0.0.53", port: 53, path: undefined, result: "0" },
        { pid: 300, program: "/usr/bin/node", family: "AF_INET", address: "192.0.2.7", port: 80, path: undefined, result: "-1 ENETUNREACH" },
        { pid: 300, program: "/usr/sbin/tor", family: "AF_UNSPEC", address: undefined, port: undefined, path: undefined, result: "0" },
      ]);
  });

  test("DNS: connects and sends to port 53, on a connected socket or addressed; not after close, not in data", () => {
    expect(report.dnsConnects.map((c) => c.address)).toEqual(["10.0.0.53"]);
    // sendmmsg + sendto on fd 26 while connected to :53, and the addressed sendto to [2001:db8::53]:53.
    expect(report.dnsSends).toBe(3);
    expect(report.resolverConnects.map((c) => c.path)).toEqual(["/var/run/nscd/socket"]);
  });

  test("non-loopback destinations", () => {
    expect(report.nonLoopback.map((c) => c.address)).toEqual(["10.0.0.53", "192.0.2.7"]);
  });

  test("execs, and the line it did not understand", () => {
    expect(report.execs).toEqual([
      { pid: 100, path: "/usr/bin/node" },
      { pid: 300, path: "/usr/sbin/tor" },
    ]);
    expect(report.unparsed).toEqual(["100   +++ exited with 0 +++"]);
    expect(report.lines).toBe(21);
  });
});

requires("strace").describe("traceProcess on a real program", () => {
  let dir: string;
  let tcp: Server;
  let unix: Server;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "po-strace-"));
    tcp = createServer((s) => s.end());
    unix = createServer((s) => s.end());
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    await new Promise<void>((r) => unix.listen(path.join(dir, "peer.sock"), () => r()));
  });
  afterAll(async () => {
    await new Promise<void>((r) => tcp.close(() => r()));
    await new Promise<void>((r) => unix.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test("a loopback TCP port and a Unix socket: both reported, nothing else, and stop() ends a running program", async () => {
    const port = (tcp.address() as AddressInfo).port;
    const script = `
      const net = require("node:net"), dgram = require("node:dgram");
      const done = (n) => { if (--left === 0) process.stdout.write("connected\\n"); };
      let left = 3;
      net.connect(${port}, "127.0.0.1").on("close", done).resume();
      net.connect(${JSON.stringify(path.join(dir, "peer.sock"))}).on("close", done).resume();
      // A datagram to ourselves whose payload looks like a DNS address.
      const u = dgram.createSocket("udp4");
      u.bind(0, "127.0.0.1", () => u.send("sin_port=htons(53)", u.address().port, "127.0.0.1", () => { u.close(); done(); }));
      setInterval(() => {}, 1000); // runs until stopped
    `;
    const traced = traceProcess(process.execPath, ["-e", script]);
    let out = "";
    await new Promise<void>((resolve, reject) => {
      traced.child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("connected")) resolve();
      });
      void traced.exited.then(() => reject(new Error(`exited early: ${out}`)));
    });
    const pid = await traced.pid;
    const report = await traced.stop();
    const exit = await traced.exited;
    expect(exit.signal ?? exit.code).toBe("SIGTERM");

    const inet = report.connects.filter((c) => c.family === "AF_INET" || c.family === "AF_INET6");
    expect(inet).toEqual([expect.objectContaining({ family: "AF_INET", address: "127.0.0.1", port, pid, program: process.execPath })]);
    expect(report.connects).toContainEqual(expect.objectContaining({ family: "AF_UNIX", path: path.join(dir, "peer.sock"), result: "0", pid }));
    expect(report.sends).toContainEqual(expect.objectContaining({ pid, destination: expect.objectContaining({ address: "127.0.0.1" }) }));
    expect(report.nonLoopback).toEqual([]);
    expect(report.dnsConnects).toEqual([]);
    expect(report.dnsSends).toBe(0);
    expect(report.execs.map((e) => e.path)).toContain(process.execPath);
  });

  requires("netns").test(
    "a real dns.lookup is caught: glibc connects to the nameserver and sends to port 53 (in a namespace where only lo exists)",
    async () => {
      // The queries must not leave the machine, and must not even be addressed anywhere but
      // loopback: they run in new network and mount namespaces, where only lo exists and
      // /etc/resolv.conf is replaced by one naming 127.0.0.1, so glibc's resolver really
      // sends (and gets "port unreachable" back).
      const dir = mkdtempSync(path.join(tmpdir(), "po-resolv-"));
      const resolvFile = path.join(dir, "resolv.conf");
      writeFileSync(resolvFile, "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n");
      const servers = ["127.0.0.1"];
      const useVc = false;
      expect(/\bexample\.invalid\b/.test(readFileSync("/etc/hosts", "utf8"))).toBe(false);
      const script = `require("node:dns").lookup("example.invalid", (e) => { console.log(e ? e.code : "resolved"); })`;
      const shell = `ip link set lo up && mount --bind "$2" /etc/resolv.conf && exec "$0" -e "$1"`;
      const traced = traceProcess(findProgram("unshare")!, ["--net", "--mount", "--", "/bin/sh", "-c", shell, process.execPath, script, resolvFile]);
      let out = "";
      traced.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      let err = "";
      traced.child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      const exit = await traced.exited;
      const pid = await traced.pid;
      const report = await traced.stop();
      expect({ exit, err }).toEqual({ exit: { code: 0, signal: null }, err: "" });
      expect(out.trim()).toMatch(/^E[A-Z_]+$/); // the lookup failed, as it must here

      expect(report.dnsConnects.length).toBeGreaterThan(0);
      expect(servers).toContain(report.dnsConnects[0]!.address);
      // The lookup ran on a libuv worker thread: it is still reported as the node process.
      expect(report.dnsConnects[0]).toMatchObject({ pid, program: process.execPath, port: 53 });
      if (!useVc) expect(report.dnsSends).toBeGreaterThan(0);
      expect(report.nonLoopback).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
      console.log(
        `DNS attempt seen by strace: ${report.dnsConnects.length} connect(s) to ${[...new Set(report.dnsConnects.map((c) => c.address))].join(", ")} port 53, ` +
          `${report.dnsSends} send(s), ${report.resolverConnects.length} nscd/resolved socket attempt(s)`,
      );
    },
  );
});
