// Watching an onion's publication against a scripted control port: UPLOADED
// publishes; one FAILED among several uploads changes nothing; no upload within
// the limit (counted from tor being bootstrapped) is "failed" with tor's reason,
// and the service is taken down and added again, with growing pauses.
import { jest } from "@jest/globals";
import { PassThrough } from "node:stream";
import { createLogger } from "../../src/daemon/logger.js";
import { TorControlConnection } from "../../src/tor/control-connection.js";
import { generateOnionSeed, onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { OnionServices, type OnionState } from "../../src/tor/onion-services.js";
import { startFakeTorControl, type FakeTorControl } from "../support/fake-tor-control.js";

let fake: FakeTorControl;
let conn: TorControlConnection;
let onions: OnionServices;
let logText = "";
const seed = generateOnionSeed();
const domain = onionAddressFromSeed(seed);
const id = domain.replace(/\.onion$/, "");
const states: { state: OnionState; error?: string }[] = [];

beforeEach(async () => {
  // The watch's timers run on a fake clock the tests move; sockets and setImmediate stay real.
  jest.useFakeTimers({ doNotFake: ["nextTick", "setImmediate", "queueMicrotask"] });
  fake = await startFakeTorControl((line) => {
    if (line.startsWith("ADD_ONION")) return `250-ServiceID=${id}\r\n250 OK\r\n`;
    if (line.startsWith("DEL_ONION")) return "250 OK\r\n";
    return undefined;
  });
  conn = await TorControlConnection.connect(fake.target);
  await conn.authenticate({ method: "NULL" });
  const stream = new PassThrough();
  logText = "";
  stream.on("data", (d: Buffer) => (logText += d.toString()));
  onions = new OnionServices(createLogger({ level: "info", stream }), { uploadTimeoutMs: 300, retryMinMs: 100, retryMaxMs: 400 });
  states.length = 0;
  onions.onChange((_d, state, error) => states.push(error ? { state, error } : { state }));
  conn.onEvent((e) => onions.onEvent(e));
  onions.publish({ domain, seed, target: async () => "unix:/nonexistent/s2s.sock" });
});
afterEach(async () => {
  jest.useRealTimers();
  onions.close();
  conn.close();
  await fake.close();
});

function hsDesc(action: string, extra = ""): void {
  fake.connections[0]!.write(`650 HS_DESC ${action} ${id} NO_AUTH $AAAA~relay ${extra}\r\n`);
}
/** Wait (on real I/O, not on the fake clock) until cond holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 100_000) throw new Error(`condition not met; states: ${JSON.stringify(states)}; lines: ${fake.connections[0]?.lines.join(" | ")}`);
    await new Promise((r) => setImmediate(r));
  }
}
/** Let the control connection deliver everything written so far: a command's answer proves it. */
async function settle(): Promise<void> {
  await conn.getInfo("version");
}
const commands = () => fake.connections[0]!.lines.map((l) => l.split(" ")[0]);

test("a FAILED upload among several, then UPLOADED: published, never failed", async () => {
  await onions.attach(conn, { uid: 0 });
  onions.setBootstrapped(true);
  hsDesc("FAILED", "REASON=UPLOAD_REJECTED");
  hsDesc("UPLOADED");
  await until(() => onions.state(domain)?.state === "published");
  expect(states.map((s) => s.state)).toEqual(["adding", "uploading", "published"]);
  // The publication watch is over: long past the limit, nothing happens.
  jest.advanceTimersByTime(10_000);
  await settle();
  expect(states.map((s) => s.state)).toEqual(["adding", "uploading", "published"]);
  expect(commands()).toEqual(["PROTOCOLINFO", "AUTHENTICATE", "ADD_ONION", "GETINFO"]);
});

test("no upload within the limit after tor is ready: failed with tor's reasons, then DEL_ONION + ADD_ONION", async () => {
  await onions.attach(conn, { uid: 0 });
  onions.setBootstrapped(true);
  hsDesc("FAILED", "REASON=UPLOAD_REJECTED");
  hsDesc("FAILED", "REASON=UPLOAD_REJECTED");
  await settle();
  jest.advanceTimersByTime(299);
  expect(onions.state(domain)!.state).toBe("uploading");
  jest.advanceTimersByTime(1);
  expect(onions.state(domain)!.state).toBe("failed");
  expect(onions.state(domain)!.error).toBe("the onion's descriptor was not uploaded within 0 s of tor being ready (tor's reason: UPLOAD_REJECTED)");
  expect(logText).toMatch(/error onion service failed; adding it again later .*retryInMs=100/);
  jest.advanceTimersByTime(100);
  await until(() => commands().filter((c) => c === "ADD_ONION").length === 2);
  expect(commands()).toEqual(["PROTOCOLINFO", "AUTHENTICATE", "ADD_ONION", "GETINFO", "DEL_ONION", "ADD_ONION"]);
  // The next attempt succeeds.
  hsDesc("UPLOADED");
  await until(() => onions.state(domain)?.state === "published");
});

test("the clock starts only once tor is bootstrapped; pauses grow between attempts", async () => {
  await onions.attach(conn, { uid: 0 });
  jest.advanceTimersByTime(10_000); // far past the limit, but tor is still bootstrapping
  expect(onions.state(domain)!.state).toBe("uploading");
  onions.setBootstrapped(true);
  const adds = () => commands().filter((c) => c === "ADD_ONION").length;
  for (const [attempt, pause] of [[1, 100], [2, 200], [3, 400], [4, 400]] as const) {
    jest.advanceTimersByTime(300); // the limit
    expect(onions.state(domain)!.state).toBe("failed");
    jest.advanceTimersByTime(pause - 1);
    await settle();
    expect(adds()).toBe(attempt);
    jest.advanceTimersByTime(1);
    await until(() => adds() === attempt + 1 && onions.state(domain)!.state === "uploading");
  }
  expect(logText).toMatch(/tor reported no upload at all/);
  // A successful publication resets the pauses.
  hsDesc("UPLOADED");
  await until(() => onions.state(domain)?.state === "published");
});

test("the onion is added with MaxStreams (closing a greedy circuit) and proof-of-work defenses", async () => {
  await onions.attach(conn, { uid: 0 });
  const add = fake.connections[0]!.lines.find((l) => l.startsWith("ADD_ONION"))!;
  expect(add).toMatch(/ Flags=MaxStreamsCloseCircuit MaxStreams=8 PoWDefensesEnabled=1 Port=5269,unix:/);
});

test("a tor that refuses the proof-of-work keywords gets the onion without them, and is not asked again", async () => {
  await fake.close();
  conn.close();
  fake = await startFakeTorControl((line) => {
    if (line.startsWith("ADD_ONION") && line.includes("PoW")) return `512 Unrecognized keyword "PoWDefensesEnabled"\r\n`;
    if (line.startsWith("ADD_ONION")) return `250-ServiceID=${id}\r\n250 OK\r\n`;
    return undefined;
  });
  conn = await TorControlConnection.connect(fake.target);
  await conn.authenticate({ method: "NULL" });
  await onions.attach(conn, { uid: 0 });
  const adds = fake.connections[0]!.lines.filter((l) => l.startsWith("ADD_ONION"));
  expect(adds).toHaveLength(2);
  expect(adds[1]).toMatch(/MaxStreams=8 Port=/);
  expect(onions.state(domain)?.state).toBe("uploading");
  expect(logText).toMatch(/no proof-of-work defense/);
});
