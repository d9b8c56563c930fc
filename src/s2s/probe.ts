// "Can this account's server reach that onion?": opens a server-to-server
// stream through Tor and reads the peer's answer (its stream header, then its
// features or a stream error). A diagnostic for users and for the Tor tests.
import type { Socket } from "node:net";
import { createLogger } from "../daemon/logger.js";
import { XmlStream } from "../net/xml-stream.js";
import { DEFAULT_S2S_LIMITS } from "../server/policy-limits.js";
import { NS } from "../xmpp/namespaces.js";

export interface ProbeResult {
  /** Milliseconds from the start of the dial to the peer's first element. */
  ms: number;
  /** The peer's stream header attributes (id, from, version). */
  header: Record<string, string>;
  /** What the peer said first: "features", or "error:<condition>". */
  answer: string;
}

const quiet = createLogger({ level: "error" });

export async function probePeer(dial: () => Promise<Socket>, from: string, to: string, timeoutMs: number): Promise<ProbeResult> {
  const started = Date.now();
  const socket = await dial();
  let stream: XmlStream | undefined;
  try {
    return await new Promise<ProbeResult>((resolve, reject) => {
      let header: Record<string, string> | undefined;
      const timer = setTimeout(() => reject(new Error(`${to} did not answer within ${timeoutMs} ms`)), timeoutMs);
      const done = (answer: string) => {
        clearTimeout(timer);
        if (!header) return reject(new Error(`${to} closed the stream without a header (${answer})`));
        resolve({ ms: Date.now() - started, header, answer });
      };
      const limits = { ...DEFAULT_S2S_LIMITS, negotiationTimeoutMs: timeoutMs };
      stream = new XmlStream(socket, { ns: NS.SERVER, dialback: true, limits, log: quiet, kind: "probe" }, {
        onStreamStart: (h) => (header = h.attrs),
        onElement: (el) => {
          if (el.is("error", NS.STREAM)) done(`error:${el.getChildElements()[0]?.name ?? "unknown"}`);
          else done(el.is("features", NS.STREAM) ? "features" : el.name);
        },
        onClosed: () => done("connection closed"),
      });
      stream.openStream({ from, to });
    });
  } finally {
    stream?.close();
  }
}
