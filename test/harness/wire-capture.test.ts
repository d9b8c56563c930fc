// test/support/wire-capture.ts: what a traced process tree says on its sockets, and only there.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { requires } from "../support/requires.js";
import { captureWrap, findNeedles, parseCapture } from "../support/wire-capture.js";

// A parent that starts a child; the child talks to a TCP server of its own (both ways) and writes
// a file: only the socket bytes count. (Node gives a child's stdio socketpairs, not pipes: those
// count as sockets.)
const SCRIPT = `
const net = require("node:net"), fs = require("node:fs"), cp = require("node:child_process");
if (process.argv[1] === "child") {
  const srv = net.createServer((s) => s.on("data", () => { s.end("pong from 10.77.77.77"); }));
  srv.listen(0, "127.0.0.1", () => {
    const c = net.connect(srv.address().port, "127.0.0.1", () => c.write("ping from po-decoy-host-77\\u00e9"));
    c.on("data", () => { c.destroy(); srv.close(); fs.writeFileSync(process.argv[2], "in-a-file fd77::77"); require("node:dns").lookup("po-no-such-name.invalid", () => process.exit(0)); });
  });
} else {
  cp.spawnSync(process.execPath, ["-e", process.argv[1], "child", process.argv[2]], { stdio: "pipe" });
}`;

requires("strace").test("socket payloads of a process and its children are found, files are not; name lookups show", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "po-capture-"));
  try {
    const trace = path.join(dir, "trace.txt");
    const [cmd, ...args] = captureWrap(trace);
    const r = spawnSync(cmd!, [...args, process.execPath, "-e", SCRIPT, SCRIPT, path.join(dir, "file.txt")], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    const capture = parseCapture(readFileSync(trace, "utf8"));
    const found = findNeedles(capture.io, [
      { what: "host name", text: "PO-DECOY-HOST-77" },
      { what: "IPv4", text: "10.77.77.77" },
      { what: "IPv6", text: "fd77::77" },
    ]);
    // Sent by one socket end, received by the other: each twice, both in the child.
    expect(found.map((f) => `${f.what} ${f.call}`).sort()).toEqual(["IPv4 read", "IPv4 write", "host name read", "host name write"]);
    expect(found.every((f) => f.command.includes("child"))).toBe(true);
    expect(found.find((f) => f.what === "host name")!.excerpt).toContain("ping from po-decoy-host-77\u00c3\u00a9");
    // The child looked a name up: glibc read its resolver files.
    expect(capture.resolverFiles.filter((f) => f.command.includes("child")).map((f) => f.path)).toEqual(expect.arrayContaining(["/etc/hosts"]));
    // The child listened on 127.0.0.1.
    expect(capture.binds.some((b) => b.command.includes("child") && b.line.startsWith("listen("))).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
