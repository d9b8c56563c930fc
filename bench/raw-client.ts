// A minimal raw-TCP XMPP client for the benchmark: SASL SCRAM without TLS,
// resource binding, optional legacy session, initial presence. After login
// its receive path only counts `</message>` boundaries (see stream-scan.ts),
// and its send path writes pre-built batches, so it never limits the server.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { NS } from "../src/xmpp/namespaces.js";
import { SCRAM_MECHANISMS, ScramClient } from "./scram-client.js";
import { attr, MessageCounter, TopLevelSplitter, type StreamEvent } from "./stream-scan.js";
import type { BenchAccount } from "./target.js";

const TAIL_BYTES = 2048;

export interface CountOptions {
  /** Resolve once this many messages have arrived. */
  expected: number;
  /** Decode and check every n-th message (and the first). */
  sampleEvery: number;
  /** Returns a problem description, or null if the sampled stanza is right. */
  check: (index: number, stanza: string) => string | null;
}

export interface CountResult {
  /** performance.now() when the last expected message arrived. */
  finishedAt: number;
  /** Problems found in sampled stanzas (at most 5 kept). */
  problems: string[];
  samples: number;
}

export class RawXmppClient {
  /** Full JID the server bound for this session. */
  boundJid = "";
  /** The SASL mechanism the login used. */
  mechanism = "";
  private readonly splitter = new TopLevelSplitter();
  private counter: MessageCounter | null = null;
  private onCounted: (() => void) | null = null;
  private events: StreamEvent[] = [];
  private wake: (() => void) | null = null;
  private closedReason: string | null = null;
  private tail: Buffer = Buffer.alloc(0);
  private nextId = 1;

  private constructor(
    readonly account: BenchAccount,
    private readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.markClosed(`socket error: ${err.message}`));
    socket.on("close", () => this.markClosed("connection closed by the server"));
  }

  /** Connects and logs in: SASL SCRAM, bind, session if required, presence. */
  static async login(account: BenchAccount, resource = "bench", timeoutMs = 15_000): Promise<RawXmppClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: account.host, port: account.port });
      s.once("connect", () => resolve(s));
      s.once("error", (err) => reject(new Error(`cannot connect to ${account.host}:${account.port}: ${err.message}`)));
    });
    const client = new RawXmppClient(account, socket);
    const timer = setTimeout(() => client.markClosed(`login timed out after ${timeoutMs} ms`), timeoutMs);
    try {
      await client.handshake(resource);
    } catch (err) {
      client.socket.destroy();
      throw new Error(`login as ${account.jid} failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  private async handshake(resource: string): Promise<void> {
    const { domain } = this.account;
    let features = await this.openStream();
    await this.authenticate(features);

    // https://www.rfc-editor.org/rfc/rfc6120#section-6.4.6: restart the stream.
    this.splitter.reset();
    features = await this.openStream();
    if (!features.includes(NS.BIND)) throw new Error(`no resource binding offered: ${features}`);
    const bound = await this.iq(
      `<bind xmlns='${NS.BIND}'><resource>${resource}</resource></bind>`,
      "set",
    );
    this.boundJid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1] ?? "";
    if (!this.boundJid) throw new Error(`bind result without a JID: ${bound}`);

    // RFC 3921 sessions: only if offered and not marked <optional/> (RFC 6121 dropped them).
    const session = new RegExp(`<session[^>]*${NS.SESSION}[^>]*(/>|>[\\s\\S]*?</session>)`).exec(features);
    if (session && !session[0].includes("optional")) {
      await this.iq(`<session xmlns='${NS.SESSION}'/>`, "set", domain);
    }
    // https://www.rfc-editor.org/rfc/rfc6121#section-4.2 initial presence
    this.send("<presence/>");
    await this.sync();
  }

  /**
   * SASL with the best SCRAM both sides know (SCRAM-SHA-256, else SCRAM-SHA-1):
   * https://www.rfc-editor.org/rfc/rfc6120#section-6.4 . PLAIN is never used.
   */
  private async authenticate(features: string): Promise<void> {
    const offered = new Set([...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!.trim()));
    const choice = SCRAM_MECHANISMS.find((m) => offered.has(m.mechanism));
    if (!choice) throw new Error(`server offers no SCRAM mechanism we know: ${[...offered].join(", ") || features}`);
    const scram = new ScramClient(choice.hash, this.account.username, this.account.password);
    const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
    const text = (xml: string): string => Buffer.from(/>([^<]*)</.exec(xml)?.[1]?.trim() ?? "", "base64").toString("utf8");
    this.send(`<auth xmlns='${NS.SASL}' mechanism='${choice.mechanism}'>${b64(scram.first())}</auth>`);
    const isOutcome = (e: { name: string }): boolean => e.name === "challenge" || e.name === "success" || e.name === "failure";
    const challenge = await this.expect(isOutcome, `${choice.mechanism} challenge`);
    if (challenge.name !== "challenge") throw new Error(`${choice.mechanism}: expected a challenge, got ${challenge.xml}`);
    this.send(`<response xmlns='${NS.SASL}'>${b64(scram.final(text(challenge.xml)))}</response>`);
    let outcome = await this.expect(isOutcome, `${choice.mechanism} outcome`);
    // RFC 6120 6.4.6 lets the server-final-message come in a challenge, answered with an empty response.
    let serverFinal = "";
    if (outcome.name === "challenge") {
      serverFinal = text(outcome.xml);
      this.send(`<response xmlns='${NS.SASL}'/>`);
      outcome = await this.expect(isOutcome, `${choice.mechanism} outcome`);
    }
    if (outcome.name !== "success") throw new Error(`${choice.mechanism} rejected: ${outcome.xml}`);
    scram.verify(serverFinal || text(outcome.xml));
    this.mechanism = choice.mechanism;
  }

  private async openStream(): Promise<string> {
    const { domain } = this.account;
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.CLIENT}' xmlns:stream='${NS.STREAM}' ` +
        `to='${domain}' version='1.0'>`,
    );
    await this.expectEvent((e) => e.kind === "open", "stream header");
    return (await this.expect((e) => e.name.endsWith("features"), "stream features")).xml;
  }

  /** Sends an IQ and waits for its result; an error reply throws. */
  private async iq(payload: string, type: "get" | "set", to?: string): Promise<string> {
    const id = `bench-${this.nextId++}`;
    const toAttr = to ? ` to='${to}'` : "";
    this.send(`<iq type='${type}' id='${id}'${toAttr}>${payload}</iq>`);
    const reply = await this.expect((e) => e.name === "iq" && attr(e.xml, "id") === id, `reply to iq ${id}`);
    if (attr(reply.xml, "type") !== "result") throw new Error(`iq ${id} failed: ${reply.xml}`);
    return reply.xml;
  }

  /**
   * Round trip to the server (XEP-0199 ping). Any reply, even an error,
   * proves that everything sent before it has been processed.
   */
  async sync(): Promise<void> {
    const id = `sync-${this.nextId++}`;
    this.send(`<iq type='get' id='${id}' to='${this.account.domain}'><ping xmlns='${NS.PING}'/></iq>`);
    await this.expect((e) => e.name === "iq" && attr(e.xml, "id") === id, `ping reply ${id}`);
  }

  /**
   * Switches the receive path to counting `</message>` boundaries. Resolves
   * when `expected` messages have arrived; rejects if the connection ends.
   */
  countMessages(options: CountOptions): { result: Promise<CountResult>; received: () => number } {
    const problems: string[] = [];
    let samples = 0;
    const counter = new MessageCounter(options.sampleEvery, (index, stanza) => {
      samples++;
      const problem = options.check(index, stanza);
      if (problem && problems.length < 5) problems.push(problem);
    });
    const result = new Promise<CountResult>((resolve, reject) => {
      this.onCounted = () => {
        if (counter.count >= options.expected) {
          this.onCounted = null;
          resolve({ finishedAt: performance.now(), problems, samples });
        } else if (this.closedReason) {
          this.onCounted = null;
          reject(new Error(`${this.closedReason} after ${counter.count} messages\n${this.lastReceived()}`));
        }
      };
    });
    this.counter = counter;
    this.events = [];
    counter.push(this.splitter.remainder());
    this.onCounted?.();
    return { result, received: () => counter.count };
  }

  /** Messages counted so far (0 before countMessages). */
  received(): number {
    return this.counter?.count ?? 0;
  }

  /** Writes each buffer, waiting for 'drain' whenever the socket asks us to. */
  async writeAll(buffers: Buffer[]): Promise<void> {
    for (const buffer of buffers) {
      if (this.closedReason) throw new Error(`${this.closedReason} while sending`);
      if (!this.socket.write(buffer)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off("drain", done);
            this.socket.off("close", done);
            resolve();
          };
          this.socket.on("drain", done);
          this.socket.on("close", done);
        });
      }
    }
  }

  /** The last bytes received, for error messages. */
  lastReceived(): string {
    return `--- last ${this.tail.length} bytes received by ${this.account.jid} ---\n${this.tail.toString("utf8")}`;
  }

  /** Closes the stream politely, then the socket. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closedReason) return;
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.end("</stream:stream>");
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  private send(text: string): void {
    this.socket.write(text);
  }

  private onData(chunk: Buffer): void {
    this.tail =
      chunk.length >= TAIL_BYTES
        ? chunk.subarray(chunk.length - TAIL_BYTES)
        : Buffer.concat([this.tail.subarray(Math.max(0, this.tail.length + chunk.length - TAIL_BYTES)), chunk]);
    if (this.counter) {
      this.counter.push(chunk);
      this.onCounted?.();
      return;
    }
    this.events.push(...this.splitter.push(chunk));
    this.wake?.();
  }

  private markClosed(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.socket.destroy();
    this.wake?.();
    this.onCounted?.();
  }

  /** Next event matching `want`; skips others, fails on stream errors or close. */
  private async expectEvent(want: (e: StreamEvent) => boolean, what: string): Promise<StreamEvent> {
    for (;;) {
      const event = this.events.shift();
      if (event) {
        if (event.kind === "close") throw new Error(`server closed the stream while waiting for ${what}`);
        if (event.kind === "element" && event.name.endsWith("error") && event.xml.includes(NS.STREAM_ERRORS)) {
          throw new Error(`stream error while waiting for ${what}: ${event.xml}`);
        }
        if (want(event)) return event;
        continue;
      }
      if (this.closedReason) throw new Error(`${this.closedReason} while waiting for ${what}\n${this.lastReceived()}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  private async expect(
    want: (e: { name: string; xml: string }) => boolean,
    what: string,
  ): Promise<{ name: string; xml: string }> {
    const event = await this.expectEvent((e) => e.kind === "element" && want(e), what);
    return event as { name: string; xml: string };
  }
}

/** `count` chat messages `msg first..` to `to`, pre-serialized in batches of `perBatch`. */
export function chatBatches(to: string, first: number, count: number, perBatch: number): Buffer[] {
  const batches: Buffer[] = [];
  for (let start = first; start < first + count; start += perBatch) {
    let text = "";
    for (let n = start; n < Math.min(start + perBatch, first + count); n++) {
      text += `<message type='chat' to='${to}'><body>msg ${n}</body></message>`;
    }
    batches.push(Buffer.from(text, "utf8"));
  }
  return batches;
}
