// A libpurple client with our plugin loaded, as a user's Pidgin would have it, for tests and
// benchmarks: a bridge in its own process (one libpurple per process) with its own HOME and
// libpurple user dir, the plugin installed the way scripts/install.sh installs it (the .so and
// purple-onion.ini, which tells the plugin how to start the daemon), and helpers for the moves a
// user makes: add a clearnet XMPP account, tick "Federate over Tor onion service", untick.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AccountInfo, AccountRef } from "../../src/bridge/api.js";
import { startBridgeProcess, type BridgeProcess } from "./bridge-process.js";
import { pluginIni } from "./plugin-under-test.js";
import { PLUGIN_SO } from "./prerequisites.js";

export const PLUGIN_ID = "core-purple-onion";
export const OPTION = "onion_federation";
export const PREF = `/plugins/core/${PLUGIN_ID}`;

/** A plugins dir holding the built plugin and the ini install.sh writes next to it. */
export function installPluginInto(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const so = path.join(dir, "purple-onion.so");
  copyFileSync(PLUGIN_SO, so);
  writeFileSync(path.join(dir, "purple-onion.ini"), pluginIni());
  return so;
}

/** A TCP listener standing in for a clearnet XMPP server: it only counts who connects. */
export class Trap {
  readonly connections: number[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {
    server.on("connection", (s) => {
      this.connections.push(Date.now());
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => undefined);
    });
  }
  static async start(): Promise<Trap> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new Trap(server);
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

export interface PurpleClientOptions {
  name: string;
  /** The daemon's data dir the plugin uses (its pref data_dir). */
  dataDir: string;
  /** Words the plugin adds to `purple-onion serve` when it starts the daemon. */
  serveArgs?: string;
  /** Program and arguments to run the bridge's Node under (e.g. strace). */
  wrap?: string[];
  env?: Record<string, string>;
  debug?: boolean;
  /** Network prefs at libpurple's defaults (map_ports, auto_ip TRUE), not the bridge's FALSE. */
  libpurpleNetworkDefaults?: boolean;
}

export class PurpleClient {
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly bridge: BridgeProcess,
  ) {}

  static async start(opts: PurpleClientOptions): Promise<PurpleClient> {
    const dir = mkdtempSync(path.join(tmpdir(), `po-${opts.name}-`));
    const home = path.join(dir, "home");
    const userDir = path.join(home, ".purple");
    mkdirSync(userDir, { recursive: true, mode: 0o700 });
    const so = installPluginInto(path.join(userDir, "plugins"));
    const bridge = await startBridgeProcess({ home, userDir, pluginDirs: [path.dirname(so)], env: opts.env, debug: opts.debug, wrap: opts.wrap, libpurpleNetworkDefaults: opts.libpurpleNetworkDefaults });
    const client = new PurpleClient(opts.name, dir, bridge);
    try {
      await bridge.call("loadPlugin", so);
      await bridge.call("setPref", `${PREF}/data_dir`, opts.dataDir);
      await bridge.call("setPref", `${PREF}/serve_args`, opts.serveArgs ?? "");
      await bridge.call("setPref", `${PREF}/ask_localpart`, false);
      // Like Pidgin: plugins first, then the saved accounts come online.
      await bridge.call("start");
    } catch (err) {
      await client.stop();
      throw err;
    }
    return client;
  }

  /** A clearnet account whose server is `trap` (nothing must ever reach it once ticked). */
  async addClearnetAccount(username: string, trap: Trap, enabled: boolean): Promise<AccountRef> {
    const ref = { username, protocol: "prpl-jabber" };
    await this.bridge.call("addAccount", ref);
    await this.bridge.call("setSetting", ref, "connect_server", "127.0.0.1");
    await this.bridge.call("setSetting", ref, "port", trap.port);
    await this.bridge.call("setPassword", ref, "clearnet-password", true);
    if (enabled) await this.bridge.call("setEnabled", ref, true);
    return ref;
  }

  tick(ref: AccountRef, on = true): Promise<void> {
    return this.bridge.call("setSetting", ref, OPTION, on) as Promise<void>;
  }

  accounts(): Promise<AccountInfo[]> {
    return this.bridge.call("accounts") as Promise<AccountInfo[]>;
  }

  /** The onion companion of `ref`, once the plugin made it. */
  async companionOf(ref: AccountRef): Promise<AccountInfo | undefined> {
    const key = await this.bridge.call("getSetting", ref, "purple_onion_key", "string");
    if (!key) return undefined;
    for (const a of await this.accounts()) {
      if (a.username === ref.username) continue;
      const of = await this.bridge.call("getSetting", a, "purple_onion_companion_of", "string");
      if (of === key) return a;
    }
    return undefined;
  }

  /** Waits until the companion of `ref` exists and is signed on; returns it. */
  async companionSignedOn(ref: AccountRef, timeoutMs = 60_000): Promise<AccountInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await this.companionOf(ref);
      if (c?.state === "connected") return c;
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: the onion account of ${ref.username} did not sign on within ${timeoutMs} ms (companion: ${JSON.stringify(c)})\n${this.bridge.output().split("\n").slice(-40).join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await this.bridge.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The bare JID of a companion account (its username carries the resource). */
export const bareOf = (a: { username: string }): string => a.username.split("/")[0]!;
