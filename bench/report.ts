// Turns the measurements into the printed table and the final JSON line.
import type { LoadProfile } from "./measure-load.js";
import type { MemoryProfile } from "./measure-memory.js";
import type { ThroughputRun } from "./measure-throughput.js";
import { median } from "./processes.js";

export { median };

export interface TargetResult {
  name: string;
  version: string;
  runs: ThroughputRun[];
  warmup?: ThroughputRun;
  memory?: MemoryProfile;
  /** Memory under load, one entry per account count. */
  load: LoadProfile[];
  errors: string[];
}

export interface BenchSettings {
  messages: number;
  runs: number;
  warmup: number;
  accounts: number;
  /** Account counts of the memory-under-load phase. */
  loadAccounts: number[];
}

/** The machine during the run: this is a shared box, so load matters. */
export interface BenchEnvironment {
  cpus: number;
  node: string;
  loadBefore: number[];
  loadAfter: number[];
}

// The goals the project has set itself (printed, never asserted).
export const GOAL_THROUGHPUT_RATIO = 2;
/** Idle RSS of the daemon (issue 6, item 6). */
export const GOAL_IDLE_MB = 55;
/** RSS 10 s after a 20,000-message burst. */
export const GOAL_AFTER_BURST_MB = 70;
/** Throughput against the build before a change (BENCH_PO_BASELINE): at most 10% less. */
export const GOAL_VS_BASELINE = 0.9;
const US = "purple-onion";
const BASELINE = "purple-onion-baseline";
const REFERENCE = "prosody";

function medianRate(result: TargetResult | undefined): number | undefined {
  return median(result?.runs.map((r) => r.messagesPerSecond) ?? []);
}

function rssMb(result: TargetResult | undefined, key: string): number | undefined {
  const kb = result?.memory?.points.find((p) => p.key === key)?.rssKb;
  return kb === undefined ? undefined : kb / 1024;
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined ? "-" : n.toFixed(digits));
const mb = (kb: number | undefined): string => fmt(kb === undefined ? undefined : kb / 1024, 1);
const pad = (s: string, width: number): string => (s.length >= width ? s : s + " ".repeat(width - s.length));
const padL = (s: string, width: number): string => (s.length >= width ? s : " ".repeat(width - s.length) + s);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? pad(c, widths[i]!) : padL(c, widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function renderReport(settings: BenchSettings, env: BenchEnvironment, results: TargetResult[]): string {
  const out: string[] = [`machine: ${env.cpus} CPUs, node ${env.node}, load average before ${loads(env.loadBefore)}, after ${loads(env.loadAfter)}`, ""];
  const measured = (r: TargetResult): boolean => r.runs.length > 0 || r.errors.some((e) => e.startsWith("throughput"));
  const withRuns = results.filter(measured);
  if (withRuns.length > 0) out.push(...throughputSection(settings, withRuns), "");
  const withProfile = results.filter((r) => r.memory);
  if (withProfile.length > 0) out.push(...profileSection(settings, withProfile), "");
  const withLoad = results.filter((r) => r.load.length > 0);
  if (withLoad.length > 0) out.push(...loadSection(settings, withLoad), "");
  out.push(...goalLines(results));
  for (const r of results) {
    for (const e of r.errors) out.push("", `ERROR ${r.name}: ${e}`);
  }
  return out.join("\n");
}

function throughputSection(settings: BenchSettings, results: TargetResult[]): string[] {
  const out = [
    `c2s routing throughput: ${settings.messages} chat messages A -> B (bare JID), one session each,`,
    `clock from A's first write until B has all of them; median of ${settings.runs} runs` +
      (settings.warmup ? ` after a ${settings.warmup}-message warm-up` : "") +
      ", runs alternating between targets.",
    "",
  ];
  const runHeaders = Array.from({ length: settings.runs }, (_, i) => `run ${i + 1}`);
  out.push(
    table(
      ["target", ...runHeaders, "median msg/s", "server CPU s", "msg per server CPU-s", "client CPU s", "A done writing s"],
      results.map((r) => [
        r.version,
        ...runHeaders.map((_, i) => fmt(r.runs[i]?.messagesPerSecond)),
        fmt(medianRate(r)),
        fmt(median(r.runs.map((x) => x.serverCpuSeconds)), 2),
        fmt(medianCpuRate(r)),
        fmt(median(r.runs.map((x) => x.clientCpuSeconds)), 2),
        fmt(median(r.runs.map((x) => x.sendSeconds)), 2),
      ]),
    ),
    "",
  );
  for (const [a, b] of [[US, REFERENCE], [US, BASELINE]] as const) {
    const wall = ratioOf(results, a, b, medianRate);
    const cpu = ratioOf(results, a, b, medianCpuRate);
    if (wall === undefined && cpu === undefined) continue;
    out.push(`ratio ${a}/${b}: ${fmtRatio(wall)} wall-clock, ${fmtRatio(cpu)} per server CPU-second (steadier when the machine is busy)`);
  }
  return out;
}

function profileSection(settings: BenchSettings, results: TargetResult[]): string[] {
  const points = results.find((r) => r.memory)?.memory?.points ?? [];
  return [
    `resident memory profile (VmRSS, MB; ${settings.accounts} accounts on ${REFERENCE} = ${settings.accounts} users of one VirtualHost)`,
    "",
    table(
      ["workload", ...results.map((r) => r.name)],
      [
        ...points.map((p) => [p.label, ...results.map((r) => fmt(rssMb(r, p.key), 1))]),
        ["peak during the profile (VmHWM)", ...results.map((r) => fmt(r.memory ? r.memory.peakKb / 1024 : undefined, 1))],
      ],
    ),
  ];
}

function loadSection(settings: BenchSettings, results: TargetResult[]): string[] {
  const header = ["target"];
  for (const n of settings.loadAccounts) header.push(`${n} acct: idle`, "peak", "+10 s", "anon idle", "anon +10 s", "burst s");
  const rows = results.map((r) => {
    const row = [r.name];
    for (const n of settings.loadAccounts) {
      const l = r.load.find((x) => x.accounts === n);
      row.push(mb(l?.idleKb), mb(l?.peakKb), mb(l?.afterKb), mb(l?.idleAnonKb), mb(l?.afterAnonKb), fmt(l?.burstSeconds, 2));
    }
    return row;
  });
  return [
    `memory under load (VmRSS, MB): fresh server, idle sessions logged in (idle), a burst of ${settings.messages} chat`,
    `messages (peak: sampled every 20 ms, and VmHWM), then nothing for 10 s (+10 s). 1 account: two sessions, one`,
    `sends all to the other's full JID. ${settings.loadAccounts.at(-1)} accounts: one session each, every session sends its share to the next`,
    "account's bare JID, all at once. anon = RssAnon (RSS minus the node binary's and libraries' file pages).",
    "",
    table(header, rows),
  ];
}

function goalLines(results: TargetResult[]): string[] {
  const out: string[] = [];
  const ratio = throughputRatio(results);
  if (ratio !== undefined) out.push(`goal throughput ${US}/${REFERENCE} >= ${GOAL_THROUGHPUT_RATIO}x: ${fmtRatio(ratio)} ${verdict(ratio, (x) => x >= GOAL_THROUGHPUT_RATIO)}`);
  const vsBase = ratioOf(results, US, BASELINE, medianRate);
  if (vsBase !== undefined) out.push(`goal throughput ${US}/${BASELINE} >= ${GOAL_VS_BASELINE}x: ${fmtRatio(vsBase)} ${verdict(vsBase, (x) => x >= GOAL_VS_BASELINE)}`);
  for (const r of results.filter((x) => x.name === US || x.name === `${US}+tor`)) {
    const oneSession = rssMb(r, "accounts1_sessions1");
    if (oneSession !== undefined) out.push(`goal ${r.name} idle, 1 account 1 session <= ${GOAL_IDLE_MB} MB: ${fmt(oneSession, 1)} ${verdict(oneSession, (x) => x <= GOAL_IDLE_MB)}`);
    for (const l of r.load) {
      const idle = l.idleKb / 1024;
      const after = l.afterKb / 1024;
      out.push(
        `goal ${r.name} ${l.accounts} account(s): idle <= ${GOAL_IDLE_MB} MB: ${fmt(idle, 1)} ${verdict(idle, (x) => x <= GOAL_IDLE_MB)}; ` +
          `10 s after the burst <= ${GOAL_AFTER_BURST_MB} MB: ${fmt(after, 1)} ${verdict(after, (x) => x <= GOAL_AFTER_BURST_MB)}`,
      );
    }
  }
  if (out.length > 0) out.unshift("goals (printed, never asserted):");
  return out;
}

function loads(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(" ");
}

function fmtRatio(x: number | undefined): string {
  return x === undefined ? "-" : `${x.toFixed(2)}x`;
}

/** Messages per second of server CPU time: less sensitive to a busy machine than wall-clock rate. */
function medianCpuRate(result: TargetResult | undefined): number | undefined {
  return median(result?.runs.filter((r) => r.serverCpuSeconds > 0).map((r) => r.messages / r.serverCpuSeconds) ?? []);
}

function verdict(value: number | undefined, ok: (x: number) => boolean): string {
  if (value === undefined) return "(not measured)";
  return ok(value) ? "(met)" : "(NOT met)";
}

function ratioOf(
  results: TargetResult[],
  a: string,
  b: string,
  rate: (r: TargetResult | undefined) => number | undefined,
): number | undefined {
  const x = rate(results.find((r) => r.name === a));
  const y = rate(results.find((r) => r.name === b));
  return x === undefined || y === undefined ? undefined : x / y;
}

export function throughputRatio(results: TargetResult[]): number | undefined {
  return ratioOf(results, US, REFERENCE, medianRate);
}

export function cpuThroughputRatio(results: TargetResult[]): number | undefined {
  return ratioOf(results, US, REFERENCE, medianCpuRate);
}

/** One machine-readable line summarizing everything. */
export function renderJson(settings: BenchSettings, env: BenchEnvironment, results: TargetResult[]): string {
  const targets: Record<string, unknown> = {};
  for (const r of results) {
    targets[r.name] = {
      version: r.version,
      throughput: {
        median_msgs_per_s: round(medianRate(r)),
        runs_msgs_per_s: r.runs.map((x) => round(x.messagesPerSecond)),
        runs_seconds: r.runs.map((x) => round(x.seconds, 3)),
        server_cpu_seconds: r.runs.map((x) => round(x.serverCpuSeconds, 2)),
        median_msgs_per_server_cpu_s: round(medianCpuRate(r)),
        client_cpu_seconds: r.runs.map((x) => round(x.clientCpuSeconds, 2)),
        warmup_msgs_per_s: round(r.warmup?.messagesPerSecond),
      },
      rss_kb: Object.fromEntries((r.memory?.points ?? []).map((p) => [p.key, p.rssKb])),
      peak_rss_kb: r.memory?.peakKb ?? null,
      load: r.load.map((l) => ({
        accounts: l.accounts,
        sessions: l.sessions,
        messages: l.messages,
        idle_rss_kb: l.idleKb,
        idle_anon_kb: l.idleAnonKb,
        peak_rss_kb: l.peakKb,
        after_10s_rss_kb: l.afterKb,
        after_10s_anon_kb: l.afterAnonKb,
        burst_seconds: round(l.burstSeconds, 3),
      })),
      errors: r.errors,
    };
  }
  const ratio = throughputRatio(results);
  const vsBase = ratioOf(results, US, BASELINE, medianRate);
  const ours = results.find((r) => r.name === US);
  const oneAccountKb = ours?.memory?.points.find((p) => p.key === "accounts1_sessions1")?.rssKb;
  return JSON.stringify({
    bench: "c2s-throughput",
    ...settings,
    environment: env,
    targets,
    ratio_throughput: round(ratio, 3),
    ratio_throughput_per_server_cpu: round(cpuThroughputRatio(results), 3),
    ratio_throughput_vs_baseline: round(vsBase, 3),
    ratio_throughput_per_server_cpu_vs_baseline: round(ratioOf(results, US, BASELINE, medianCpuRate), 3),
    goals: {
      throughput_ratio_min: GOAL_THROUGHPUT_RATIO,
      throughput_ratio_met: ratio === undefined ? null : ratio >= GOAL_THROUGHPUT_RATIO,
      throughput_vs_baseline_min: GOAL_VS_BASELINE,
      throughput_vs_baseline_met: vsBase === undefined ? null : vsBase >= GOAL_VS_BASELINE,
      idle_max_mb: GOAL_IDLE_MB,
      idle_one_account_met: oneAccountKb === undefined ? null : oneAccountKb / 1024 <= GOAL_IDLE_MB,
      idle_under_load_met: ours && ours.load.length > 0 ? ours.load.every((l) => l.idleKb / 1024 <= GOAL_IDLE_MB) : null,
      after_burst_max_mb: GOAL_AFTER_BURST_MB,
      after_burst_met: ours && ours.load.length > 0 ? ours.load.every((l) => l.afterKb / 1024 <= GOAL_AFTER_BURST_MB) : null,
    },
  });
}

function round(n: number | undefined, digits = 0): number | null {
  if (n === undefined) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
