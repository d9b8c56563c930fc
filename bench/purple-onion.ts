// purple-onion's daemon as a benchmark target: `serve` as a child process on
// a free loopback port, with `--tor none` or attached to a throwaway tor
// (bench/tor.ts); accounts created over the control socket (line-delimited
// JSON, docs/control-protocol.md) or, with BENCH_PO_ACCOUNTS=cli, through
// `purple-onion account add --json`.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  fileExists,
  freePort,
  logHas,
  makeTempDir,
  portAccepts,
  removeTempDir,
  sleep,
  startServerProcess,
  waitUntil,
  type ServerProcess,
} from "./processes.js";
import { splitJid, type BenchAccount, type BenchTarget } from "./target.js";
import { ThrowawayTor } from "./tor.js";

const execFileP = promisify(execFile);

// This file runs as dist/bench/purple-onion.js; the repository is two levels up.
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
// BENCH_PO_CLI points the benchmark at another build of the CLI.
export const DEFAULT_CLI = process.env.BENCH_PO_CLI ? resolve(process.env.BENCH_PO_CLI) : join(REPO, "dist", "src", "cli", "main.js");
// BENCH_PO_NODE_ARGS (BENCH_PO_BASELINE_NODE_ARGS for the baseline build): extra
// node flags for the daemon, for experiments only; what purple-onion needs must be
// set by `serve` itself.
const nodeArgs = (variable: string): string[] => (process.env[variable] ?? "").split(/\s+/).filter(Boolean);
export const NODE_ARGS = nodeArgs("BENCH_PO_NODE_ARGS");
export const BASELINE_NODE_ARGS = nodeArgs("BENCH_PO_BASELINE_NODE_ARGS");
// How long the Tor half may take to ADD_ONION every account.
const ONIONS_TIMEOUT_MS = 30_000;
// docs/control-protocol.md: the version this client speaks.
const CONTROL_PROTOCOL = 1;

/** What `account add` returns (CLI --json and control socket alike). */
interface AccountInfo {
  jid: string;
  host: string;
  port: number;
  password: string;
}

function toBenchAccount(info: AccountInfo, origin: string): BenchAccount {
  if (typeof info?.jid !== "string" || typeof info.password !== "string" || typeof info.port !== "number") {
    throw new Error(`${origin} returned an unexpected account object: ${JSON.stringify(info)}`);
  }
  const { localpart, domain } = splitJid(info.jid);
  return { jid: info.jid, username: localpart, domain, password: info.password, host: info.host ?? "127.0.0.1", port: info.port };
}

/** One connection to the daemon's control socket; requests are answered by id. */
class ControlClient {
  private buffered = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => this.onData(text));
    const fail = (why: string): void => {
      for (const p of this.pending.values()) p.reject(new Error(why));
      this.pending.clear();
    };
    socket.on("error", (err) => fail(`control socket error: ${err.message}`));
    socket.on("close", () => fail("control socket closed by the daemon"));
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolvePromise, reject) => {
      const socket = net.connect(path);
      socket.once("connect", () => resolvePromise(new ControlClient(socket)));
      socket.once("error", (err) => reject(new Error(`cannot connect to control socket ${path}: ${err.message}`)));
    });
  }

  request(op: string, args: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject });
      this.socket.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  close(): void {
    this.socket.end();
  }

  private onData(text: string): void {
    this.buffered += text;
    let newline: number;
    while ((newline = this.buffered.indexOf("\n")) !== -1) {
      const line = this.buffered.slice(0, newline).trim();
      this.buffered = this.buffered.slice(newline + 1);
      if (!line) continue;
      let reply: { id?: number; ok?: boolean; result?: unknown; error?: unknown };
      try {
        reply = JSON.parse(line) as typeof reply;
      } catch {
        continue; // not a reply (the daemon may push events); ignore
      }
      const waiter = reply.id === undefined ? undefined : this.pending.get(reply.id);
      if (!waiter) continue;
      this.pending.delete(reply.id!);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`control request failed: ${JSON.stringify(reply.error ?? reply)}`));
    }
  }
}

export interface PurpleOnionOptions {
  /** Target name for tables and JSON ("purple-onion", "purple-onion+tor", ...). */
  name: string;
  /** Path of dist/src/cli/main.js of the build under test. */
  cli: string;
  /** "none": `--tor none`; "attach": attached to a throwaway tor, every account's onion added. */
  tor: "none" | "attach";
  /** Extra node flags (experiments). */
  nodeArgs?: string[];
}

export class PurpleOnionTarget implements BenchTarget {
  readonly name: string;
  version = "purple-onion";
  private dir = "";
  private server: ServerProcess | undefined;
  private control: ControlClient | undefined;
  private tor: ThrowawayTor | undefined;
  private socksStandIn: net.Server | undefined;
  private readonly viaCli = process.env.BENCH_PO_ACCOUNTS === "cli";

  constructor(private readonly options: PurpleOnionOptions = { name: "purple-onion", cli: DEFAULT_CLI, tor: "none", nodeArgs: NODE_ARGS }) {
    this.name = options.name;
  }

  async start(): Promise<void> {
    const CLI = this.options.cli;
    if (!existsSync(CLI)) {
      throw new Error(`purple-onion is not built: ${CLI} is missing (run \`npm run build\`; src/cli/main.ts must exist)`);
    }
    try {
      // The package.json of the build under test: dist/src/cli/main.js is three levels below it.
      const pkg = JSON.parse(readFileSync(join(dirname(CLI), "..", "..", "..", "package.json"), "utf8")) as { version?: string };
      this.version = `${this.name} ${pkg.version ?? "?"}`;
    } catch {
      // keep the bare name
    }
    this.dir = makeTempDir("purple-onion-bench-po-");
    const port = await freePort();
    const logFile = join(this.dir, "daemon.log");
    const dataDir = join(this.dir, "data");
    let torArgs = ["--tor", "none"];
    if (this.options.tor === "attach") {
      this.tor = new ThrowawayTor();
      await this.tor.start();
      // The throwaway tor opens no SOCKS listener (DisableNetwork 1) and nothing dials out. A
      // listener of our own stands in for it, so that every build, old or new, gets a SOCKS port
      // it accepts (ours checks that it belongs to tor's user: this process's, like tor's).
      this.socksStandIn = net.createServer((s) => s.destroy());
      const standIn = this.socksStandIn;
      await new Promise<void>((r) => standIn.listen(0, "127.0.0.1", r));
      const socksPort = (standIn.address() as net.AddressInfo).port;
      torArgs = ["--tor", "attach", "--tor-control", `unix:${this.tor.controlSocket}`, "--tor-socks", `127.0.0.1:${socksPort}`];
    }
    this.server = startServerProcess(
      process.execPath,
      [...(this.options.nodeArgs ?? []), CLI, "serve", "--data-dir", dataDir, ...torArgs, "--c2s-port", String(port)],
      { logFile, cwd: this.dir },
    );
    const socketPath = join(dataDir, "control.sock");
    await waitUntil(`control socket ${socketPath}`, this.server, [logFile], fileExists(socketPath));
    await waitUntil(`c2s on 127.0.0.1:${port}`, this.server, [logFile], portAccepts("127.0.0.1", port));
    // The control socket answers before the daemon has finished starting (with Tor, account.add
    // fails while the Tor half loads): its "ready" log line is the signal.
    await waitUntil("the daemon's ready line in its log", this.server, [logFile], logHas(logFile, "purple-onion daemon ready"));
    if (!this.viaCli) {
      this.control = await ControlClient.connect(socketPath);
      const hello = (await this.control.request("hello", { protocol: CONTROL_PROTOCOL, client: "purple-onion-bench" })) as {
        protocol?: number;
      };
      if (hello?.protocol !== CONTROL_PROTOCOL) {
        throw new Error(`daemon speaks control protocol ${hello?.protocol}, the benchmark ${CONTROL_PROTOCOL}`);
      }
    }
  }

  async createAccount(localpart: string): Promise<BenchAccount> {
    if (!this.server) throw new Error("purple-onion is not running");
    if (this.control) {
      const result = await this.control.request("account.add", { localpart });
      return toBenchAccount(result as AccountInfo, "control op account.add");
    }
    const dataDir = join(this.dir, "data");
    let stdout: string;
    try {
      ({ stdout } = await execFileP(
        process.execPath,
        [this.options.cli, "account", "add", localpart, "--data-dir", dataDir, "--json"],
        { cwd: this.dir, timeout: 30_000 },
      ));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`purple-onion account add ${localpart} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
    const lastLine = stdout.trim().split("\n").pop() ?? "";
    let info: AccountInfo;
    try {
      info = JSON.parse(lastLine) as AccountInfo;
    } catch {
      throw new Error(`purple-onion account add --json printed no JSON: ${stdout}`);
    }
    return toBenchAccount(info, "purple-onion account add --json");
  }

  /**
   * Attached to tor: waits until the daemon is connected to tor and has added every
   * account's onion (ADD_ONION answered: state "uploading", or "published").
   */
  async settle(): Promise<void> {
    if (this.options.tor === "none") return;
    const control = this.control;
    if (!control) throw new Error("waiting for the onions needs the control socket (not BENCH_PO_ACCOUNTS=cli)");
    const deadline = Date.now() + ONIONS_TIMEOUT_MS;
    let last = "";
    while (Date.now() < deadline) {
      const status = (await control.request("status", {})) as {
        tor?: { state?: string; error?: string };
        accounts?: { jid: string; onionState?: string | null }[];
      };
      const accounts = status.accounts ?? [];
      const failed = accounts.find((a) => a.onionState === "failed");
      if (failed) throw new Error(`the onion of ${failed.jid} failed: ${JSON.stringify(status)}`);
      const connected = status.tor?.state === "bootstrapping" || status.tor?.state === "ready";
      if (connected && accounts.every((a) => a.onionState === "uploading" || a.onionState === "published")) return;
      last = JSON.stringify({ tor: status.tor, onions: accounts.map((a) => a.onionState) });
      await sleep(100);
    }
    throw new Error(`the daemon did not add every onion within ${ONIONS_TIMEOUT_MS} ms: ${last}`);
  }

  pid(): number {
    if (!this.server) throw new Error("purple-onion is not running");
    return this.server.pid;
  }

  async stop(): Promise<void> {
    this.control?.close();
    this.control = undefined;
    await this.server?.stop();
    this.server = undefined;
    await this.tor?.stop();
    this.tor = undefined;
    const standIn = this.socksStandIn;
    this.socksStandIn = undefined;
    if (standIn) await new Promise((r) => standIn.close(r));
    if (this.dir) {
      removeTempDir(this.dir);
      this.dir = "";
    }
  }
}
