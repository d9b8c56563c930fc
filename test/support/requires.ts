// requires(...): the one place that decides what happens to a test whose
// prerequisites (prerequisites.ts) are not all on this machine.
//
//   requires("prosody").describe("…", () => { … });
//   requires("strace", "netns").test("…", async () => { … });
//
// * Everything there: the test is defined as usual.
// * Something missing, outside CI: the test is skipped, and why is printed.
// * Something missing, in CI (CI=true or CI=1): the test FAILS with why, unless
//   test/ci-allowlist.ts lists it (file, title, that prerequisite) with a reason.
// * PURPLE_ONION_SKIP_<NAME>=1 (NAME: the prerequisite in capitals, "-" as
//   "_"; PURPLE_ONION_SKIP_TOR also covers tornet) switches a prerequisite off
//   by hand. Outside CI that skips; in CI it fails, allowlisted or not.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CI_ALLOWLIST, type AllowlistEntry } from "../ci-allowlist.js";
import { missing as probe, PREREQUISITES, type Prerequisite } from "./prerequisites.js";

export type { Prerequisite } from "./prerequisites.js";

type Env = Readonly<Record<string, string | undefined>>;

/** CI=true (any case) or CI=1, as CI systems set it. */
export function isCi(env: Env = process.env): boolean {
  const value = (env.CI ?? "").trim().toLowerCase();
  return value === "true" || value === "1";
}

/** A PURPLE_ONION_SKIP_* value that asks to skip: anything but empty or "0". */
function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0";
}

/** The variables that switch `prerequisite` off. */
export function skipVariables(prerequisite: Prerequisite): string[] {
  const own = `PURPLE_ONION_SKIP_${prerequisite.toUpperCase().replace(/-/g, "_")}`;
  return prerequisite === "tornet" ? ["PURPLE_ONION_SKIP_TOR", own] : [own];
}

/** The PURPLE_ONION_SKIP_* variables that are set (CI must have none). */
export function skipVariablesSet(env: Env = process.env): string[] {
  return Object.keys(env)
    .filter((k) => k.startsWith("PURPLE_ONION_SKIP_") && isSet(env[k]))
    .sort()
    .map((k) => `${k}=${env[k]}`);
}

export interface DecisionContext {
  env: Env;
  /** Why a prerequisite is not on this machine, or undefined. */
  probe: (p: Prerequisite) => string | undefined;
  allowlist: readonly AllowlistEntry[];
  /** The test's source file from the repository root, e.g. test/cli/data-dir.test.ts. */
  file: string;
  /** The title given to requires(...).test/describe. */
  title: string;
}

export type Decision = { run: true } | { run: false; outcome: "skip" | "fail"; reason: string };

const ALLOWLIST_FILE = "test/ci-allowlist.ts";

/** What to do with a test that needs `prerequisites`: run it, skip it, or fail it (and why). */
export function decide(prerequisites: readonly Prerequisite[], ctx: DecisionContext): Decision {
  const ci = isCi(ctx.env);
  const switchedOff: string[] = [];
  const absent: { prerequisite: Prerequisite; why: string }[] = [];
  for (const p of prerequisites) {
    const variable = skipVariables(p).find((v) => isSet(ctx.env[v]));
    if (variable) {
      switchedOff.push(`${variable}=${ctx.env[variable]}`);
      continue;
    }
    const why = ctx.probe(p);
    if (why !== undefined) absent.push({ prerequisite: p, why });
  }
  if (switchedOff.length === 0 && absent.length === 0) return { run: true };

  const described = [
    ...switchedOff.map((s) => `skipped on request (${s})`),
    ...absent.map((a) => `needs ${a.prerequisite}: ${a.why}`),
  ].join("; ");
  if (!ci) return { run: false, outcome: "skip", reason: described };
  if (switchedOff.length > 0) {
    return {
      run: false,
      outcome: "fail",
      reason: `CI=${ctx.env.CI} does not allow skipping: unset ${switchedOff.join(", ")} (${described})`,
    };
  }
  const allowed = absent.map((a) =>
    ctx.allowlist.find((e) => e.file === ctx.file && e.test === ctx.title && e.requires === a.prerequisite),
  );
  if (allowed.every((e) => e !== undefined)) {
    return {
      run: false,
      outcome: "skip",
      reason: `${described} (allowed in CI by ${ALLOWLIST_FILE}: ${allowed.map((e) => e!.reason).join("; ")})`,
    };
  }
  return {
    run: false,
    outcome: "fail",
    reason:
      `CI=${ctx.env.CI}: a missing prerequisite fails the test instead of skipping it: ${described}. ` +
      `Install what is missing (scripts/setup.sh), or, if this test can never run in CI, list it in ${ALLOWLIST_FILE} with why ` +
      `(file "${ctx.file}", test "${ctx.title}")`,
  };
}

export interface Gate {
  /** Why the prerequisites are not all available (or switched off), or undefined when they are. */
  readonly missing: string | undefined;
  /** describe(), or its skipped or failing stand-in. */
  describe(title: string, body: () => void): void;
  /** test(), or its skipped or failing stand-in. */
  test(title: string, fn: jest.ProvidesCallback, timeout?: number): void;
}

/** Gate a test or a describe block on prerequisites; see the top of this file. */
export function requires(...prerequisites: Prerequisite[]): Gate {
  for (const p of prerequisites) {
    if (!(PREREQUISITES as readonly string[]).includes(p)) throw new Error(`unknown prerequisite "${p}" (known: ${PREREQUISITES.join(", ")})`);
  }
  const decision = (title: string): Decision =>
    decide(prerequisites, { env: process.env, probe, allowlist: CI_ALLOWLIST, file: currentTestFile(), title });
  return {
    get missing() {
      const d = decide(prerequisites, { env: process.env, probe, allowlist: [], file: "", title: "" });
      return d.run ? undefined : d.reason;
    },
    describe(title, body) {
      const d = decision(title);
      if (d.run) return describe(title, body);
      if (d.outcome === "skip") {
        report(title, d.reason);
        return describe.skip(title, body);
      }
      // The body is not run: its beforeAll would only fail later, less clearly.
      describe(title, () => test(`requires ${prerequisites.join(", ")}`, failWith(d.reason)));
    },
    test(title, fn, timeout) {
      const d = decision(title);
      if (d.run) return test(title, fn, timeout);
      if (d.outcome === "skip") {
        report(title, d.reason);
        return test.skip(title, fn, timeout);
      }
      test(title, failWith(d.reason));
    },
  };
}

function report(title: string, reason: string): void {
  console.log(`skipped "${title}" (${currentTestFile() || "?"}): ${reason}`);
}

function failWith(reason: string): () => void {
  return () => {
    const error = new Error(reason);
    error.stack = `Error: ${reason}`; // the reason is the whole story; no stack into this helper
    throw error;
  };
}

// Tests run compiled from dist/test/...; the repository root is above dist/.
const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const repoRoot = path.dirname(distRoot);

/** The running test file as its source path from the repository root ("" outside jest). */
export function currentTestFile(): string {
  const testPath = (globalThis as { expect?: { getState?: () => { testPath?: string } } }).expect?.getState?.().testPath;
  if (!testPath) return "";
  return path.relative(distRoot, testPath).split(path.sep).join("/").replace(/\.js$/, ".ts");
}

/** requires(...).test/describe calls in a source text: the title and the prerequisites named. */
export function gatedTests(source: string): { title: string; prerequisites: string[] }[] {
  const found: { title: string; prerequisites: string[] }[] = [];
  const call = /\brequires\(([^)]*)\)\s*\.\s*(?:test|describe)\s*\(\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')/g;
  for (const m of source.matchAll(call)) {
    const literal = m[2]!;
    const title = literal.startsWith('"') ? (JSON.parse(literal) as string) : literal.slice(1, -1).replace(/\\(.)/g, "$1");
    found.push({ title, prerequisites: [...m[1]!.matchAll(/["']([a-z-]+)["']/g)].map((p) => p[1]!) });
  }
  return found;
}

/**
 * What is wrong with an allowlist: entries that match no requires(...) call
 * in their file, duplicates, empty reasons, and (in CI) entries whose
 * prerequisite is present, so that they allow nothing and only hide.
 */
export function allowlistProblems(
  allowlist: readonly AllowlistEntry[],
  opts: { readSource: (file: string) => string | undefined; probe: (p: Prerequisite) => string | undefined; env: Env },
): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of allowlist) {
    const name = `${e.file} › "${e.test}" (${e.requires})`;
    const key = `${e.file}\n${e.test}\n${e.requires}`;
    if (seen.has(key)) problems.push(`${name}: listed twice`);
    seen.add(key);
    if (!e.reason.trim()) problems.push(`${name}: no reason given`);
    const source = opts.readSource(e.file);
    if (source === undefined) {
      problems.push(`${name}: no such file`);
    } else if (!gatedTests(source).some((g) => g.title === e.test && g.prerequisites.includes(e.requires))) {
      problems.push(`${name}: the file has no requires(…"${e.requires}"…).test/describe with this title`);
    }
    if (isCi(opts.env) && opts.probe(e.requires) === undefined) {
      problems.push(`${name}: ${e.requires} is present here, so the entry allows nothing; remove it`);
    }
  }
  return problems;
}

/** Reads a source file from the repository root, if it exists. */
export function readRepoFile(file: string): string | undefined {
  const full = path.join(repoRoot, file);
  return existsSync(full) ? readFileSync(full, "utf8") : undefined;
}
