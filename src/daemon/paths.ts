// Where the daemon keeps its state, and making sure that place is private.
// The data dir holds account secrets (onion keys, SCRAM hashes) and the control socket,
// so it must be mode 0700 and owned by us: anyone who can enter it can control the daemon.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The data dir's file name for the control socket (docs/control-protocol.md). */
export const CONTROL_SOCKET_NAME = "control.sock";

/**
 * Linux's sockaddr_un.sun_path is 108 bytes including the terminating NUL
 * (unix(7)); a longer path cannot be bound or connected to.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A data dir we cannot use, with a message that says what to do about it. */
export class DataDirError extends Error {
  override readonly name = "DataDirError";
  constructor(
    readonly dir: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * $PURPLE_ONION_DATA_DIR, else $XDG_DATA_HOME/purple-onion, else ~/.local/share/purple-onion.
 * https://specifications.freedesktop.org/basedir-spec/latest/ : a relative XDG_DATA_HOME is invalid
 * and must be ignored.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.PURPLE_ONION_DATA_DIR;
  if (explicit) return path.resolve(explicit);
  const xdg = env.XDG_DATA_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "purple-onion");
  const home = env.HOME || os.homedir();
  return path.join(home, ".local", "share", "purple-onion");
}

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, CONTROL_SOCKET_NAME);
}

const HOW_TO_CHOOSE = "choose another with --data-dir DIR or PURPLE_ONION_DATA_DIR";

/**
 * mkdir -p with mode 0700; tighten an existing dir to 0700; check it is a directory we own
 * and can write. Throws DataDirError with an actionable message otherwise.
 */
export function ensureDataDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw mkdirError(dir, err as NodeJS.ErrnoException);
  }

  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    throw new DataDirError(dir, `cannot use data dir ${dir}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) {
    throw new DataDirError(dir, `data dir ${dir} exists but is not a directory: move it away or ${HOW_TO_CHOOSE}`);
  }

  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && st.uid !== uid) {
    throw new DataDirError(
      dir,
      `data dir ${dir} belongs to another user (uid ${st.uid}, you are ${uid}): ${HOW_TO_CHOOSE}`,
    );
  }

  if ((st.mode & 0o777) !== 0o700) {
    try {
      fs.chmodSync(dir, 0o700);
    } catch (err) {
      throw new DataDirError(
        dir,
        `data dir ${dir} has mode ${(st.mode & 0o777).toString(8)} and cannot be made private ` +
          `(chmod 700 failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${HOW_TO_CHOOSE}`,
      );
    }
  }

  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new DataDirError(dir, `data dir ${dir} is not writable: run 'chmod u+rwx ${dir}' or ${HOW_TO_CHOOSE}`);
  }
}

function mkdirError(dir: string, err: NodeJS.ErrnoException): DataDirError {
  switch (err.code) {
    case "EEXIST":
      return new DataDirError(dir, `data dir ${dir} exists but is not a directory: move it away or ${HOW_TO_CHOOSE}`);
    case "ENOTDIR":
      return new DataDirError(dir, `cannot create data dir ${dir}: a parent of it is a file, not a directory; ${HOW_TO_CHOOSE}`);
    case "EACCES":
    case "EPERM":
      return new DataDirError(dir, `cannot create data dir ${dir}: permission denied; ${HOW_TO_CHOOSE}`);
    case "EROFS":
      return new DataDirError(dir, `cannot create data dir ${dir}: the file system is read-only; ${HOW_TO_CHOOSE}`);
    default:
      return new DataDirError(dir, `cannot create data dir ${dir}: ${err.code ?? err.message}; ${HOW_TO_CHOOSE}`);
  }
}
