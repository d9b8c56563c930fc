// libpurple forks a resolver child per DNS lookup unless its host resolves for it; in a Node
// process that child would inherit libuv's fds (design/BRIDGE.md). Under strace, a client whose
// server is a name (localhost, resolved through the bridge's GResolver ops) signs on and talks
// without forking any process, without a DNS packet, and without leaving loopback.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccountAddResult } from "../../src/daemon/control-protocol.js";
import { startBridgeProcess, type BridgeProcess } from "../support/bridge-process.js";
import { DaemonProcess, tempDataDir } from "../support/daemon.js";
import { controlRequest } from "../support/federation.js";
import { findProgram } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { parseStrace } from "../support/strace.js";

/** Processes created (fork, vfork, or clone/clone3 without CLONE_THREAD) that succeeded. */
function forks(trace: string): string[] {
  return trace.split("\n").filter((line) => {
    if (/\b(v?fork)\(\)\s*=\s*\d+/.test(line)) return true;
    const clone = /\bclone3?\((.*)\)\s*=\s*(\d+)/.exec(line);
    return clone !== null && !clone[1]!.includes("CLONE_THREAD") && Number(clone[2]) > 0;
  });
}

requires("native", "strace").describe("libpurple bridge: no resolver children, no DNS", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-nofork-"));
  const dataDir = tempDataDir();
  const daemon = new DaemonProcess(dataDir);
  const traceFile = path.join(root, "trace.txt");
  let bridge: BridgeProcess | undefined;

  afterAll(async () => {
    await bridge?.stop();
    await daemon.stop();
    if (!process.env.KEEP_TRACE) rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 20_000);

  test("signing on to 'localhost' and sending an IM forks nothing and sends no DNS query", async () => {
    await daemon.start();
    const account = await controlRequest<AccountAddResult>(dataDir, "account.add", { localpart: "carol" });
    const wrap = [findProgram("strace")!, "-f", "-qq", "-e", "signal=none", "-s", "256", "-o", traceFile,
      "-e", "trace=connect,sendto,sendmsg,sendmmsg,close,execve,clone,clone3,fork,vfork"];
    bridge = await startBridgeProcess({ home: path.join(root, "home"), name: "carol", wrap });
    const ref = { username: `${account.jid}/bridge` };
    await bridge.call("setPref", "/purple/network/stun_server", "127.0.0.1");
    await bridge.call("addAccount", ref);
    await bridge.call("setSetting", ref, "connect_server", "localhost");
    await bridge.call("setSetting", ref, "port", account.port);
    await bridge.call("setSetting", ref, "connection_security", "opportunistic_tls");
    await bridge.call("setPassword", ref, account.password);
    await bridge.call("setEnabled", ref, true);
    await bridge.waitFor("signed-on", () => true, 15_000, "carol signs on");
    await bridge.call("sendIm", ref, account.jid, "note to self");
    await bridge.waitFor("received-im", (e) => e.text === "note to self", 10_000, "carol's note to herself");
    const stopped = await bridge.stop();
    expect(stopped.killed).toBe(false);

    const trace = readFileSync(traceFile, "utf8");
    const report = parseStrace(trace);
    expect(report.connects.some((c) => c.port === account.port)).toBe(true); // the trace saw the login
    expect(forks(trace)).toEqual([]);
    expect(report.execs.map((e) => e.path)).toEqual([process.execPath]);
    expect(report.dnsSends).toBe(0);
    expect(report.dnsConnects).toEqual([]);
    expect(report.nonLoopback).toEqual([]);
  }, 40_000);
});
