// Shared helpers for the store tests: throwaway data dirs and sample records.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { StoreError, type AccountRecord } from "../../src/store/store.js";
import type { StoredCredentials } from "../../src/xmpp/sasl/credentials.js";

const made: string[] = [];

/** A fresh empty directory, removed by cleanupTempDirs(). */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "purple-onion-store-"));
  made.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const dir of made.splice(0)) {
    // Undo any chmod a test did so the tree can be removed.
    try {
      fs.chmodSync(dir, 0o700);
    } catch {
      // already gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function credentials(fill = 1): StoredCredentials {
  const one = (hashLen: number) => ({
    iterations: 4096,
    salt: Buffer.alloc(16, fill),
    storedKey: Buffer.alloc(hashLen, fill + 1),
    serverKey: Buffer.alloc(hashLen, fill + 2),
  });
  return { "SHA-1": one(20), "SHA-256": one(32) };
}

export function account(localpart: string, domain: string, createdAt = 1_700_000_000_000): AccountRecord {
  return { jid: `${localpart}@${domain}`, localpart, domain, createdAt, credentials: credentials() };
}

export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** The StoreError fn throws (anything else fails the test). */
export function errorOf(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError) return err;
    throw err;
  }
  throw new Error("expected a StoreError");
}
