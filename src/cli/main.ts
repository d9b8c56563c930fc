#!/usr/bin/env node
// The `purple-onion` bin. It imports nothing of its own up front: for `serve`,
// the daemon's heap settings (src/daemon/heap.ts) must be in place before the
// modules load, and every static import would load first. The commands are
// in commands.ts. main() is exported for tests; the bottom of this file runs it
// when executed as the bin.
import fs from "node:fs";
import { fileURLToPath } from "node:url";

import type { CliDeps, CliIo } from "./common.js";

/** argv is what follows the program name (process.argv.slice(2)); resolves with the exit status. */
export async function main(argv: string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  const commands = await import("./commands.js");
  return commands.main(argv, io, deps);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // npm installs the bin as a symlink; compare real paths.
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  if (process.argv[2] === "serve") (await import("../daemon/heap.js")).tuneHeapBeforeLoading();
  // Writing to a closed pipe (`purple-onion account list | head -1`) is not an error worth a trace.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
  process.exitCode = code;
}
