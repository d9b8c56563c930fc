// A file from one libpurple client (a bridge process, test/support/bridge-process.ts) to another,
// as a user does it: the sender picks a file (sendFile), the receiver is offered it and accepts
// it into a path (acceptFile), and both follow libpurple's xfer progress to "done". Used by the
// plugin scenarios on the private Tor network and by the demo (demo/demo.ts).
//
// In-band bytestreams (XEP-0047) carry the data as <iq><data/></iq> stanzas through both
// servers; SOCKS5 bytestreams (XEP-0065) would connect the clients (or a proxy) directly. The
// receiver's libpurple debug output (the bridge started with debug: true, its stderr) names every IBB block
// it got: "got N bytes of data on IBB stream". Counting them proves which path the bytes took.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AccountInfo } from "../../src/bridge/api.js";
import type { BridgeProcess } from "./bridge-process.js";

export interface FileEnd {
  bridge: BridgeProcess;
  account: AccountInfo;
}

export interface TransferResult {
  /** The size of the file (bytes). */
  bytes: number;
  /** sendFile → the receiver's transfer "done" (the offer, the user's accept and the data). */
  totalMs: number;
  /** acceptFile → the receiver's transfer "done": the data alone. */
  dataMs: number;
  /** What the receiver's libpurple logged receiving over IBB (0 when it used anything else). */
  ibbBlocks: number;
  ibbBytes: number;
  /** <streamhost/> elements in the receiver's debug log: SOCKS5 bytestreams were offered (XEP-0065). */
  streamhosts: number;
  /** Where the receiver saved it. */
  savedAs: string;
}

/** `length` bytes no other file has by chance (a pattern with a period of 251, salted by `seed`). */
export function distinctiveBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7919 + seed * 31 + (i >> 8)) % 251;
  return out;
}

/** IBB blocks named in a libpurple debug log (prpl-jabber's ibb.c), each line once (the bridge's stderr). */
export function ibbReceived(debugOutput: string): { blocks: number; bytes: number } {
  let blocks = 0;
  let bytes = 0;
  for (const m of debugOutput.matchAll(/got (\d+) bytes of data on IBB stream/g)) {
    blocks++;
    bytes += Number(m[1]);
  }
  return { blocks, bytes };
}

/**
 * `from` sends `content` (written to `dir/name`) to `to`'s bare JID; `to` accepts it into
 * `dir/received-<name>`. Resolves once both ends report "done" and the saved bytes equal `content`.
 */
export async function sendFileAndWait(from: FileEnd, to: FileEnd, dir: string, name: string, content: Buffer, timeoutMs = 120_000): Promise<TransferResult> {
  const source = path.join(dir, name);
  const savedAs = path.join(dir, `received-${name}`);
  writeFileSync(source, content);
  const toJid = to.account.username.split("/")[0]!;
  const fromJid = from.account.username.split("/")[0]!;
  const bareOf = (jid: string): string => jid.split("/")[0]!;
  const seenBefore = new Set(to.bridge.events.filter((e) => e.name === "xfer").map((e) => (e.data as { id: number }).id));
  const sentBefore = new Set(from.bridge.events.filter((e) => e.name === "xfer").map((e) => (e.data as { id: number }).id));
  const outputMark = to.bridge.stderr().length;

  const started = Date.now();
  await from.bridge.call("sendFile", from.account, toJid, source);
  const offer = await to.bridge.waitFor(
    "xfer",
    (x) => x.direction === "receive" && !seenBefore.has(x.id) && bareOf(x.who) === fromJid,
    timeoutMs,
    `${to.bridge.name} to be offered ${name}`,
  );
  if (offer.filename !== name || offer.size !== content.length) {
    throw new Error(`${to.bridge.name} was offered ${JSON.stringify(offer.filename)} (${offer.size} bytes), not ${name} (${content.length} bytes)`);
  }
  const accepted = Date.now();
  await to.bridge.call("acceptFile", offer.id, savedAs);
  const failed = (x: { status: string }) => x.status.startsWith("cancel");
  const received = await to.bridge.waitFor("xfer", (x) => x.id === offer.id && (x.status === "done" || failed(x)), timeoutMs, `${to.bridge.name}'s transfer of ${name} to finish`);
  const done = Date.now();
  if (received.status !== "done") throw new Error(`${to.bridge.name}'s transfer of ${name} ended ${received.status} after ${received.bytesSent} of ${content.length} bytes`);
  const sent = await from.bridge.waitFor(
    "xfer",
    (x) => x.direction === "send" && !sentBefore.has(x.id) && (x.status === "done" || failed(x)),
    timeoutMs,
    `${from.bridge.name}'s transfer of ${name} to finish`,
  );
  if (sent.status !== "done") throw new Error(`${from.bridge.name}'s transfer of ${name} ended ${sent.status} after ${sent.bytesSent} of ${content.length} bytes`);
  const saved = readFileSync(savedAs);
  if (!saved.equals(content)) throw new Error(`${savedAs}: ${saved.length} bytes that differ from the ${content.length} sent`);
  const log = to.bridge.stderr().slice(outputMark);
  const ibb = ibbReceived(log);
  const streamhosts = log.match(/<streamhost\b/g)?.length ?? 0;
  return { bytes: content.length, totalMs: done - started, dataMs: done - accepted, ibbBlocks: ibb.blocks, ibbBytes: ibb.bytes, streamhosts, savedAs };
}

/** Bytes per second, rounded, for a human. */
export function rate(bytes: number, ms: number): string {
  const perSecond = (bytes * 1000) / Math.max(1, ms);
  return perSecond >= 1024 * 1024 ? `${(perSecond / 1024 / 1024).toFixed(2)} MiB/s` : perSecond >= 1024 ? `${(perSecond / 1024).toFixed(1)} KiB/s` : `${Math.round(perSecond)} B/s`;
}
