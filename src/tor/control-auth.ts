// Authenticating a Tor control connection.
// https://spec.torproject.org/control-spec/commands.html#authenticate (control-spec 3.5,
// 3.21 PROTOCOLINFO, 3.24 AUTHCHALLENGE, 5.1)
//
// Preference: SAFECOOKIE (proves knowledge of the cookie without revealing it, and makes Tor
// prove it knows it too, so a process squatting on the port learns nothing), then COOKIE,
// then HASHEDPASSWORD, then NULL. Tor closes the connection after a failed AUTHENTICATE and
// allows PROTOCOLINFO and AUTHCHALLENGE only once, so there is no retrying another method on
// the same connection: the method is chosen before anything secret is sent.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { open } from "node:fs/promises";
import { TorControlError, parseKeywords, quoteString, type TorReply } from "./control-reply.js";
import type { TorControlConnection } from "./control-connection.js";

export type AuthMethod = "SAFECOOKIE" | "COOKIE" | "HASHEDPASSWORD" | "NULL";
export const AUTH_METHODS: readonly AuthMethod[] = ["SAFECOOKIE", "COOKIE", "HASHEDPASSWORD", "NULL"];

export interface AuthOptions {
  password?: string;
  /** Cookie file to read instead of the path PROTOCOLINFO reports (e.g. tor in a container). */
  cookieFile?: string;
  /** Use only this method (tests; or to skip cookie auth when tor offers both). */
  method?: AuthMethod;
}

export interface ProtocolInfo {
  methods: string[];
  cookieFile?: string;
  torVersion?: string;
}

export type TorAuthFailure =
  | "password-required" // tor wants HASHEDPASSWORD and we have no password
  | "password-rejected" // tor said 515 to our password
  | "cookie-unreadable" // the cookie file cannot be read or is not 32 bytes
  | "cookie-rejected" // tor said 515 to our cookie
  | "server-hash-mismatch" // SAFECOOKIE: the peer does not know the cookie: not the tor that wrote it
  | "method-not-offered" // AuthOptions.method is not among tor's methods
  | "no-supported-method"; // tor offers nothing we implement

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

export async function authenticateConnection(conn: TorControlConnection, opts: AuthOptions): Promise<AuthMethod> {
  const info = await conn.protocolInfo();
  const offered = new Set(info.methods.map((m) => m.toUpperCase()));
  const offeredText = info.methods.join(", ") || "none";
  if (opts.method && !offered.has(opts.method)) {
    conn.close();
    throw new TorAuthError("method-not-offered", `tor does not offer ${opts.method} authentication (it offers ${offeredText})`);
  }
  const candidates = opts.method ? [opts.method] : AUTH_METHODS;
  const cookiePath = opts.cookieFile ?? info.cookieFile;
  let cookie: Buffer | undefined;
  let cookieProblem: string | undefined;

  for (const method of candidates) {
    if (!offered.has(method)) continue;
    if (method === "SAFECOOKIE" || method === "COOKIE") {
      if (cookie === undefined && cookieProblem === undefined) {
        try {
          cookie = await readCookie(cookiePath);
        } catch (err) {
          cookieProblem = (err as Error).message;
        }
      }
      if (!cookie) continue;
      if (method === "SAFECOOKIE") await safeCookie(conn, cookie, cookiePath!);
      else await sendAuthenticate(conn, cookie.toString("hex"), "cookie-rejected", `tor rejected the cookie from ${cookiePath}`);
      return method;
    }
    if (method === "HASHEDPASSWORD") {
      if (opts.password === undefined) continue;
      await sendAuthenticate(conn, passwordToken(opts.password), "password-rejected", "tor rejected the control password (check the file given to --tor-password-file)");
      return method;
    }
    // NULL: the AUTHENTICATE command is still required (control-spec 3.5).
    await sendAuthenticate(conn, undefined, "no-supported-method", "tor refused authentication without credentials");
    return method;
  }

  conn.close();
  const wantsCookie = offered.has("SAFECOOKIE") || offered.has("COOKIE");
  if (offered.has("HASHEDPASSWORD") && opts.password === undefined) {
    const alsoCookie = wantsCookie && cookieProblem ? ` (or read access to its cookie: ${cookieProblem})` : "";
    throw new TorAuthError("password-required", `tor wants a password: put it in a file and pass --tor-password-file FILE${alsoCookie}`);
  }
  if (wantsCookie && cookieProblem) {
    throw new TorAuthError("cookie-unreadable", `tor wants cookie authentication but ${cookieProblem}`);
  }
  throw new TorAuthError("no-supported-method", `tor offers no authentication method we can use (it offers ${offeredText})`);
}

async function readCookie(path: string | undefined): Promise<Buffer> {
  if (!path) throw new Error("tor did not say where its cookie file is (set the cookie file explicitly)");
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === "EACCES" ? " (run as a user allowed to read it, e.g. in tor's group)" : "";
    throw new Error(`cannot read the cookie file ${path}: ${code ?? (err as Error).message}${hint}`);
  }
  try {
    // Read at most one byte too many: a cookie is exactly 32 bytes, and a wrong path
    // (a device, a huge file) must not be slurped.
    const buf = Buffer.alloc(COOKIE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) break;
    }
    if (got !== COOKIE_BYTES) throw new Error(`the cookie file ${path} is not ${COOKIE_BYTES} bytes long`);
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
