// How well the private Tor network of the tests (test/support/tornet/) carries onion
// connections for a given number of relays: path-selection failures logged by its tors, and
// how long a restarted client and a fresh tor take to reach an onion. The figures behind
// RELAYS in test/support/tornet/tornet.ts.
//
//   npm run bench:tornet                       # in a loopback-only network namespace (root)
//   node dist/bench/tornet-paths.js --relays 3 --rounds 6 --onions 8
//
// Starts the network, publishes --onions onion services on client1 (an echo server behind
// them), then --rounds times: SIGKILLs client2, starts it again and times its first connect to
// one of those onions; starts a fresh tor that joins the network, times its first connect to
// an onion, publishes an onion of its own and times client1's first connect to it. Prints one
// line per round, the counts of tor's warnings that say a path could not be built, and one
// JSON line at the end.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MiniControl } from "../test/support/tornet/control.js";
import { connectToOnion, startEchoServer } from "../test/support/tornet/onion-probe.js";
import { freePorts } from "../test/support/tornet/ports.js";
import { TorProcess } from "../test/support/tornet/tor-process.js";
import { RELAYS, startTorNet, type TorNet } from "../test/support/tornet/tornet.js";

const ONION_PORT = 80;
/** tor's warnings when no relay fits a hop, and when it gave up on its learned circuit build timeout. */
const NO_PATH = "No available nodes when trying to choose node";
const CBT_RESET = "Resetting timeout to";

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${value}`);
  return n;
}

/** Milliseconds to a connected SOCKS stream, or the failure. */
async function timeConnect(socksPort: number, onion: string): Promise<number | string> {
  const started = Date.now();
  try {
    (await connectToOnion(socksPort, `${onion}.onion`, ONION_PORT, 300_000)).destroy();
    return Date.now() - started;
  } catch (err) {
    return `failed after ${Date.now() - started} ms (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Occurrences of `text` in every log of the network, the fresh tors' included. */
function countInLogs(net: TorNet, text: string): number {
  let n = 0;
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith(".log") || entry.name === "log") n += readFileSync(full, "utf8").split(text).length - 1;
    }
  };
  visit(net.dir);
  return n;
}

async function freshTor(net: TorNet, name: string): Promise<{ tor: TorProcess; control: MiniControl; socksPort: number }> {
  const dir = join(net.dir, name);
  mkdirSync(join(dir, "data"), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "empty.torrc"), "");
  const [socksPort, controlPort] = await freePorts(2);
  const tor = new TorProcess({
    name,
    torrcPath: join(dir, "torrc"),
    torrcLines: [
      ...net.clientTorrcLines(),
      `DataDirectory ${join(dir, "data")}`,
      `SocksPort 127.0.0.1:${socksPort} ExtendedErrors`,
      `ControlPort 127.0.0.1:${controlPort}`,
      "CookieAuthentication 1",
      `Log notice file ${join(dir, "log")}`,
    ],
    logFile: join(dir, "log"),
    stdoutFile: join(dir, "stdout"),
    emptyTorrc: join(dir, "empty.torrc"),
    ports: [socksPort!, controlPort!],
  });
  await tor.start(30_000);
  await tor.waitForLog((l) => /Bootstrapped 100%/.test(l), 120_000, "Bootstrapped 100%");
  const control = await MiniControl.connect(controlPort!, join(dir, "data", "control_auth_cookie"));
  await control.command("SETEVENTS HS_DESC");
  return { tor, control, socksPort: socksPort! };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { relays: { type: "string", default: String(RELAYS) }, rounds: { type: "string", default: "6" }, onions: { type: "string", default: "8" } },
  });
  const relays = positive("relays", values.relays);
  const rounds = positive("rounds", values.rounds);
  const onionCount = positive("onions", values.onions);
  const started = Date.now();
  const net = await startTorNet({ clients: 2, relays, log: (line) => process.stderr.write(`${line}\n`) });
  const echo = await startEchoServer();
  const control = await MiniControl.connect(net.clients[0]!.controlPort, net.clients[0]!.cookieFile);
  try {
    await control.command("SETEVENTS HS_DESC");
    const onions: string[] = [];
    for (let i = 0; i < onionCount; i++) onions.push(await control.addOnion(ONION_PORT, echo.port, 60_000));
    const results = { restarted: [] as (number | string)[], fresh: [] as (number | string)[], toFresh: [] as (number | string)[] };
    for (let round = 0; round < rounds; round++) {
      await net.stopClient("client2", "SIGKILL");
      const client2 = await net.startClient("client2");
      results.restarted.push(await timeConnect(client2.socksPort, onions[round % onions.length]!));
      const fresh = await freshTor(net, `fresh${round + 1}`);
      try {
        const own = await fresh.control.addOnion(ONION_PORT, echo.port, 60_000);
        const [out, into] = await Promise.all([timeConnect(fresh.socksPort, onions[(round + 1) % onions.length]!), timeConnect(net.clients[0]!.socksPort, own)]);
        results.fresh.push(out);
        results.toFresh.push(into);
      } finally {
        fresh.control.close();
        await fresh.tor.stop();
      }
      const ms = (x: number | string | undefined): string => (typeof x === "number" ? `${x} ms` : String(x));
      console.log(
        `round ${round + 1}: restarted client2 → onion ${ms(results.restarted.at(-1))}; fresh tor → onion ${ms(results.fresh.at(-1))}; client1 → the fresh tor's onion ${ms(results.toFresh.at(-1))}`,
      );
    }
    const noPath = countInLogs(net, NO_PATH);
    const cbtResets = countInLogs(net, CBT_RESET);
    console.log(`relays: ${relays} (and the authority); "${NO_PATH}": ${noPath}; "${CBT_RESET}": ${cbtResets}; network: ${net.health()}`);
    console.log(JSON.stringify({ relays, rounds, onions: onionCount, noPath, cbtResets, ...results, seconds: Math.round((Date.now() - started) / 1000) }));
  } finally {
    control.close();
    echo.close();
    await net.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
