// One throughput run: A sends N short chat messages to B's bare JID as fast
// as its socket accepts them; the clock runs from the first write until B has
// received the N-th message.
import { performance } from "node:perf_hooks";
import { cpuTimeMs } from "./processes.js";
import { attr } from "./stream-scan.js";
import { chatBatches, RawXmppClient } from "./raw-client.js";
import type { BenchAccount, BenchTarget } from "./target.js";

export interface ThroughputRun {
  messages: number;
  /** First write until the last message arrived at B. */
  seconds: number;
  messagesPerSecond: number;
  /** First write until A's socket accepted the last batch. */
  sendSeconds: number;
  /** CPU time (user+system) the server process spent during the run. */
  serverCpuSeconds: number;
  /** CPU time of this benchmark process (both clients) during the run: shows it is not the bottleneck. */
  clientCpuSeconds: number;
  /** How many received stanzas were decoded and checked. */
  samplesChecked: number;
}

const MESSAGES_PER_WRITE = 100;
const SAMPLE_EVERY = 997; // odd stride so samples fall on varied batch positions
const STALL_MS = 15_000;

/** The stanza B should see as message number `index` (1-based, in order: RFC 6120 §10.1). */
export function checkStanza(sender: BenchAccount, index: number, stanza: string): string | null {
  const body = /<body[^>]*>([^<]*)<\/body>/.exec(stanza)?.[1];
  if (body !== `msg ${index}`) return `message #${index} has body ${JSON.stringify(body)}: ${stanza}`;
  const from = attr(stanza, "from") ?? "";
  if (from.split("/")[0] !== sender.jid) return `message #${index} is from '${from}', expected ${sender.jid}/…: ${stanza}`;
  return null;
}

export async function runThroughput(
  target: BenchTarget,
  sender: BenchAccount,
  receiver: BenchAccount,
  messages: number,
): Promise<ThroughputRun> {
  const b = await RawXmppClient.login(receiver);
  let a: RawXmppClient | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    a = await RawXmppClient.login(sender);
    const batches = chatBatches(receiver.jid, 1, messages, MESSAGES_PER_WRITE);
    const counting = b.countMessages({
      expected: messages,
      sampleEvery: SAMPLE_EVERY,
      check: (index, stanza) => checkStanza(sender, index, stanza),
    });
    // A should receive nothing; a <message> arriving at A is an error bounce.
    const bounces = a.countMessages({ expected: Infinity, sampleEvery: 1, check: (_i, s) => `A received: ${s}` });
    bounces.result.catch(() => undefined); // ends when A closes; not an outcome

    let abort: (err: Error) => void = () => undefined;
    const aborted = new Promise<never>((_resolve, reject) => (abort = reject));
    // Both may settle after the race below is decided; that is not an error.
    aborted.catch(() => undefined);
    counting.result.catch(() => undefined);
    let lastCount = 0;
    let lastProgress = Date.now();
    watchdog = setInterval(() => {
      const now = counting.received();
      if (bounces.received() > 0) {
        abort(new Error(`A received ${bounces.received()} messages back (error bounces?) after B got ${now}\n${a?.lastReceived()}`));
      } else if (now !== lastCount) {
        lastCount = now;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > STALL_MS) {
        abort(new Error(`stalled: B received ${now} of ${messages} messages, none for ${STALL_MS} ms\n${b.lastReceived()}\n${a?.lastReceived()}`));
      }
    }, 500);

    const cpuBefore = cpuTimeMs(target.pid());
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    const sent = a.writeAll(batches).then(() => performance.now());
    sent.catch((err: Error) => abort(err));
    const { finishedAt, problems, samples } = await Promise.race([counting.result, aborted]);
    const sendFinished = await Promise.race([sent, aborted]);
    const cpuAfter = cpuTimeMs(target.pid());
    const client = process.cpuUsage(clientBefore);

    if (bounces.received() > 0) problems.unshift(`A received ${bounces.received()} messages; last bytes:\n${a.lastReceived()}`);
    if (problems.length > 0) throw new Error(`wrong stanzas received:\n${problems.join("\n")}`);
    const seconds = (finishedAt - started) / 1000;
    return {
      messages,
      seconds,
      messagesPerSecond: messages / seconds,
      sendSeconds: (sendFinished - started) / 1000,
      serverCpuSeconds: (cpuAfter - cpuBefore) / 1000,
      clientCpuSeconds: (client.user + client.system) / 1e6,
      samplesChecked: samples,
    };
  } finally {
    clearInterval(watchdog);
    await Promise.all([a?.close(), b.close()]);
  }
}
