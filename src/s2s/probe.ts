// "Can this account's server reach that onion?": opens a server-to-server
// stream through Tor and reads the peer's answer (its stream header, then its
// features or a stream error). A diagnostic for users and for the Tor tests.
import type { Socket } from "node:net";
import { NS } from "../xmpp/namespaces.js";
import { StreamParser } from "../xmpp/stream-parser.js";
import { STREAM_CLOSE, streamHeader } from "../xmpp/stream-writer.js";

export interface ProbeResult {
  /** Milliseconds from the start of the dial to the peer's first element. */
  ms: number;
  /** The peer's stream header attributes (id, from, version). */
  header: Record<string, string>;
  /** What the peer said first: "features", or "error:<condition>". */
  answer: string;
}

export async function probePeer(dial: () => Promise<Socket>, from: string, to: string, timeoutMs: number): Promise<ProbeResult> {
  const started = Date.now();
  const socket = await dial();
  try {
    return await new Promise<ProbeResult>((resolve, reject) => {
      let header: Record<string, string> | undefined;
      const timer = setTimeout(() => reject(new Error(`${to} did not answer within ${timeoutMs} ms`)), timeoutMs);
      const done = (answer: string) => {
        clearTimeout(timer);
        if (!header) return reject(new Error(`${to} closed the stream without a header (${answer})`));
        resolve({ ms: Date.now() - started, header, answer });
      };
      const parser = new StreamParser({
        onStreamStart: (h) => (header = h.attrs),
        onStanza: (el) => {
          if (el.is("error", NS.STREAM)) done(`error:${el.getChildElements()[0]?.name ?? "unknown"}`);
          else done(el.is("features", NS.STREAM) ? "features" : el.name);
        },
        onStreamEnd: () => done("closed"),
        onError: (e) => done(`bad-xml:${e.condition}`),
      });
      socket.on("data", (d: Buffer) => parser.write(d));
      socket.on("close", () => done("connection closed"));
      socket.on("error", (err) => done(`socket error: ${err.message}`));
      socket.write(streamHeader({ ns: NS.SERVER, from, to, dialback: true }));
    });
  } finally {
    socket.end(STREAM_CLOSE);
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
