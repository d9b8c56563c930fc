// A private Tor network on 127.0.0.1 for tests: 1 directory authority + 5
// relays and N client tors with SOCKS and control ports. Nothing in it can
// reach the real Tor network. Measured behaviour and pitfalls:
// /work/shared/design/TORNET.md, and RELAYS below.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsensusWatch } from "./consensus-watch.js";
import { fetchConsensus, lackingRelays, type ConsensusSummary } from "./consensus.js";
import { installNetworkKeys } from "./keys.js";
import { freePorts } from "./ports.js";
import { torNetMissing } from "./tor-binaries.js";
import { PortInUseError, TorProcess } from "./tor-process.js";
import { authorityTorrc, clientTorrc, networkLines, relayTorrc, votingStartOffset, type AuthorityInfo } from "./torrc.js";

export interface TorNetClient {
  name: string;
  socksPort: number;
  controlPort: number;
  cookieFile: string;
  dataDir: string;
  pid: number;
  torrcPath: string;
}

export interface TorNet {
  dir: string;
  /** Current state of each client (startClient puts a new entry with the new pid in place). */
  clients: TorNetClient[];
  /** torrc lines a NEW tor needs to join this network as a client (no DataDirectory, ports or logs). */
  clientTorrcLines(): string[];
  /** Stops one client tor (SIGTERM by default; SIGKILL after 3 s). Its DataDirectory stays. */
  stopClient(name: string, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts a stopped client again with the same ports and DataDirectory; waits until
   * bootstrapped (3 min by default: a restarted client took more than a minute in CI runs).
   */
  startClient(name: string, bootstrapTimeoutMs?: number): Promise<TorNetClient>;
  /** Waits for "Bootstrapped 100%" in the client's current run. */
  waitBootstrapped(name: string, timeoutMs?: number): Promise<void>;
  /** Resident memory of every running tor, in kB, by name (authority, relay1.., client1..). */
  rssKb(): Record<string, number>;
  /** Whether the network stayed whole since it started: every consensus the authority served, checked (ConsensusWatch). */
  health(): string;
  /** The last lines of one tor's log (authority, relay1.., client1..), for a failed test's message. */
  logTail(name: string, lines?: number): string;
  /** Kills every tor by PID (SIGTERM, SIGKILL after 3 s) and removes the dir (kept if PURPLE_ONION_TORNET_KEEP=1). Idempotent. */
  stop(): Promise<void>;
}

export interface TorNetOptions {
  /** Client tors (SOCKS + control port each). Default 2. */
  clients?: number;
  /** Relays besides the authority. Default RELAYS. */
  relays?: number;
  /** Where all data dirs, torrcs and logs go; must be empty or absent. Default a fresh temp dir. Removed by stop(). */
  dir?: string;
  /** Progress lines (with timings). */
  log?: (line: string) => void;
  /** Time allowed from start until every client is bootstrapped. Default 90 s. */
  timeoutMs?: number;
}

/**
 * Relays besides the authority. 3 (4 in all) is the minimum onion services work with, and
 * a tight one: onion circuits need several distinct relays (guard, layer-2 vanguard, middle,
 * intro or rendezvous point), and with 4 tor often found no path and had to try again.
 * `npm run bench:tornet` (bench/README.md) counts tor's "No available nodes when trying to
 * choose node" warnings: about 100 in 2 minutes with 3 relays, none with 4 or 5. 5 leaves a
 * margin; each relay costs ~15 MB resident and next to no CPU.
 */
export const RELAYS = 5;
/** Seconds from starting the tors to the first vote: relays must have uploaded their descriptors by then. */
const FIRST_VOTE_AFTER_S = 5;
/** Attempts when a freshly chosen port is taken before tor binds it. */
const PORT_ATTEMPTS = 3;
const BOOTSTRAPPED = /Bootstrapped 100%/;
/** Onion services need guards and HSDirs; TestingDirAuthVote* gives every relay these. */
const REQUIRED_FLAGS = ["Running", "Valid", "Guard", "HSDir"];

interface ClientNode {
  info: TorNetClient;
  tor: TorProcess;
}

export async function startTorNet(opts: TorNetOptions = {}): Promise<TorNet> {
  const missing = torNetMissing();
  if (missing) throw new Error(missing);
  const clientCount = opts.clients ?? 2;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;

  const dir = prepareDir(opts.dir);
  const emptyTorrc = join(dir, "empty.torrc");
  writeFileSync(emptyTorrc, "");
  const paths = (name: string) => ({
    dataDir: join(dir, name),
    torrcPath: join(dir, `${name}.torrc`),
    logFile: join(dir, `${name}.log`),
    stdoutFile: join(dir, `${name}.stdout`),
  });

  const tors: TorProcess[] = [];
  const clients: ClientNode[] = [];
  let stopped = false;
  let watch: ConsensusWatch | undefined;
  const stopAll = async (): Promise<void> => {
    watch?.stop();
    await Promise.all(tors.map((t) => t.stop()));
    // PURPLE_ONION_TORNET_KEEP=1 keeps torrcs, data dirs and logs for a post-mortem.
    if (process.env.PURPLE_ONION_TORNET_KEEP === "1") log(`tornet: kept ${dir} (PURPLE_ONION_TORNET_KEEP=1)`);
    else rmSync(dir, { recursive: true, force: true });
  };

  try {
    const authPaths = paths("authority");
    const relayCount = opts.relays ?? RELAYS;
    const relayNames = Array.from({ length: relayCount }, (_, i) => `relay${i + 1}`);
    const keys = await installNetworkKeys(authPaths.dataDir, relayNames.map((n) => paths(n).dataDir), emptyTorrc);
    const { v3ident, authorityFingerprint: authFingerprint, relayFingerprints } = keys;
    log(`tornet: keys ready (${elapsed()})`);

    // The authority first (its ports go into every other torrc), then the
    // relays. The first vote is scheduled a few seconds ahead so that it
    // already sees every relay's descriptor.
    const { authInfo, authority } = await withFreshPorts(2, async ([orPort, dirPort]) => {
      const auth: AuthorityInfo = { nickname: "tnauth", orPort: orPort!, dirPort: dirPort!, v3ident, fingerprint: authFingerprint };
      const startOffsetS = votingStartOffset(new Date(), FIRST_VOTE_AFTER_S);
      const tor = new TorProcess({
        name: "authority",
        ...authPaths,
        emptyTorrc,
        torrcLines: authorityTorrc({ auth, ...authPaths, startOffsetS }),
        ports: [auth.orPort, auth.dirPort],
      });
      tors.push(tor);
      await tor.start(left());
      return { authInfo: auth, authority: tor };
    });
    await Promise.all(
      relayNames.map((name) =>
        withFreshPorts(1, async ([orPort]) => {
          const p = paths(name);
          const relay = new TorProcess({
            name,
            ...p,
            emptyTorrc,
            torrcLines: relayTorrc({ auth: authInfo, nickname: `tn${name}`, orPort: orPort!, ...p }),
            ports: [orPort!],
          });
          tors.push(relay);
          await relay.start(left());
        }),
      ),
    );
    log(`tornet: authority (DirPort ${authInfo.dirPort}) and ${relayCount} relays running (${elapsed()})`);

    const wanted = [authFingerprint, ...relayFingerprints];
    const named = new Map(wanted.map((f, i) => [f, i === 0 ? "authority" : relayNames[i - 1]!]));
    await waitForConsensus(authority, authInfo.dirPort, named, left());
    log(`tornet: consensus lists all ${wanted.length} relays (${elapsed()})`);
    watch = new ConsensusWatch(authInfo.dirPort, named, REQUIRED_FLAGS);
    watch.start();

    await Promise.all(
      Array.from({ length: clientCount }, (_, i) =>
        withFreshPorts(2, async ([socksPort, controlPort]) => {
          const name = `client${i + 1}`;
          const p = paths(name);
          mkdirSync(p.dataDir, { recursive: true, mode: 0o700 });
          const tor = new TorProcess({
            name,
            ...p,
            emptyTorrc,
            torrcLines: clientTorrc({ auth: authInfo, socksPort: socksPort!, controlPort: controlPort!, ...p }),
            ports: [socksPort!, controlPort!],
          });
          tors.push(tor);
          await tor.start(left());
          const info: TorNetClient = {
            name,
            socksPort: socksPort!,
            controlPort: controlPort!,
            cookieFile: join(p.dataDir, "control_auth_cookie"),
            dataDir: p.dataDir,
            pid: tor.pid,
            torrcPath: p.torrcPath,
          };
          clients[i] = { info, tor };
          await tor.waitForLog((l) => BOOTSTRAPPED.test(l), left(), "Bootstrapped 100%");
        }),
      ),
    );
    log(`tornet: ${clientCount} clients bootstrapped (${elapsed()})`);

    const client = (name: string): ClientNode => {
      const found = clients.find((c) => c.info.name === name);
      if (!found) throw new Error(`no tornet client named ${name} (have ${clients.map((c) => c.info.name).join(", ")})`);
      return found;
    };
    const net: TorNet = {
      dir,
      clients: clients.map((c) => c.info),
      clientTorrcLines: () => networkLines(authInfo),
      async stopClient(name, signal = "SIGTERM") {
        await client(name).tor.stop(signal);
      },
      async startClient(name, bootstrapTimeoutMs = 180_000) {
        const node = client(name);
        await node.tor.start(60_000);
        node.info = { ...node.info, pid: node.tor.pid };
        // In place, so a caller's reference to net.clients stays current.
        net.clients[clients.indexOf(node)] = node.info;
        await node.tor.waitForLog((l) => BOOTSTRAPPED.test(l), bootstrapTimeoutMs, "Bootstrapped 100%");
        return node.info;
      },
      async waitBootstrapped(name, ms = 60_000) {
        await client(name).tor.waitForLog((l) => BOOTSTRAPPED.test(l), ms, "Bootstrapped 100%");
      },
      rssKb() {
        return Object.fromEntries(tors.map((t) => [t.name, t.rssKb()]));
      },
      health() {
        return watch!.summary();
      },
      logTail(name, lines = 15) {
        const tor = tors.find((t) => t.name === name);
        if (!tor) throw new Error(`no tor named ${name} in this network (have ${tors.map((t) => t.name).join(", ")})`);
        return tor.tail(lines);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
      },
    };
    return net;
  } catch (err) {
    await stopAll();
    throw err instanceof Error ? new Error(`the private Tor network did not start: ${err.message}`, { cause: err }) : err;
  }

  // Ports are chosen by binding port 0 and releasing it; if another process
  // takes one before tor binds it, try again with fresh ports.
  async function withFreshPorts<T>(count: number, run: (ports: number[]) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(await freePorts(count));
      } catch (err) {
        if (!(err instanceof PortInUseError) || attempt >= PORT_ATTEMPTS) throw err;
        log(`tornet: ${err.message.split("\n")[0]}; retrying with other ports`);
      }
    }
  }
}

function prepareDir(dir: string | undefined): string {
  if (dir === undefined) return mkdtempSync(join(tmpdir(), "purple-onion-tornet-"));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (readdirSync(dir).length > 0) throw new Error(`${dir} is not empty: startTorNet removes its dir when stopped, so give it an empty one`);
  return dir;
}

/** `relays`: fingerprint → name of every relay the consensus must list with REQUIRED_FLAGS. */
async function waitForConsensus(authority: TorProcess, dirPort: number, relays: ReadonlyMap<string, string>, timeoutMs: number): Promise<ConsensusSummary> {
  const deadline = Date.now() + timeoutMs;
  let last: ConsensusSummary | undefined;
  for (;;) {
    last = await fetchConsensus(dirPort).catch(() => undefined);
    if (last && lackingRelays(last, relays, REQUIRED_FLAGS).length === 0 && last.validUntil.getTime() > Date.now()) return last;
    if (!authority.running || Date.now() > deadline) {
      const listed = last ? [...last.relays.values()].map((r) => `${r.nickname} [${r.flags.join(" ")}]`).join(", ") || "no relays" : "no consensus yet";
      throw new Error(`the authority's consensus does not list all ${relays.size} relays as ${REQUIRED_FLAGS.join(", ")} (${listed})\n${authority.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
