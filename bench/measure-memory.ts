// Resident memory of a freshly started server as accounts and idle sessions
// are added: the figure that matters for a daemon that runs all day beside Pidgin.
import { readMemory, sleep } from "./processes.js";
import { RawXmppClient } from "./raw-client.js";
import type { BenchAccount, BenchTarget } from "./target.js";

export interface MemoryPoint {
  /** Stable key for JSON. */
  key: string;
  label: string;
  /** VmRSS (median of a few readings after settling), summed over the process tree. */
  rssKb: number;
}

export interface MemoryProfile {
  points: MemoryPoint[];
  /** VmHWM at the end: the peak resident size during the whole profile. */
  peakKb: number;
}

const SETTLE_MS = 1500;
const READINGS = 3;
const READING_GAP_MS = 250;
const LONG_IDLE_MS = 20_000;

async function settledRss(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  const readings: number[] = [];
  for (let i = 0; i < READINGS; i++) {
    if (i > 0) await sleep(READING_GAP_MS);
    readings.push(readMemory(pid).rssKb);
  }
  readings.sort((x, y) => x - y);
  return readings[Math.floor(readings.length / 2)]!;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * Fresh server → 1 account → its session → 0 sessions, N accounts → N idle sessions → 20 s later.
 * The server must have been started just before (no other traffic).
 */
export async function measureMemory(
  target: BenchTarget,
  accountCount: number,
  progress: (line: string) => void,
): Promise<MemoryProfile> {
  const pid = target.pid();
  const points: MemoryPoint[] = [];
  const record = async (key: string, label: string): Promise<void> => {
    const rssKb = await settledRss(pid);
    points.push({ key, label, rssKb });
    progress(`${target.name}: ${label}: ${(rssKb / 1024).toFixed(1)} MB`);
  };
  const sessions: RawXmppClient[] = [];
  try {
    await record("fresh", "started, no accounts");

    const first = await target.createAccount("u1");
    await record("accounts1_sessions0", "1 account, no session");

    const firstSession = await RawXmppClient.login(first);
    await record("accounts1_sessions1", "1 account, 1 idle session");
    await firstSession.close();

    const localparts = Array.from({ length: accountCount - 1 }, (_, i) => `u${i + 2}`);
    const rest = await mapLimit(localparts, 4, (lp) => target.createAccount(lp));
    const all: BenchAccount[] = [first, ...rest];
    await record(`accounts${accountCount}_sessions0`, `${accountCount} accounts, no sessions`);

    sessions.push(...(await mapLimit(all, 5, (account) => RawXmppClient.login(account))));
    await record(`accounts${accountCount}_sessions${accountCount}`, `${accountCount} accounts, ${accountCount} idle sessions`);

    // V8's memory reducer gives memory back only after several quiet seconds (~10-20 s).
    await sleep(LONG_IDLE_MS - SETTLE_MS);
    await record(`accounts${accountCount}_sessions${accountCount}_quiet`, `... the same, ${LONG_IDLE_MS / 1000} s later`);

    return { points, peakKb: readMemory(pid).hwmKb };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}
