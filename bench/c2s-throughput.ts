// `npm run bench`: c2s message routing throughput and resident memory of
// purple-onion, side by side with Prosody 0.12 on the same machine and run.
// Prints figures; asserts nothing (see bench/README.md).
//
//   node dist/bench/c2s-throughput.js [--targets prosody,purple-onion]
//        [--messages 20000] [--runs 3] [--warmup 2000] [--accounts 50]
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { measureMemory } from "./measure-memory.js";
import { runThroughput } from "./measure-throughput.js";
import { ProsodyTarget } from "./prosody.js";
import { PurpleOnionTarget } from "./purple-onion.js";
import { renderJson, renderReport, type BenchEnvironment, type BenchSettings, type TargetResult } from "./report.js";
import type { BenchAccount, BenchTarget } from "./target.js";

const FACTORIES: Record<string, () => BenchTarget> = {
  prosody: () => new ProsodyTarget(),
  "purple-onion": () => new PurpleOnionTarget(),
};

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

function readSettings(): { settings: BenchSettings; targets: string[] } {
  const { values } = parseArgs({
    options: {
      targets: { type: "string" },
      messages: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      accounts: { type: "string" },
    },
  });
  const targets = (values.targets ?? "prosody,purple-onion").split(",").map((t) => t.trim()).filter(Boolean);
  for (const t of targets) {
    if (!FACTORIES[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(FACTORIES).join(", ")}`);
  }
  const settings: BenchSettings = {
    messages: positiveInt("messages", values.messages, 20_000),
    runs: positiveInt("runs", values.runs, 3),
    warmup: positiveInt("warmup", values.warmup, 2_000),
    accounts: Math.max(1, positiveInt("accounts", values.accounts, 50)),
  };
  return { settings, targets };
}

/** Phase 1: each target alone, freshly started, accounts and idle sessions added. */
async function memoryPhase(settings: BenchSettings, names: string[], results: Map<string, TargetResult>): Promise<void> {
  for (const name of names) {
    const target = FACTORIES[name]!();
    const result = results.get(name)!;
    try {
      progress(`${name}: starting for the memory profile`);
      await target.start();
      result.version = target.version;
      result.memory = await measureMemory(target, settings.accounts, progress);
    } catch (err) {
      result.errors.push(`memory profile: ${message(err)}`);
      progress(`${name}: memory profile failed: ${message(err)}`);
    } finally {
      await target.stop();
    }
  }
}

interface Live {
  target: BenchTarget;
  result: TargetResult;
  sender: BenchAccount;
  receiver: BenchAccount;
}

/**
 * Phase 2: all targets started fresh, runs interleaved (prosody, ours,
 * prosody, ...) so a busy neighbour on this shared machine hurts both alike.
 */
async function throughputPhase(settings: BenchSettings, names: string[], results: Map<string, TargetResult>): Promise<void> {
  const started: BenchTarget[] = [];
  const live: Live[] = [];
  try {
    for (const name of names) {
      const target = FACTORIES[name]!();
      started.push(target);
      const result = results.get(name)!;
      try {
        progress(`${name}: starting for the throughput runs`);
        await target.start();
        result.version = target.version;
        const sender = await target.createAccount("sender");
        const receiver = await target.createAccount("receiver");
        live.push({ target, result, sender, receiver });
      } catch (err) {
        result.errors.push(`throughput setup: ${message(err)}`);
        progress(`${name}: throughput setup failed: ${message(err)}`);
      }
    }
    const runOne = async (entry: Live, label: string, messages: number): Promise<boolean> => {
      try {
        const run = await runThroughput(entry.target, entry.sender, entry.receiver, messages);
        progress(
          `${entry.target.name}: ${label}: ${run.messagesPerSecond.toFixed(0)} msg/s ` +
            `(${run.seconds.toFixed(3)} s, server CPU ${run.serverCpuSeconds.toFixed(2)} s, ${run.samplesChecked} stanzas checked)`,
        );
        if (label === "warm-up") entry.result.warmup = run;
        else entry.result.runs.push(run);
        return true;
      } catch (err) {
        entry.result.errors.push(`throughput ${label}: ${message(err)}`);
        progress(`${entry.target.name}: ${label} failed: ${message(err)}`);
        return false;
      }
    };
    let active = [...live];
    const round = async (label: string, messages: number): Promise<void> => {
      const survivors: Live[] = [];
      for (const entry of active) if (await runOne(entry, label, messages)) survivors.push(entry);
      active = survivors;
    };
    if (settings.warmup > 0) await round("warm-up", settings.warmup);
    for (let i = 1; i <= settings.runs; i++) await round(`run ${i}`, settings.messages);
  } finally {
    await Promise.all(started.map((t) => t.stop()));
  }
}

async function main(): Promise<number> {
  const { settings, targets } = readSettings();
  const results = new Map<string, TargetResult>(
    targets.map((name) => [name, { name, version: name, runs: [], errors: [] }]),
  );
  const loadBefore = loadavg();
  await memoryPhase(settings, targets, results);
  await throughputPhase(settings, targets, results);
  const env: BenchEnvironment = { cpus: cpus().length, node: process.version, loadBefore, loadAfter: loadavg() };
  const all = [...results.values()];
  process.stdout.write(`\n${renderReport(settings, env, all)}\n\n${renderJson(settings, env, all)}\n`);
  // A target that could not be measured is a failure of the benchmark; goals never are.
  return all.some((r) => r.errors.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${message(err)}\n`);
    process.exit(2);
  },
);
