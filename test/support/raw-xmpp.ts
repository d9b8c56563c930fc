// A deliberately dumb XMPP client for bad-input tests: it writes exactly the
// bytes a test gives it and lets the test wait for text in the reply stream.
import { connect, type Socket } from "node:net";
import { ScramClient } from "./scram-client.js";

export class RawXmpp {
  received = "";
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => {
      this.received += d.toString("utf8");
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  static connect(port: number): Promise<RawXmpp> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => resolve(new RawXmpp(s)));
      s.once("error", reject);
    });
  }

  /** Connect to a Unix socket (an onion's s2s listener). */
  static connectPath(socketPath: string): Promise<RawXmpp> {
    return new Promise((resolve, reject) => {
      const s = connect(socketPath, () => resolve(new RawXmpp(s)));
      s.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until the received text matches; returns the match. Fails with what did arrive. */
  async waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<RegExpMatchArray> {
    const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.received.match(re);
      if (m) return m;
      if (this.closed) throw new Error(`connection closed before ${re} arrived; received:\n${this.received}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; received:\n${this.received}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open; received:\n${this.received}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private pings = 0;

  /**
   * An XEP-0199 ping to the server, resolved when its answer arrives. The
   * server handles a stream in order, so by then it has handled everything
   * sent before, and whatever it sent us before the answer has arrived: wait
   * on this, not on a sleep, before checking that something did NOT arrive.
   * Needs a bound session.
   */
  async ping(timeoutMs = 5000): Promise<void> {
    const id = `raw-ping-${++this.pings}`;
    this.send(`<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await this.waitFor(new RegExp(`<iq[^>]*id="${id}"`), timeoutMs);
  }

  /** Forget what arrived so far, so the next waitFor sees only new text. */
  clear(): void {
    this.received = "";
  }

  close(): void {
    this.socket.destroy();
  }

  static header(domain: string): string {
    return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`;
  }

  /** Open a stream and authenticate with SCRAM-SHA-256, up to the post-SASL features (no bind yet). */
  async authenticate(jid: string, password: string): Promise<void> {
    const [local, domain] = jid.split("@") as [string, string];
    this.send(RawXmpp.header(domain));
    await this.waitFor("</stream:features>");
    const scram = new ScramClient("SHA-256", local, password);
    this.clear();
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${scram.mechanism}'>${scram.first()}</auth>`);
    const challenge = await this.waitFor(/<challenge[^>]*>([^<]*)<\/challenge>/);
    this.clear();
    this.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${scram.final(challenge[1]!)}</response>`);
    const success = await this.waitFor(/<success[^>]*(?:\/>|>([^<]*)<\/success>)/);
    if (!scram.verifySuccess(success[1] ?? "")) throw new Error(`the server's SCRAM signature is wrong: ${success[0]}`);
    this.clear();
    this.send(RawXmpp.header(domain));
    await this.waitFor("</stream:features>");
  }

  /** Open a stream, log in with SCRAM-SHA-256 and bind `resource`; returns the full JID. */
  async login(jid: string, password: string, resource = "raw"): Promise<string> {
    await this.authenticate(jid, password);
    this.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    const m = await this.waitFor(/<jid>([^<]+)<\/jid>/);
    this.clear();
    return m[1]!;
  }
}
