// The log line format and level filtering.
import { createLogger, formatLogLine, isLogLevel, silentLogger, type LogLevel } from "../../src/daemon/logger.js";

const T = new Date("2026-11-26T22:00:00.000Z");

function capture(level: LogLevel, component?: string) {
  const lines: string[] = [];
  const stream = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
  const log = createLogger({ level, stream, component, now: () => T });
  return { log, lines };
}

describe("format", () => {
  test("timestamp in UTC, level padded to five, component, message, fields", () => {
    const { log, lines } = capture("info");
    log.child("c2s").info("session authenticated", { jid: "alice@example.onion", port: 5222 });
    expect(lines).toEqual(["2026-11-26T22:00:00.000Z info  c2s: session authenticated jid=alice@example.onion port=5222\n"]);
  });

  test("without a component there is no prefix", () => {
    expect(formatLogLine(T, "error", undefined, "boom")).toBe("2026-11-26T22:00:00.000Z error boom");
    expect(formatLogLine(T, "warn", undefined, "careful")).toBe("2026-11-26T22:00:00.000Z warn  careful");
    expect(formatLogLine(T, "debug", undefined, "detail")).toBe("2026-11-26T22:00:00.000Z debug detail");
  });

  test("the time is UTC whatever the local offset of the Date", () => {
    const local = new Date(2026, 10, 26, 23, 30, 0);
    expect(formatLogLine(local, "info", undefined, "x").slice(0, 24)).toBe(local.toISOString());
    expect(formatLogLine(local, "info", undefined, "x")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
  });

  test("values that need it are quoted JSON strings; simple ones stay bare", () => {
    const line = formatLogLine(T, "info", "x", "m", {
      plain: "abc-1.2:3/4@5",
      spaced: "two words",
      quote: 'say "hi"',
      eq: "a=b",
      empty: "",
      n: 42,
      b: false,
      nil: null,
      skipped: undefined,
      obj: { a: 1 },
    });
    expect(line).toBe(
      '2026-11-26T22:00:00.000Z info  x: m plain=abc-1.2:3/4@5 spaced="two words" quote="say \\"hi\\"" eq="a=b" ' +
        'empty="" n=42 b=false nil=null obj="{\\"a\\":1}"',
    );
  });

  test("errors render as code and message, dates as ISO", () => {
    const err = Object.assign(new Error("address in use"), { code: "EADDRINUSE" });
    expect(formatLogLine(T, "error", undefined, "listen failed", { err, at: T })).toBe(
      '2026-11-26T22:00:00.000Z error listen failed err="EADDRINUSE: address in use" at=2026-11-26T22:00:00.000Z',
    );
  });

  test("newlines and control characters cannot start a forged entry", () => {
    const { log, lines } = capture("debug");
    log.info("peer said\n2026-01-01T00:00:00.000Z error fake", { v: "a\nb\u0007\u2028" });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.split("\n")).toHaveLength(2); // the entry, then the terminating ""
    expect(lines[0]).toContain("peer said\\n2026");
    expect(lines[0]).toContain('v="a\\nb\\u0007\\u2028"');
  });

  test("odd field keys are made safe", () => {
    expect(formatLogLine(T, "info", undefined, "m", { "a key=": 1, "": 2 })).toBe("2026-11-26T22:00:00.000Z info  m a_key_=1 _=2");
  });
});

describe("levels", () => {
  test.each([
    ["error", ["error"]],
    ["warn", ["error", "warn"]],
    ["info", ["error", "warn", "info"]],
    ["debug", ["error", "warn", "info", "debug"]],
  ] as Array<[LogLevel, LogLevel[]]>)("at %s, entries of %p are written", (level, expected) => {
    const { log, lines } = capture(level);
    log.error("e");
    log.warn("w");
    log.info("i");
    log.debug("d");
    expect(lines.map((l) => l.split(" ")[1])).toEqual(expected);
  });

  test("children share the level; changing it at run time applies to all", () => {
    const { log, lines } = capture("info");
    const child = log.child("store");
    child.debug("hidden");
    log.level = "debug";
    child.debug("shown");
    expect(child.level).toBe("debug");
    expect(lines).toEqual(["2026-11-26T22:00:00.000Z debug store: shown\n"]);
  });

  test("nested children join components with a dot", () => {
    const { log, lines } = capture("info", "daemon");
    log.child("c2s").child("tls").info("x");
    expect(lines).toEqual(["2026-11-26T22:00:00.000Z info  daemon.c2s.tls: x\n"]);
  });

  test("setting an unknown level throws", () => {
    const { log } = capture("info");
    expect(() => {
      log.level = "verbose" as LogLevel;
    }).toThrow(/unknown log level 'verbose'/);
  });

  test("isLogLevel", () => {
    expect(["error", "warn", "info", "debug"].every(isLogLevel)).toBe(true);
    expect(isLogLevel("trace")).toBe(false);
    expect(isLogLevel(undefined)).toBe(false);
  });

  test("a stream that throws does not take the caller down", () => {
    const stream = {
      write: () => {
        throw new Error("EPIPE");
      },
    } as unknown as NodeJS.WritableStream;
    const log = createLogger({ level: "info", stream });
    expect(() => log.error("still alive")).not.toThrow();
  });

  test("silentLogger writes nothing", () => {
    const original = process.stderr.write;
    let written = 0;
    process.stderr.write = (() => {
      written++;
      return true;
    }) as typeof process.stderr.write;
    try {
      const log = silentLogger();
      log.level = "debug";
      log.error("x");
      log.child("y").debug("z");
    } finally {
      process.stderr.write = original;
    }
    expect(written).toBe(0);
  });
});
