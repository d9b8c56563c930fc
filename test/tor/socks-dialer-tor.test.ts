// The dialer against a real tor, in a network namespace with only lo (tor cannot reach
// anything; its only directory authority is a dead 127.0.0.1 port). It shows that real
// tor takes our username/password (so per-account isolation applies: the dialer refuses
// a port that picks "no authentication"), and that a real reply code is read and mapped:
// on an OnionTrafficOnly port a clearnet name gets 0x02 at once. An onion cannot be
// reached without a network: that dial waits for tor until our timeout.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isolationCredentials } from "../../src/tor/isolation.js";
import { onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { findProgram } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { TOR as tor } from "../support/tornet/tor-binaries.js";

requires("tor", "netns").describe("dialThroughTor with a real tor", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "po-tor-dial-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("tor accepts the credentials and its reply codes come through", () => {
    const dialer = fileURLToPath(new URL("../../src/tor/socks-dialer.js", import.meta.url));
    const onion = onionAddressFromSeed(Buffer.alloc(32, 5));
    const credentials = isolationCredentials(onion, Buffer.alloc(32, 1));
    const torrc = [
      `DataDirectory ${path.join(dir, "data")}`,
      "SocksPort 127.0.0.1:auto ExtendedErrors OnionTrafficOnly",
      "ControlPort 0",
      "Log notice stdout",
      "UseDefaultFallbackDirs 0",
      "DirAuthority nowhere orport=1 no-v2 v3ident=0000000000000000000000000000000000000000 127.0.0.1:2 0000000000000000000000000000000000000000",
      "ShutdownWaitLength 0",
    ].join("\n");
    // Runs inside the namespace: start tor, read its SOCKS port from the log, dial, stop tor.
    const script = `
      import { spawn } from "node:child_process";
      import { mkdirSync, writeFileSync } from "node:fs";
      const { dialThroughTor } = await import(${JSON.stringify(dialer)});
      mkdirSync(${JSON.stringify(path.join(dir, "data"))}, { mode: 0o700 });
      writeFileSync(${JSON.stringify(path.join(dir, "torrc"))}, ${JSON.stringify(torrc)});
      const tor = spawn(${JSON.stringify(tor)}, ["-f", ${JSON.stringify(path.join(dir, "torrc"))}], { stdio: ["ignore", "pipe", "inherit"] });
      let log = "";
      const port = await new Promise((resolve, reject) => {
        tor.stdout.on("data", (d) => {
          log += d;
          const m = /Opened Socks listener connection \\(ready\\) on 127\\.0\\.0\\.1:(\\d+)/.exec(log);
          if (m) resolve(Number(m[1]));
        });
        tor.once("exit", () => reject(new Error("tor exited: " + log)));
        setTimeout(() => reject(new Error("tor did not open its SOCKS port: " + log)), 20000).unref();
      });
      const results = {};
      const opts = { socks: { host: "127.0.0.1", port }, credentials: ${JSON.stringify(credentials)} };
      for (const [label, host, extra] of [
        ["clearnet", "example.org", { allowClearnet: true, timeoutMs: 5000 }],
        ["onion", ${JSON.stringify(onion)}, { timeoutMs: 1500 }],
      ]) {
        try { (await dialThroughTor(host, 5269, { ...opts, ...extra })).destroy(); results[label] = "connected"; }
        catch (e) { results[label] = { code: e.code, socksReply: e.socksReply ?? null, message: e.message }; }
      }
      tor.kill("SIGTERM");
      await new Promise((r) => tor.once("exit", r));
      console.log(JSON.stringify(results));
    `;
    const run = spawnSync(
      findProgram("unshare")!,
      ["--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$0" --input-type=module -e "$1"', process.execPath, script],
      { encoding: "utf8", timeout: 40_000 },
    );
    expect(run.stderr).toBe("");
    const results = JSON.parse(run.stdout.trim().split("\n").pop()!) as Record<string, { code: string; socksReply: number | null; message: string }>;
    expect(results.clearnet).toMatchObject({ code: "not-allowed", socksReply: 0x02 });
    expect(results.clearnet!.message).toContain("example.org:5269");
    // Not "socks-error": tor chose username/password and answered nothing before our timeout.
    expect(results.onion).toMatchObject({ code: "timeout", socksReply: null });
    expect(results.onion!.message).toContain(`no connection to ${onion}:5269 through tor within 1500 ms`);
  }, 45_000);
});
