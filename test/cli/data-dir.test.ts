// Where the data dir is by default, and ensureDataDir making it private or explaining why not.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { controlSocketPath, DataDirError, defaultDataDir, ensureDataDir } from "../../src/daemon/paths.js";
import { removeDir, tempDir } from "../daemon/control-fixtures.js";

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

  // Root may write anywhere, so permission failures can only be seen as another user.
  const asRoot = process.getuid?.() === 0;
  (asRoot ? test.skip : test)("an unwritable parent is a DataDirError with what to do", () => {
    fs.chmodSync(root, 0o500);
    const err = captureError(() => ensureDataDir(path.join(root, "x")));
    expect(err).toBeInstanceOf(DataDirError);
    expect(err.message).toMatch(/permission denied; choose another with --data-dir/);
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
