// The daemon's logger: one readable line per entry, always UTC, written to a stream
// (stderr by default):
//
//   2026-11-26T22:00:00.000Z info  c2s: session authenticated jid=alice@example.onion port=5222
//
// Privacy rule (the logger cannot enforce it, callers must): at level "info" and above,
// log only what the operator of this machine already knows — our own accounts, ports,
// counts, error reasons. Contact JIDs (peers, roster entries, senders, recipients),
// message bodies, subjects, presence statuses and anything else a conversation reveals
// go ONLY to `debug`, which is off by default. When in doubt, use debug.
//
// Lines never contain raw newlines or control characters: the message and every field
// value are escaped, so one entry is always exactly one line (log injection through a
// peer-controlled string cannot forge entries).

export type LogLevel = "error" | "warn" | "info" | "debug";

/** Most to least severe; an entry is written when its level is at or above the logger's. */
export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug"];

export type LogFields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /** A logger whose lines are tagged `parent.component:`; it shares its parent's level and stream. */
  child(component: string): Logger;
  /** The threshold, shared by a logger and all its children; assign it to change verbosity at run time. */
  level: LogLevel;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; default process.stderr. */
  stream?: NodeJS.WritableStream;
  component?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(opts: LoggerOptions): Logger {
  const shared: SharedState = {
    level: opts.level,
    stream: opts.stream ?? process.stderr,
    now: opts.now ?? (() => new Date()),
  };
  return new LineLogger(shared, opts.component);
}

/** A logger that drops everything; handy for tests and library defaults. */
export function silentLogger(): Logger {
  const shared: SharedState = { level: "error", stream: process.stderr, now: () => new Date() };
  return new LineLogger(shared, undefined, true);
}

interface SharedState {
  level: LogLevel;
  stream: NodeJS.WritableStream;
  now: () => Date;
}

const SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

class LineLogger implements Logger {
  constructor(
    private readonly shared: SharedState,
    private readonly component: string | undefined,
    private readonly silent = false,
  ) {}

  get level(): LogLevel {
    return this.shared.level;
  }

  set level(level: LogLevel) {
    if (!isLogLevel(level)) throw new Error(`unknown log level '${String(level)}': use one of ${LOG_LEVELS.join(", ")}`);
    this.shared.level = level;
  }

  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }

  child(component: string): Logger {
    return new LineLogger(this.shared, this.component ? `${this.component}.${component}` : component, this.silent);
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (this.silent || SEVERITY[level] > SEVERITY[this.shared.level]) return;
    const line = formatLogLine(this.shared.now(), level, this.component, msg, fields);
    try {
      this.shared.stream.write(line + "\n");
    } catch {
      // A closed stderr (EPIPE) must not take the daemon down; there is nowhere else to report it.
    }
  }
}

/** The exact text of one entry, without the trailing newline. Exported for tests and tools. */
export function formatLogLine(
  time: Date,
  level: LogLevel,
  component: string | undefined,
  msg: string,
  fields?: LogFields,
): string {
  let line = `${time.toISOString()} ${level.padEnd(5)} `;
  if (component) line += `${escapeText(component)}: `;
  line += escapeText(msg);
  if (fields) {
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      line += ` ${renderKey(key)}=${renderValue(value)}`;
    }
  }
  return line;
}

// Control characters (C0, DEL, C1) and the Unicode line/paragraph separators would break
// "one entry per line" in a terminal or log viewer.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeText(text: string): string {
  return text.replace(UNSAFE_CHARS, escapeChar);
}

function escapeChar(ch: string): string {
  switch (ch) {
    case "\n":
      return "\\n";
    case "\r":
      return "\\r";
    case "\t":
      return "\\t";
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
  }
}

function renderKey(key: string): string {
  const safe = key.replace(/[^A-Za-z0-9_.-]/g, "_");
  return safe === "" ? "_" : safe;
}

// A value stays bare when a reader (or `grep key=value`) cannot misread it; otherwise it
// is written as a JSON string literal, which escapes quotes, backslashes and control chars.
const BARE_VALUE = /^[^\s"'=\\\u0000-\u001f\u007f-\u009f\u2028\u2029]+$/;

function renderValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    case "string":
      return quoteIfNeeded(value);
    default:
      break;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "invalid-date" : value.toISOString();
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return quoteIfNeeded(code ? `${code}: ${value.message}` : value.message);
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  return quoteIfNeeded(json ?? String(value));
}

function quoteIfNeeded(text: string): string {
  if (BARE_VALUE.test(text)) return text;
  // JSON.stringify leaves U+2028/U+2029 raw; escape them too.
  return JSON.stringify(text).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
