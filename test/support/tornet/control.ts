// A minimal Tor control-port client for tests of the network itself (the
// project's real client lives in src/tor/). Cookie authentication, one command
// at a time, asynchronous 650 events collected for waitForEvent().
// https://spec.torproject.org/control-spec/protocol-outline.html
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

export interface ControlReply {
  /** Status code of the final line (250 = OK). */
  status: number;
  /** Every line's text after "NNN-", "NNN+" or "NNN ", data lines folded in. */
  lines: string[];
}

export class MiniControl {
  private buffer = "";
  private pendingLines: string[] = [];
  private inData = false;
  private readonly waiting: Array<{ resolve: (r: ControlReply) => void; reject: (e: Error) => void }> = [];
  private readonly events: string[] = [];
  private eventWaiters: Array<() => void> = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    const fail = (err: Error): void => {
      this.closedError ??= err;
      for (const w of this.waiting.splice(0)) w.reject(err);
      for (const wake of this.eventWaiters.splice(0)) wake();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("control connection closed")));
  }

  /** Connects to 127.0.0.1:port and authenticates with the cookie file. */
  static async connect(port: number, cookieFile: string): Promise<MiniControl> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const control = new MiniControl(socket);
    const cookie = readFileSync(cookieFile).toString("hex");
    await control.command(`AUTHENTICATE ${cookie}`);
    return control;
  }

  /** Sends one command line; resolves with a 2xx reply, rejects otherwise. */
  command(line: string): Promise<ControlReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: (reply) =>
          reply.status >= 200 && reply.status < 300
            ? resolve(reply)
            : reject(new Error(`tor answered ${reply.status} ${reply.lines.join(" / ")} to ${line.split(" ")[0]}`)),
        reject,
      });
      this.socket.write(`${line}\r\n`);
    });
  }

  /** Resolves with the first 650 event line (already received or future) matching `match`. */
  async waitForEvent(match: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => match.test(e));
      if (found !== undefined) return found;
      if (this.closedError) throw this.closedError;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event matching ${match} within ${timeoutMs} ms; got:\n${this.events.join("\n")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.eventWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * A fresh onion service forwarding `port` to 127.0.0.1:`targetPort`, once HS_DESC UPLOADED says
   * it is published; resolves with its ServiceID. Without Flags=Detach it lives as long as this
   * connection. Needs SETEVENTS HS_DESC first.
   */
  async addOnion(port: number, targetPort: number, timeoutMs: number): Promise<string> {
    const reply = await this.command(`ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=${port},127.0.0.1:${targetPort}`);
    const serviceId = reply.lines.map((l) => /^ServiceID=([a-z2-7]{56})$/.exec(l)?.[1]).find(Boolean);
    if (!serviceId) throw new Error(`ADD_ONION gave no ServiceID: ${reply.lines.join(" / ")}`);
    await this.waitForEvent(new RegExp(`^HS_DESC UPLOADED ${serviceId} `), timeoutMs);
    return serviceId;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf("\r\n")) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (this.inData) {
      // A data block ends with a lone "."; leading dots are doubled.
      if (line === ".") this.inData = false;
      else this.pendingLines.push(line.startsWith("..") ? line.slice(1) : line);
      return;
    }
    const match = /^(\d{3})([- +])(.*)$/.exec(line);
    if (!match) return;
    this.pendingLines.push(match[3]!);
    if (match[2] === "+") this.inData = true;
    if (match[2] !== " ") return;
    const reply: ControlReply = { status: Number(match[1]), lines: this.pendingLines };
    this.pendingLines = [];
    if (reply.status === 650) {
      this.events.push(reply.lines.join("\n"));
      for (const wake of this.eventWaiters.splice(0)) wake();
    } else {
      this.waiting.shift()?.resolve(reply);
    }
  }
}
