// Reads the authority's current microdescriptor consensus from its DirPort,
// to start clients only once every relay is listed (clients started earlier
// back off for 15-30 s: TORNET.md).
// https://spec.torproject.org/dir-spec/consensus-formats.html
import { get } from "node:http";

export interface ConsensusSummary {
  validAfter: Date;
  validUntil: Date;
  /** RSA identity fingerprints (40 upper-case hex digits) of the listed relays. */
  relays: Map<string, { nickname: string; flags: string[] }>;
}

/** The consensus the authority serves now, or undefined if it has none yet (404). */
export function fetchConsensus(dirPort: number, timeoutMs = 2000): Promise<ConsensusSummary | undefined> {
  return new Promise((resolve, reject) => {
    const request = get(
      { host: "127.0.0.1", port: dirPort, path: "/tor/status-vote/current/consensus-microdesc", timeout: timeoutMs },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          resolve(undefined);
          return;
        }
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve(parseConsensus(body)));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer from the authority's DirPort ${dirPort} within ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

export function parseConsensus(text: string): ConsensusSummary {
  const time = (keyword: string): Date => {
    const match = new RegExp(`^${keyword} (\\S+ \\S+)$`, "m").exec(text);
    return match ? new Date(`${match[1]!.replace(" ", "T")}Z`) : new Date(0);
  };
  const relays = new Map<string, { nickname: string; flags: string[] }>();
  let current: { nickname: string; flags: string[] } | undefined;
  for (const line of text.split("\n")) {
    // "r" nickname identity(base64, no padding) published-date published-time IP ORPort DirPort
    const r = /^r (\S+) (\S+) /.exec(line);
    if (r) {
      current = { nickname: r[1]!, flags: [] };
      relays.set(Buffer.from(r[2]!, "base64").toString("hex").toUpperCase(), current);
    } else if (line.startsWith("s ") && current) {
      current.flags = line.slice(2).split(" ");
    }
  }
  return { validAfter: time("valid-after"), validUntil: time("valid-until"), relays };
}

/**
 * What `consensus` lacks of `relays` (fingerprint → name): a relay it does not list, or one of
 * `flags` a listed relay lacks ("relay2", "relay3's HSDir"). Empty: the network is whole.
 */
export function lackingRelays(consensus: ConsensusSummary, relays: ReadonlyMap<string, string>, flags: readonly string[]): string[] {
  const out: string[] = [];
  for (const [fingerprint, name] of relays) {
    const listed = consensus.relays.get(fingerprint)?.flags;
    if (!listed) out.push(name);
    else {
      const missing = flags.filter((f) => !listed.includes(f));
      if (missing.length > 0) out.push(`${name}'s ${missing.join("/")}`);
    }
  }
  return out;
}
