// A real Prosody 0.12 with mod_onions as a federation peer on the private Tor
// network: its s2s listener published as an onion on a tornet client's tor
// (ADD_ONION over a control connection we keep, so the onion outlives a
// restart of Prosody), its outgoing s2s through that tor's SOCKS port.
// mod_onions dials onions by name through SOCKS5 and ignores SOCKS errors;
// Prosody's dialback opens its own callback connection: 2 streams per pair.
//
// Only ever run as `prosody -F --config FILE` (see prosody.ts).
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedIdentity } from "../../src/s2s/tls-certificate.js";
import { missing } from "./prerequisites.js";
import {
  freeLoopbackPort,
  launchProsody,
  luaString,
  normaliseAccounts,
  PROSODY_MODULES,
  register,
  stopChild,
  tail,
  throwawayConfigLines,
} from "./prosody.js";
import type { FedAccount } from "./federation.js";
import type { TestAccount } from "./server-under-test.js";
import { MiniControl } from "./tornet/control.js";
import { connectToOnion } from "./tornet/onion-probe.js";
import type { TorNetClient } from "./tornet/tornet.js";

/** The virtual port of the onion: where every XMPP server dials another (mod_onions' default too). */
export const ONION_S2S_PORT = 5269;

export interface ProsodyPeerOptions {
  /** The tornet client whose tor publishes the onion and carries Prosody's outgoing s2s. */
  client: TorNetClient;
  /** Account names (password generated) or name → password. Default alice, bob. */
  accounts?: string[] | Record<string, string>;
  /** A XEP-0045 service at conference.<onion> (Prosody's muc component). */
  muc?: boolean;
  /**
   * "off": no TLS on s2s at all (s2s_require_encryption and s2s_secure_auth false, no
   * s2s_auth_certs), dialback on plain streams. "default": Prosody's stock s2s settings
   * with a self-signed certificate, so it offers and requires STARTTLS. Default "off".
   */
  encryption?: "off" | "default";
  /** Prosody log level. Default "debug": interop bugs are diagnosed from it. */
  logLevel?: "debug" | "info" | "warn";
  startTimeoutMs?: number;
  /** How long the onion descriptor may take to upload. Default 60 s. */
  publishTimeoutMs?: number;
}

export interface ProsodyPeer {
  /** "<56 chars>.onion": the VirtualHost, and the onion published for it. */
  onion: string;
  /** conference.<onion> when started with muc. */
  conference: string | undefined;
  /** The c2s listener, plain TCP (clients authenticate with SCRAM-SHA-256). */
  host: "127.0.0.1";
  c2sPort: number;
  /** Where the onion forwards to. */
  s2sPort: number;
  accounts: Record<string, TestAccount>;
  /** Temp dir with config, data, certs and log; removed by stop(). */
  dir: string;
  logFile: string;
  /** The current Prosody process (a new one after restart()). */
  readonly pid: number;
  readonly running: boolean;
  /** The last lines of Prosody's log (every run: the file is appended to). */
  logTail(lines?: number): string;
  /** The whole log, or the part after `from` bytes (a mark taken with logSize()). */
  log(from?: number): string;
  logSize(): number;
  /**
   * Stops Prosody (SIGTERM), runs `whileDown` if given, and starts the same Prosody again:
   * same config, data, ports and onion.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) Prosody: its sockets stay open and unanswered meanwhile. */
  freeze(): void;
  thaw(): void;
  /** Stops Prosody, removes the onion and the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Until `onion` answers on 5269 through each of `clients`' tors. An uploaded descriptor is not yet
 * one every tor can fetch, and mod_onions turns a first dial that fails into a bounce (it does not
 * retry): a server's first contact is only tested once its peer is reachable. The probe streams
 * come before a scenario's counter marks.
 */
export async function waitReachable(onion: string, clients: readonly TorNetClient[], timeoutMs = 60_000): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      const started = Date.now();
      try {
        (await connectToOnion(c.socksPort, onion, ONION_S2S_PORT, timeoutMs)).destroy();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`${onion} was not reachable through ${c.name}'s tor after ${Date.now() - started} ms: ${why}`, { cause: err });
      }
    }),
  );
}

/** A Prosody account as FedClient logs in to it. */
export function prosodyAccount(peer: ProsodyPeer, name: string): FedAccount {
  const account = peer.accounts[name];
  if (!account) throw new Error(`the Prosody peer ${peer.onion} has no account ${name}`);
  return { jid: account.jid, onion: peer.onion, password: account.password, daemon: { name: `prosody ${peer.onion.slice(0, 8)}`, c2sPort: async () => peer.c2sPort } };
}

interface Ports {
  c2s: number;
  s2s: number;
}

/** Lines of Prosody's log that say a listener is up. */
const activated = (service: string, port: number) => `Activated service '${service}' on [127.0.0.1]:${port}`;

export async function startProsodyPeer(opts: ProsodyPeerOptions): Promise<ProsodyPeer> {
  const absent = missing("prosody-onions");
  if (absent) throw new Error(`${absent} (gate the test with requires("prosody-onions"))`);
  const encryption = opts.encryption ?? "off";
  const passwords = normaliseAccounts(opts.accounts ?? ["alice", "bob"]);
  const dir = mkdtempSync(join(tmpdir(), "purple-onion-prosody-peer-"));
  let control: MiniControl | undefined;
  try {
    mkdirSync(join(dir, "data"));
    mkdirSync(join(dir, "certs"));
    control = await MiniControl.connect(opts.client.controlPort, opts.client.cookieFile);
    await control.command("SETEVENTS HS_DESC");
    let ports = await pickPorts();
    // Without Flags=Detach the onion lives as long as this control connection: across
    // restarts of Prosody, and gone with stop() (or with this test process).
    const added = await control.command(`ADD_ONION NEW:ED25519-V3 Port=${ONION_S2S_PORT},127.0.0.1:${ports.s2s}`);
    const serviceId = replyValue(added.lines, "ServiceID");
    const privateKey = replyValue(added.lines, "PrivateKey");
    const onion = `${serviceId}.onion`;
    const conference = opts.muc ? `conference.${onion}` : undefined;
    const published = control.waitForEvent(new RegExp(`^HS_DESC UPLOADED ${serviceId} `), opts.publishTimeoutMs ?? 60_000);
    published.catch(() => undefined);
    if (encryption === "default") writeSelfSignedCertificate(join(dir, "certs"), onion);

    const configFile = join(dir, "prosody.cfg.lua");
    const config = (p: Ports) => writeFileSync(configFile, configText(dir, p, opts.client, onion, conference, encryption, opts.logLevel ?? "debug"));
    config(ports);
    const accounts: Record<string, TestAccount> = {};
    for (const [name, password] of Object.entries(passwords)) {
      await register(configFile, name, onion, password);
      accounts[name] = { jid: `${name}@${onion}`, password };
    }
    const timeoutMs = opts.startTimeoutMs ?? 15_000;
    const start = (p: Ports) => launchProsody(dir, configFile, [activated("c2s", p.c2s), activated("s2s", p.s2s)], `127.0.0.1:${p.c2s} and :${p.s2s}`, timeoutMs);
    // A "free" port may be taken between our probe and Prosody's bind: new ports, and the
    // same onion (its key) pointed at the new s2s port.
    let started = await start(ports);
    for (let attempt = 2; !started.ok && started.portTaken && attempt <= 3; attempt++) {
      ports = await pickPorts();
      await control.command(`DEL_ONION ${serviceId}`);
      await control.command(`ADD_ONION ${privateKey} Port=${ONION_S2S_PORT},127.0.0.1:${ports.s2s}`);
      config(ports);
      started = await start(ports);
    }
    if (!started.ok) throw new Error(started.reason);
    await published.catch((err: Error) => {
      if (started.ok) started.child.kill("SIGKILL");
      throw new Error(`the onion of the Prosody peer was not published: ${err.message}`);
    });
    return peerHandle({ dir, onion, conference, ports, accounts, control, child: started.child, restartWith: () => start(ports) });
  } catch (err) {
    control?.close();
    if (process.env.PURPLE_ONION_KEEP_PROSODY !== "1") rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function pickPorts(): Promise<Ports> {
  for (;;) {
    const c2s = await freeLoopbackPort();
    const s2s = await freeLoopbackPort();
    if (c2s !== s2s) return { c2s, s2s };
  }
}

function replyValue(lines: string[], key: string): string {
  const value = lines.map((l) => (l.startsWith(`${key}=`) ? l.slice(key.length + 1) : undefined)).find(Boolean);
  if (!value) throw new Error(`ADD_ONION gave no ${key}: ${lines.join(" / ")}`);
  return value;
}

/** What a Prosody needs to federate over Tor with mod_onions, as the README shows it. */
export interface ProsodyFederationSettings {
  onion: string;
  /** conference.<onion>, for a room service. */
  conference?: string;
  s2sPort: number;
  socksPort: number;
  /** "off": plain streams inside Tor; "default": Prosody's own s2s settings (STARTTLS required). */
  encryption: "off" | "default";
}

/**
 * The federation part of the config: the README's block ("Federating with a Prosody +
 * mod_onions server") is this, for encryption "default" (test/harness/readme-prosody-config.test.ts
 * checks it), so what users copy is what the tests run.
 */
export function prosodyFederationConfig(f: ProsodyFederationSettings): string[] {
  return [
    "-- Server-to-server only on loopback: tor's onion service forwards to it.",
    `s2s_ports = { ${f.s2sPort} }`,
    's2s_interfaces = { "127.0.0.1" }',
    "s2s_direct_tls_ports = { }",
    "-- mod_onions: every .onion through tor's SOCKS port, by name (tor resolves it).",
    'onions_socks5_host = "127.0.0.1"',
    `onions_socks5_port = ${f.socksPort}`,
    "-- Anything but an onion is refused rather than looked up through DNS.",
    "onions_only = true",
    ...(f.encryption === "off"
      ? ["-- Plain streams inside Tor (the onion already encrypts and authenticates).", "s2s_require_encryption = false", "s2s_secure_auth = false", 'modules_disabled = { "s2s_auth_certs" }']
      : []),
    "",
    `VirtualHost ${luaString(f.onion)}`,
    // Prosody's default modules_enabled already has "dialback" and "tls".
    '  modules_enabled = { "onions" }',
    ...(f.conference
      ? [
          "",
          `Component ${luaString(f.conference)} "muc"`,
          "  -- Without mod_onions of its own, the room service would look the onion up through DNS.",
          '  modules_enabled = { "onions" }',
        ]
      : []),
  ];
}

function configText(dir: string, ports: Ports, client: TorNetClient, onion: string, conference: string | undefined, encryption: "off" | "default", logLevel: string): string {
  const federation = prosodyFederationConfig({ onion, conference, s2sPort: ports.s2s, socksPort: client.socksPort, encryption });
  const lines = [
    ...throwawayConfigLines("test/support/prosody-peer.ts", dir, ports.c2s, logLevel),
    "c2s_direct_tls_ports = { }",
    "legacy_ssl_ports = { }",
    // What Prosody's default config enables for federation: dialback, and TLS unless "off".
    `modules_enabled = { ${[...PROSODY_MODULES, "dialback", ...(encryption === "default" ? ["tls"] : [])].map(luaString).join(", ")} }`,
    // FedClient logs in with SCRAM-SHA-256; internal_hashed stores SHA-1 unless told.
    'password_hash = "SHA-256"',
    'authentication = "internal_hashed"',
    'storage = "internal"',
    "c2s_require_encryption = false",
    "allow_unencrypted_plain_auth = true",
    // A room is usable at once, without the owner configuring it first.
    "muc_room_locking = false",
    ...federation,
    "",
  ];
  return lines.join("\n");
}

/**
 * The onion's self-signed certificate as <onion>.crt/.key, made by the same code as our daemon's
 * (src/s2s/tls-certificate.ts). Prosody indexes the dir by the names in each certificate and
 * falls back to the parent domain's, so conference.<onion> uses it too.
 */
function writeSelfSignedCertificate(certsDir: string, onion: string): void {
  const { keyPem, certPem } = selfSignedIdentity(onion);
  writeFileSync(join(certsDir, `${onion}.key`), keyPem, { mode: 0o600 });
  writeFileSync(join(certsDir, `${onion}.crt`), certPem);
}

function peerHandle(p: {
  dir: string;
  onion: string;
  conference: string | undefined;
  ports: Ports;
  accounts: Record<string, TestAccount>;
  control: MiniControl;
  child: ChildProcess;
  restartWith: () => ReturnType<typeof launchProsody>;
}): ProsodyPeer {
  const logFile = join(p.dir, "prosody.log");
  let child = p.child;
  let stopping: Promise<void> | undefined;
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile) : Buffer.alloc(0));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    onion: p.onion,
    conference: p.conference,
    host: "127.0.0.1",
    c2sPort: p.ports.c2s,
    s2sPort: p.ports.s2s,
    accounts: p.accounts,
    dir: p.dir,
    logFile,
    get pid() {
      return child.pid ?? -1;
    },
    get running() {
      return alive();
    },
    logTail: (lines = 40) => tail(readLog().toString("utf8"), lines),
    log: (from = 0) => readLog().subarray(from).toString("utf8"),
    logSize: () => readLog().length,
    async restart(whileDown) {
      if (stopping) throw new Error("this Prosody peer was stopped");
      if (child.signalCode === null) child.kill("SIGCONT");
      await stopChild(child, 5000);
      await whileDown?.();
      const started = await p.restartWith();
      if (!started.ok) throw new Error(`the Prosody peer did not come back: ${started.reason}`);
      child = started.child;
    },
    freeze: () => void child.kill("SIGSTOP"),
    thaw: () => void child.kill("SIGCONT"),
    stop() {
      stopping ??= (async () => {
        if (alive()) child.kill("SIGCONT");
        await stopChild(child, 5000);
        p.control.close();
        if (process.env.PURPLE_ONION_KEEP_PROSODY !== "1") rmSync(p.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
