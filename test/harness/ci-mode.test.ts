// What CI=true promises about this very run: the allowlist of tests CI may
// skip is current, nothing is skipped by request, and the suite runs where
// only loopback exists (scripts/in-loopback-netns.sh refuses anything else).
import { readFileSync } from "node:fs";
import { CI_ALLOWLIST } from "../ci-allowlist.js";
import { interfacesIn } from "../support/loopback-netns.js";
import { missing } from "../support/prerequisites.js";
import { allowlistProblems, isCi, readRepoFile, skipVariablesSet } from "../support/requires.js";

const ci = isCi();

test("every entry of test/ci-allowlist.ts names a requires(...) test, has a reason, and in CI lacks its prerequisite", () => {
  expect(allowlistProblems(CI_ALLOWLIST, { readSource: readRepoFile, probe: missing, env: process.env })).toEqual([]);
  if (!ci) {
    const present = CI_ALLOWLIST.filter((e) => missing(e.requires) === undefined);
    if (present.length) console.log(`(outside CI) allowlisted prerequisites present here: ${present.map((e) => e.requires).join(", ")}`);
  }
});

test("in CI no PURPLE_ONION_SKIP_* variable is set", () => {
  const set = skipVariablesSet();
  if (ci) expect(set).toEqual([]);
  else if (set.length) console.log(`(outside CI) skipping on request: ${set.join(", ")}`);
});

test("in CI the tests run in a network namespace where only loopback exists", () => {
  // /proc/self/net is this process's namespace (/sys/class/net is the mounter's).
  const interfaces = interfacesIn(readFileSync("/proc/self/net/dev", "utf8"));
  if (ci) expect(interfaces).toEqual(["lo"]);
  else if (interfaces.length > 1) console.log(`(outside CI) network interfaces here: ${interfaces.join(", ")}`);
});
