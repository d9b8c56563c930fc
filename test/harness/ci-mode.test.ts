// What CI=true promises about this very run: the allowlist of tests CI may
// skip is current, nothing is skipped by request, and the suite runs where
// only loopback leads anywhere (scripts/in-loopback-netns.sh refuses anything
// else), with decoy LAN addresses that privacy tests search stanzas for.
import { readFileSync } from "node:fs";
import { CI_ALLOWLIST } from "../ci-allowlist.js";
import { hostname, networkInterfaces } from "node:os";
import { DECOY_INTERFACES, decoyAddresses, gatewayRoutes, interfacesIn } from "../support/loopback-netns.js";
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

test("in CI the tests run in a network namespace where only loopback leads anywhere, beside the decoy interface, under the decoy host name", () => {
  // /proc/self/net is this process's namespace (/sys/class/net is the mounter's).
  const interfaces = interfacesIn(readFileSync("/proc/self/net/dev", "utf8"));
  if (!ci) {
    if (interfaces.length > 1) console.log(`(outside CI) network interfaces here: ${interfaces.join(", ")}`);
    return;
  }
  expect(interfaces).toEqual([...DECOY_INTERFACES, "lo"]);
  expect(gatewayRoutes(readFileSync("/proc/self/net/route", "utf8"))).toEqual([]);
  // The decoys are what a program here sees as the machine's own addresses.
  expect(decoyAddresses()).toEqual(["10.77.77.77", "fd77::77"]);
  const d0 = (networkInterfaces().d0 ?? []).map((a) => a.address);
  expect(d0).toEqual(expect.arrayContaining(decoyAddresses()));
  expect(hostname()).toBe(process.env.PURPLE_ONION_DECOY_HOSTNAME);
  // As on a Debian install, /etc/hosts names the host (the namespace's own copy).
  expect(readFileSync("/etc/hosts", "utf8")).toMatch(new RegExp(`^127\\.0\\.1\\.1\\s+${hostname()}$`, "m"));
});
