// Run Debian's python3-slixmpp as a real, independent XMPP client
// (test/support/slixmpp/client.py) and collect the JSON events it prints.
//
// Always Debian's /usr/bin/python3: the python3 first on PATH may be another
// build that lacks Debian's packages.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PYTHON = "/usr/bin/python3";

export type SlixmppAction =
  | { do: "presence"; show?: string; status?: string }
  | { do: "roster" }
  | { do: "add_contact"; jid: string; name?: string; groups?: string[] }
  | { do: "subscribe"; jid: string }
  | { do: "send"; to: string; body: string; type?: "chat" | "normal" }
  | { do: "wait_message"; from?: string; body?: string; timeout?: number }
  | { do: "disco_info"; jid?: string }
  | { do: "ping"; jid?: string }
  | { do: "sleep"; seconds: number };

export interface SlixmppPlan {
  /** Address to connect to (never resolved; the JID's domain is not used for DNS). */
  host: string;
  port: number;
  /** Bare JID of the account. */
  jid: string;
  password: string;
  resource?: string;
  /** Force one SASL mechanism ("PLAIN", "SCRAM-SHA-1"); default: slixmpp's choice. */
  mechanism?: string;
  actions: SlixmppAction[];
}

export interface RosterItemEvent {
  jid: string;
  name: string;
  subscription: string;
  groups: string[];
}

/** One line of the script's output. */
export type SlixmppEvent =
  | { event: "connected"; address: [string, number] }
  | { event: "authenticated"; mechanism: string | null }
  | { event: "session_start"; jid: string }
  | { event: "roster"; items: RosterItemEvent[] }
  | { event: "roster_update"; type: string; items: RosterItemEvent[] }
  | { event: "contact_added"; jid: string }
  | { event: "sent"; to: string; body: string }
  | { event: "message"; from: string; to: string; type: string; id: string; body: string; delay?: string }
  | { event: "presence"; from: string; type: string; show: string }
  | { event: "disco_info"; identities: [string, string, string | null, string | null][]; features: string[] }
  | { event: "pong"; rtt: number }
  | { event: "error"; reason: string }
  | { event: "done" };

export interface SlixmppRun {
  /** 0: every action succeeded; 1: an error event says why; 2: bad plan; null: killed. */
  exitCode: number | null;
  events: SlixmppEvent[];
  /** slixmpp's own log output, for failure reports. */
  stderr: string;
  /** Lines on stdout that were not JSON events (should be none). */
  strayOutput: string[];
  timedOut: boolean;
}

export interface SlixmppOptions {
  /** Kill the script after this long. Default 30 s. */
  timeoutMs?: number;
  /** Called for each event as it arrives (e.g. to answer a message). */
  onEvent?: (event: SlixmppEvent) => void;
}

/** Why slixmpp tests cannot run here, if they cannot. */
export function slixmppMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing: apt-get install python3`;
  if (!existsSync("/usr/lib/python3/dist-packages/slixmpp")) return "slixmpp is missing: apt-get install python3-slixmpp";
  return undefined;
}

/** Where client.py is: beside this module's source, found from dist/ or a build dir. */
export function slixmppScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const candidate of [join(dir, "slixmpp", "client.py"), join(dir, "test", "support", "slixmpp", "client.py")]) {
      if (existsSync(candidate)) return candidate;
    }
    dir = dirname(dir);
  }
  throw new Error("test/support/slixmpp/client.py not found above " + fileURLToPath(import.meta.url));
}

/** Run a plan; resolves when the script exits (or is killed at the timeout). */
export function runSlixmpp(plan: SlixmppPlan, options: SlixmppOptions = {}): Promise<SlixmppRun> {
  const missing = slixmppMissing();
  if (missing) return Promise.reject(new Error(missing));
  const timeoutMs = options.timeoutMs ?? 30_000;
  // The script enforces its own, slightly shorter, limit so it can say why.
  const scriptPlan = { ...plan, timeout: Math.max(1, (timeoutMs - 2000) / 1000) };
  // -I: ignore PYTHON* variables and the user's site-packages.
  const child = spawn(PYTHON, ["-I", slixmppScript(), JSON.stringify(scriptPlan)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" },
  });
  const run: SlixmppRun = { exitCode: null, events: [], stderr: "", strayOutput: [], timedOut: false };
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) takeLine(line);
    }
  });
  const takeLine = (line: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      run.strayOutput.push(line);
      return;
    }
    if (typeof parsed === "object" && parsed !== null && "event" in parsed) {
      const event = parsed as SlixmppEvent;
      run.events.push(event);
      options.onEvent?.(event);
    } else {
      run.strayOutput.push(line);
    }
  };
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (run.stderr += chunk));
  const timer = setTimeout(() => {
    run.timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${PYTHON}: ${err.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (buffered.trim()) takeLine(buffered.trim());
      run.exitCode = code;
      resolve(run);
    });
  });
}

/** A readable account of a run, for assertion messages. */
export function describeRun(run: SlixmppRun): string {
  const lines = run.events.map((e) => JSON.stringify(e));
  const status = run.timedOut ? "killed at the timeout" : `exit ${run.exitCode}`;
  return `slixmpp ${status}\n--- events ---\n${lines.join("\n")}\n--- stderr ---\n${run.stderr.trim()}` +
    (run.strayOutput.length ? `\n--- stray stdout ---\n${run.strayOutput.join("\n")}` : "");
}
