// `npm run tornet [-- --clients N]`: starts the private Tor network on
// 127.0.0.1 (test/support/tornet), prints how to point purple-onion at it,
// and runs until Ctrl-C / SIGTERM, then stops every tor and removes its dir.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTorNet, type TorNet } from "./tornet/tornet.js";

function parseClients(argv: string[]): number {
  if (argv.length === 0) return 2;
  const n = Number(argv[1]);
  if (argv[0] !== "--clients" || argv.length !== 2 || !Number.isInteger(n) || n < 1 || n > 16) {
    process.stderr.write("usage: npm run tornet [-- --clients N]   (N from 1 to 16, default 2)\n");
    process.exit(2);
  }
  return n;
}

function instructions(net: TorNet): string {
  const out: string[] = [""];
  out.push(`Private Tor network running in ${net.dir} (logs: *.log there). Everything in it is removed on exit.`);
  out.push("");
  out.push("Attach purple-onion to one of its client tors:");
  for (const c of net.clients) {
    const dataDir = join(net.dir, "purple-onion", c.name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    out.push(`  ${c.name}: SocksPort 127.0.0.1:${c.socksPort}, ControlPort 127.0.0.1:${c.controlPort} (cookie ${c.cookieFile}), pid ${c.pid}`);
    out.push(`    purple-onion serve --tor attach --tor-control 127.0.0.1:${c.controlPort} --tor-socks 127.0.0.1:${c.socksPort} --data-dir ${dataDir}`);
  }
  // Launch mode: purple-onion starts its own tor, which joins this network
  // with these lines (the launcher adds DataDirectory, ports and logging).
  const torrc = join(net.dir, "join-tornet.torrc");
  writeFileSync(torrc, net.clientTorrcLines().join("\n") + "\n");
  const launchDir = join(net.dir, "purple-onion", "launch");
  mkdirSync(launchDir, { recursive: true, mode: 0o700 });
  out.push("");
  out.push(`Or let purple-onion launch its own tor into this network (torrc lines, also in ${torrc}):`);
  for (const line of net.clientTorrcLines()) out.push(`    ${line}`);
  out.push(`    purple-onion serve --tor launch --tor-torrc-append ${torrc} --data-dir ${launchDir}`);
  out.push("");
  out.push("The network stays valid only while it runs (consensus valid for 20 s). Ctrl-C to stop.");
  return out.join("\n") + "\n";
}

async function main(): Promise<void> {
  const clients = parseClients(process.argv.slice(2));
  const started = Date.now();
  // Handlers first, so a Ctrl-C during the start cleans up too (the harness
  // also SIGKILLs its tors whenever this process exits).
  let net: TorNet | undefined;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`tornet: ${signal} again, killing everything\n`);
      process.exit(1);
    }
    stopping = true;
    if (!net) {
      // main() stops it once startTorNet returns (or fails).
      process.stderr.write(`tornet: ${signal}, stopping once the start finishes (again to kill everything now)\n`);
      return;
    }
    process.stderr.write(`tornet: ${signal}, stopping the network\n`);
    void net.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tornet: stopping failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  try {
    net = await startTorNet({ clients, log: (line) => process.stderr.write(`${line}\n`) });
  } catch (err) {
    process.stderr.write(`tornet: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (stopping) {
    await net.stop();
    process.exit(0);
  }
  const rss = Object.values(net.rssKb()).reduce((a, b) => a + b, 0);
  process.stderr.write(`tornet: ready in ${((Date.now() - started) / 1000).toFixed(1)} s, ${Math.round(rss / 1024)} MB resident\n`);
  process.stdout.write(instructions(net));
  // Keep running until a signal arrives.
  setInterval(() => undefined, 1 << 30);
}

void main();
