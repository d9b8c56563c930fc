// torrc files for the private network. Every tor gets its own DataDirectory,
// a notice log file and the one DirAuthority line: none of them can ever
// reach the real Tor network (no default authorities, no fallback dirs).
// Facts behind each option: /work/shared/design/TORNET.md.

export interface AuthorityInfo {
  nickname: string;
  orPort: number;
  dirPort: number;
  /** v3 identity (tor-gencert). */
  v3ident: string;
  /** RSA identity of the authority's relay keys. */
  fingerprint: string;
}

/** Seconds between consensuses. Tor refuses less than 10 s (vote + dist delay >= 2 s each, < half the interval). */
export const VOTING_INTERVAL_S = 10;
const VOTE_DELAY_S = 2;
const DIST_DELAY_S = 2;

/** What every tor in (or joining) the network needs; no ports, dirs or logs. */
export function networkLines(auth: AuthorityInfo): string[] {
  return [
    "TestingTorNetwork 1",
    `DirAuthority ${auth.nickname} orport=${auth.orPort} no-v2 v3ident=${auth.v3ident} 127.0.0.1:${auth.dirPort} ${auth.fingerprint}`,
    "UseDefaultFallbackDirs 0",
    "FetchDirInfoEarly 1",
    "FetchDirInfoExtraEarly 1",
    "ShutdownWaitLength 0",
    // KIST adds ~15 ms per onion round trip on loopback; Vanilla 1-3 ms.
    "Schedulers Vanilla",
    // Circuits on loopback build in 5-75 ms, and tor learns a build timeout from them (kept in
    // its state file, so a restarted tor starts with it). When the machine is busy, builds take
    // longer, time out, and are retried until tor gives up on the learned value ("Resetting
    // timeout to 60000ms after 18 timeouts", seen in a failing run): meanwhile connections to
    // onions hung for minutes, most of all from restarted tors. A fixed timeout instead, and
    // not tor's default 60 s: a client whose introduction was acknowledged waits 3 build
    // timeouts + 1 s for the rendezvous (circuituse.c, c_rend_ready_cutoff), and after a
    // service's tor restarts, an introduction through its old descriptor was seen to be
    // acknowledged and never answered. 10 s is tor's recommended minimum.
    "LearnCircuitBuildTimeout 0",
    "CircuitBuildTimeout 10",
  ];
}

/** DataDirectory, notice log, and tie the tor's life to this Node process. */
function localLines(dataDir: string, logFile: string): string[] {
  return [
    `DataDirectory ${dataDir}`,
    `Log notice file ${logFile}`,
    // Tor exits by itself (polling every ~15 s) if this process dies without
    // running its exit handlers (SIGKILL of the test worker).
    `__OwningControllerProcess ${process.pid}`,
    // Parsing the GeoIP files costs each tor ~1 s of CPU at startup; a
    // loopback network has no use for countries.
    'GeoIPFile ""',
    'GeoIPv6File ""',
  ];
}

function relayLines(nickname: string, orPort: number): string[] {
  return [
    `Nickname ${nickname}`,
    "Address 127.0.0.1",
    `ORPort 127.0.0.1:${orPort}`,
    // Reachability self-tests cannot pass from 127.0.0.1; without this the
    // relays never publish and never enter the consensus.
    "AssumeReachable 1",
    "SocksPort 0",
    "ExitRelay 0",
  ];
}

/**
 * Seconds after midnight (mod the interval) at which voting intervals start,
 * chosen so the first vote (interval start minus vote and dist delays) falls
 * `voteInSeconds` from `now`: relays need a few seconds to upload descriptors,
 * and a vote that misses them costs a whole interval.
 */
export function votingStartOffset(now: Date, voteInSeconds: number): number {
  const nowS = Math.floor(now.getTime() / 1000);
  const firstIntervalStart = nowS + voteInSeconds + VOTE_DELAY_S + DIST_DELAY_S;
  return firstIntervalStart % VOTING_INTERVAL_S;
}

export function authorityTorrc(o: { auth: AuthorityInfo; dataDir: string; logFile: string; startOffsetS: number }): string[] {
  return [
    ...networkLines(o.auth),
    ...localLines(o.dataDir, o.logFile),
    ...relayLines(o.auth.nickname, o.auth.orPort),
    `DirPort 127.0.0.1:${o.auth.dirPort}`,
    "AuthoritativeDirectory 1",
    "V3AuthoritativeDirectory 1",
    // Every relay gets the flags onion services need: guards, HSDirs.
    "TestingDirAuthVoteGuard *",
    "TestingDirAuthVoteExit *",
    "TestingDirAuthVoteHSDir *",
    `V3AuthVotingInterval ${VOTING_INTERVAL_S}`,
    `TestingV3AuthInitialVotingInterval ${VOTING_INTERVAL_S}`,
    `V3AuthVoteDelay ${VOTE_DELAY_S}`,
    `V3AuthDistDelay ${DIST_DELAY_S}`,
    `TestingV3AuthInitialVoteDelay ${VOTE_DELAY_S}`,
    `TestingV3AuthInitialDistDelay ${DIST_DELAY_S}`,
    "V3AuthNIntervalsValid 2",
    `TestingV3AuthVotingStartOffset ${o.startOffsetS}`,
  ];
}

export function relayTorrc(o: { auth: AuthorityInfo; nickname: string; orPort: number; dataDir: string; logFile: string }): string[] {
  return [...networkLines(o.auth), ...localLines(o.dataDir, o.logFile), ...relayLines(o.nickname, o.orPort)];
}

export function clientTorrc(o: { auth: AuthorityInfo; socksPort: number; controlPort: number; dataDir: string; logFile: string }): string[] {
  return [
    ...networkLines(o.auth),
    ...localLines(o.dataDir, o.logFile),
    // IsolateSOCKSAuth is tor's default; explicit because stream isolation
    // per SOCKS username is what callers rely on.
    `SocksPort 127.0.0.1:${o.socksPort} ExtendedErrors IsolateSOCKSAuth`,
    `ControlPort 127.0.0.1:${o.controlPort}`,
    "CookieAuthentication 1",
  ];
}
