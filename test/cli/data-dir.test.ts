// Where the data dir is by default, and ensureDataDir making it private or explaining why not.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { controlSocketPath, DataDirError, defaultDataDir, ensureDataDir } from "../../src/daemon/paths.js";
import { removeDir, tempDir } from "../daemon/control-fixtures.js";
import { asUser, lookupUser } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";

describe("defaultDataDir", () => {
  test("$PURPLE_ONION_DATA_DIR wins, made absolute", () => {
    expect(defaultDataDir({ PURPLE_ONION_DATA_DIR: "/srv/po", XDG_DATA_HOME: "/xdg", HOME: "/h" })).toBe("/srv/po");
    expect(defaultDataDir({ PURPLE_ONION_DATA_DIR: "rel" })).toBe(path.resolve("rel"));
  });

  test("then $XDG_DATA_HOME/purple-onion", () => {
    expect(defaultDataDir({ XDG_DATA_HOME: "/xdg", HOME: "/h" })).toBe("/xdg/purple-onion");
  });

  test("a relative or empty XDG_DATA_HOME is ignored, as the basedir spec says", () => {
    expect(defaultDataDir({ XDG_DATA_HOME: "relative", HOME: "/h" })).toBe("/h/.local/share/purple-onion");
    expect(defaultDataDir({ XDG_DATA_HOME: "", PURPLE_ONION_DATA_DIR: "", HOME: "/h" })).toBe("/h/.local/share/purple-onion");
  });

  test("without HOME, the account's home directory", () => {
    expect(defaultDataDir({})).toBe(path.join(os.homedir(), ".local", "share", "purple-onion"));
  });

  test("controlSocketPath", () => {
    expect(controlSocketPath("/d")).toBe("/d/control.sock");
  });
});

describe("ensureDataDir", () => {
  let root: string;
  beforeEach(() => {
    root = tempDir("po-data-");
  });
  afterEach(() => {
    fs.chmodSync(root, 0o700);
    removeDir(root);
  });

  test("creates missing parents, mode 0700", () => {
    const dir = path.join(root, "a", "b", "purple-onion");
    ensureDataDir(dir);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  test("tightens an existing directory with looser permissions", () => {
    const dir = path.join(root, "loose");
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    ensureDataDir(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  test("is idempotent", () => {
    const dir = path.join(root, "d");
    ensureDataDir(dir);
    fs.writeFileSync(path.join(dir, "keep"), "x");
    ensureDataDir(dir);
    expect(fs.readFileSync(path.join(dir, "keep"), "utf8")).toBe("x");
  });

  test("a file in the way is a DataDirError saying so", () => {
    const file = path.join(root, "file");
    fs.writeFileSync(file, "");
    const err = captureError(() => ensureDataDir(file));
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toMatch(/exists but is not a directory/);
    expect(err.message).toMatch(/--data-dir/);
  });

  test("a file as a parent is a DataDirError saying so", () => {
    const file = path.join(root, "file");
    fs.writeFileSync(file, "");
    const err = captureError(() => ensureDataDir(path.join(file, "sub")));
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toMatch(/a parent of it is a file/);
  });

  // Root may write anywhere, so permission failures can only be seen as another user:
  // this process when it is not root (allowlisted for CI, which runs as root), or a
  // child run as nobody when it is.
  requires("non-root").test("an unwritable parent is a DataDirError with what to do", () => {
    fs.chmodSync(root, 0o500);
    const err = captureError(() => ensureDataDir(path.join(root, "x")));
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toMatch(/permission denied; choose another with --data-dir/);
  });

  requires("other-user").test("as the user nobody, an unwritable parent is a DataDirError with what to do", () => {
    const nobody = lookupUser("nobody")!;
    fs.chmodSync(root, 0o755);
    const parent = path.join(root, "locked");
    fs.mkdirSync(parent);
    fs.chownSync(parent, nobody.uid, nobody.gid);
    fs.chmodSync(parent, 0o500);
    // The checkout may sit where nobody cannot enter (a clone under a 0700 temp dir): the
    // module (it imports only node's own) is copied where nobody can read it.
    const paths = path.join(root, "paths.mjs");
    fs.copyFileSync(fileURLToPath(new URL("../../src/daemon/paths.js", import.meta.url)), paths);
    fs.chmodSync(paths, 0o644);
    const script = `
      const { ensureDataDir } = await import(${JSON.stringify(paths)});
      try { ensureDataDir(${JSON.stringify(path.join(parent, "x"))}); console.log("{}"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }`;
    const [setpriv, ...args] = asUser("nobody");
    const run = spawnSync(setpriv!, [...args, process.execPath, "--input-type=module", "-e", script], { cwd: "/", encoding: "utf8", timeout: 20_000 });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: "" });
    const err = JSON.parse(run.stdout) as { name?: string; message?: string };
    expect(err.name).toBe("DataDirError");
    expect(err.message).toMatch(/permission denied; choose another with --data-dir/);
    expect(fs.existsSync(path.join(parent, "x"))).toBe(false);
  });
});

function captureError(fn: () => void): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}
