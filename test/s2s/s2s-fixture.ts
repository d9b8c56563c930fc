// Two purple-onion daemons' federation in one process, no Tor: X serves onions A and A2, Y serves
// B. Each onion has its real Unix-socket listener; `dial` connects to the listener of the onion
// asked for (as tor would deliver), or fails with tor's words for an unknown onion.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger, silentLogger } from "../../src/daemon/logger.js";
import type { ServerOrigin } from "../../src/server/origin.js";
import type { S2sLimitOverrides } from "../../src/server/policy-limits.js";
import { errorReply } from "../../src/server/stanza.js";
import { UnitsOfWork, type UnitOfWork } from "../../src/server/unit-of-work.js";
import { InboundS2sListener, s2sSocketPath } from "../../src/s2s/inbound-listener.js";
import { S2sManager, type OutboxLink, type S2sOutboxPort } from "../../src/s2s/s2s-manager.js";
import { TlsIdentities, type S2sTlsPolicy } from "../../src/s2s/tls-identities.js";
import { generateOnionSeed, onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { TorDialError } from "../../src/tor/socks-dialer.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { xml, type Element } from "../../src/xmpp/xml.js";
import { randomBytes } from "node:crypto";

export const newOnion = (): string => onionAddressFromSeed(generateOnionSeed());

// S2S_DEBUG=1: debug lines and every byte each outbound socket sends and receives.
const DEBUG = process.env.S2S_DEBUG === "1";
const log = DEBUG ? createLogger({ level: "debug" }) : silentLogger();

/** The router as the streams see it: records what arrives, answers pings, records bounces. */
export class FakeRouting {
  readonly received: { origin: ServerOrigin; stanza: Element }[] = [];
  readonly bounces: { stanza: Element; condition: string; text: string }[] = [];
  readonly units = new UnitsOfWork({ unit: (fn) => fn(), part: (fn) => fn() }, log);
  manager!: S2sManager;
  private waiters: (() => void)[] = [];

  fromServer(origin: ServerOrigin, stanza: Element): void {
    this.received.push({ origin, stanza });
    // XEP-0199: a server answers a ping to itself, over its own stream back.
    if (stanza.is("iq") && stanza.attrs.type === "get" && stanza.getChild("ping", NS.PING)) {
      const reply = xml("iq", { type: "result", id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from });
      this.units.run((unit) => this.manager.send(unit, reply, origin.local, origin.remote));
    }
    this.wake();
  }

  bounce(_unit: UnitOfWork, stanza: Element, condition: string, text: string): void {
    this.bounces.push({ stanza, condition, text });
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Wait until `pred` holds (checked whenever something arrives). */
  async until(pred: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** A minimal outbox: rows in memory, sent on attach, removed on confirm (S2sOutbox's contract). */
export class MemoryOutbox implements S2sOutboxPort {
  readonly rows = new Map<string, string[]>();
  private readonly links = new Map<string, OutboxLink>();
  readonly failures: string[] = [];
  manager!: S2sManager;

  enqueue(unit: UnitOfWork, local: string, remote: string, stanza: Element): "queued" | "full" {
    const k = `${local} ${remote}`;
    const text = stanza.toString();
    unit.afterCommit(() => {
      this.rows.set(k, [...(this.rows.get(k) ?? []), text]);
      this.flush(local, remote);
    });
    return "queued";
  }
  attach(local: string, remote: string, link: OutboxLink): void {
    this.links.set(`${local} ${remote}`, link);
    this.flush(local, remote);
  }
  detach(local: string, remote: string, link: OutboxLink): void {
    if (this.links.get(`${local} ${remote}`) === link) this.links.delete(`${local} ${remote}`);
  }
  connectFailed(_local: string, _remote: string, reason: string): void {
    this.failures.push(reason);
  }
  readonly seen: string[] = [];
  peerSeen(local: string, remote: string): void {
    this.seen.push(`${local} ${remote}`);
  }
  private flush(local: string, remote: string): void {
    const k = `${local} ${remote}`;
    const rows = this.rows.get(k) ?? [];
    const link = this.links.get(k);
    if (rows.length === 0) return;
    if (!link) return this.manager.needConnection(local, remote);
    this.rows.set(k, []);
    for (const r of rows) link.send(r);
    link.confirm((ok) => {
      if (!ok) this.rows.set(k, [...rows, ...(this.rows.get(k) ?? [])]);
    });
  }
}

export interface Side {
  manager: S2sManager;
  routing: FakeRouting;
  outbox: MemoryOutbox;
  secret: Buffer;
}

/** Onions whose "tor" accepts and then never says a word: a peer that hangs. */
export class World {
  readonly dir = mkdtempSync(path.join(tmpdir(), "po-s2s-"));
  private readonly listeners = new Map<string, InboundS2sListener>();
  private readonly silent = new Map<string, Server>();
  private readonly silentSockets = new Set<Socket>();
  readonly dials: { local: string; remote: string }[] = [];
  /**
   * Every byte each dialled connection carried, as latin1 text, in dial order, seen by a relay
   * between the two ends (as tor would see it): after STARTTLS, only ciphertext.
   */
  readonly wire: { local: string; remote: string; out: string; in: string }[] = [];
  private relays = 0;

  /** A daemon serving `onions`. */
  async side(
    onions: string[],
    limits: S2sLimitOverrides = {},
    realOutbox?: (routing: FakeRouting, manager: () => S2sManager) => S2sOutboxPort,
    opts: { tls?: S2sTlsPolicy } = {},
  ): Promise<Side> {
    const routing = new FakeRouting();
    const outbox = new MemoryOutbox();
    const secret = randomBytes(32);
    let m: S2sManager | undefined;
    const port = realOutbox ? realOutbox(routing, () => m!) : outbox;
    const settings = new Map<string, string>();
    const tls = opts.tls ? { tls: { policy: opts.tls, identities: new TlsIdentities({ get: (k) => settings.get(k), set: (k, v) => void settings.set(k, v) }) } } : {};
    const manager = (m = new S2sManager({ log, limits, secret, dial: (l, r) => this.dial(l, r), routing, outbox: port, ...tls }));
    routing.manager = manager;
    outbox.manager = manager;
    for (const onion of onions) await this.listen(onion, manager);
    this.managers.push(manager);
    return { manager, routing, outbox, secret };
  }

  /** `onion`'s listener in this world, handing its sockets to `manager` (a side's, or a real Federation's). */
  async listen(onion: string, manager: Pick<S2sManager, "acceptInbound">): Promise<void> {
    const l = new InboundS2sListener(onion, { path: s2sSocketPath(this.dir, onion) }, log, (socket) => manager.acceptInbound(onion, socket));
    await l.listen();
    this.listeners.set(onion, l);
  }

  private readonly managers: S2sManager[] = [];

  /** An onion that accepts connections and never answers. */
  async hanging(onion: string): Promise<void> {
    const p = path.join(this.dir, `${onion.slice(0, 12)}-silent.sock`);
    const server = createServer((s) => {
      this.silentSockets.add(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(p, r));
    this.silent.set(onion, server);
  }

  socketPath(onion: string): string {
    return this.listeners.get(onion)!.socketPath;
  }

  dial(local: string, remote: string): Promise<Socket> {
    this.dials.push({ local, remote });
    const l = this.listeners.get(remote);
    const silent = this.silent.get(remote);
    const target = l ? l.socketPath : silent ? (silent.address() as string) : undefined;
    if (!target) return Promise.reject(new TorDialError("onion-not-found", `the onion service ${remote} was not found on the Tor network: it is offline, or has only just started (try again in a minute)`));
    const seen = { local, remote, out: "", in: "" };
    this.wire.push(seen);
    const relayPath = path.join(this.dir, `relay-${++this.relays}.sock`);
    return new Promise((resolve, reject) => {
      // The far end first: a dial to a listener that is gone fails as it would without the relay.
      const far = connect(target, () => {
        far.off("error", reject);
        const relay = createServer((near) => {
          relay.close();
          near.on("data", (d: Buffer) => (seen.out += d.toString("latin1")));
          far.on("data", (d: Buffer) => (seen.in += d.toString("latin1")));
          near.pipe(far).pipe(near);
          near.on("error", () => far.destroy());
          far.on("error", () => near.destroy());
          near.on("close", () => far.destroy());
          far.on("close", () => near.destroy());
        });
        relay.listen(relayPath, () => {
          const s = connect(relayPath, () => resolve(s));
          s.once("error", reject);
          if (DEBUG) {
            const tag = `${local.slice(0, 4)}->${remote.slice(0, 4)}`;
            const write = s.write.bind(s) as (d: unknown) => boolean;
            (s as { write: unknown }).write = (d: unknown) => (process.stderr.write(`${tag} OUT ${String(d)}\n`), write(d));
            s.on("data", (d: Buffer) => process.stderr.write(`${tag} IN  ${d.toString()}\n`));
          }
        });
      });
      far.once("error", reject);
    });
  }

  async close(): Promise<void> {
    for (const m of this.managers) m.close();
    for (const l of this.listeners.values()) await l.close();
    for (const s of this.silentSockets) s.destroy();
    for (const s of this.silent.values()) await new Promise<void>((r) => s.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Run fn as a unit of work on `side` (what the router does for each stanza). */
export function inUnit(side: Side, fn: (unit: UnitOfWork) => void): void {
  side.routing.units.run(fn);
}

export function message(from: string, to: string, body: string, ns: string = NS.CLIENT): Element {
  return xml("message", { xmlns: ns, type: "chat", from, to, id: randomBytes(4).toString("hex") }, xml("body", {}, body));
}

export { errorReply };
