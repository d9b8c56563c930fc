// Daemons federating on the private Tor network, for end-to-end federation
// tests: each daemon runs through the real CLI (`serve --tor attach`) attached
// to its own tornet client tor (so a TorStreamCounter on that client's control
// port sees every Tor connection the daemon makes), optionally under strace
// (every connect()/sendto() recorded: DNS attempts, non-loopback addresses);
// accounts are added through the control socket; clients log in over c2s with
// SCRAM-SHA-256 (RawXmpp) and get every stanza parsed and kept.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectControl } from "../../src/daemon/control-client.js";
import type { AccountAddResult, StatusResult } from "../../src/daemon/control-protocol.js";
import { controlSocketPath } from "../../src/daemon/paths.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { StreamParser } from "../../src/xmpp/stream-parser.js";
import type { Element } from "../../src/xmpp/xml.js";
import { DaemonProcess, tempDataDir } from "./daemon.js";
import { RawXmpp } from "./raw-xmpp.js";
import { parseStrace, traceProcess, type StraceReport, type TracedProcess } from "./strace.js";
import type { TorNet, TorNetClient } from "./tornet/tornet.js";

export async function controlRequest<T>(dataDir: string, op: string, args: Record<string, unknown> = {}): Promise<T> {
  const c = await connectControl(controlSocketPath(dataDir));
  try {
    return await c.request<T>(op, args);
  } finally {
    c.close();
  }
}

/** Whatever serves an account's c2s: a FedDaemon, or another server (a Prosody peer). */
export interface C2sServer {
  readonly name: string;
  c2sPort(): Promise<number>;
}

export interface FedAccount {
  jid: string;
  /** The account's domain: "<56 chars>.onion". */
  onion: string;
  password: string;
  /** Which daemon (or other server) hosts it. */
  daemon: C2sServer;
}

/** What strace saw a daemon do, summed over its runs (a restart is a new process). */
export interface NetworkReport {
  runs: number;
  dnsSends: number;
  dnsConnects: string[];
  resolverConnects: string[];
  nonLoopback: string[];
  /** connect() ports, to show the trace saw real work (tor's SOCKS and control ports). */
  connectPorts: number[];
}

/** One purple-onion daemon attached to one tornet client. */
export class FedDaemon {
  readonly dir = tempDataDir();
  private process: DaemonProcess | undefined;
  private traced: TracedProcess | undefined;
  /** One strace output file per run, read live by networkReport(). */
  private readonly traceDir = mkdtempSync(path.join(tmpdir(), "po-fedtrace-"));
  private runs = 0;
  readonly accounts: FedAccount[] = [];

  constructor(
    readonly name: string,
    private readonly net: TorNet,
    private readonly clientIndex: number,
    /** Run under strace (requires("strace") decides whether the test may). */
    readonly underStrace: boolean,
  ) {}

  /** The tornet client this daemon's tor is (current pid after restarts of the tor). */
  get client(): TorNetClient {
    return this.net.clients[this.clientIndex]!;
  }

  get running(): boolean {
    return this.process?.child?.exitCode === null && this.process.child.signalCode === null;
  }

  get output(): string {
    return this.process?.output ?? "";
  }

  /** Starts `serve --tor attach --tor-control 127.0.0.1:<client control port>` (again, after stop()). */
  async start(timeoutMs = 60_000): Promise<void> {
    const args = ["--tor", "attach", "--tor-control", `127.0.0.1:${this.client.controlPort}`];
    this.process = new DaemonProcess(
      this.dir,
      args,
      this.underStrace
        ? (cmd, a) => {
            this.traced = traceProcess(cmd, a, { traceFile: path.join(this.traceDir, `run-${++this.runs}.txt`) });
            return this.traced.child;
          }
        : undefined,
    );
    await this.process.start(timeoutMs);
  }

  /** Stops the daemon (SIGTERM by default); its data dir stays, so start() brings it back. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.traced) {
      await this.traced.stop(signal);
      this.traced = undefined;
    } else {
      await this.process?.stop(signal);
    }
  }

  /** Stops it for good and removes its data dir. */
  async dispose(): Promise<void> {
    await this.stop("SIGKILL").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.traceDir, { recursive: true, force: true });
  }

  async addAccount(localpart: string): Promise<FedAccount> {
    const r = await controlRequest<AccountAddResult>(this.dir, "account.add", { localpart });
    if (!r.onion) throw new Error(`account.add gave ${localpart} no onion (is tor attached?): ${JSON.stringify(r)}`);
    const account = { jid: r.jid, onion: r.onion, password: r.password, daemon: this };
    this.accounts.push(account);
    return account;
  }

  status(): Promise<StatusResult> {
    return controlRequest<StatusResult>(this.dir, "status");
  }

  /** Polls status until `ok` holds; fails with the last status seen. */
  async waitForStatus(what: string, ok: (s: StatusResult) => boolean, timeoutMs = 90_000): Promise<StatusResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await this.status().catch((err: Error) => err);
      if (!(last instanceof Error) && ok(last)) return last;
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out waiting until ${what}; last status:\n${last instanceof Error ? last.message : JSON.stringify(last, null, 2)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Until tor is ready and every account's onion descriptor is uploaded. */
  waitPublished(timeoutMs = 90_000): Promise<StatusResult> {
    return this.waitForStatus(
      "every onion is published",
      (s) => s.tor.state === "ready" && s.accounts.length > 0 && s.accounts.every((a) => a.published === true),
      timeoutMs,
    );
  }

  /** The c2s listener (from status: it may change across restarts). */
  async c2sPort(): Promise<number> {
    return (await this.status()).c2s.port;
  }

  /** Everything strace recorded so far, in every run (strace writes its file as calls happen). */
  networkReport(): NetworkReport {
    if (!this.underStrace) throw new Error(`${this.name} does not run under strace`);
    const reports: StraceReport[] = readdirSync(this.traceDir)
      .map((f) => path.join(this.traceDir, f))
      .filter((f) => existsSync(f))
      .map((f) => parseStrace(readFileSync(f, "utf8")));
    const show = (c: { address?: string; port?: number; path?: string }) => JSON.stringify(c);
    return {
      runs: reports.length,
      dnsSends: reports.reduce((n, r) => n + r.dnsSends, 0),
      dnsConnects: reports.flatMap((r) => r.dnsConnects.map(show)),
      resolverConnects: reports.flatMap((r) => r.resolverConnects.map(show)),
      nonLoopback: reports.flatMap((r) => r.nonLoopback.map(show)),
      connectPorts: [...new Set(reports.flatMap((r) => r.connects.map((c) => (c as { port?: number }).port).filter((p): p is number => typeof p === "number")))],
    };
  }
}

export interface Received {
  el: Element;
  at: number;
}

/**
 * A c2s client logged in with SCRAM-SHA-256 (RawXmpp), keeping every stanza
 * that arrives after resource binding, parsed, never consumed.
 */
export class FedClient {
  readonly stanzas: Received[] = [];
  jid = "";
  private ids = 0;

  private constructor(
    readonly raw: RawXmpp,
    readonly account: FedAccount,
  ) {}

  get bare(): string {
    return this.account.jid;
  }

  /** Logs in, binds `resource`, and (unless `presence` is false) sends initial presence. */
  static async login(account: FedAccount, resource: string, opts: { presence?: boolean } = {}): Promise<FedClient> {
    const raw = await RawXmpp.connect(await account.daemon.c2sPort());
    const client = new FedClient(raw, account);
    await raw.authenticate(account.jid, account.password);
    // The stream is quiet until we bind: from here every byte goes to our parser too,
    // which reads it as the inside of a jabber:client stream.
    const parser = new StreamParser({
      onStreamStart: () => undefined,
      onStanza: (el) => client.stanzas.push({ el, at: Date.now() }),
      onStreamEnd: () => undefined,
      onError: () => undefined,
    });
    parser.write(Buffer.from(`<stream:stream xmlns='${NS.CLIENT}' xmlns:stream='${NS.STREAM}'>`));
    raw.socket.on("data", (d: Buffer) => parser.write(d));
    raw.send(`<iq type='set' id='bind1'><bind xmlns='${NS.BIND}'><resource>${resource}</resource></bind></iq>`);
    const bound = await client.waitFor("the bind result", (el) => el.name === "iq" && el.attrs.id === "bind1", 10_000);
    if (bound.attrs.type !== "result") throw new Error(`binding failed: ${bound.toString()}`);
    client.jid = bound.getChild("bind", NS.BIND)?.getChildText("jid") ?? "";
    if (opts.presence !== false) client.send("<presence/>");
    return client;
  }

  send(xml: string): void {
    this.raw.send(xml);
  }

  nextId(prefix = "fed"): string {
    return `${prefix}-${++this.ids}`;
  }

  /**
   * The first stanza at or after index `from` for which `match` holds. When
   * `failOn` matches a stanza first (e.g. an error bounce), fails at once with it;
   * so does an error stanza reaching `sender` (from its index `from` on): the
   * bounce of what was sent, which then never arrives here.
   */
  async waitFor(
    what: string,
    match: (el: Element) => boolean,
    timeoutMs = 30_000,
    opts: { from?: number; failOn?: (el: Element) => boolean; sender?: { client: FedClient; from: number } } = {},
  ): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const { el } of this.stanzas.slice(opts.from ?? 0)) {
        if (match(el)) return el;
        if (opts.failOn?.(el)) throw new Error(`${this.account.jid}: instead of ${what}, this arrived:\n${el.toString()}`);
      }
      const sender = opts.sender;
      const bounce = sender?.client.stanzas.slice(sender.from).find((s) => s.el.attrs.type === "error" && s.el.name !== "iq");
      if (bounce) throw new Error(`${sender!.client.account.jid} got an error bounce instead of ${this.account.jid} getting ${what}:\n${bounce.el.toString()}`);
      if (this.raw.closed) throw new Error(`${this.account.jid}: the c2s connection closed before ${what}; stanzas:\n${this.dump()}`);
      if (Date.now() > deadline) throw new Error(`${this.account.jid}: timed out after ${timeoutMs} ms waiting for ${what}; stanzas:\n${this.dump()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Every stanza matching so far (from index `from`). */
  all(match: (el: Element) => boolean, from = 0): Element[] {
    return this.stanzas.slice(from).map((s) => s.el).filter(match);
  }

  /** XEP-0199 ping to our own server; resolves with the answer (the server has handled all we sent before). */
  async ping(timeoutMs = 10_000): Promise<Element> {
    const id = this.nextId("ping");
    this.send(`<iq type='get' id='${id}' to='${this.account.onion}'><ping xmlns='${NS.PING}'/></iq>`);
    return this.waitFor(`the answer to ping ${id}`, (el) => el.name === "iq" && el.attrs.id === id, timeoutMs);
  }

  dump(last = 15): string {
    return this.stanzas.slice(-last).map((s) => `  ${s.el.toString()}`).join("\n") || "  (none)";
  }

  close(): void {
    this.raw.close();
  }
}

/** Bare JID of a JID. */
export function bare(jid: string | undefined): string {
  return (jid ?? "").split("/")[0]!;
}

/** Named phases with their durations, printed at the end (for fast iteration on slow Tor tests). */
export class Phases {
  private readonly done: { name: string; ms: number; ok: boolean }[] = [];
  private readonly explainers: (() => string)[] = [];

  constructor(private readonly title: string) {}

  /**
   * What a failed phase's error should add (a daemon's log, the network's health): CI keeps
   * only the test output, and logs in temp dirs are gone by the time anyone looks.
   */
  explainFailuresWith(explain: () => string): void {
    this.explainers.push(explain);
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      const out = await fn();
      this.done.push({ name, ms: Date.now() - started, ok: true });
      return out;
    } catch (err) {
      this.done.push({ name, ms: Date.now() - started, ok: false });
      if (err instanceof Error && this.explainers.length > 0) err.message += `\n${this.explanation()}`;
      throw err;
    } finally {
      this.print();
    }
  }

  /** A figure worth seeing in the run's output (a measured time, a count). */
  note(text: string): void {
    console.log(`[${this.title}] ${text}`);
  }

  print(): void {
    const last = this.done.at(-1);
    if (last) console.log(`[${this.title}] ${last.ok ? "ok  " : "FAIL"} ${String(last.ms).padStart(6)} ms  ${last.name}`);
  }

  private explanation(): string {
    return this.explainers
      .map((explain) => {
        try {
          return explain();
        } catch (err) {
          return `(could not explain: ${err instanceof Error ? err.message : String(err)})`;
        }
      })
      .join("\n");
  }

  summary(): string {
    return this.done.map((p) => `${p.ok ? "ok  " : "FAIL"} ${String(p.ms).padStart(6)} ms  ${p.name}`).join("\n");
  }
}
