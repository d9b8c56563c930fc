// Authenticating a Tor control connection with one method the caller chose.
// https://spec.torproject.org/control-spec/commands.html#authenticate (control-spec 3.5,
// 3.21 PROTOCOLINFO, 3.24 AUTHCHALLENGE, 5.1)
//
// Which method, which cookie file and whether this tor is the one we trust is decided by
// tor-trust.ts (the pin); this module only carries the chosen method out and never picks
// another one by itself. COOKIE is not implemented at all: it hands the cookie to whoever
// listens on the port (control-spec 5.1 calls that almost never safe). SAFECOOKIE proves
// knowledge of the cookie without revealing it, and makes tor prove it knows it first.
// Tor closes the connection after a failed AUTHENTICATE and allows PROTOCOLINFO and
// AUTHCHALLENGE only once, so nothing here retries on the same connection.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { constants, open } from "node:fs/promises";
import { TorControlError, parseKeywords, quoteString, type TorReply } from "./control-reply.js";
import type { TorControlConnection } from "./control-connection.js";

export type AuthMethod = "SAFECOOKIE" | "HASHEDPASSWORD" | "NULL";

/** The one method to use, with what it needs. */
export type AuthChoice =
  | {
      method: "SAFECOOKIE";
      /** The cookie file: the pinned or configured path, never one a peer named. */
      cookieFile: string;
      /** Refuse a cookie file owned by anyone but this uid (tor's). */
      cookieOwnerUid?: number;
    }
  | { method: "HASHEDPASSWORD"; password: string }
  | { method: "NULL" };

export interface ProtocolInfo {
  methods: string[];
  cookieFile?: string;
  torVersion?: string;
}

export type TorAuthFailure =
  | "password-rejected" // tor said 515 to our password
  | "cookie-unreadable" // the cookie file cannot be read, is not 32 bytes, or is not tor's
  | "cookie-rejected" // tor said 515 to our SAFECOOKIE answer
  | "server-hash-mismatch" // SAFECOOKIE: the peer does not know the cookie: not the tor that wrote it
  | "method-not-offered" // tor does not offer the chosen method
  | "null-rejected"; // tor wanted credentials after all

/** Authentication failed; `reason` lets a caller (CLI, UI) phrase its own advice. */
export class TorAuthError extends Error {
  constructor(
    readonly reason: TorAuthFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TorAuthError";
  }
}

const SERVER_TO_CONTROLLER = "Tor safe cookie authentication server-to-controller hash";
const CONTROLLER_TO_SERVER = "Tor safe cookie authentication controller-to-server hash";
/** "All authentication cookies are 32 bytes long" (control-spec 3.21). */
const COOKIE_BYTES = 32;

export async function authenticateConnection(conn: TorControlConnection, choice: AuthChoice): Promise<AuthMethod> {
  const info = await conn.protocolInfo();
  const offered = new Set(info.methods.map((m) => m.toUpperCase()));
  if (!offered.has(choice.method)) {
    conn.close();
    throw new TorAuthError("method-not-offered", `tor does not offer ${choice.method} authentication (it offers ${info.methods.join(", ") || "none"})`);
  }
  switch (choice.method) {
    case "SAFECOOKIE": {
      let cookie: Buffer;
      try {
        cookie = await readCookie(choice.cookieFile, choice.cookieOwnerUid);
      } catch (err) {
        conn.close();
        throw new TorAuthError("cookie-unreadable", (err as Error).message, { cause: err });
      }
      await safeCookie(conn, cookie, choice.cookieFile);
      return "SAFECOOKIE";
    }
    case "HASHEDPASSWORD":
      await sendAuthenticate(conn, passwordToken(choice.password), "password-rejected", "tor rejected the control password (check the file given to --tor-password-file)");
      return "HASHEDPASSWORD";
    case "NULL":
      // The AUTHENTICATE command is still required (control-spec 3.5).
      await sendAuthenticate(conn, undefined, "null-rejected", "tor refused authentication without credentials");
      return "NULL";
  }
}

/**
 * Reads a cookie file: a regular file (no symlink followed), exactly 32 bytes, and owned by
 * `ownerUid` when given. Opened once and checked through that descriptor, so the file checked
 * is the file read.
 */
async function readCookie(path: string, ownerUid?: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "EACCES"
        ? " (run as a user allowed to read it: for Debian's tor, a member of the group debian-tor)"
        : code === "ELOOP"
          ? " (it is a symbolic link: give the real path)"
          : "";
    throw new Error(`cannot read tor's cookie file ${path}: ${code ?? (err as Error).message}${hint}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`tor's cookie file ${path} is not a regular file`);
    if (ownerUid !== undefined && st.uid !== ownerUid) {
      throw new Error(`the cookie file ${path} belongs to uid ${st.uid}, not to tor's uid ${ownerUid}: it was not written by the tor we trust`);
    }
    // Read at most one byte too many: a cookie is exactly 32 bytes.
    const buf = Buffer.alloc(COOKIE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) break;
    }
    if (got !== COOKIE_BYTES) throw new Error(`tor's cookie file ${path} is not ${COOKIE_BYTES} bytes long`);
    return buf.subarray(0, COOKIE_BYTES);
  } finally {
    await handle.close();
  }
}

async function safeCookie(conn: TorControlConnection, cookie: Buffer, cookiePath: string): Promise<void> {
  const clientNonce = randomBytes(32);
  const reply = await conn.command(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString("hex")}`);
  const first = reply.lines[0]?.text ?? "";
  const kv = parseKeywords(first);
  const serverHashHex = kv["SERVERHASH"] ?? "";
  const serverNonceHex = kv["SERVERNONCE"] ?? "";
  if (!first.startsWith("AUTHCHALLENGE ") || !/^[0-9A-Fa-f]{64}$/.test(serverHashHex) || !/^[0-9A-Fa-f]{64}$/.test(serverNonceHex)) {
    conn.close();
    throw new TorAuthError("server-hash-mismatch", `unexpected AUTHCHALLENGE reply from tor: ${JSON.stringify(first.slice(0, 200))}`);
  }
  const serverNonce = Buffer.from(serverNonceHex, "hex");
  const expected = hmac(SERVER_TO_CONTROLLER, cookie, clientNonce, serverNonce);
  if (!timingSafeEqual(expected, Buffer.from(serverHashHex, "hex"))) {
    conn.close();
    throw new TorAuthError(
      "server-hash-mismatch",
      `the control port ${describe(conn)} does not know the cookie in ${cookiePath}: it is not the tor that wrote that file (wrong port or cookie file?)`,
    );
  }
  const response = hmac(CONTROLLER_TO_SERVER, cookie, clientNonce, serverNonce);
  await sendAuthenticate(conn, response.toString("hex"), "cookie-rejected", `tor rejected SAFECOOKIE authentication with ${cookiePath}`);
}

/**
 * The password as a QuotedString, or hex-encoded when it holds CR, LF or NUL, which a
 * QuotedString cannot carry; AUTHENTICATE takes either form (control-spec 3.5).
 */
export function passwordToken(password: string): string {
  return /[\r\n\0]/.test(password) ? Buffer.from(password, "utf8").toString("hex") : quoteString(password);
}

function hmac(key: string, cookie: Buffer, clientNonce: Buffer, serverNonce: Buffer): Buffer {
  return createHmac("sha256", key).update(cookie).update(clientNonce).update(serverNonce).digest();
}

async function sendAuthenticate(
  conn: TorControlConnection,
  token: string | undefined,
  failure: TorAuthFailure,
  message: string,
): Promise<TorReply> {
  try {
    return await conn.command(token === undefined ? "AUTHENTICATE" : `AUTHENTICATE ${token}`);
  } catch (err) {
    // Tor closes the connection after a failed AUTHENTICATE anyway (control-spec 3.5).
    conn.close();
    if (err instanceof TorControlError) {
      throw new TorAuthError(failure, `${message}: ${err.message.replace(/^tor refused AUTHENTICATE: /, "")}`, { cause: err });
    }
    throw err;
  }
}

function describe(conn: TorControlConnection): string {
  const t = conn.target;
  return "path" in t ? `unix:${t.path}` : `${t.host}:${t.port}`;
}
