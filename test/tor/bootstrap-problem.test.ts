// Tor's bootstrap warnings in words (as tor 0.4.9 sends them), and the
// once-a-minute rule for problems that repeat.
import { PassThrough } from "node:stream";
import { createLogger } from "../../src/daemon/logger.js";
import { RepeatedLog } from "../../src/daemon/repeated-log.js";
import { explainBootstrapProblem } from "../../src/tor/bootstrap-problem.js";
import { parseBootstrap } from "../../src/tor/tor-events.js";

// Seen from a tor whose only authority refuses connections (test/daemon/tor-attach-pin.test.ts).
const REFUSED =
  'WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore HOSTID="FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" HOSTADDR="127.0.0.1:1"';

test("every field of a bootstrap warning is read, the relay's address kept apart", () => {
  expect(parseBootstrap(REFUSED)).toEqual({
    progress: 5,
    tag: "conn",
    summary: "Connecting to a relay",
    warning: "Connection refused",
    reason: "CONNECTREFUSED",
    recommendation: "ignore",
    count: 3,
    hostId: "F".repeat(40),
    hostAddr: "127.0.0.1:1",
  });
});

test.each([
  ["CONNECTREFUSED", "Connection refused", /^tor cannot reach any relay: check the network connection/],
  ["DONE", "DONE", /^tor cannot reach any relay: check the network connection/],
  ["NOROUTE", "No route to host", /^tor cannot reach any relay/],
  ["TIMEOUT", "Connection timed out", /^tor cannot reach any relay/],
  ["IDENTITY", "Unexpected identity in router certificate", /was not the relay it expected/],
  ["RESOURCELIMIT", "Too many open files", /ran out of resources/],
  ["PT_MISSING", "No pluggable transport", /pluggable transport is not installed/],
  ["MISC", "Clock skew -3600 in microdesc from 1.2.3.4", /clock is wrong/],
])("REASON=%s (%s) is explained, without the relay", (reason, warning, expected) => {
  const text = explainBootstrapProblem({ progress: 10, tag: "conn", summary: "Connecting to a relay", warning, reason, hostAddr: "1.2.3.4:443" });
  expect(text).toMatch(expected);
  expect(text).not.toContain("1.2.3.4");
});

test("an unknown reason still says what tor was doing and what it said; no warning, no sentence", () => {
  expect(explainBootstrapProblem({ progress: 50, tag: "loading_descriptors", summary: "Loading relay descriptors", warning: "something new", reason: "NEWTHING" })).toBe(
    "tor has a problem while loading relay descriptors: something new",
  );
  expect(explainBootstrapProblem({ progress: 50, tag: "x", summary: "y" })).toBeUndefined();
});

test("RepeatedLog: a problem repeated within the interval is one line; the next line carries the count", () => {
  const stream = new PassThrough();
  let out = "";
  stream.on("data", (d: Buffer) => (out += d.toString()));
  let now = 0;
  const r = new RepeatedLog(createLogger({ level: "info", stream }), 60_000, () => now);
  for (let i = 0; i < 10; i++) {
    r.report("warn", "refused", "tor cannot reach any relay");
    now += 1000;
  }
  r.report("warn", "other", "another problem");
  expect(out.trim().split("\n")).toHaveLength(2);
  now = 61_000;
  r.report("warn", "refused", "tor cannot reach any relay");
  const lines = out.trim().split("\n");
  expect(lines).toHaveLength(3);
  expect(lines[2]).toMatch(/tor cannot reach any relay count=10$/);
  r.clear("refused");
  r.report("warn", "refused", "tor cannot reach any relay");
  expect(out.trim().split("\n")).toHaveLength(4);
});
