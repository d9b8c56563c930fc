// The only tests that CI (CI=true) may skip for a missing prerequisite, each
// with why it can never run there. Everything else that lacks a prerequisite
// fails in CI (test/support/requires.ts).
//
// An entry names the source file, the exact title given to
// requires(...).test/describe (a string literal), and the one prerequisite it
// may lack. test/harness/ci-mode.test.ts fails on a stale entry: one that
// matches no such call, or (in CI) whose prerequisite is actually present.
// Keep this list short: prefer making a test run in CI (e.g. as another user
// with requires("other-user")) to listing it here.
import type { Prerequisite } from "./support/prerequisites.js";

export interface AllowlistEntry {
  /** Path of the test's source file from the repository root. */
  file: string;
  /** The title passed to requires(...).test() or .describe(). */
  test: string;
  /** The prerequisite CI may lack for this test. */
  requires: Prerequisite;
  /** Why CI cannot have it, and what covers the behaviour instead, if anything. */
  reason: string;
}

export const CI_ALLOWLIST: readonly AllowlistEntry[] = [
  {
    file: "test/cli/data-dir.test.ts",
    test: "an unwritable parent is a DataDirError with what to do",
    requires: "non-root",
    reason:
      "CI runs as root, and root may write into a 0500 directory, so the permission error cannot happen in this process; " +
      "the same check runs as the user nobody in that file (requires other-user)",
  },
];
