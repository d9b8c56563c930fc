// `npm run demo` (demo/demo.ts) as a user runs it: the whole timeline, exit 0, and nothing left
// behind — no tor, daemon or libpurple process it started, no temp dir. And a SIGTERM while it
// runs: it stops everything and exits 143. Each run gets a TMPDIR of its own: every process the
// demo starts has it in its environment or command line, so /proc shows any survivor.
//   node --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/tor/demo.tornet.test.js
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requires } from "../support/requires.js";
import { RELAYS } from "../support/tornet/tornet.js";

/** The authority, the relays and the 2 client tors. */
const TORS = 1 + RELAYS + 2;

const DEMO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../demo/demo.js");

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs the demo with TMPDIR=`dir`; `onLine` sees each stdout line (it may signal the demo). */
function runDemo(dir: string, args: string[] = [], onLine?: (line: string, pid: number) => void): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const line of lines) onLine?.(line, child.pid!);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! }));
  });
}

/** Processes (not zombies) with `text` in their command line or environment. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes(text) || readFileSync(`/proc/${pid}/environ`, "utf8").includes(text)) found.push(`${pid} ${cmdline.replace(/\0/g, " ").trim()}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** What survives a run: processes, and whatever is left in its TMPDIR. */
async function leftovers(dir: string): Promise<{ processes: string[]; files: string[] }> {
  // The demo waited for each process it stopped; allow the kernel a moment to reap the last ones.
  for (let i = 0; i < 20 && processesMentioning(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return { processes: processesMentioning(dir), files: readdirSync(dir) };
}

requires("tornet", "native").describe("npm run demo", () => {
  const dirs: string[] = [];
  const freshDir = (): string => {
    // Short: the daemons' Unix sockets live under it (107 bytes at most).
    const dir = mkdtempSync(path.join(tmpdir(), "podt-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("--help says what it does, how long it takes and what it needs", async () => {
    const run = await runDemo(freshDir(), ["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/private Tor network/);
    expect(run.stdout).toMatch(/minutes?/);
    expect(run.stdout).toMatch(/apt-get install tor/);
    expect(run.stdout).toMatch(/npm run build:native/);
    expect(run.stdout).toMatch(/root/);
    expect(run.stdout).toMatch(/--verbose/);
  });

  test("runs the whole story, prints the timeline, exits 0 and leaves nothing behind", async () => {
    const dir = freshDir();
    const run = await runDemo(dir);
    // The full output, for the record (and the README).
    console.log(run.stdout + (run.stderr ? `\n--- stderr ---\n${run.stderr}` : ""));
    expect(run).toMatchObject({ code: 0, signal: null });
    const out = run.stdout;
    const stamp = String.raw`^\s*\d+\.\d s  `;
    const line = (re: string) => new RegExp(stamp + re, "m");
    expect(out).toMatch(line(String.raw`Tor network bootstrapped in \d`));
    const onion = String.raw`[a-z2-7]{56}\.onion`;
    expect(out).toMatch(line(`Alice's onion service published: ${onion}$`));
    expect(out).toMatch(line(`Bob's onion service published: ${onion}$`));
    expect(out).toMatch(line(`Bob is asked by u[0-9a-f]{10}@${onion} \\(`));
    expect(out).toMatch(line("Bob authorizes Alice$"));
    expect(out).toMatch(line("Alice authorizes Bob: they are contacts both ways$"));
    expect(out.match(new RegExp(stamp + String.raw`message (Alice → Bob|Bob → Alice) received in \d+(\.\d)? m?s: "`, "gm"))).toHaveLength(4);
    expect(out).toMatch(line(String.raw`message Bob → Alice received in`));
    expect(out).toMatch(line(String.raw`file received by Bob: 32768 bytes in \d+(\.\d)? m?s after he accepted \(\d+ bytes/s, .*\), \d+ in-band blocks through both servers and Tor; contents identical$`));
    expect(out).toMatch(line(String.raw`cleaned up: stopped 2 libpurple clients, 2 daemons, ${TORS} tor processes; removed `));
    expect(out).toMatch(/demo finished: everything worked/);
    expect(await leftovers(dir)).toEqual({ processes: [], files: [] });
  }, 240_000);

  test("SIGTERM while it runs: it stops everything it started, removes its files and exits 143", async () => {
    const dir = freshDir();
    let sent = false;
    let running: string[] = [];
    const run = await runDemo(dir, [], (line, pid) => {
      // Once the daemons and clients run: the most there is to stop.
      if (!sent && / libpurple clients with the plugin are running$/.test(line)) {
        sent = true;
        running = processesMentioning(dir);
        process.kill(pid, "SIGTERM");
      }
    });
    expect(sent).toBe(true);
    // The survivor check sees them while they run: the demo, the tors, 2 daemons, 2 bridges.
    expect(running.length).toBeGreaterThanOrEqual(1 + TORS + 4);
    expect(run.stdout).toMatch(/SIGTERM: stopping/);
    expect(run.stdout).toMatch(new RegExp(`cleaned up: stopped 2 libpurple clients, 2 daemons, ${TORS} tor processes`));
    expect(run).toMatchObject({ code: 143, signal: null });
    expect(await leftovers(dir)).toEqual({ processes: [], files: [] });
  }, 180_000);
});
