// A raw, possibly hostile, XMPP server for federation tests on the private Tor
// network:
//
// * RawS2s dials an onion through a tornet client's SOCKS port (as a peer server
//   would) and writes exactly the XML a test gives it: stream headers,
//   XEP-0220 <db:result/>, stanzas with any from/to. It keeps the raw text it
//   received (for byte-for-byte comparisons) and the parsed elements, with the
//   time each arrived.
// * FakeAuthoritativeServer publishes an onion of its own on a tornet client and
//   answers dialback callbacks (<db:verify/>, https://xmpp.org/extensions/xep-0220.html#protocol-verify)
//   with the verdict the test chose, so a test can be "the server of domain X"
//   for a valid dialback, and an authoritative server that says a key is wrong.
import { createServer, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { dialThroughTor, TorDialError } from "../../src/tor/socks-dialer.js";
import { TorControlConnection } from "../../src/tor/control-connection.js";
import { expandedSecretKey, generateOnionSeed, onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { parseHsDesc } from "../../src/tor/tor-events.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { StreamParser, type StreamHeader } from "../../src/xmpp/stream-parser.js";
import { streamHeader } from "../../src/xmpp/stream-writer.js";
import type { Element } from "../../src/xmpp/xml.js";
import type { TorNetClient } from "./tornet/tornet.js";

export const S2S_PORT = 5269;

/** A valid v3 onion address (checksum and all) that no tor publishes. */
export function unpublishedOnion(): string {
  return onionAddressFromSeed(generateOnionSeed());
}

/** A dialback key as Prosody makes them (hex HMAC-SHA256): what a legacy peer sends. */
export function legacyDialbackKey(): string {
  return randomBytes(32).toString("hex");
}

export interface StreamErrorSeen {
  condition: string;
  text: string | undefined;
  /** Milliseconds from the last send() before it to its arrival. */
  ms: number;
}

/** A <stream:error/> element's condition and text. */
function readStreamError(el: Element): { condition: string; text: string | undefined } {
  const children = el.getChildElements();
  const condition = children.find((c) => c.attrs.xmlns === NS.STREAM_ERRORS && c.name !== "text")?.name ?? "(none)";
  const text = children.find((c) => c.name === "text")?.getText();
  return { condition, text };
}

interface Arrival {
  el: Element;
  at: number;
}

/** One end of an XML stream between servers: parses what arrives, keeps the raw text too. */
class S2sEnd {
  received = "";
  header: StreamHeader | undefined;
  headerAt = 0;
  readonly arrivals: Arrival[] = [];
  ended = false;
  closed = false;
  parseError: string | undefined;
  lastSendAt = Date.now();
  private parser: StreamParser;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Socket) {
    this.parser = this.newParser();
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => {
      this.received += d.toString("utf8");
      this.parser.write(d);
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  private newParser(): StreamParser {
    return new StreamParser({
      onStreamStart: (h) => {
        this.header = h;
        this.headerAt = Date.now();
        this.onHeader(h);
      },
      onStanza: (el) => {
        this.arrivals.push({ el, at: Date.now() });
        this.onElement(el);
      },
      onStreamEnd: () => {
        this.ended = true;
      },
      onError: (e) => {
        this.parseError = `${e.condition}: ${e.text}`;
      },
    });
  }

  protected onHeader(_h: StreamHeader): void {}
  protected onElement(_el: Element): void {}

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  protected async until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      if (this.closed) throw new Error(`the stream closed before ${what}; received:\n${this.received}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received:\n${this.received}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(xml: string): void {
    this.lastSendAt = Date.now();
    this.socket.write(xml);
  }

  /** The first element after index `from` for which `match` holds. */
  async waitForElement(what: string, match: (el: Element) => boolean, timeoutMs = 30_000, from = 0): Promise<Arrival> {
    return this.until(what, () => this.arrivals.slice(from).find((a) => match(a.el)), timeoutMs);
  }

  /** The peer's stream error (the stream may close right after it). */
  async waitForStreamError(timeoutMs = 30_000): Promise<StreamErrorSeen> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.arrivals.find((a) => a.el.is("error", NS.STREAM));
      if (found) return { ...readStreamError(found.el), ms: found.at - this.lastSendAt };
      if (this.closed || Date.now() > deadline) {
        throw new Error(`${this.closed ? "the stream closed" : `no answer within ${timeoutMs} ms`} without a stream error; received:\n${this.received}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.until("the connection to close", () => (this.closed ? true : undefined), timeoutMs).catch((err: Error) => {
      if (!this.closed) throw err;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface DialOptions {
  /** The tornet client whose SOCKS port to dial through. */
  socksPort: number;
  /** Isolation credentials; a fresh pair by default, so every RawS2s gets its own circuit. */
  credentials?: { username: string; password: string };
  /** Retry "onion not found" (not yet published) until this long. Default 60 s. */
  timeoutMs?: number;
}

/** A raw server-to-server stream to an onion, opened through Tor. */
export class RawS2s extends S2sEnd {
  /** Milliseconds the SOCKS connect took (the last, successful attempt). */
  dialMs = 0;

  private constructor(socket: Socket, readonly onion: string) {
    super(socket);
  }

  static async dial(onion: string, opts: DialOptions): Promise<RawS2s> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    const credentials = opts.credentials ?? { username: `raw-s2s-${randomBytes(6).toString("hex")}`, password: "x" };
    for (;;) {
      const started = Date.now();
      try {
        const socket = await dialThroughTor(onion, S2S_PORT, { socks: { host: "127.0.0.1", port: opts.socksPort }, credentials, timeoutMs: 30_000 });
        const raw = new RawS2s(socket, onion);
        raw.dialMs = Date.now() - started;
        return raw;
      } catch (err) {
        const retry = err instanceof TorDialError && ["onion-not-found", "onion-intro-failed", "onion-rendezvous-failed", "onion-intro-timeout", "timeout"].includes(err.code);
        if (!retry || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Our stream header, as a server of `from` opening a stream to `to` (XEP-0220 needs xmlns:db). */
  open(to: string, from?: string): void {
    this.send(streamHeader({ ns: NS.SERVER, to, from, dialback: true }));
  }

  /** Waits for the peer's header and then its features or a stream error; returns which. */
  async opened(timeoutMs = 30_000): Promise<"features" | StreamErrorSeen> {
    const a = await this.waitForElement("<stream:features/> or <stream:error/>", (el) => el.is("features", NS.STREAM) || el.is("error", NS.STREAM), timeoutMs);
    return a.el.is("features", NS.STREAM) ? "features" : { ...readStreamError(a.el), ms: a.at - this.lastSendAt };
  }

  /** The stream id the peer gave us (its header's id). */
  get streamId(): string | undefined {
    return this.header?.attrs.id;
  }

  /**
   * Sends <db:result from to>key</db:result> and waits for the verdict:
   * "valid", "invalid", "error" (a dialback error), or a stream error.
   */
  async dialback(from: string, to: string, key: string, timeoutMs = 60_000): Promise<{ type: string; ms: number } | StreamErrorSeen> {
    const mark = this.arrivals.length;
    this.send(`<db:result from='${from}' to='${to}'>${key}</db:result>`);
    const a = await this.waitForElement(
      `<db:result from='${to}' to='${from}' type=.../>`,
      (el) => (el.is("result", NS.DIALBACK) && el.attrs.from === to && el.attrs.to === from) || el.is("error", NS.STREAM),
      timeoutMs,
      mark,
    );
    if (a.el.is("error", NS.STREAM)) return { ...readStreamError(a.el), ms: a.at - this.lastSendAt };
    return { type: a.el.attrs.type ?? "(none)", ms: a.at - this.lastSendAt };
  }

  /**
   * What arrived, with what may differ between two equivalent answers replaced:
   * the random stream id, and the names the test itself chose (given as [name, placeholder]).
   */
  normalized(names: [string, string][] = []): string {
    let text = this.received.replace(/(<stream:stream\b[^>]*?\sid=)(['"])[^'"]*\2/, "$1$2ID$2");
    for (const [name, placeholder] of names) text = text.split(name).join(placeholder);
    return text;
  }
}

export type Verdict = "valid" | "invalid";

export interface VerifyRequest {
  from: string;
  to: string;
  id: string;
  key: string;
  /** What we answered. */
  verdict: Verdict;
  at: number;
}

/** A server's inbound end as FakeAuthoritativeServer sees it: answers the header, then db:verify. */
class AuthoritativeEnd extends S2sEnd {
  constructor(
    socket: Socket,
    private readonly owner: FakeAuthoritativeServer,
  ) {
    super(socket);
  }

  protected override onHeader(h: StreamHeader): void {
    // Our header, then features offering dialback (https://xmpp.org/extensions/xep-0220.html#advertisement).
    this.send(
      streamHeader({ ns: NS.SERVER, from: this.owner.domain, to: h.attrs.from, id: randomBytes(12).toString("base64url"), dialback: true }) +
        "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>",
    );
  }

  protected override onElement(el: Element): void {
    if (el.is("verify", NS.DIALBACK)) {
      const req = { from: el.attrs.from ?? "", to: el.attrs.to ?? "", id: el.attrs.id ?? "", key: el.getText() };
      const verdict = this.owner.verdictFor(req);
      this.owner.verifyRequests.push({ ...req, verdict, at: Date.now() });
      this.send(`<db:verify from='${req.to}' to='${req.from}' id='${req.id}' type='${verdict}'/>`);
    } else if (el.is("result", NS.DIALBACK)) {
      // The daemon authenticating itself to us: we never accept stanzas from it.
      this.owner.resultRequests.push({ from: el.attrs.from ?? "", to: el.attrs.to ?? "" });
      this.send(`<db:result from='${el.attrs.to ?? ""}' to='${el.attrs.from ?? ""}' type='invalid'/>`);
    }
  }
}

/**
 * The authoritative server of a domain of its own (a fresh onion published on
 * a tornet client): accepts the receiving server's callback stream and answers
 * <db:verify/> with `verdict` (or what `decide` says per request).
 */
export class FakeAuthoritativeServer {
  readonly verifyRequests: VerifyRequest[] = [];
  readonly resultRequests: { from: string; to: string }[] = [];
  readonly connections: AuthoritativeEnd[] = [];
  verdict: Verdict = "valid";
  /** When set, decides each verify request (e.g. valid only for the key the test sent). */
  decide: ((req: { from: string; to: string; id: string; key: string }) => Verdict) | undefined;

  private constructor(
    readonly domain: string,
    private readonly server: Server,
    private readonly control: TorControlConnection,
  ) {}

  verdictFor(req: { from: string; to: string; id: string; key: string }): Verdict {
    return this.decide ? this.decide(req) : this.verdict;
  }

  /**
   * Listens on a loopback port, publishes a fresh onion pointing at it through
   * `client`'s control port and waits for HS_DESC UPLOADED. The onion lives as
   * long as this control connection (no Detach).
   */
  static async start(client: TorNetClient, timeoutMs = 60_000): Promise<FakeAuthoritativeServer> {
    const seed = generateOnionSeed();
    const domain = onionAddressFromSeed(seed);
    const ends: AuthoritativeEnd[] = [];
    let self: FakeAuthoritativeServer | undefined;
    const server = createServer((socket) => {
      if (!self) return socket.destroy();
      const end = new AuthoritativeEnd(socket, self);
      self.connections.push(end);
      ends.push(end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const control = await TorControlConnection.connect({ host: "127.0.0.1", port: client.controlPort });
    try {
      await control.authenticate({ method: "SAFECOOKIE", cookieFile: client.cookieFile });
      const serviceId = domain.replace(/\.onion$/, "");
      const uploaded = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the fake authoritative server's onion ${domain} was not uploaded within ${timeoutMs} ms`)), timeoutMs);
        control.onEvent((e) => {
          const hs = parseHsDesc(e);
          if (hs?.action === "UPLOADED" && hs.address === serviceId) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await control.setEvents(["HS_DESC"]);
      const added = await control.addOnion({ ed25519V3: expandedSecretKey(seed).toString("base64") }, [{ virtPort: S2S_PORT, target: `127.0.0.1:${port}` }], ["DiscardPK"]);
      if (added.serviceId !== serviceId) throw new Error(`tor published ${added.serviceId}, we computed ${serviceId}`);
      await uploaded;
    } catch (err) {
      control.close();
      server.close();
      throw err;
    }
    self = new FakeAuthoritativeServer(domain, server, control);
    return self;
  }

  /** Waits for a db:verify whose key is `key`. */
  async waitForVerify(key: string, timeoutMs = 30_000): Promise<VerifyRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.verifyRequests.find((r) => r.key === key);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no <db:verify/> with our key reached ${this.domain} within ${timeoutMs} ms (${this.connections.length} connection(s); verify requests: ${JSON.stringify(this.verifyRequests)})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    this.control.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
