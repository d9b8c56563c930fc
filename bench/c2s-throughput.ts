// `npm run bench`: c2s message routing throughput and resident memory of
// purple-onion (with `--tor none` and attached to a throwaway tor), side by
// side with Prosody 0.12 on the same machine and run. Prints figures; asserts
// nothing (see bench/README.md).
//
//   node dist/bench/c2s-throughput.js [--targets prosody,purple-onion,purple-onion+tor]
//        [--phases profile,load,throughput] [--messages 20000] [--runs 5]
//        [--warmup 2000] [--accounts 50]
import { resolve } from "node:path";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { measureLoad } from "./measure-load.js";
import { measureMemory } from "./measure-memory.js";
import { runThroughput } from "./measure-throughput.js";
import { ProsodyTarget } from "./prosody.js";
import { BASELINE_NODE_ARGS, DEFAULT_CLI, NODE_ARGS, PurpleOnionTarget } from "./purple-onion.js";
import { renderJson, renderReport, type BenchEnvironment, type BenchSettings, type TargetResult } from "./report.js";
import type { BenchAccount, BenchTarget } from "./target.js";

const PHASES = ["profile", "load", "throughput"] as const;
type Phase = (typeof PHASES)[number];

interface TargetSpec {
  make: () => BenchTarget;
  /** The phases this target takes part in by default. */
  phases: readonly Phase[];
}

// Tor does not touch c2s routing, so the +tor targets are measured for memory only.
const FACTORIES: Record<string, TargetSpec> = {
  prosody: { make: () => new ProsodyTarget(), phases: PHASES },
  "purple-onion": { make: () => new PurpleOnionTarget({ name: "purple-onion", cli: DEFAULT_CLI, tor: "none", nodeArgs: NODE_ARGS }), phases: PHASES },
  "purple-onion+tor": {
    make: () => new PurpleOnionTarget({ name: "purple-onion+tor", cli: DEFAULT_CLI, tor: "attach", nodeArgs: NODE_ARGS }),
    phases: ["profile", "load"],
  },
};
// BENCH_PO_BASELINE=PATH (another build's dist/src/cli/main.js, e.g. the commit
// before a change) adds it as "purple-onion-baseline", measured in the same run.
const BASELINE = process.env.BENCH_PO_BASELINE ? resolve(process.env.BENCH_PO_BASELINE) : undefined;
if (BASELINE) {
  FACTORIES["purple-onion-baseline"] = {
    make: () => new PurpleOnionTarget({ name: "purple-onion-baseline", cli: BASELINE, tor: "none", nodeArgs: BASELINE_NODE_ARGS }),
    phases: PHASES,
  };
  FACTORIES["purple-onion-baseline+tor"] = {
    make: () => new PurpleOnionTarget({ name: "purple-onion-baseline+tor", cli: BASELINE, tor: "attach", nodeArgs: BASELINE_NODE_ARGS }),
    phases: ["profile", "load"],
  };
}

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

function readSettings(): { settings: BenchSettings; targets: string[]; phases: Set<Phase> } {
  const { values } = parseArgs({
    options: {
      targets: { type: "string" },
      phases: { type: "string" },
      messages: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      accounts: { type: "string" },
    },
  });
  const targets = (values.targets ?? Object.keys(FACTORIES).join(",")).split(",").map((t) => t.trim()).filter(Boolean);
  for (const t of targets) {
    if (!FACTORIES[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(FACTORIES).join(", ")}`);
  }
  const phases = new Set((values.phases ?? PHASES.join(",")).split(",").map((p) => p.trim()).filter(Boolean) as Phase[]);
  for (const p of phases) if (!PHASES.includes(p)) throw new Error(`unknown phase ${p}; known: ${PHASES.join(", ")}`);
  const accounts = Math.max(1, positiveInt("accounts", values.accounts, 50));
  const settings: BenchSettings = {
    messages: positiveInt("messages", values.messages, 20_000),
    runs: positiveInt("runs", values.runs, 5),
    warmup: positiveInt("warmup", values.warmup, 2_000),
    accounts,
    loadAccounts: accounts === 1 ? [1] : [1, accounts],
  };
  return { settings, targets, phases };
}

/** Phase 1: each target alone, freshly started, accounts and idle sessions added. */
async function memoryPhase(settings: BenchSettings, names: string[], results: Map<string, TargetResult>): Promise<void> {
  for (const name of names) {
    const target = FACTORIES[name]!.make();
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

/** Phase 2: memory under load, each target freshly started for each account count. */
async function loadPhase(settings: BenchSettings, names: string[], results: Map<string, TargetResult>): Promise<void> {
  for (const accounts of settings.loadAccounts) {
    for (const name of names) {
      const target = FACTORIES[name]!.make();
      const result = results.get(name)!;
      try {
        progress(`${name}: starting for the burst with ${accounts} account(s)`);
        await target.start();
        result.version = target.version;
        result.load.push(await measureLoad(target, accounts, settings.messages, progress));
      } catch (err) {
        result.errors.push(`memory under load, ${accounts} account(s): ${message(err)}`);
        progress(`${name}: memory under load failed: ${message(err)}`);
      } finally {
        await target.stop();
      }
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
 * Phase 3: all targets started fresh, runs interleaved (prosody, ours,
 * prosody, ...) so a busy neighbour on this shared machine hurts both alike.
 */
async function throughputPhase(settings: BenchSettings, names: string[], results: Map<string, TargetResult>): Promise<void> {
  const started: BenchTarget[] = [];
  const live: Live[] = [];
  try {
    for (const name of names) {
      const target = FACTORIES[name]!.make();
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
  const { settings, targets, phases } = readSettings();
  const results = new Map<string, TargetResult>(
    targets.map((name) => [name, { name, version: name, runs: [], load: [], errors: [] }]),
  );
  const loadBefore = loadavg();
  const inPhase = (phase: Phase): string[] => (phases.has(phase) ? targets.filter((t) => FACTORIES[t]!.phases.includes(phase)) : []);
  await memoryPhase(settings, inPhase("profile"), results);
  await loadPhase(settings, inPhase("load"), results);
  await throughputPhase(settings, inPhase("throughput"), results);
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
