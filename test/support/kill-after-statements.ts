// Test-only preload: SIGKILLs this process right after its Nth SQL statement, to prove that a
// crash at any statement leaves the store in the state before or after a unit of work, never
// between. Production code never loads it; a test starts the daemon with
//
//   PURPLE_ONION_TEST_KILL_AFTER=<N> node --import <URL of this file> dist/src/cli/main.js serve ...
//
// Counting starts only when the process receives SIGUSR2 (so that start-up and logins are not
// counted); it answers "kill-hook armed" on stderr. A second SIGUSR2 disarms it and prints
// "kill-hook disarmed after <K> statements". Every execution of a prepared statement counts,
// BEGIN, SAVEPOINT, RELEASE and COMMIT included (better-sqlite3 runs them as statements too).
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";

const ENV = "PURPLE_ONION_TEST_KILL_AFTER";
const killAfter = Number(process.env[ENV]);

if (process.env[ENV] !== undefined) {
  if (!Number.isInteger(killAfter) || killAfter < 1) throw new Error(`${ENV} must be a positive integer, got ${process.env[ENV]}`);
  // The same module instance the store loads (src/store/database-file.ts), hence the same Statement class.
  const Database = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  const probe = new Database(":memory:");
  const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<string, (...args: unknown[]) => unknown>;
  probe.close();

  let armed = false;
  let count = 0;
  for (const name of ["run", "get", "all", "iterate"]) {
    const original = proto[name]!;
    proto[name] = function (this: unknown, ...args: unknown[]): unknown {
      const result = original.apply(this, args);
      if (armed && ++count >= killAfter) process.kill(process.pid, "SIGKILL");
      return result;
    };
  }
  process.on("SIGUSR2", () => {
    if (!armed) {
      armed = true;
      count = 0;
      process.stderr.write("kill-hook armed\n");
    } else {
      armed = false;
      process.stderr.write(`kill-hook disarmed after ${count} statements\n`);
    }
  });
}
