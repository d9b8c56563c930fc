// No DNS lookup ever happens for a peer's name: tor resolves it, at the far end.
//
// 1. In-process: every lookup/resolve function of node:dns (callback API, dns.promises,
//    both Resolver classes) is replaced by a trap that records the call and fails; then
//    onion names (and, with clearnet allowed, a DNS name) are dialled through a fake SOCKS
//    server. A control dial through plain net.connect shows that the traps do catch what
//    node's own connect would do.
// 2. System calls: a node process dials the same way under strace, inside a network
//    namespace with only lo (so even a leak could not leave the machine); strace must see
//    no connect or send to port 53, no nscd/resolved socket, only 127.0.0.1.
import { syncBuiltinESMExports } from "node:module";
import dns from "node:dns";
import * as dnsPromisesModule from "node:dns/promises";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { isolationCredentials } from "../../src/tor/isolation.js";
import { onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { dialThroughTor } from "../../src/tor/socks-dialer.js";
import { FakeSocksServer } from "../support/fake-socks.js";
import { findProgram } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { traceProcess } from "../support/strace.js";

const ONIONS = [1, 2, 3].map((n) => onionAddressFromSeed(Buffer.alloc(32, n)));
const NAMES = [ONIONS[0]!, `conference.${ONIONS[1]!}`, ONIONS[2]!.toUpperCase()];
const CREDENTIALS = isolationCredentials(ONIONS[0]!, Buffer.alloc(32, 9));

type Fn = (...args: unknown[]) => unknown;
interface Trap {
  calls: { api: string; args: unknown[] }[];
  restore(): void;
}

/** Replaces every lookup*, resolve* and reverse function of node:dns with a recording failure. */
function trapDns(): Trap {
  const calls: Trap["calls"] = [];
  const saved: [Record<string, unknown>, string, unknown][] = [];
  const targets: [string, Record<string, unknown>, "callback" | "promise"][] = [
    ["dns", dns as unknown as Record<string, unknown>, "callback"],
    ["dns.promises", dns.promises as unknown as Record<string, unknown>, "promise"],
    ["node:dns/promises", (dnsPromisesModule as { default?: unknown }).default as Record<string, unknown>, "promise"],
    ["dns.Resolver", dns.Resolver.prototype as unknown as Record<string, unknown>, "callback"],
    ["dns.promises.Resolver", dns.promises.Resolver.prototype as unknown as Record<string, unknown>, "promise"],
  ];
  const seen = new Set<unknown>();
  for (const [label, target, style] of targets) {
    if (!target || seen.has(target)) continue;
    seen.add(target);
    for (const name of Object.getOwnPropertyNames(target)) {
      if (!/^(lookup|resolve|reverse)/.test(name)) continue;
      const original = target[name];
      if (typeof original !== "function") continue;
      saved.push([target, name, original]);
      target[name] = function trap(...args: unknown[]): unknown {
        calls.push({ api: `${label}.${name}`, args });
        const error = Object.assign(new Error(`DNS trap: ${label}.${name}(${String(args[0])})`), { code: "ENOTFOUND" });
        if (style === "promise") return Promise.reject(error);
        const callback = [...args].reverse().find((a) => typeof a === "function") as Fn | undefined;
        if (callback) process.nextTick(() => callback(error));
        else throw error;
        return undefined;
      };
    }
  }
  // ES module named imports of node:dns (`import { lookup } from "node:dns"`) see the traps too.
  syncBuiltinESMExports();
  return {
    calls,
    restore() {
      for (const [target, name, original] of saved) target[name] = original;
      syncBuiltinESMExports();
    },
  };
}

describe("no DNS lookups in-process", () => {
  let fake: FakeSocksServer;
  let trap: Trap;
  beforeEach(async () => {
    fake = await FakeSocksServer.start({ action: { reply: 0x00 } });
    trap = trapDns();
  });
  afterEach(async () => {
    trap.restore();
    await fake.close();
  });

  test("the traps catch what a name-resolving connect would do (control)", async () => {
    const error = await new Promise<Error>((resolve) => connect({ host: "peer.example", port: 5269 }).once("error", resolve));
    expect(error.message).toContain("DNS trap");
    await expect(dns.promises.resolve4("peer.example")).rejects.toThrow("DNS trap");
    await expect(new dns.promises.Resolver().resolveSrv("_xmpp-server._tcp.peer.example")).rejects.toThrow("DNS trap");
    expect(trap.calls.map((c) => c.api)).toEqual(["dns.lookup", "dns.promises.resolve4", "dns.promises.Resolver.resolveSrv"]);
    expect(trap.calls[0]!.args[0]).toBe("peer.example");
  });

  test("dialling onion names (and a clearnet name when allowed) looks nothing up; tor gets the names", async () => {
    const opts = { socks: { host: fake.host, port: fake.port }, credentials: CREDENTIALS, timeoutMs: 5000 };
    for (const name of NAMES) (await dialThroughTor(name, 5269, opts)).destroy();
    (await dialThroughTor("xmpp.example.org", 5269, { ...opts, allowClearnet: true })).destroy();
    // Failures too: nothing falls back to a lookup.
    fake.configure({ action: { reply: 0xf0 } });
    await expect(dialThroughTor(ONIONS[0]!, 5269, opts)).rejects.toMatchObject({ code: "onion-not-found" });

    expect(trap.calls).toEqual([]);
    expect(fake.requests.map((r) => [r.atyp, r.address])).toEqual([
      [3, ONIONS[0]],
      [3, `conference.${ONIONS[1]}`],
      [3, ONIONS[2]],
      [3, "xmpp.example.org"],
      [3, ONIONS[0]],
    ]);
  });
});

requires("strace", "netns").describe("no DNS at the system-call level", () => {
  test("a process dialling onion names makes no DNS traffic and connects only to 127.0.0.1", async () => {
    const dialer = fileURLToPath(new URL("../../src/tor/socks-dialer.js", import.meta.url));
    const fakeSocks = fileURLToPath(new URL("../support/fake-socks.js", import.meta.url));
    const script = `
      const { dialThroughTor } = await import(${JSON.stringify(dialer)});
      const { FakeSocksServer } = await import(${JSON.stringify(fakeSocks)});
      const fake = await FakeSocksServer.start({ action: { reply: 0x00 } });
      const opts = { socks: { host: fake.host, port: fake.port }, credentials: ${JSON.stringify(CREDENTIALS)}, timeoutMs: 5000 };
      for (const name of ${JSON.stringify(NAMES)}) (await dialThroughTor(name, 5269, opts)).destroy();
      (await dialThroughTor("xmpp.example.org", 5269, { ...opts, allowClearnet: true })).destroy();
      console.log(JSON.stringify({ port: fake.port, seen: fake.requests.map((r) => r.address) }));
      await fake.close();
    `;
    const traced = traceProcess(findProgram("unshare")!, [
      "--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$0" --input-type=module -e "$1"', process.execPath, script,
    ]);
    let out = "";
    let err = "";
    traced.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    traced.child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exit = await traced.exited;
    const report = await traced.stop();
    expect({ exit, err }).toEqual({ exit: { code: 0, signal: null }, err: "" });
    const { port, seen } = JSON.parse(out) as { port: number; seen: string[] };
    expect(seen).toEqual([ONIONS[0], `conference.${ONIONS[1]}`, ONIONS[2], "xmpp.example.org"]);

    expect(report.dnsConnects).toEqual([]);
    expect(report.dnsSends).toBe(0);
    expect(report.resolverConnects).toEqual([]);
    expect(report.nonLoopback).toEqual([]);
    const inet = report.connects.filter((c) => c.family === "AF_INET" || c.family === "AF_INET6");
    expect(inet.length).toBe(4);
    for (const c of inet) expect(c).toMatchObject({ family: "AF_INET", address: "127.0.0.1", port });
  });
});
