// The control protocol between the daemon and its clients (the CLI, the Pidgin plugin):
// line-delimited JSON over the Unix socket <dataDir>/control.sock.
// docs/control-protocol.md is the normative description; keep the two in step.

/** Bumped only for incompatible changes; new ops, fields and events do not bump it. */
export const PROTOCOL_VERSION = 1;

/** Longest accepted line in bytes, excluding the terminating LF. Longer -> "line-too-long" and close. */
export const MAX_LINE_BYTES = 64 * 1024;

export const OPS = {
  HELLO: "hello",
  STATUS: "status",
  ACCOUNT_ADD: "account.add",
  ACCOUNT_ENSURE: "account.ensure",
  ACCOUNT_LIST: "account.list",
  ACCOUNT_REMOVE: "account.remove",
  ACCOUNT_RESET_PASSWORD: "account.reset-password",
  SUBSCRIBE: "subscribe",
  TOR_REACH: "tor.reach",
  TOR_REPIN: "tor.repin",
  SHUTDOWN: "shutdown",
} as const;

export const EVENTS = {
  ACCOUNT_CHANGED: "account.changed",
  /** data: TorStatus, whenever the state, the bootstrap progress or the error changes. */
  TOR_CHANGED: "tor.changed",
  /** data: {onion, state}: an account's onion service changed state (pending, adding, uploading, published, failed). */
  ONION_CHANGED: "onion.changed",
} as const;

export const ERROR_CODES = {
  /** The line is not a valid request (JSON, UTF-8, id, op or args), or an argument has the wrong type. */
  BAD_REQUEST: "bad-request",
  UNKNOWN_OP: "unknown-op",
  ACCOUNT_EXISTS: "account-exists",
  NO_SUCH_ACCOUNT: "no-such-account",
  INVALID_LOCALPART: "invalid-localpart",
  /** Tor is off (--tor none), not connected yet, or the peer could not be reached; the message says which. */
  TOR_UNAVAILABLE: "tor-unavailable",
  UNREACHABLE: "unreachable",
  /** The daemon is still starting (or already stopping): try again in a moment. */
  STARTING: "starting",
  /** A line longer than MAX_LINE_BYTES; the daemon closes the connection after sending it. */
  LINE_TOO_LONG: "line-too-long",
  INTERNAL: "internal",
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** An error the daemon reports to a client as {ok: false, error: {code, message}}. */
export class ControlError extends Error {
  override readonly name = "ControlError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- wire shapes -------------------------------------------------------------------

export type RequestId = number;

export interface ControlRequest {
  id: RequestId;
  op: string;
  args: Record<string, unknown>;
}

export interface ErrorBody {
  code: string;
  message: string;
}

/** id is null when the request's id could not be read (malformed line). */
export type ControlResponse =
  | { id: RequestId | null; ok: true; result: unknown }
  | { id: RequestId | null; ok: false; error: ErrorBody };

export interface ControlEvent {
  event: string;
  data: unknown;
}

// ---- op results and event data (see docs/control-protocol.md) ------------------------

export interface HelloArgs {
  /** The protocol version the client speaks. */
  protocol?: number;
  /** Free text naming the client, for the daemon's debug log, e.g. "purple-onion-cli/0.1.0". */
  client?: string;
}

export interface HelloResult {
  protocol: number;
  pid: number;
}

export interface Endpoint {
  host: string;
  port: number;
}

export type TorMode = "none" | "launch" | "attach";

/** "none": no Tor at all. Otherwise the state of the daemon's tor (launched by it or attached to). */
export interface TorStatus {
  mode: TorMode;
  /** starting | bootstrapping | ready | disconnected | failed (absent for mode none). */
  state?: string;
  /**
   * Tor's bootstrap progress, 0..100, and what it is doing; `warning` explains a problem in
   * words ("tor cannot reach any relay: check the network connection"), `reason` is tor's
   * keyword for it (CONNECTREFUSED, NOROUTE, ...).
   */
  bootstrap?: { progress: number; summary: string; warning?: string; reason?: string; recommendation?: string; count?: number };
  /** The SOCKS listener outbound streams use: "127.0.0.1:9050" or "unix:/path". */
  socks?: string;
  /** The pid of the tor the daemon launched (launch mode). */
  pid?: number;
  /** Why tor is not ready, when it is not. */
  error?: string;
  /** What the daemon trusts as its tor; anything else is refused (see tor.repin). */
  pin?: TorPinInfo;
}

export interface TorPinInfo {
  /** "127.0.0.1:9051" or "unix:/run/tor/control". */
  control: string;
  /** SAFECOOKIE | HASHEDPASSWORD | NULL */
  auth: string;
  cookieFile?: string;
  /** The user tor runs as, e.g. "debian-tor (uid 102)". */
  user: string;
  /** ISO 8601 UTC. */
  pinnedAt: string;
}

export interface TorRepinResult {
  /** The pin that was dropped, if there was one. */
  previous?: TorPinInfo;
  /** The new pin, when the new connection succeeded. */
  pin?: TorPinInfo;
  /** tor's state after the attempt. */
  state: string;
  /** Why the new connection failed, when it did. */
  error?: string;
}

export interface StatusAccount {
  jid: string;
  host: string;
  port: number;
  onion: string | null;
  sessions: number;
  /** The onion service: pending | adding | uploading | published | failed; null without Tor. */
  onionState?: string | null;
  /** True once tor reported the descriptor uploaded (HS_DESC UPLOADED). */
  published?: boolean;
  /** Why the onion is "failed" (e.g. no descriptor upload within 120 s, with tor's reason). */
  onionError?: string;
  /** Server-to-server streams of this account's onion (with Tor only): counts, never peers. */
  s2s?: { inbound: number; outbound: number; established: number; queued: number };
}

export interface StatusResult {
  pid: number;
  dataDir: string;
  uptimeSeconds: number;
  c2s: Endpoint;
  tor: TorStatus;
  accounts: StatusAccount[];
}

export interface AccountAddResult {
  jid: string;
  host: string;
  port: number;
  password: string;
  onion: string | null;
}

/** account.ensure: the account linked to the client's key; `password` only when it was just created. */
export interface AccountEnsureResult {
  jid: string;
  host: string;
  port: number;
  onion: string;
  created: boolean;
  password?: string;
}

export interface AccountListEntry {
  jid: string;
  host: string;
  port: number;
  onion: string | null;
  /** ISO 8601 UTC, e.g. "2026-11-26T22:00:00.000Z". */
  createdAt: string;
}

export interface AccountListResult {
  accounts: AccountListEntry[];
}

export interface AccountRemoveResult {
  jid: string;
}

export interface AccountResetPasswordResult {
  jid: string;
  password: string;
}

export interface TorReachResult {
  from: string;
  onion: string;
  /** Milliseconds from the start of the dial to the peer's first element. */
  ms: number;
  /** The peer's first element: "features", or "error:<stream error condition>". */
  answer: string;
}

export type AccountChange = "added" | "removed" | "password-reset";

export interface AccountChangedEvent {
  jid: string;
  change: AccountChange;
}

// ---- encoding and parsing ------------------------------------------------------------

/** One message as a line. JSON.stringify never emits a raw LF, so the line cannot be split. */
export function encodeLine(message: ControlRequest | ControlResponse | ControlEvent): string {
  return JSON.stringify(message) + "\n";
}

export function okResponse(id: RequestId | null, result: unknown): ControlResponse {
  return { id, ok: true, result };
}

export function errorResponse(id: RequestId | null, code: string, message: string): ControlResponse {
  return { id, ok: false, error: { code, message } };
}

export type ParsedRequest =
  | { ok: true; request: ControlRequest }
  | { ok: false; id: RequestId | null; error: ControlError };

function isRequestId(value: unknown): value is RequestId {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates one request line (without its LF). Unknown top-level fields are ignored. */
export function parseRequest(line: string): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return badRequest(null, `line is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(value)) return badRequest(null, "a request must be a JSON object");
  if (!isRequestId(value.id)) {
    return badRequest(null, `"id" must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  const id = value.id;
  if (typeof value.op !== "string" || value.op === "") return badRequest(id, `"op" must be a non-empty string`);
  let args: Record<string, unknown> = {};
  if (value.args !== undefined && value.args !== null) {
    if (!isPlainObject(value.args)) return badRequest(id, `"args" must be a JSON object`);
    args = value.args;
  }
  return { ok: true, request: { id, op: value.op, args } };
}

function badRequest(id: RequestId | null, message: string): ParsedRequest {
  return { ok: false, id, error: new ControlError(ERROR_CODES.BAD_REQUEST, message) };
}

export type ServerMessage = { kind: "response"; response: ControlResponse } | { kind: "event"; event: ControlEvent };

/** Classifies a line from the daemon; throws Error if it is neither a response nor an event. */
export function parseServerMessage(line: string): ServerMessage {
  const value: unknown = JSON.parse(line);
  if (!isPlainObject(value)) throw new Error("daemon sent a line that is not a JSON object");
  if (typeof value.event === "string") {
    return { kind: "event", event: { event: value.event, data: value.data ?? null } };
  }
  if (value.id !== null && !isRequestId(value.id)) throw new Error("daemon sent a response without a valid id");
  const id = value.id as RequestId | null;
  if (value.ok === true) return { kind: "response", response: { id, ok: true, result: value.result ?? {} } };
  if (value.ok === false && isPlainObject(value.error)) {
    const code = typeof value.error.code === "string" ? value.error.code : ERROR_CODES.INTERNAL;
    const message = typeof value.error.message === "string" ? value.error.message : code;
    return { kind: "response", response: { id, ok: false, error: { code, message } } };
  }
  throw new Error("daemon sent a response without a boolean 'ok'");
}

// ---- framing ----------------------------------------------------------------------------

/**
 * Splits a byte stream into LF-terminated lines, holding at most maxBytes of an unfinished
 * line. Works on bytes, not strings, so a UTF-8 character split across two chunks is
 * reassembled before decoding.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number = MAX_LINE_BYTES) {}

  /** Complete lines in this chunk (LF removed), and whether a line went over the limit. */
  push(chunk: Buffer): { lines: Buffer[]; tooLong: boolean } {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.maxBytes) return { lines, tooLong: true };
      lines.push(this.size === 0 ? piece : Buffer.concat([...this.parts, piece]));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.parts.push(rest);
      this.size += rest.length;
      if (this.size > this.maxBytes) return { lines, tooLong: true };
    }
    return { lines, tooLong: false };
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The line as text without a trailing CR, or null if it is not valid UTF-8. */
export function decodeLine(line: Buffer): string | null {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return null;
  }
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}

// ---- argument helpers for op handlers -------------------------------------------------

/** args[name] as a non-empty string, else ControlError bad-request naming the argument. */
export function requireStringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== "string" || value === "") {
    throw new ControlError(ERROR_CODES.BAD_REQUEST, `args.${name} must be a non-empty string`);
  }
  return value;
}
