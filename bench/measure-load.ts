// Memory under load: resident size of a freshly started server with idle
// sessions, its peak during a burst of chat messages, and what it still holds
// 10 s after the burst (memory a daemon keeps after a busy moment is memory
// Pidgin's user pays for all day).
//
// 1 account: two sessions of it (resources "a" and "b"); a sends the whole
// burst to b's full JID. N accounts: one session each; all at once, session i
// sends burst/N messages to account i+1's bare JID (the last to the first), so
// every session both sends and receives.
import { performance } from "node:perf_hooks";
import { mapLimit } from "./measure-memory.js";
import { checkStanza } from "./measure-throughput.js";
import { median, processTree, readTreeMemory, sleep, type MemoryReading } from "./processes.js";
import { chatBatches, RawXmppClient } from "./raw-client.js";
import type { BenchAccount, BenchTarget } from "./target.js";

export interface LoadProfile {
  accounts: number;
  sessions: number;
  messages: number;
  /** Settled RSS with every session logged in, before the burst. */
  idleKb: number;
  idleAnonKb: number;
  /** Highest RSS during the burst: sampled every SAMPLE_MS, and VmHWM when the burst raised it. */
  peakKb: number;
  /** RSS 10 s after the last message arrived (median of three readings, 10.0-10.5 s). */
  afterKb: number;
  afterAnonKb: number;
  /** First write until the last message arrived. */
  burstSeconds: number;
}

const SETTLE_MS = 1500;
const AFTER_BURST_MS = 10_000;
const READING_GAP_MS = 250;
const SAMPLE_MS = 20;
const MESSAGES_PER_WRITE = 100;
const SAMPLE_EVERY = 997;
const BURST_TIMEOUT_MS = 60_000;

/** Median of three readings READING_GAP_MS apart (RSS moves a little while a GC finishes). */
async function steadyReading(pids: number[]): Promise<MemoryReading> {
  const readings: MemoryReading[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(READING_GAP_MS);
    readings.push(readTreeMemory(pids));
  }
  const rss = median(readings.map((r) => r.rssKb))!;
  return readings.find((r) => r.rssKb === rss)!;
}

interface Flow {
  from: RawXmppClient;
  to: RawXmppClient;
  toJid: string;
  count: number;
}

/** The server must have been started just before, with no other traffic. */
export async function measureLoad(
  target: BenchTarget,
  accountCount: number,
  messages: number,
  progress: (line: string) => void,
): Promise<LoadProfile> {
  const pid = target.pid();
  const clients: RawXmppClient[] = [];
  try {
    const localparts = Array.from({ length: accountCount }, (_, i) => `load${i + 1}`);
    const accounts: BenchAccount[] = await mapLimit(localparts, 4, (lp) => target.createAccount(lp));
    await target.settle?.();
    let flows: Flow[];
    if (accountCount === 1) {
      const a = await RawXmppClient.login(accounts[0]!, "a");
      clients.push(a);
      const b = await RawXmppClient.login(accounts[0]!, "b");
      clients.push(b);
      flows = [{ from: a, to: b, toJid: b.boundJid, count: messages }];
    } else {
      clients.push(...(await mapLimit(accounts, 5, (account) => RawXmppClient.login(account))));
      const share = Math.floor(messages / accountCount);
      flows = clients.map((from, i) => {
        const to = clients[(i + 1) % clients.length]!;
        // The first flow takes the remainder, so the burst is exactly `messages`.
        return { from, to, toJid: to.account.jid, count: share + (i === 0 ? messages - share * accountCount : 0) };
      });
    }
    const pids = processTree(pid);
    await sleep(SETTLE_MS);
    const idle = await steadyReading(pids);
    progress(`${target.name}: ${accountCount} account(s), ${clients.length} idle sessions: ${mb(idle.rssKb)} MB`);

    const counts = flows.map((f) =>
      f.to.countMessages({
        expected: f.count,
        sampleEvery: SAMPLE_EVERY,
        check: (index, stanza) => checkStanza(f.from.account, index, stanza),
      }),
    );
    // A session that is sent nothing must receive nothing: a <message> there is an error bounce.
    const receivers = new Set(flows.map((f) => f.to));
    const bounces = clients
      .filter((c) => !receivers.has(c))
      .map((c) => c.countMessages({ expected: Infinity, sampleEvery: 1, check: (_i, s) => `${c.account.jid} received: ${s}` }));
    for (const b of bounces) b.result.catch(() => undefined); // ends when the session closes; not an outcome
    let sampledPeak = idle.rssKb;
    const sampler = setInterval(() => {
      sampledPeak = Math.max(sampledPeak, readTreeMemory(pids).rssKb);
    }, SAMPLE_MS);
    let timeout: NodeJS.Timeout | undefined;
    const started = performance.now();
    let finishedAt: number;
    try {
      const timedOut = new Promise<never>((_resolve, reject) => {
        timeout = setTimeout(() => {
          const got = counts.reduce((n, c) => n + c.received(), 0);
          reject(new Error(`burst not delivered within ${BURST_TIMEOUT_MS} ms: ${got} of ${messages} messages arrived`));
        }, BURST_TIMEOUT_MS);
      });
      const writes = flows.map((f) => f.from.writeAll(chatBatches(f.toJid, 1, f.count, MESSAGES_PER_WRITE)));
      const results = await Promise.race([Promise.all([...counts.map((c) => c.result), ...writes]), timedOut]);
      const problems = results.flatMap((r) => (r ? r.problems : []));
      if (problems.length > 0) throw new Error(`wrong stanzas received:\n${problems.slice(0, 5).join("\n")}`);
      finishedAt = Math.max(...results.map((r) => (r ? r.finishedAt : 0)));
    } finally {
      clearInterval(sampler);
      clearTimeout(timeout);
    }
    const afterBurst = readTreeMemory(pids);
    // VmHWM covers the process's whole life; it is the burst's peak only if the burst raised it.
    const peakKb = Math.max(sampledPeak, afterBurst.rssKb, afterBurst.hwmKb > idle.hwmKb ? afterBurst.hwmKb : 0);
    const burstSeconds = (finishedAt - started) / 1000;
    progress(`${target.name}: burst of ${messages} in ${burstSeconds.toFixed(2)} s, peak ${mb(peakKb)} MB`);

    await sleep(Math.max(0, finishedAt + AFTER_BURST_MS - performance.now()));
    const after = await steadyReading(pids);
    // A message too many would be an error bounce counted as a delivery.
    const extra = flows.map((f, i) => counts[i]!.received() - f.count).find((n) => n !== 0);
    if (extra !== undefined) throw new Error(`a session received ${extra} more messages than were sent to it (error bounces?)`);
    const bounced = bounces.reduce((n, b) => n + b.received(), 0);
    if (bounced > 0) throw new Error(`the sending session received ${bounced} messages (error bounces?)`);
    progress(`${target.name}: 10 s after the burst: ${mb(after.rssKb)} MB`);
    return {
      accounts: accountCount,
      sessions: clients.length,
      messages,
      idleKb: idle.rssKb,
      idleAnonKb: idle.anonKb,
      peakKb,
      afterKb: after.rssKb,
      afterAnonKb: after.anonKb,
      burstSeconds,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

function mb(kb: number): string {
  return (kb / 1024).toFixed(1);
}
