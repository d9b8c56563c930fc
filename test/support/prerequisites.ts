// What the tests need from this machine, one probe per prerequisite: is it
// there, and if not, why (a sentence saying what to install or change).
// Probes run once per test process and are cached. Whether a missing one
// skips or fails a test is decided in requires.ts, not here.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { TOR, TOR_GENCERT } from "./tornet/tor-binaries.js";

export const PREREQUISITES = [
  "tor", // Debian's /usr/sbin/tor
  "tornet", // a private Tor network: tor and tor-gencert
  "prosody", // Debian's prosody and prosodyctl
  "prosody-onions", // prosody and mod_onions (Debian's prosody-modules): Prosody federating over Tor
  "strace", // strace, able to trace a child (ptrace permitted)
  "finch", // finch and tmux
  "slixmpp", // Debian's python3-slixmpp, importable by /usr/bin/python3
  "netns", // loopback-only network namespaces: root, unshare, nsenter, ip
  "root",
  "non-root",
  "other-user", // root, setpriv, and the users nobody and debian-tor
  "native", // the plugin and the bridge addon, built (npm run build:native, needs libpurple-dev)
  "pidgin", // pidgin, Xvfb, xdotool and ImageMagick's import (screenshots)
] as const;
export type Prerequisite = (typeof PREREQUISITES)[number];

export const PROSODY = "/usr/bin/prosody";
export const PROSODYCTL = "/usr/bin/prosodyctl";
export const MOD_ONIONS = "/usr/lib/prosody/modules/mod_onions/mod_onions.lua";
export const PYTHON = "/usr/bin/python3";
/** What `npm run build:native` makes (native/CMakeLists.txt). */
export const NATIVE_BUILD_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../build/native/Release");
export const PLUGIN_SO = path.join(NATIVE_BUILD_DIR, "purple-onion.so");
export const BRIDGE_NODE = path.join(NATIVE_BUILD_DIR, "purple_bridge.node");

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Absolute path of a program on PATH (or the sbin dirs), if installed. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SEARCH_PATH];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

/** A user from the system's user database (getent passwd), if it exists. */
export function lookupUser(name: string): SystemUser | undefined {
  const getent = findProgram("getent");
  if (!getent) return undefined;
  const r = spawnSync(getent, ["passwd", name], { encoding: "utf8", timeout: 5000 });
  const fields = r.status === 0 ? r.stdout.trim().split(":") : [];
  if (fields.length < 4) return undefined;
  return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** The users a test may run a client or a tor as, with `requires("other-user")`. */
export const OTHER_USERS = ["nobody", "debian-tor"] as const;

/**
 * The command prefix that runs a program as `user` (uid, primary gid, no
 * supplementary groups): `[setpriv, "--reuid=…", "--regid=…", "--clear-groups", "--"]`.
 * Needs root; check `requires("other-user")` first.
 */
export function asUser(name: (typeof OTHER_USERS)[number]): string[] {
  const user = lookupUser(name);
  const setpriv = findProgram("setpriv");
  if (!user || !setpriv) throw new Error(missing("other-user") ?? `cannot run as ${name}`);
  return [setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"];
}

const cache = new Map<Prerequisite, string | undefined>();

/** Why `prerequisite` is not available on this machine, or undefined when it is. */
export function missing(prerequisite: Prerequisite): string | undefined {
  if (!cache.has(prerequisite)) cache.set(prerequisite, PROBES[prerequisite]());
  return cache.get(prerequisite);
}

const isRoot = (): boolean => process.getuid?.() === 0;

const PROBES: Record<Prerequisite, () => string | undefined> = {
  tor: () => (existsSync(TOR) ? undefined : `${TOR} is not installed (apt-get install tor)`),
  tornet: () => {
    for (const program of [TOR, TOR_GENCERT]) {
      if (!existsSync(program)) return `${program} is not installed (apt-get install tor)`;
    }
    return undefined;
  },
  prosody: () => {
    for (const program of [PROSODY, PROSODYCTL]) {
      if (!existsSync(program)) return `${program} is not installed (apt-get install prosody)`;
    }
    return undefined;
  },
  "prosody-onions": () => {
    const prosody = PROBES.prosody();
    if (prosody) return prosody;
    return existsSync(MOD_ONIONS) ? undefined : `${MOD_ONIONS} is not installed (apt-get install prosody-modules)`;
  },
  strace: () => straceProbe().reason,
  finch: () => {
    if (!findProgram("finch")) return "finch is not installed (apt-get install finch)";
    if (!findProgram("tmux")) return "tmux is not installed (apt-get install tmux)";
    return undefined;
  },
  slixmpp: () => {
    if (!existsSync(PYTHON)) return `${PYTHON} is not installed (apt-get install python3-slixmpp)`;
    const r = spawnSync(PYTHON, ["-c", "import slixmpp"], { encoding: "utf8", timeout: 20_000 });
    if (r.status === 0) return undefined;
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n").pop();
    return `${PYTHON} cannot import slixmpp (apt-get install python3-slixmpp): ${why}`;
  },
  netns: () => {
    if (!isRoot()) return "network namespaces need root (CAP_SYS_ADMIN); running as uid " + process.getuid?.();
    for (const program of ["unshare", "nsenter"]) {
      if (!findProgram(program)) return `${program} is not installed (apt-get install util-linux)`;
    }
    if (!findProgram("ip")) return "ip is not installed (apt-get install iproute2)";
    const probe = spawnSync(findProgram("unshare")!, ["--net", "--", findProgram("ip")!, "link", "set", "lo", "up"], {
      encoding: "utf8",
      timeout: 5000,
    });
    if (probe.status !== 0) {
      return `cannot create a network namespace here: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()}`;
    }
    return undefined;
  },
  native: () => {
    for (const file of [PLUGIN_SO, BRIDGE_NODE]) {
      if (!existsSync(file)) return `${file} is not built (apt-get install libpurple-dev libjson-glib-dev, then npm run build:native)`;
    }
    return undefined;
  },
  pidgin: () => {
    const packages: Record<string, string> = { pidgin: "pidgin", Xvfb: "xvfb", xdotool: "xdotool", import: "imagemagick" };
    for (const [program, pkg] of Object.entries(packages)) {
      if (!findProgram(program)) return `${program} is not installed (apt-get install ${pkg})`;
    }
    return undefined;
  },
  root: () => (isRoot() ? undefined : `needs root; running as uid ${process.getuid?.()}`),
  "non-root": () => (isRoot() ? "running as root, who may read and write anything whatever the file modes" : undefined),
  "other-user": () => {
    if (!isRoot()) return `running a program as another user needs root; running as uid ${process.getuid?.()}`;
    const setpriv = findProgram("setpriv");
    if (!setpriv) return "setpriv is not installed (apt-get install util-linux)";
    for (const name of OTHER_USERS) {
      if (!lookupUser(name)) return `there is no user ${name}${name === "debian-tor" ? " (apt-get install tor creates it)" : ""}`;
    }
    const nobody = lookupUser("nobody")!;
    const probe = spawnSync(setpriv, [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups", "--", "/bin/true"], {
      encoding: "utf8",
      timeout: 5000,
    });
    if (probe.status !== 0) return `setpriv cannot switch to nobody here: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()}`;
    return undefined;
  },
};

let straceProbed: { reason: string | undefined; seccomp: boolean } | undefined;

/** Whether strace can trace a child here, and whether it has --seccomp-bpf. */
export function straceProbe(): { reason: string | undefined; seccomp: boolean } {
  if (straceProbed) return straceProbed;
  const strace = findProgram("strace");
  if (!strace) return (straceProbed = { reason: "strace is not installed (apt-get install strace)", seccomp: false });
  const run = (extra: string[]) =>
    spawnSync(strace, ["-f", "-qq", ...extra, "-e", "trace=connect", "-o", "/dev/null", "/bin/true"], {
      encoding: "utf8",
      timeout: 10_000,
    });
  if (run(["--seccomp-bpf"]).status === 0) return (straceProbed = { reason: undefined, seccomp: true });
  const plain = run([]);
  if (plain.status === 0) return (straceProbed = { reason: undefined, seccomp: false });
  const why = (plain.stderr || plain.error?.message || `exit ${plain.status}`).trim();
  return (straceProbed = { reason: `strace cannot trace here (ptrace not permitted?): ${why}`, seccomp: false });
}
