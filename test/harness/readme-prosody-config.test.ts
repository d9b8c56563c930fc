// The README's Prosody configuration for federating with purple-onion is the one the tests run
// Prosody with (prosodyFederationConfig in test/support/prosody-peer.ts), with the user's values
// in place of the test's: what a user copies has run in CI.
import { readFileSync } from "node:fs";
import { prosodyFederationConfig } from "../support/prosody-peer.js";

const README_VALUES = { onion: "<your onion>.onion", conference: "conference.<your onion>.onion", s2sPort: 5269, socksPort: 9050, encryption: "default" } as const;

function readmeBlock(): string {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const m = /<!-- prosody-config:begin -->\n```lua\n([\s\S]*?)\n```\n<!-- prosody-config:end -->/.exec(readme);
  if (!m) throw new Error("README.md has no ```lua block between <!-- prosody-config:begin --> and <!-- prosody-config:end -->");
  return m[1]!;
}

test("the README's Prosody federation config is the tests' own, for Prosody's default encryption settings", () => {
  expect(readmeBlock()).toBe(prosodyFederationConfig(README_VALUES).join("\n"));
});

test("encryption off adds only the lines that turn TLS off", () => {
  const on = prosodyFederationConfig(README_VALUES);
  const off = prosodyFederationConfig({ ...README_VALUES, encryption: "off" });
  expect(off.filter((l) => !on.includes(l))).toEqual([
    "-- Plain streams inside Tor (the onion already encrypts and authenticates).",
    "s2s_require_encryption = false",
    "s2s_secure_auth = false",
    'modules_disabled = { "s2s_auth_certs" }',
  ]);
});
