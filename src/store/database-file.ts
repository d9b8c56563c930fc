// Opening the SQLite file: checks on the data dir, file modes, pragmas, and turning the
// ways this can fail into StoreErrors that tell the user what to do.
import { createRequire } from "node:module";
import type Database from "better-sqlite3";
// Loaded with require(): importing a CommonJS package from an ES module makes
// Node translate it, which measured ~7 MB more resident memory for the daemon.
const SqliteDatabase = createRequire(import.meta.url)("better-sqlite3") as typeof Database;
import * as fs from "node:fs";
import * as path from "node:path";
import { StoreError, sqliteCode } from "./errors.js";

export const DATABASE_FILE_NAME = "purple-onion.sqlite";

/** The database holds password hashes and onion private keys: owner read/write only. */
const FILE_MODE = 0o600;

const HINT = "choose another with --data-dir";

export function databasePath(dataDir: string): string {
  return path.join(dataDir, DATABASE_FILE_NAME);
}

/**
 * Opens (creating if needed) the database file in `dataDir` and configures the connection.
 * The data dir itself must already exist; its mode is the daemon's business, not ours.
 */
export function openDatabaseFile(dataDir: string, busyTimeoutMs: number): Database.Database {
  checkDataDir(dataDir);
  const file = databasePath(dataDir);
  createWithPrivateMode(file);

  let db: Database.Database;
  try {
    db = new SqliteDatabase(file, { timeout: busyTimeoutMs });
  } catch (err) {
    throw translateOpenError(err, file, dataDir);
  }
  try {
    configure(db, busyTimeoutMs);
  } catch (err) {
    db.close();
    throw translateOpenError(err, file, dataDir);
  }
  return db;
}

/**
 * SQLite creates -wal and -shm with the main file's mode, but files left by an older run (or
 * copied in by hand) may be wider; narrow them. Call after the first write, when they exist.
 */
export function restrictSidecarModes(file: string): void {
  for (const sidecar of [`${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(sidecar).mode & 0o777) !== FILE_MODE) fs.chmodSync(sidecar, FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new StoreError(
        "not-writable",
        `cannot make ${sidecar} private (mode 0600): ${(err as Error).message} — fix its owner or ${HINT}`,
        { cause: err },
      );
    }
  }
}

function checkDataDir(dataDir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "it does not exist — create it or"
        : code === "ENOTDIR"
          ? "part of its path is a file, not a directory —"
          : `${(err as Error).message} —`;
    throw new StoreError("not-writable", `data dir ${dataDir} is not writable: ${why} ${HINT}`, { cause: err });
  }
  if (!stat.isDirectory()) {
    throw new StoreError("not-writable", `data dir ${dataDir} is not writable: it is not a directory — ${HINT}`);
  }
  try {
    // W_OK to create the database and its -wal/-shm files, X_OK to reach them.
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new StoreError("not-writable", `data dir ${dataDir} is not writable: ${(err as Error).message} — ${HINT}`, {
      cause: err,
    });
  }
}

/** Creates the file with mode 0600 before SQLite sees it, and narrows an existing file that is wider. */
function createWithPrivateMode(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, FILE_MODE);
  } catch (err) {
    throw new StoreError(
      "not-writable",
      `cannot open ${file} for writing: ${(err as Error).message} — fix its permissions or ${HINT}`,
      { cause: err },
    );
  }
  try {
    // The umask may have removed bits from a new file, or an old file may be wider than 0600.
    if ((fs.fstatSync(fd).mode & 0o777) !== FILE_MODE) fs.fchmodSync(fd, FILE_MODE);
  } catch (err) {
    throw new StoreError(
      "not-writable",
      `cannot make ${file} private (mode 0600): ${(err as Error).message} — fix its owner or ${HINT}`,
      { cause: err },
    );
  } finally {
    fs.closeSync(fd);
  }
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  // The first statement reads the header: a file that is not SQLite fails here with SQLITE_NOTADB.
  // https://www.sqlite.org/wal.html — readers do not block the writer, and commits are appends.
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") {
    throw new StoreError(
      "not-writable",
      `${db.name} cannot use write-ahead logging (journal_mode is ${String(mode)}); ` +
        `the data dir may be on a file system without shared-memory support — ${HINT}`,
    );
  }
  // FULL: every commit is fsynced to the WAL before it returns, so an acknowledged stanza
  // survives a crash or power loss (NORMAL could lose the last commits on power loss).
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
}

function translateOpenError(err: unknown, file: string, dataDir: string): Error {
  if (err instanceof StoreError) return err;
  const code = sqliteCode(err) ?? "";
  const detail = (err as Error).message;
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return new StoreError(
      "corrupt",
      `${file} is not a usable purple-onion database (${detail}): move it aside to start afresh, or ${HINT}`,
      { cause: err },
    );
  }
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new StoreError(
      "not-writable",
      `${file} is locked by another process (${detail}): is another purple-onion using ${dataDir}? Stop it or ${HINT}`,
      { cause: err },
    );
  }
  if (code === "SQLITE_FULL") {
    return new StoreError("not-writable", `the disk holding ${dataDir} is full (${detail}) — free space or ${HINT}`, {
      cause: err,
    });
  }
  if (
    code.startsWith("SQLITE_CANTOPEN") ||
    code.startsWith("SQLITE_READONLY") ||
    code.startsWith("SQLITE_PERM") ||
    code.startsWith("SQLITE_IOERR") ||
    code.startsWith("SQLITE_AUTH")
  ) {
    return new StoreError("not-writable", `data dir ${dataDir} is not writable: ${detail} — ${HINT}`, { cause: err });
  }
  return typeof err === "object" && err !== null ? (err as Error) : new Error(String(err));
}
