// Turns the measurements into the printed table and the final JSON line.
import type { MemoryProfile } from "./measure-memory.js";
import type { ThroughputRun } from "./measure-throughput.js";

export interface TargetResult {
  name: string;
  version: string;
  runs: ThroughputRun[];
  warmup?: ThroughputRun;
  memory?: MemoryProfile;
  errors: string[];
}

export interface BenchSettings {
  messages: number;
  runs: number;
  warmup: number;
  accounts: number;
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
export const GOAL_RSS_ONE_ACCOUNT_MB = 60;
const US = "purple-onion";
const REFERENCE = "prosody";

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianRate(result: TargetResult | undefined): number | undefined {
  return median(result?.runs.map((r) => r.messagesPerSecond) ?? []);
}

function rssMb(result: TargetResult | undefined, key: string): number | undefined {
  const kb = result?.memory?.points.find((p) => p.key === key)?.rssKb;
  return kb === undefined ? undefined : kb / 1024;
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined ? "-" : n.toFixed(digits));
const pad = (s: string, width: number): string => (s.length >= width ? s : s + " ".repeat(width - s.length));
const padL = (s: string, width: number): string => (s.length >= width ? s : " ".repeat(width - s.length) + s);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? pad(c, widths[i]!) : padL(c, widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function renderReport(settings: BenchSettings, env: BenchEnvironment, results: TargetResult[]): string {
  const out: string[] = [];
  const byName = new Map(results.map((r) => [r.name, r]));
  const ours = byName.get(US);
  const reference = byName.get(REFERENCE);

  out.push(
    `c2s routing throughput: ${settings.messages} chat messages A -> B (bare JID), one session each,`,
    `clock from A's first write until B has all of them; median of ${settings.runs} runs` +
      (settings.warmup ? ` after a ${settings.warmup}-message warm-up` : "") + ".",
    `machine: ${env.cpus} CPUs, node ${env.node}, load average before ${loads(env.loadBefore)}, after ${loads(env.loadAfter)}`,
    "",
  );
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
  );
  const ratio = throughputRatio(results);
  const cpuRatio = cpuThroughputRatio(results);
  out.push(
    "",
    `ratio ${US}/${REFERENCE}: ${ratio === undefined ? "-" : ratio.toFixed(2) + "x"}` +
      `   (goal >= ${GOAL_THROUGHPUT_RATIO}x: ${verdict(ratio, (x) => x >= GOAL_THROUGHPUT_RATIO)})`,
    `ratio per server CPU-second: ${cpuRatio === undefined ? "-" : cpuRatio.toFixed(2) + "x"}` +
      "   (steadier than wall-clock when the machine is busy)",
    "",
    `resident memory (VmRSS, MB; ${settings.accounts} accounts on ${REFERENCE} = ${settings.accounts} users of one VirtualHost)`,
    "",
  );
  const points = results.find((r) => r.memory)?.memory?.points ?? [];
  out.push(
    table(
      ["workload", ...results.map((r) => r.version)],
      [
        ...points.map((p) => [p.label, ...results.map((r) => fmt(rssMb(r, p.key), 1))]),
        ["peak during the profile (VmHWM)", ...results.map((r) => fmt(r.memory ? r.memory.peakKb / 1024 : undefined, 1))],
      ],
    ),
  );
  const oneAccount = rssMb(ours, "accounts1_sessions1");
  out.push(
    "",
    `${US} with 1 account (1 idle session): ${fmt(oneAccount, 1)} MB` +
      `   (goal < ${GOAL_RSS_ONE_ACCOUNT_MB} MB: ${verdict(oneAccount, (x) => x < GOAL_RSS_ONE_ACCOUNT_MB)})`,
  );
  if (reference === undefined || ours === undefined) out.push("(not every target was run)");
  for (const r of results) {
    for (const e of r.errors) out.push("", `ERROR ${r.name}: ${e}`);
  }
  return out.join("\n");
}

function loads(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(" ");
}

/** Messages per second of server CPU time: less sensitive to a busy machine than wall-clock rate. */
function medianCpuRate(result: TargetResult): number | undefined {
  return median(result.runs.filter((r) => r.serverCpuSeconds > 0).map((r) => r.messages / r.serverCpuSeconds));
}

function verdict(value: number | undefined, ok: (x: number) => boolean): string {
  if (value === undefined) return "not measured";
  return ok(value) ? "met" : "NOT met";
}

export function throughputRatio(results: TargetResult[]): number | undefined {
  const ours = medianRate(results.find((r) => r.name === US));
  const reference = medianRate(results.find((r) => r.name === REFERENCE));
  return ours === undefined || reference === undefined ? undefined : ours / reference;
}

export function cpuThroughputRatio(results: TargetResult[]): number | undefined {
  const ours = results.find((r) => r.name === US);
  const reference = results.find((r) => r.name === REFERENCE);
  const a = ours && medianCpuRate(ours);
  const b = reference && medianCpuRate(reference);
  return a === undefined || b === undefined ? undefined : a / b;
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
      errors: r.errors,
    };
  }
  const ratio = throughputRatio(results);
  const oneAccountKb = results.find((r) => r.name === US)?.memory?.points.find((p) => p.key === "accounts1_sessions1")?.rssKb;
  return JSON.stringify({
    bench: "c2s-throughput",
    ...settings,
    environment: env,
    targets,
    ratio_throughput: round(ratio, 3),
    ratio_throughput_per_server_cpu: round(cpuThroughputRatio(results), 3),
    goals: {
      throughput_ratio_min: GOAL_THROUGHPUT_RATIO,
      throughput_ratio_met: ratio === undefined ? null : ratio >= GOAL_THROUGHPUT_RATIO,
      rss_one_account_max_mb: GOAL_RSS_ONE_ACCOUNT_MB,
      rss_one_account_met: oneAccountKb === undefined ? null : oneAccountKb / 1024 < GOAL_RSS_ONE_ACCOUNT_MB,
    },
  });
}

function round(n: number | undefined, digits = 0): number | null {
  if (n === undefined) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
