// Durability across a crash: a child process stores offline messages and is killed with SIGKILL
// (no close, no exit handlers, WAL not checkpointed). Everything it reported stored must be there.
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { DATABASE_FILE_NAME, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "./fixtures.js";

afterEach(cleanupTempDirs);

// The compiled store beside this compiled test: <build>/test/store/ -> <build>/src/store/store.js
const STORE_URL = new URL("../../src/store/store.js", import.meta.url).href;

const CHILD = `
import { openStore } from ${JSON.stringify(STORE_URL)};
const store = openStore(process.argv[2], { maxOfflinePerAccount: 1000000 });
const id = store.offline.push("alice@a.onion", "<message id='first'/>", 1234);
process.stdout.write("ok " + id + "\\n");
// Keep committing until killed, so the kill lands in the middle of writes.
let n = 0;
function more() {
  for (let i = 0; i < 10; i++, n++) {
    const id = store.offline.push("alice@a.onion", "<message id='m" + n + "'/>", n);
    process.stdout.write("id " + id + "\\n");
  }
  setImmediate(more);
}
more();
`;

interface ChildResult {
  firstId: number;
  reportedIds: number[];
  signal: NodeJS.Signals | null;
}

function runAndKill(script: string, dataDir: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dataDir], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killed = false;
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child never printed ok; stderr: ${err}`));
    }, 20_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
      if (!killed && /^ok \d+$/m.test(out)) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      clearTimeout(guard);
      if (!killed) return reject(new Error(`child exited before ok; stderr: ${err}`));
      const lines = out.split("\n");
      const firstId = Number(/^ok (\d+)$/m.exec(out)![1]);
      // A line cut off by the kill is not a report; only complete lines count.
      const complete = out.endsWith("\n") ? lines : lines.slice(0, -1);
      const reportedIds = complete.filter((l) => l.startsWith("id ")).map((l) => Number(l.slice(3)));
      resolve({ firstId, reportedIds, signal });
    });
  });
}

test("messages a killed process reported stored are there after reopening", async () => {
  const dataDir = tempDir();
  const scriptDir = tempDir();
  const script = path.join(scriptDir, "push-then-die.mjs");
  fs.writeFileSync(script, CHILD);

  const setup = openStore(dataDir);
  setup.accounts.create(account("alice", "a.onion"));
  setup.close();

  const result = await runAndKill(script, dataDir);
  expect(result.signal).toBe("SIGKILL");

  // The child never closed the database, so its commits are still only in the WAL.
  const wal = path.join(dataDir, `${DATABASE_FILE_NAME}-wal`);
  expect(fs.statSync(wal).size).toBeGreaterThan(0);

  const store = openStore(dataDir);
  const stored = store.offline.list("alice@a.onion");
  expect(stored[0]).toEqual({ id: result.firstId, stanzaXml: "<message id='first'/>", stampMs: 1234 });
  const storedIds = new Set(stored.map((m) => m.id));
  for (const id of result.reportedIds) expect(storedIds.has(id)).toBe(true);
  // Nothing half-written: every row is a whole message, and ids are exactly the committed sequence.
  expect(stored.every((m) => /^<message id='(first|m\d+)'\/>$/.test(m.stanzaXml))).toBe(true);
  store.close();

  const db = new Database(path.join(dataDir, DATABASE_FILE_NAME), { readonly: true });
  expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
  db.close();
}, 30_000);
