// The tornet's ConsensusWatch (test/support/tornet/consensus-watch.ts) against a stand-in
// DirPort: it must notice a consensus that lacks a relay or a flag, and a stretch without a
// valid consensus, or a failed test's "the network was whole" would be a lie.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConsensusWatch } from "../support/tornet/consensus-watch.js";

const A = "AAAAAAAAAAAAAAAAAAAAAAAAAAA"; // base64 of 20 bytes, as in "r" lines
const B = "BBBBBBBBBBBBBBBBBBBBBBBBBBB";
const hex = (b64: string): string => Buffer.from(b64, "base64").toString("hex").toUpperCase();
const FLAGS = ["Running", "HSDir"];
const stamp = (d: Date): string => d.toISOString().slice(0, 19).replace("T", " ");

function consensus(validAfter: Date, relays: [string, string, string[]][], validForMs = 60_000): string {
  return [
    "network-status-version 3 microdesc",
    `valid-after ${stamp(validAfter)}`,
    `valid-until ${stamp(new Date(validAfter.getTime() + validForMs))}`,
    ...relays.flatMap(([nick, id, flags]) => [`r ${nick} ${id} 2026-01-01 00:00:00 127.0.0.1 9001 0`, `s ${flags.join(" ")}`]),
  ].join("\n");
}

let server: Server;
let serve: () => string | undefined;

beforeAll(async () => {
  server = createServer((_req, res) => {
    const body = serve();
    res.writeHead(body === undefined ? 404 : 200).end(body ?? "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(() => server.close());

const dirPort = (): number => (server.address() as AddressInfo).port;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function watchWhile(steps: (() => string | undefined)[]): Promise<string> {
  const watch = new ConsensusWatch(dirPort(), new Map([[hex(A), "relay1"], [hex(B), "relay2"]]), FLAGS, 20);
  watch.start();
  try {
    for (const step of steps) {
      serve = step;
      // A poll may have been under way with the previous answer: wait for two more.
      const until = watch.polls + 2;
      for (let waited = 0; watch.polls < until; waited += 10) {
        if (waited > 10_000) throw new Error("the watch stopped polling");
        await sleep(10);
      }
    }
    return watch.summary();
  } finally {
    watch.stop();
  }
}

test("a network whose every consensus lists every relay with its flags is whole", async () => {
  const now = Date.now();
  const summary = await watchWhile([
    () => consensus(new Date(now), [["r1", A, FLAGS], ["r2", B, [...FLAGS, "Guard"]]]),
    () => consensus(new Date(now + 10_000), [["r1", A, FLAGS], ["r2", B, FLAGS]]),
  ]);
  expect(summary).toBe("2 consensuses seen, each listing every relay with Running, HSDir");
});

test("a consensus without a relay, or without one of its flags, is named", async () => {
  const now = Date.now();
  const summary = await watchWhile([
    () => consensus(new Date(now), [["r1", A, FLAGS]]),
    () => consensus(new Date(now + 10_000), [["r1", A, FLAGS], ["r2", B, ["Running"]]]),
  ]);
  expect(summary).toMatch(/^2 consensuses seen; 2 not whole: \d\d:\d\d:\d\d consensus lacks relay2; \d\d:\d\d:\d\d consensus lacks relay2's HSDir$/);
});

test("a stretch without a valid consensus (none served, or an expired one) is named with its length", async () => {
  const now = Date.now();
  const whole = (at: number) => () => consensus(new Date(at), [["r1", A, FLAGS], ["r2", B, FLAGS]]);
  const summary = await watchWhile([whole(now), () => undefined, () => consensus(new Date(now - 120_000), [["r1", A, FLAGS], ["r2", B, FLAGS]]), whole(now + 10_000)]);
  expect(summary).toMatch(/^2 consensuses seen; 1 not whole: \d\d:\d\d:\d\d no valid consensus for \d+ s$/);
  // Still without one when the summary is taken: said so.
  expect(await watchWhile([whole(now), () => undefined])).toMatch(/; 1 not whole: \d\d:\d\d:\d\d no valid consensus since$/);
});
