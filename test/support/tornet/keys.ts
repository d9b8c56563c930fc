// Keys made before any tor starts: the authority's v3 identity (tor-gencert)
// and every relay's RSA identity (tor --list-fingerprint), so the DirAuthority
// line can be written into every torrc up front, relays publish as soon as
// they start, and the consensus can be checked by fingerprint.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TOR, TOR_GENCERT } from "./tor-binaries.js";

interface RunResult {
  code: number | null;
  output: string;
}

function run(program: string, args: string[], input: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

/**
 * Creates DATADIR/keys/authority_{identity_key,signing_key,certificate} and
 * returns the v3 identity fingerprint (the DirAuthority line's v3ident).
 */
async function createAuthorityKeys(dataDir: string): Promise<string> {
  const keys = join(dataDir, "keys");
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  const certificate = join(keys, "authority_certificate");
  // An empty passphrase on stdin; -m 12: the certificate is valid for 12
  // months. No -a (dir-address): the DirAuthority line carries the ports, so
  // the authority can move to other ports if one is taken.
  const result = await run(
    TOR_GENCERT,
    [
      "--create-identity-key",
      "-m", "12",
      "-i", join(keys, "authority_identity_key"),
      "-s", join(keys, "authority_signing_key"),
      "-c", certificate,
      "--passphrase-fd", "0",
    ],
    "\n",
  );
  if (result.code !== 0) throw new Error(`tor-gencert failed (exit ${result.code}): ${result.output.trim()}`);
  return readV3ident(certificate);
}

/**
 * Generates a relay's identity keys in DATADIR (as tor would on first start)
 * and returns its RSA identity fingerprint (40 hex digits).
 */
async function createRelayKeys(dataDir: string, emptyTorrc: string): Promise<string> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // --dirserver with a dummy authority: without one (and no network), tor
  // refuses to act as a relay; -f/--defaults-torrc keep /etc/tor out of it.
  const result = await run(
    TOR,
    [
      "-f", emptyTorrc,
      "--defaults-torrc", emptyTorrc,
      "--list-fingerprint",
      "--orport", "1",
      "--dirserver", "dummy 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff",
      "--datadirectory", dataDir,
      "--quiet",
    ],
    "",
  );
  if (result.code !== 0) throw new Error(`tor --list-fingerprint failed (exit ${result.code}): ${result.output.trim()}`);
  return readFingerprint(dataDir);
}

export interface NetworkKeys {
  /** The authority's v3 identity (DirAuthority v3ident=). */
  v3ident: string;
  /** The authority's RSA identity as a relay. */
  authorityFingerprint: string;
  /** RSA identity of each relay, in order. */
  relayFingerprints: string[];
}

const CACHE_VERSION = 1;
/** Keys younger than this are reused; the authority certificate is valid 12 months. */
const CACHE_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/**
 * Puts identity keys into the authority's and every relay's DataDirectory.
 * Making them costs ~2.5 s of CPU (RSA-3072 for the authority), a sixth of
 * the network's start time on 2 cores, so they are made once per user and
 * kept in the temp dir: they only ever identify nodes of throwaway loopback
 * networks (several networks at once may share them: each has its own ports).
 */
export async function installNetworkKeys(authorityDir: string, relayDirs: string[], emptyTorrc: string): Promise<NetworkKeys> {
  const cache = join(tmpdir(), `purple-onion-tornet-keys-v${CACHE_VERSION}-${process.getuid?.() ?? "user"}-${relayDirs.length}`);
  if (!cacheUsable(cache)) {
    // Made aside and renamed into place, so a concurrent run never sees half a cache.
    const fresh = mkdtempSync(`${cache}.new-`);
    try {
      await Promise.all([
        createAuthorityKeys(join(fresh, "authority")),
        createRelayKeys(join(fresh, "authority"), emptyTorrc),
        ...relayDirs.map((_, i) => createRelayKeys(join(fresh, `relay${i + 1}`), emptyTorrc)),
      ]);
      rmSync(cache, { recursive: true, force: true });
      renameSync(fresh, cache);
    } catch (err) {
      rmSync(fresh, { recursive: true, force: true });
      // Another run renamed its fresh keys into place first: use those.
      if (!cacheUsable(cache)) throw err;
    }
  }
  const install = (from: string, to: string): string => {
    mkdirSync(to, { recursive: true, mode: 0o700 });
    cpSync(join(from, "keys"), join(to, "keys"), { recursive: true });
    chmodSync(join(to, "keys"), 0o700);
    copyFileSync(join(from, "fingerprint"), join(to, "fingerprint"));
    return readFingerprint(to);
  };
  const authorityFingerprint = install(join(cache, "authority"), authorityDir);
  const relayFingerprints = relayDirs.map((dir, i) => install(join(cache, `relay${i + 1}`), dir));
  return { v3ident: readV3ident(join(authorityDir, "keys", "authority_certificate")), authorityFingerprint, relayFingerprints };
}

function cacheUsable(cache: string): boolean {
  try {
    if (Date.now() - statSync(cache).mtimeMs > CACHE_MAX_AGE_MS) return false;
    readV3ident(join(cache, "authority", "keys", "authority_certificate"));
    readFingerprint(join(cache, "authority"));
    for (const entry of readdirSync(cache).filter((e) => e.startsWith("relay"))) readFingerprint(join(cache, entry));
    return true;
  } catch {
    return false;
  }
}

function readV3ident(certificate: string): string {
  const match = /^fingerprint ([0-9A-F]{40})$/m.exec(readFileSync(certificate, "utf8"));
  if (!match) throw new Error(`no fingerprint in ${certificate}`);
  return match[1]!;
}

function readFingerprint(dataDir: string): string {
  const match = /^\S+ ([0-9A-F]{40})$/m.exec(readFileSync(join(dataDir, "fingerprint"), "utf8"));
  if (!match) throw new Error(`no fingerprint in ${dataDir}`);
  return match[1]!;
}
