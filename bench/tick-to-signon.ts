// How long a user waits between ticking "Federate over Tor onion service" and the onion
// account being signed on, with tor unable to reach any network (goal: under 1 s). The
// account must not wait for Tor: the daemon serves it on 127.0.0.1 whatever tor is doing.
//
//   npm run bench:tick                     # in a loopback-only network namespace (root)
//   node dist/bench/tick-to-signon.js --accounts 8
//
// A libpurple client (the bridge, in its own process) with the plugin installed as
// scripts/install.sh installs it. First tick: no daemon runs, the plugin starts one, which
// launches its own tor; tor has no network (the namespace has only loopback), so it stays
// bootstrapping. Then one tick per further account with the daemon running, and one
// untick/tick of the first account (the companion exists: only enabling it). Prints a table
// and one JSON line at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { StatusResult } from "../src/daemon/control-protocol.js";
import { controlRequest } from "../test/support/federation.js";
import { PurpleClient, Trap } from "../test/support/plugin-host.js";

const GOAL_MS = 1000;

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { accounts: { type: "string", default: "5" } } });
  const accounts = Number(values.accounts);
  if (!Number.isInteger(accounts) || accounts < 1) throw new Error(`--accounts must be a positive integer, not ${values.accounts}`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "po-bt-"));
  const trap = await Trap.start();
  const client = await PurpleClient.start({ name: "bench", dataDir, serveArgs: "--tor launch", debug: process.env.BENCH_DEBUG === "1" });
  const rows: { what: string; ms: number; tor: string }[] = [];
  const torNow = async (): Promise<string> => {
    const s = await controlRequest<StatusResult>(dataDir, "status");
    return `${s.tor.state}${s.tor.bootstrap ? ` ${s.tor.bootstrap.progress}%` : ""}`;
  };
  try {
    for (let i = 0; i < accounts; i++) {
      const x = await client.addClearnetAccount(`user${i}@clearnet.example/pidgin`, trap, false);
      const started = performance.now();
      await client.tick(x);
      await client.companionSignedOn(x, 60_000);
      const ms = performance.now() - started;
      rows.push({ what: i === 0 ? "first tick (plugin starts the daemon)" : `tick, daemon running (account ${i + 1})`, ms, tor: await torNow() });
      process.stderr.write(`. ${rows.at(-1)!.what}: ${ms.toFixed(0)} ms\n`);
    }
    const first = { username: "user0@clearnet.example/pidgin", protocol: "prpl-jabber" };
    await client.tick(first, false);
    // Until the plugin noticed the untick: the companion goes offline.
    for (let i = 0; i < 100 && (await client.companionOf(first))?.state !== "disconnected"; i++) await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await client.tick(first, true);
    await client.companionSignedOn(first, 60_000);
    rows.push({ what: "untick, then tick again (companion exists)", ms: performance.now() - started, tor: await torNow() });
    if (trap.connections.length > 0) throw new Error(`a clearnet account reached its server ${trap.connections.length} times: the plugin let it connect`);
  } finally {
    await client.stop();
    await controlRequest(dataDir, "shutdown").catch(() => undefined);
    trap.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log("tick → onion account signed on, tor without any network");
  console.log(`${"".padEnd(46)}${"ms".padStart(8)}  tor at that moment`);
  for (const r of rows) console.log(`${r.what.padEnd(46)}${r.ms.toFixed(0).padStart(8)}  ${r.tor}`);
  const warm = rows.slice(1, accounts).map((r) => r.ms);
  if (warm.length > 0) {
    const s = stats(warm);
    console.log(`ticks with the daemon running: min ${s.min.toFixed(0)} ms, median ${s.median.toFixed(0)} ms, max ${s.max.toFixed(0)} ms`);
  }
  const worst = Math.max(...rows.map((r) => r.ms));
  console.log(`goal: every tick under ${GOAL_MS} ms: ${worst < GOAL_MS ? "met" : `missed (worst ${worst.toFixed(0)} ms)`}`);
  console.log(JSON.stringify({ bench: "tick-to-signon", goalMs: GOAL_MS, rows: rows.map((r) => ({ ...r, ms: Math.round(r.ms) })) }));
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
