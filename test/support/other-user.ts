// Running a small client as another local user (setpriv), to prove what a
// stranger on the same machine can and cannot do: needs root, setpriv and the
// user. The client is a node one-liner: it connects to 127.0.0.1:PORT, writes
// what it is given, and reports as JSON what came back and how it ended.
import { spawn } from "node:child_process";

export interface StrangerResult {
  /** Bytes the server sent before the connection ended. */
  received: string;
  /** "closed" (the server ended it), "timeout" (still open after waitMs), or "error: CODE". */
  ending: string;
  uid: number;
}

const CLIENT = `
const net = require("node:net");
const [port, payload, waitMs] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3])];
let received = "";
const done = (ending) => { process.stdout.write(JSON.stringify({ received, ending, uid: process.getuid() })); process.exit(0); };
const s = net.connect({ host: "127.0.0.1", port }, () => { if (payload) s.write(payload); });
s.on("data", (d) => (received += d.toString()));
s.on("close", () => done("closed"));
s.on("error", (e) => done("error: " + (e.code || e.message)));
setTimeout(() => done("timeout"), waitMs);
`;

/** Connect to 127.0.0.1:port as `user` (default nobody), send `payload`, wait at most waitMs for the end. */
export function connectAsOtherUser(port: number, payload: string, opts: { user?: string; group?: string; waitMs?: number } = {}): Promise<StrangerResult> {
  const user = opts.user ?? "nobody";
  const group = opts.group ?? (user === "nobody" ? "nogroup" : user);
  const waitMs = opts.waitMs ?? 5000;
  return new Promise((resolve, reject) => {
    const child = spawn(
      "setpriv",
      [`--reuid=${user}`, `--regid=${group}`, "--clear-groups", process.execPath, "-e", CLIENT, String(port), payload, String(waitMs)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      try {
        resolve(JSON.parse(out) as StrangerResult);
      } catch {
        reject(new Error(`the client run as ${user} failed (exit ${code}): ${err || out}`));
      }
    });
  });
}

/** A listener run by another user: what a squatter on a port we left free would see. */
export interface Squatter {
  port: number;
  /** Connections accepted so far, those that ended (every byte they sent was reported before), and every byte. */
  connections(): number;
  closed(): number;
  received(): string;
  stop(): Promise<void>;
}

const LISTENER = `
const net = require("node:net");
const port = Number(process.argv[1]);
const server = net.createServer((s) => {
  process.stdout.write(JSON.stringify({ connection: true }) + "\\n");
  s.on("data", (d) => process.stdout.write(JSON.stringify({ data: d.toString("latin1") }) + "\\n"));
  s.on("close", () => process.stdout.write(JSON.stringify({ closed: true }) + "\\n"));
  s.on("error", () => {});
});
server.on("error", (e) => { process.stdout.write(JSON.stringify({ error: e.code || e.message }) + "\\n"); process.exit(1); });
server.listen(port, "127.0.0.1", () => process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\\n"));
`;

/** Bind 127.0.0.1:port (0: any) as `user` and record what arrives; resolves once it listens. */
export function squatAsOtherUser(port: number, opts: { user?: string; group?: string } = {}): Promise<Squatter> {
  const user = opts.user ?? "nobody";
  const group = opts.group ?? (user === "nobody" ? "nogroup" : user);
  const child = spawn("setpriv", [`--reuid=${user}`, `--regid=${group}`, "--clear-groups", process.execPath, "-e", LISTENER, String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let connections = 0;
  let closed = 0;
  let received = "";
  let buffered = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.stdout.on("data", (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buffered.slice(0, nl)) as { listening?: number; connection?: boolean; closed?: boolean; data?: string; error?: string };
        buffered = buffered.slice(nl + 1);
        if (msg.connection) connections++;
        if (msg.closed) closed++;
        if (msg.data !== undefined) received += msg.data;
        if (msg.error) reject(new Error(`the squatter (${user}) could not listen on ${port}: ${msg.error}`));
        if (msg.listening !== undefined) {
          resolve({
            port: msg.listening,
            connections: () => connections,
            closed: () => closed,
            received: () => received,
            stop: async () => {
              child.kill("SIGKILL");
              await exited;
            },
          });
        }
      }
    });
    void exited.then(() => reject(new Error(`the squatter (${user}) exited before listening`)));
  });
}
