// Deciding whether the thing answering on tor's control port is the tor we
// trust, before anything secret goes to it. Threat: another local user binds
// tor's control or SOCKS port while tor restarts (or before it starts), and
// waits for the daemon to send every account's onion private key with
// ADD_ONION, or to name the onions it wants to reach.
//
// Every connection:
//  1. refuses an endpoint, authentication method or cookie path that differs from the pin
//     (pinned at the first successful connection; `purple-onion tor repin` starts over);
//  2. checks who owns the endpoint in the kernel's tables: for TCP the LISTEN socket
//     (/proc/net/tcp, tcp6), for a Unix socket the socket file; it must be tor's pinned
//     uid, or root: a tor started by root that switches to its User (Debian's service)
//     opens its TCP listeners before the switch, so they belong to root, and no squatter
//     can be root. After connecting over TCP, the socket at the other end of our very
//     connection must have that owner too (no race between the check and the connect).
//     `GETINFO process/user` is tor's own claim and proves nothing, so it is not asked;
//  3. authenticates only as policy allows: SAFECOOKIE with the pinned cookie file owned
//     by tor's uid (tor proves it knows the cookie first); HASHEDPASSWORD only when a
//     password is configured; NULL only when configured and only over a Unix socket owned
//     by tor's uid. COOKIE never.
// Only a connection that passed all of this is handed on (and gets ADD_ONION).
import { lstatSync } from "node:fs";
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { canReadSocketOwners, describeUid, listenerUids, readSocketTables, socketPeerUid, type TcpSocketEntry } from "../net/socket-owner.js";
import type { AuthChoice, AuthMethod, ProtocolInfo } from "./control-auth.js";
import { TorControlConnection, describeTarget, type ControlTarget } from "./control-connection.js";
import type { PinStore, TorPin } from "./tor-pin.js";

/** What the user configured (flags), as opposed to what was pinned. */
export interface TorTrustConfig {
  control: ControlTarget;
  /** --tor-password-file: HASHEDPASSWORD. --tor-auth none: NULL. Default SAFECOOKIE. */
  auth?: { method: "HASHEDPASSWORD"; password: string } | { method: "NULL" } | { method: "SAFECOOKIE"; cookieFile?: string };
  /** --tor-user: the uid tor must run as, known in advance (launch mode: our own). */
  torUid?: number;
  connectTimeoutMs?: number;
  /** Tests only: where the kernel's socket tables come from. */
  readSocketTable?: () => TcpSocketEntry[];
}

export type TorTrustFailure =
  | "pin-mismatch" // the endpoint, method or cookie path is not the pinned one
  | "wrong-owner" // the endpoint belongs to another user than tor's
  | "not-listening" // nothing listens there
  | "unverifiable" // the owner cannot be known here (no /proc) over TCP
  | "policy"; // what tor offers is not something we accept

/** The connection was refused before anything secret was sent; the message says what to do. */
export class TorTrustError extends Error {
  constructor(
    readonly reason: TorTrustFailure,
    message: string,
  ) {
    super(message);
    this.name = "TorTrustError";
  }
}

export interface TrustedConnection {
  conn: TorControlConnection;
  method: AuthMethod;
  /** The uid tor runs as. */
  torUid: number;
  /** The pin in force after this connection (new when this one pinned). */
  pin: TorPin;
  newlyPinned: boolean;
}

const REPIN = "if you reconfigured tor on purpose, run 'purple-onion tor repin'";
const ROOT = 0;

/** tor's own user, or root: a tor started by root opens its TCP listeners before switching to its User. */
function ownedByTor(uid: number | undefined, torUid: number): boolean {
  return uid === torUid || uid === ROOT;
}

export class TorTrust {
  constructor(
    private readonly config: TorTrustConfig,
    private readonly pins: PinStore,
    private readonly log: Logger,
  ) {}

  get pin(): TorPin | undefined {
    return this.pins.load();
  }

  /** Forget the pin: the next successful connection pins afresh. */
  repin(): TorPin | undefined {
    const old = this.pins.load();
    this.pins.clear();
    if (old) this.log.info("tor pin cleared; the next connection to tor will be pinned", { control: old.control });
    return old;
  }

  /** A verified, authenticated control connection, or a TorTrustError/TorAuthError saying why not. */
  async connect(): Promise<TrustedConnection> {
    const target = this.config.control;
    const where = describeTarget(target);
    const pin = this.pins.load();
    if (pin && pin.control !== where) {
      throw new TorTrustError("pin-mismatch", `tor's control endpoint is configured as ${where}, but the pinned one is ${pin.control}; nothing was sent: ${REPIN}`);
    }
    const expectedUid = pin?.uid ?? this.config.torUid;
    const ownerUid = this.endpointOwner(target, where, "control port");
    if (expectedUid !== undefined && !ownedByTor(ownerUid, expectedUid)) {
      throw new TorTrustError(
        "wrong-owner",
        `${where} belongs to ${describeUid(ownerUid)}, but tor runs as ${describeUid(expectedUid)}${pin ? " (pinned)" : ""}: ` +
          `another program may hold tor's port while tor restarts; nothing was sent to it. If tor now runs as another user on purpose, run 'purple-onion tor repin'`,
      );
    }
    const conn = await TorControlConnection.connect(target, { timeoutMs: this.config.connectTimeoutMs });
    try {
      // Who tor runs as, as far as the sockets tell: the owner of a Unix socket file; over TCP,
      // the owner of the socket that accepted our very connection (accept() gives it the uid of
      // the process that accepted, tor's, even when the listener belongs to root).
      let socketUid = ownerUid;
      if (!("path" in target)) {
        const peer = socketPeerUid(conn.socketEnds, this.table());
        // The listener we checked may have been replaced between the check and the connect.
        const fine = peer !== undefined && (expectedUid !== undefined ? ownedByTor(peer, expectedUid) : ownerUid === ROOT || peer === ownerUid);
        if (!fine) {
          const who = peer === undefined ? "an unknown socket" : describeUid(peer);
          throw new TorTrustError("wrong-owner", `the connection to ${where} was answered by ${who}, not tor (${describeUid(expectedUid ?? ownerUid)}); nothing was sent to it`);
        }
        socketUid = peer;
      }
      const info = await conn.protocolInfo();
      const torUid = expectedUid ?? this.runtimeUid(socketUid, info, where);
      const choice = this.choose(info, pin, torUid, where, target);
      const method = await conn.authenticate(choice);
      let current = pin;
      const newlyPinned = !pin;
      if (!current) {
        current = { control: where, auth: method, uid: torUid, pinnedAt: new Date().toISOString() };
        if (choice.method === "SAFECOOKIE") current.cookieFile = choice.cookieFile;
        this.pins.save(current);
        this.log.info("pinned tor: later connections must match", { control: where, auth: method, user: describeUid(torUid) });
      }
      return { conn, method, torUid, pin: current, newlyPinned };
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Throws unless tor's SOCKS listener at `socks` belongs to tor's uid (or root); for TCP, the LISTEN socket. */
  checkSocksListener(socks: ControlTarget, torUid: number): void {
    const where = describeTarget(socks);
    const owner = this.endpointOwner(socks, where, "SOCKS port");
    if (!ownedByTor(owner, torUid)) {
      throw new TorTrustError("wrong-owner", `tor's SOCKS port ${where} belongs to ${describeUid(owner)}, not to tor (${describeUid(torUid)}): not using it`);
    }
  }

  /**
   * Why a socket just connected to tor's SOCKS listener is not tor's, or undefined when it is;
   * asked before every dial's first byte (its credentials and the onion it names are secrets).
   */
  socksPeerProblem(socks: ControlTarget, socket: Socket, torUid: number): string | undefined {
    if ("path" in socks) {
      try {
        this.checkSocksListener(socks, torUid);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    }
    const peer = socketPeerUid(socket, this.table());
    if (ownedByTor(peer, torUid)) return undefined;
    return `tor's SOCKS port ${describeTarget(socks)} was answered by ${peer === undefined ? "an unknown socket" : describeUid(peer)}, not tor (${describeUid(torUid)})`;
  }

  private table(): TcpSocketEntry[] {
    return (this.config.readSocketTable ?? readSocketTables)();
  }

  /** The uid owning a control or SOCKS endpoint, from the kernel's view of it. */
  private endpointOwner(target: ControlTarget, where: string, what: string): number {
    if ("path" in target) {
      let st;
      try {
        st = lstatSync(target.path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new TorTrustError("not-listening", `tor's ${what} ${where} is not there (${code}): is tor running?`);
      }
      if (!st.isSocket()) throw new TorTrustError("wrong-owner", `${where} is not a socket: refusing to use it as tor's ${what}`);
      return st.uid;
    }
    if (!canReadSocketOwners()) {
      throw new TorTrustError("unverifiable", `cannot tell who listens on ${where} on this system (no /proc/net/tcp): use tor's Unix socket instead (ControlSocket / SocksPort unix:PATH)`);
    }
    const uids = listenerUids(target.host, target.port, this.table());
    if (uids.length === 0) throw new TorTrustError("not-listening", `nothing listens on ${where}: is tor running, with this ${what}?`);
    if (uids.length > 1) {
      throw new TorTrustError("wrong-owner", `several users listen on ${where} (${uids.map((u) => describeUid(u)).join(", ")}): refusing to use it as tor's ${what}`);
    }
    return uids[0]!;
  }

  /**
   * The user a not yet pinned tor runs as, when neither a pin nor --tor-user says: what its
   * sockets say, unless that is root (a Unix socket tor did not hand over to its User), in
   * which case the owner of its cookie file, which tor writes after switching.
   */
  private runtimeUid(ownerUid: number, info: ProtocolInfo, where: string): number {
    if (ownerUid !== ROOT) return ownerUid;
    const configured = this.config.auth;
    const cookieFile = configured?.method === "SAFECOOKIE" && configured.cookieFile ? configured.cookieFile : info.cookieFile;
    if ((configured === undefined || configured.method === "SAFECOOKIE") && cookieFile) {
      try {
        return lstatSync(cookieFile).uid;
      } catch {
        // unreadable: readCookie will say why
      }
    }
    throw new TorTrustError("policy", `${where} belongs to root, so which user tor runs as cannot be told from it: pass --tor-user (e.g. --tor-user debian-tor)`);
  }

  private choose(info: ProtocolInfo, pin: TorPin | undefined, ownerUid: number, where: string, target: ControlTarget): AuthChoice {
    const configured = this.config.auth;
    const method: AuthMethod = pin?.auth ?? configured?.method ?? "SAFECOOKIE";
    if (pin && configured && configured.method !== pin.auth) {
      throw new TorTrustError("pin-mismatch", `tor was pinned with ${pin.auth} authentication, but ${configured.method} is configured now; nothing was sent: ${REPIN}`);
    }
    const offered = new Set(info.methods.map((m) => m.toUpperCase()));
    if (!offered.has(method)) throw notOffered(method, offered, info.methods, pin);
    switch (method) {
      case "SAFECOOKIE": {
        const fromConfig = configured?.method === "SAFECOOKIE" ? configured.cookieFile : undefined;
        const cookieFile = pin?.cookieFile ?? fromConfig ?? info.cookieFile;
        if (!cookieFile) {
          throw new TorTrustError("policy", `tor at ${where} did not say where its authentication cookie is: enable CookieAuthentication in tor's configuration, or name the file with --tor-cookie-file`);
        }
        if (pin && info.cookieFile !== undefined && info.cookieFile !== pin.cookieFile) {
          throw new TorTrustError("pin-mismatch", `tor at ${where} now names its cookie file ${info.cookieFile}, but the pinned one is ${pin.cookieFile}; nothing was sent: ${REPIN}`);
        }
        return { method, cookieFile, cookieOwnerUid: ownerUid };
      }
      case "HASHEDPASSWORD":
        if (configured?.method !== "HASHEDPASSWORD") {
          throw new TorTrustError("policy", `tor was pinned with password authentication, but no password is given now: pass --tor-password-file FILE; or, ${REPIN}`);
        }
        return { method, password: configured.password };
      case "NULL":
        if (configured?.method !== "NULL") {
          throw new TorTrustError("policy", `tor was pinned without authentication, but --tor-auth none is not given now; nothing was sent: ${REPIN}`);
        }
        if (!("path" in target)) {
          throw new TorTrustError("policy", `refusing tor's control port ${where} without authentication over TCP: any local user could pose as it. Use tor's ControlSocket, or CookieAuthentication 1`);
        }
        return { method };
    }
  }
}

/** Tor does not offer the method we would use: what the user can do about it. */
function notOffered(method: AuthMethod, offered: Set<string>, listed: string[], pin: TorPin | undefined): TorTrustError {
  const offers = `tor offers ${listed.join(", ") || "no authentication method"}`;
  if (pin) return new TorTrustError("pin-mismatch", `tor was pinned with ${pin.auth} authentication, but ${offers}; nothing was sent: ${REPIN}`);
  if (method === "SAFECOOKIE" && offered.has("HASHEDPASSWORD")) {
    return new TorTrustError("policy", "tor wants a password: put it in a file and pass --tor-password-file FILE");
  }
  if (method === "SAFECOOKIE" && offered.has("NULL")) {
    return new TorTrustError(
      "policy",
      "tor's control port needs no authentication, which any local user could abuse: set CookieAuthentication 1 in tor's configuration (or, for a Unix ControlSocket only, pass --tor-auth none)",
    );
  }
  if (method === "SAFECOOKIE" && offered.has("COOKIE")) {
    return new TorTrustError("policy", "tor offers only COOKIE authentication, which hands the cookie to whoever listens on the port: use a tor that offers SAFECOOKIE (any tor since 0.2.3)");
  }
  return new TorTrustError("policy", `${method} authentication is configured, but ${offers}`);
}
