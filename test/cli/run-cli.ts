// Runs the CLI's main() in-process and captures what it prints.
import { main } from "../../src/cli/main.js";
import type { CliDeps } from "../../src/cli/common.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  argv: string[],
  deps: CliDeps = {},
  env: NodeJS.ProcessEnv = { HOME: "/home/tester" },
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(
    argv,
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env },
    deps,
  );
  return { code, stdout, stderr };
}
