// Debian's tor package (apt-get install tor) provides both programs.
import { existsSync } from "node:fs";

export const TOR = "/usr/sbin/tor";
export const TOR_GENCERT = "/usr/bin/tor-gencert";

/** What is missing to start a private Tor network here, if anything. */
export function torNetMissing(): string | undefined {
  for (const program of [TOR, TOR_GENCERT]) {
    if (!existsSync(program)) return `${program} is missing: apt-get install tor`;
  }
  return undefined;
}
