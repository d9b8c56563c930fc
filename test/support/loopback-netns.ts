// A network namespace whose only interface is loopback, for running a client
// we did not write (Finch) with no way to reach anything but our daemon.
//
// Inside the namespace a small relay listens on 127.0.0.1:<port> and forwards
// each connection through a Unix socket to the daemon's real TCP address in
// the test's namespace: a socket *file* is reachable across network
// namespaces, TCP is not. Everything else the client might try (DNS to the
// resolver in /etc/resolv.conf, UPnP/SSDP multicast, STUN) finds no route.
//
// The namespace lives as long as a process is in it: the relay, and whatever
// the caller starts inside with `nsenter --net=<nsPath>` (e.g. a tmux server).
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import { findProgram, missing } from "./prerequisites.js";

export interface LoopbackNetns {
  /** Pass to `nsenter --net=...` to run a program inside the namespace. */
  readonly nsPath: string;
  /** PID of the relay (the process holding the namespace). */
  readonly relayPid: number;
  /** Connections the relay has forwarded so far. */
  forwarded(): number;
  /** Stop the relay and the bridge (idempotent). */
  close(): Promise<void>;
}

export interface LoopbackNetnsOptions {
  /** A private temp dir for the Unix socket (path must stay < 108 bytes). */
  dir: string;
  /** Port the relay listens on at 127.0.0.1 inside the namespace. */
  port: number;
  /** Where connections go, in the test's own namespace. */
  target: { host: string; port: number };
  /** How long the relay may take to start. Default 10 s. */
  startTimeoutMs?: number;
}

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

// Where tests written before prerequisites.ts look for it.
export { findProgram };

/** Interface names in the text of /proc/net/dev (the reader's namespace, unlike /sys/class/net). */
export function interfacesIn(procNetDev: string): string[] {
  return procNetDev
    .split("\n")
    .slice(2)
    .map((line) => line.split(":")[0]!.trim())
    .filter(Boolean)
    .sort();
}

/** What scripts/in-loopback-netns.sh adds besides loopback: a veth pair that leads nowhere. */
export const DECOY_INTERFACES = ["d0", "d1"] as const;

/** The IPv4 routes of /proc/self/net/route that go through a gateway (a way out): none in our namespace. */
export function gatewayRoutes(procNetRoute: string): string[] {
  return procNetRoute
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 2 && f[2] !== "00000000")
    .map((f) => `${f[0]} via ${f[2]}`);
}

/** The decoy addresses the namespace gives d0 (PURPLE_ONION_DECOY_ADDRS), or [] outside it. */
export function decoyAddresses(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PURPLE_ONION_DECOY_ADDRS ?? "").split(/\s+/).filter(Boolean);
}

// Runs inside the namespace: 127.0.0.1:RELAY_PORT -> Unix socket RELAY_SOCKET.
// It exits when its stdin closes, so it cannot outlive the test process.
const RELAY_SOURCE = `
const net = require("node:net");
let forwarded = 0;
const server = net.createServer((client) => {
  const upstream = net.connect(process.env.RELAY_SOCKET);
  forwarded++;
  process.stdout.write("forwarded " + forwarded + "\\n");
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => client.destroy());
});
server.on("error", (err) => { process.stderr.write(String(err) + "\\n"); process.exit(1); });
server.listen(Number(process.env.RELAY_PORT), "127.0.0.1", () => process.stdout.write("relay ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

// Relays still running if the test process dies without cleaning up.
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startLoopbackNetns(options: LoopbackNetnsOptions): Promise<LoopbackNetns> {
  const reason = missing("netns");
  if (reason) throw new Error(`no loopback-only network namespace: ${reason}`);
  const socketPath = path.join(options.dir, "relay.sock");
  const bridge = await startBridge(socketPath, options.target);

  // `unshare --net` without --fork: the shell (then node, via exec) is the
  // first process in the new namespace, so its PID names the namespace.
  const child = spawn(
    findProgram("unshare")!,
    ["--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$0" -e "$1"', process.execPath, RELAY_SOURCE],
    {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: `${process.env.PATH ?? ""}:${SEARCH_PATH.join(":")}`, RELAY_PORT: String(options.port), RELAY_SOCKET: socketPath },
    },
  );
  running.add(child);
  let output = "";
  let forwarded = 0;
  child.stdout!.on("data", (d: Buffer) => {
    output += d.toString();
    forwarded = (output.match(/^forwarded /gm) ?? []).length;
  });
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));

  const close = async (): Promise<void> => {
    running.delete(child);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin!.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    }
    await bridge.close();
    rmSync(socketPath, { force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (!output.includes("relay ready")) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`the loopback relay did not start (exit ${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    nsPath: `/proc/${child.pid}/ns/net`,
    relayPid: child.pid!,
    forwarded: () => forwarded,
    close,
  };
}

/** Unix socket -> TCP, in the test's own namespace. */
async function startBridge(socketPath: string, target: { host: string; port: number }): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server: Server = createServer((inner) => {
    const outer = createConnection(target);
    track(inner);
    track(outer);
    inner.pipe(outer);
    outer.pipe(inner);
    inner.on("close", () => outer.destroy());
    outer.on("close", () => inner.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
