// requires(...) (test/support/requires.ts): outside CI a missing prerequisite
// skips, in CI it fails unless allowlisted, and PURPLE_ONION_SKIP_* fails in CI.
// First the decision with injected environments, then the real thing: jest
// run on a small fixture in a subprocess, with and without CI=true.
import { spawnSync } from "node:child_process";
import path from "node:path";
import type { AllowlistEntry } from "../ci-allowlist.js";
import type { Prerequisite } from "../support/prerequisites.js";
import {
  allowlistProblems,
  decide,
  gatedTests,
  isCi,
  repoRoot,
  requires,
  skipVariables,
  skipVariablesSet,
  type DecisionContext,
} from "../support/requires.js";

const FILE = "test/tor/example.test.ts";
const TITLE = "an example";

function context(over: Partial<DecisionContext> & { absent?: Partial<Record<Prerequisite, string>> } = {}): DecisionContext {
  const absent = over.absent ?? {};
  return {
    env: {},
    probe: (p) => absent[p],
    allowlist: [],
    file: FILE,
    title: TITLE,
    ...over,
  };
}

const entry = (over: Partial<AllowlistEntry> = {}): AllowlistEntry => ({
  file: FILE,
  test: TITLE,
  requires: "strace",
  reason: "ptrace is blocked on this CI",
  ...over,
});

describe("isCi", () => {
  test.each([
    [{ CI: "true" }, true],
    [{ CI: "TRUE" }, true],
    [{ CI: "1" }, true],
    [{ CI: "false" }, false],
    [{ CI: "0" }, false],
    [{ CI: "" }, false],
    [{}, false],
  ])("%j -> %s", (env, expected) => {
    expect(isCi(env)).toBe(expected);
  });
});

describe("decide", () => {
  test("everything here: run, in CI or not", () => {
    expect(decide(["strace", "netns"], context())).toEqual({ run: true });
    expect(decide(["strace", "netns"], context({ env: { CI: "true" } }))).toEqual({ run: true });
  });

  test("outside CI a missing prerequisite skips, with why", () => {
    const d = decide(["netns", "strace"], context({ absent: { strace: "strace is not installed (apt-get install strace)" } }));
    expect(d).toEqual({ run: false, outcome: "skip", reason: "needs strace: strace is not installed (apt-get install strace)" });
  });

  test.each(["true", "1"])("with CI=%s a missing prerequisite fails, naming it, the file, the title and the allowlist", (ci) => {
    const d = decide(["strace"], context({ env: { CI: ci }, absent: { strace: "ptrace not permitted" } }));
    expect(d).toMatchObject({ run: false, outcome: "fail" });
    const reason = (d as { reason: string }).reason;
    expect(reason).toContain(`CI=${ci}: a missing prerequisite fails the test instead of skipping it: needs strace: ptrace not permitted`);
    expect(reason).toContain("test/ci-allowlist.ts");
    expect(reason).toContain(`file "${FILE}", test "${TITLE}"`);
  });

  test("in CI an allowlisted test skips, with the allowlist's reason", () => {
    const d = decide(["strace"], context({ env: { CI: "true" }, absent: { strace: "ptrace not permitted" }, allowlist: [entry()] }));
    expect(d).toEqual({
      run: false,
      outcome: "skip",
      reason: "needs strace: ptrace not permitted (allowed in CI by test/ci-allowlist.ts: ptrace is blocked on this CI)",
    });
  });

  test("the allowlist entry must match file, title and prerequisite, and cover every missing one", () => {
    const ci = { env: { CI: "true" }, absent: { strace: "no", netns: "no" } as Partial<Record<Prerequisite, string>> };
    for (const other of [entry({ file: "test/other.test.ts" }), entry({ test: "another title" }), entry({ requires: "tor" })]) {
      expect(decide(["strace"], context({ ...ci, allowlist: [other] }))).toMatchObject({ outcome: "fail" });
    }
    expect(decide(["strace", "netns"], context({ ...ci, allowlist: [entry()] }))).toMatchObject({ outcome: "fail" });
    expect(decide(["strace", "netns"], context({ ...ci, allowlist: [entry(), entry({ requires: "netns" })] }))).toMatchObject({
      outcome: "skip",
    });
  });

  test("PURPLE_ONION_SKIP_<NAME> skips outside CI without probing", () => {
    const probed: Prerequisite[] = [];
    const d = decide(["prosody", "other-user"], {
      ...context({ env: { PURPLE_ONION_SKIP_PROSODY: "1", PURPLE_ONION_SKIP_OTHER_USER: "yes" } }),
      probe: (p) => (probed.push(p), undefined),
    });
    expect(d).toEqual({
      run: false,
      outcome: "skip",
      reason: "skipped on request (PURPLE_ONION_SKIP_PROSODY=1); skipped on request (PURPLE_ONION_SKIP_OTHER_USER=yes)",
    });
    expect(probed).toEqual([]);
  });

  test("PURPLE_ONION_SKIP_* fails in CI, even for an allowlisted test", () => {
    const d = decide(["strace"], context({ env: { CI: "true", PURPLE_ONION_SKIP_STRACE: "1" }, allowlist: [entry()] }));
    expect(d).toEqual({
      run: false,
      outcome: "fail",
      reason: "CI=true does not allow skipping: unset PURPLE_ONION_SKIP_STRACE=1 (skipped on request (PURPLE_ONION_SKIP_STRACE=1))",
    });
  });

  test('an empty or "0" PURPLE_ONION_SKIP_* asks nothing', () => {
    expect(decide(["prosody"], context({ env: { CI: "true", PURPLE_ONION_SKIP_PROSODY: "0" } }))).toEqual({ run: true });
    expect(decide(["prosody"], context({ env: { PURPLE_ONION_SKIP_PROSODY: "" } }))).toEqual({ run: true });
  });

  test("PURPLE_ONION_SKIP_TOR also switches the private Tor network off", () => {
    expect(skipVariables("tornet")).toEqual(["PURPLE_ONION_SKIP_TOR", "PURPLE_ONION_SKIP_TORNET"]);
    expect(skipVariables("other-user")).toEqual(["PURPLE_ONION_SKIP_OTHER_USER"]);
    expect(decide(["tornet"], context({ env: { PURPLE_ONION_SKIP_TOR: "1" } }))).toMatchObject({ outcome: "skip" });
  });

  test("skipVariablesSet lists what is set, for the CI check", () => {
    const env = { PURPLE_ONION_SKIP_FINCH: "1", PURPLE_ONION_SKIP_TOR: "0", PURPLE_ONION_SKIP_NEW_THING: "true", PURPLE_ONION_DATA_DIR: "/x" };
    expect(skipVariablesSet(env)).toEqual(["PURPLE_ONION_SKIP_FINCH=1", "PURPLE_ONION_SKIP_NEW_THING=true"]);
  });

  test("an unknown prerequisite is a mistake in the test, not a skip", () => {
    expect(() => requires("ipv9" as Prerequisite)).toThrow(/unknown prerequisite "ipv9"/);
  });
});

describe("the allowlist check", () => {
  const source = [
    `requires("non-root").test("an unwritable parent is refused", () => {});`,
    `requires("strace", "netns")`,
    `  .describe(`,
    `    'no DNS at the \\'system\\' level',`,
    `    () => {},`,
    `  );`,
    `describe("not gated", () => {});`,
  ].join("\n");
  const sources: Record<string, string> = { "test/a.test.ts": source };
  const opts = (env: Record<string, string> = {}, absent: Prerequisite[] = ["non-root", "strace"]) => ({
    readSource: (f: string) => sources[f],
    probe: (p: Prerequisite) => (absent.includes(p) ? "absent" : undefined),
    env,
  });

  test("gatedTests finds requires(...).test/describe calls and their prerequisites", () => {
    expect(gatedTests(source)).toEqual([
      { title: "an unwritable parent is refused", prerequisites: ["non-root"] },
      { title: "no DNS at the 'system' level", prerequisites: ["strace", "netns"] },
    ]);
  });

  test("entries that match a gated test and whose prerequisite is missing are fine", () => {
    const list = [
      entry({ file: "test/a.test.ts", test: "an unwritable parent is refused", requires: "non-root" }),
      entry({ file: "test/a.test.ts", test: "no DNS at the 'system' level", requires: "strace" }),
    ];
    expect(allowlistProblems(list, opts({ CI: "true" }))).toEqual([]);
  });

  test("stale entries are reported: no file, no such test, another prerequisite, listed twice, no reason", () => {
    const list = [
      entry({ file: "test/gone.test.ts", test: "x", requires: "non-root" }),
      entry({ file: "test/a.test.ts", test: "not gated", requires: "non-root" }),
      entry({ file: "test/a.test.ts", test: "an unwritable parent is refused", requires: "tor" }),
      entry({ file: "test/a.test.ts", test: "an unwritable parent is refused", requires: "non-root", reason: " " }),
      entry({ file: "test/a.test.ts", test: "an unwritable parent is refused", requires: "non-root" }),
    ];
    expect(allowlistProblems(list, opts({}, ["non-root", "tor"]))).toEqual([
      'test/gone.test.ts › "x" (non-root): no such file',
      'test/a.test.ts › "not gated" (non-root): the file has no requires(…"non-root"…).test/describe with this title',
      'test/a.test.ts › "an unwritable parent is refused" (tor): the file has no requires(…"tor"…).test/describe with this title',
      'test/a.test.ts › "an unwritable parent is refused" (non-root): no reason given',
      'test/a.test.ts › "an unwritable parent is refused" (non-root): listed twice',
    ]);
  });

  test("in CI, an entry whose prerequisite is present is stale; outside CI it is not (a developer may have it)", () => {
    const list = [entry({ file: "test/a.test.ts", test: "an unwritable parent is refused", requires: "non-root" })];
    expect(allowlistProblems(list, opts({ CI: "true" }, []))).toEqual([
      'test/a.test.ts › "an unwritable parent is refused" (non-root): non-root is present here, so the entry allows nothing; remove it',
    ]);
    expect(allowlistProblems(list, opts({}, []))).toEqual([]);
  });
});

interface AssertionResult {
  fullName: string;
  status: string;
  failureMessages: string[];
}

/** Jest on test/harness/fixtures/requires-fixture.ts, in a process of its own with exactly `env` added. */
function runFixture(env: Record<string, string>): { results: AssertionResult[]; stderr: string } {
  const config = {
    rootDir: repoRoot,
    roots: ["<rootDir>/dist/test/harness/fixtures"],
    testMatch: ["**/requires-fixture.js"],
    transform: {},
    testEnvironment: "node",
  };
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "CI" && !k.startsWith("PURPLE_ONION_SKIP_")));
  const run = spawnSync(
    process.execPath,
    ["--experimental-vm-modules", path.join(repoRoot, "node_modules/jest/bin/jest.js"), "--config", JSON.stringify(config), "--json"],
    { cwd: repoRoot, env: { ...clean, ...env }, encoding: "utf8", timeout: 60_000 },
  );
  let parsed: { testResults?: { assertionResults: AssertionResult[] }[] };
  try {
    parsed = JSON.parse(run.stdout) as typeof parsed;
  } catch {
    throw new Error(`jest printed no JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  return { results: parsed.testResults?.[0]?.assertionResults ?? [], stderr: run.stderr };
}

const root = process.getuid?.() === 0;
const absent = root ? "non-root" : "root";
const presentVariable = root ? "PURPLE_ONION_SKIP_ROOT" : "PURPLE_ONION_SKIP_NON_ROOT";

describe("jest on a fixture, in a subprocess", () => {
  test("outside CI: missing and switched-off prerequisites skip, with why printed; the rest passes", () => {
    const { results, stderr } = runFixture({ [presentVariable]: "1" });
    expect(results.map((r) => [r.fullName, r.status])).toEqual([
      ["a test whose prerequisite is missing", "pending"],
      ["a block whose prerequisite is missing a test inside it", "pending"],
      ["a test whose prerequisite is here", "pending"],
      ["a test without prerequisites", "passed"],
    ]);
    expect(stderr).toContain(`skipped "a test whose prerequisite is missing" (test/harness/fixtures/requires-fixture.ts): needs ${absent}: `);
    expect(stderr).toContain(`skipped "a block whose prerequisite is missing"`);
    expect(stderr).toContain(`skipped "a test whose prerequisite is here" (test/harness/fixtures/requires-fixture.ts): skipped on request (${presentVariable}=1)`);
  }, 60_000);

  test("with CI=true: the same tests fail, each saying why; nothing is skipped", () => {
    const { results } = runFixture({ CI: "true", [presentVariable]: "1" });
    expect(results.map((r) => [r.fullName, r.status])).toEqual([
      ["a test whose prerequisite is missing", "failed"],
      [`a block whose prerequisite is missing requires ${absent}`, "failed"],
      ["a test whose prerequisite is here", "failed"],
      ["a test without prerequisites", "passed"],
    ]);
    const why = results.map((r) => r.failureMessages.join("\n"));
    expect(why[0]).toContain(`CI=true: a missing prerequisite fails the test instead of skipping it: needs ${absent}: `);
    expect(why[0]).toContain('file "test/harness/fixtures/requires-fixture.ts", test "a test whose prerequisite is missing"');
    expect(why[1]).toContain(`needs ${absent}: `);
    expect(why[2]).toContain(`CI=true does not allow skipping: unset ${presentVariable}=1`);
  }, 60_000);
});
