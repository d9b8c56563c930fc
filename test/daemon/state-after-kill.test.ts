// State that is never half-written: handling one stanza is one transaction (src/server/unit-of-work.ts).
// For each operation below, and for every N, the daemon is SIGKILLed right after its Nth SQL
// statement of that operation (test/support/kill-after-statements.ts), restarted without the
// hook, and its roster items, pending subscriptions and roster versions must be exactly the state
// before the operation or the state after it. N grows until the operation completes without
// reaching N. A daemon killed during the operation must also have sent nothing of it: its
// stanzas leave only after the commit. The same holds for the unit that deletes offline
// messages once the client acknowledged them (src/server/offline.ts).
import { jest } from "@jest/globals";
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DATABASE_FILE_NAME } from "../../src/store/store.js";
import { addAccount, DaemonProcess, tempDataDir } from "../support/daemon.js";
import { RawXmpp } from "../support/raw-xmpp.js";

jest.setTimeout(240_000);

const HOOK = new URL("../support/kill-after-statements.js", import.meta.url).href;
const LOCALPARTS = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"] as const;
type Who = (typeof LOCALPARTS)[number];

let template: string;
const accounts = {} as Record<Who, { jid: string; password: string }>;
const dirs: string[] = [];
const open: RawXmpp[] = [];

function portOf(d: DaemonProcess): number {
  const m = /c2s=127\.0\.0\.1:(\d+)/.exec(d.output);
  if (!m) throw new Error(`no c2s port in the daemon's output:\n${d.output}`);
  return Number(m[1]);
}

async function login(port: number, who: Who, resource = "r"): Promise<RawXmpp> {
  const c = await RawXmpp.connect(port);
  open.push(c);
  await c.login(accounts[who].jid, accounts[who].password, resource);
  return c;
}


/** The state under test, read from the file with a connection of our own. */
function snapshot(dataDir: string): string {
  const db = new Database(path.join(dataDir, DATABASE_FILE_NAME), { readonly: true });
  try {
    return JSON.stringify({
      items: db.prepare("SELECT owner, contact, name, subscription, ask, approved, groups_json FROM roster_items ORDER BY owner, contact").all(),
      pending: db.prepare("SELECT owner, contact, stanza_xml FROM pending_subscriptions_in ORDER BY owner, contact").all(),
      versions: db.prepare("SELECT jid, roster_version FROM accounts ORDER BY jid").all(),
      offline: db.prepare("SELECT owner, stanza_xml FROM offline_messages ORDER BY id").all(),
    });
  } finally {
    db.close();
  }
}

const presence = (type: string, to: Who) => `<presence type='${type}' to='${accounts[to].jid}'/>`;

// The template: eight accounts in four pairs, each pair set up for one operation.
beforeAll(async () => {
  template = tempDataDir();
  const d = new DaemonProcess(template, ["--c2s-port", "0"]);
  await d.start();
  try {
    for (const lp of LOCALPARTS) {
      const a = await addAccount(template, lp);
      accounts[lp] = { jid: a.jid, password: a.password };
    }
    const port = portOf(d);
    const c = {} as Record<Who, RawXmpp>;
    for (const lp of LOCALPARTS) if (lp !== "gina") c[lp] = await login(port, lp, "setup");
    const step = async (who: Who, xml: string) => {
      c[who].send(xml);
      await c[who].ping();
    };
    // alice asked bob; bob has not answered: bob holds a pending request, alice's item asks.
    await step("alice", presence("subscribe", "bob"));
    // carol and dave see each other (both).
    await step("carol", presence("subscribe", "dave"));
    await step("dave", presence("subscribed", "carol"));
    await step("dave", presence("subscribe", "carol"));
    await step("carol", presence("subscribed", "dave"));
    // frank sees erin; erin asked to see frank, who has not answered (frank holds her request).
    await step("frank", presence("subscribe", "erin"));
    await step("erin", presence("subscribed", "frank"));
    await step("erin", presence("subscribe", "frank"));
    // gina has never been online: three messages from hank wait for her.
    for (const i of [1, 2, 3]) c.hank.send(`<message type='chat' to='${accounts.gina.jid}' id='m${i}'><body>offline ${i}</body></message>`);
    await c.hank.ping();
    for (const cl of open.splice(0)) cl.close();
  } finally {
    expect(await d.stop("SIGTERM")).toBe(0);
  }
});

afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

afterAll(() => {
  for (const dir of [template, ...dirs]) if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Operation {
  /** Who sends the stanza, and the contact on the other side (both online, roster requested). */
  actor: Who;
  contact: Who;
  /** The stanza, given what the actor received since logging in. */
  stanza: (received: string) => string;
  /** Text the actor receives once the operation committed (its own roster push or iq result). */
  done: RegExp;
}

interface Run {
  n: number;
  killed: boolean;
  /** Statements the operation ran, when it completed. */
  statements?: number;
  state: string;
}

/** One run: a copy of the template, the operation, a kill after statement n (or completion), a restart. */
async function runOnce(op: Operation, n: number): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), "po-kill-"));
  dirs.push(dir);
  cpSync(template, dir, { recursive: true, filter: (src) => !src.endsWith(".sock") });
  const hooked = new DaemonProcess(dir, ["--c2s-port", "0"], (cmd, args) =>
    spawn(cmd, ["--import", HOOK, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PURPLE_ONION_TEST_KILL_AFTER: String(n) } }),
  );
  await hooked.start();
  const child = hooked.child!;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
  const port = portOf(hooked);
  const actor = await login(port, op.actor);
  const contact = await login(port, op.contact);
  const both = [actor, contact];
  for (const c of both) c.send(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq><presence/>`);
  // Twice: after the first round every unit of the logins is done, after the second whatever
  // those units sent either client has arrived.
  for (let round = 0; round < 2; round++) await Promise.all(both.map((c) => c.ping()));
  const received = actor.received;
  for (const c of both) c.clear();

  child.kill("SIGUSR2");
  while (!hooked.output.includes("kill-hook armed")) await new Promise((r) => setTimeout(r, 5));
  actor.send(op.stanza(received));
  const completed = await Promise.race([exited.then(() => false), actor.waitFor(op.done, 20_000).then(() => true, () => false)]);

  let run: Run;
  if (!completed) {
    let timer: NodeJS.Timeout | undefined;
    const signal = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r("still running"), 10_000)))]);
    clearTimeout(timer);
    if (signal !== "SIGKILL") throw new Error(`run ${n}: neither completed nor killed (${String(signal)}):\n${hooked.output}\n${actor.received}`);
    // Everything the daemon wrote before dying has arrived once the sockets are closed.
    await Promise.all([actor.waitClosed(), contact.waitClosed()]);
    // Killed inside the unit: none of its stanzas may have left.
    expect({ n, actor: actor.received, contact: contact.received }).toEqual({ n, actor: "", contact: "" });
    run = { n, killed: true, state: "" };
  } else {
    child.kill("SIGUSR2");
    const disarmed = /kill-hook disarmed after (\d+) statements/;
    while (!disarmed.test(hooked.output)) await new Promise((r) => setTimeout(r, 5));
    run = { n, killed: false, statements: Number(disarmed.exec(hooked.output)![1]), state: "" };
    expect(await hooked.stop("SIGTERM")).toBe(0);
  }
  for (const c of open.splice(0)) c.close();

  // Restart without the hook: the daemon opens (and recovers) the file and serves what it holds.
  const plain = new DaemonProcess(dir, ["--c2s-port", "0"]);
  await plain.start();
  const again = await login(portOf(plain), op.actor);
  again.send(`<iq type='get' id='roster-after'><query xmlns='jabber:iq:roster'/></iq>`);
  const [, served] = await again.waitFor(/id="roster-after"[^>]*>\s*<query xmlns="jabber:iq:roster" ver="(\d+)"/);
  again.close();
  open.splice(0);
  await plain.stop("SIGTERM");
  run.state = snapshot(dir);
  const versions = (JSON.parse(run.state) as { versions: { jid: string; roster_version: number }[] }).versions;
  expect(Number(served)).toBe(versions.find((v) => v.jid === accounts[op.actor].jid)!.roster_version);
  rmSync(dir, { recursive: true, force: true });
  return run;
}

/** "old", "new", or which parts of the state are neither (a half-written state). */
function describe(state: string, old: string, after: string): string {
  if (state === old) return "old";
  if (state === after) return "new";
  const [s, o, a] = [state, old, after].map((x) => JSON.parse(x) as Record<string, unknown>);
  const parts = Object.keys(s!).map((k) => {
    const v = JSON.stringify(s![k]);
    return `${k}=${v === JSON.stringify(o![k]) ? "old" : v === JSON.stringify(a![k]) ? "new" : "other"}`;
  });
  return `neither: ${parts.join(" ")}`;
}

async function sweep(op: Operation): Promise<Run[]> {
  const runs: Run[] = [];
  for (let n = 1; n < 200; n++) {
    const run = await runOnce(op, n);
    runs.push(run);
    if (!run.killed) break;
  }
  const last = runs[runs.length - 1]!;
  expect(last.killed).toBe(false);
  const old = snapshot(template);
  const after = last.state;
  expect(after).not.toEqual(old);
  // Every statement of the operation was a place to die; the last one is the COMMIT.
  expect(last.statements).toBe(runs.length - 1);
  const outcomes = runs.map((r) => ({ n: r.n, state: describe(r.state, old, after) }));
  // Exactly the old state for a kill after any statement before the commit, the new one after it.
  expect(outcomes).toEqual(runs.map((r) => ({ n: r.n, state: r.n < last.statements! ? "old" : "new" })));
  return runs;
}

const report: string[] = [];
afterAll(() => {
  if (report.length > 0) process.stderr.write(`state-after-kill sweep:\n${report.join("\n")}\n`);
});

test("accepting a subscription: the pending request goes and the roster items change together", async () => {
  const runs = await sweep({
    actor: "bob",
    contact: "alice",
    stanza: () => presence("subscribed", "alice"),
    done: /<query xmlns="jabber:iq:roster" ver="\d+"><item [^>]*subscription="from"/,
  });
  report.push(`  accept subscription: ${runs.length - 1} statements, killed after each of them`);
});

test("an inbound unsubscribe: both rosters change together", async () => {
  const runs = await sweep({
    actor: "carol",
    contact: "dave",
    stanza: () => presence("unsubscribe", "dave"),
    done: /<query xmlns="jabber:iq:roster" ver="\d+"><item [^>]*subscription="from"/,
  });
  report.push(`  inbound unsubscribe: ${runs.length - 1} statements, killed after each of them`);
});

test("removing a contact: the item, the pending request and the contact's side go together", async () => {
  const runs = await sweep({
    actor: "frank",
    contact: "erin",
    stanza: () => `<iq type='set' id='remove'><query xmlns='jabber:iq:roster'><item jid='${accounts.erin.jid}' subscription='remove'/></query></iq>`,
    done: /<iq[^>]*id="remove"[^>]*type="result"|<iq[^>]*type="result"[^>]*id="remove"/,
  });
  report.push(`  roster remove: ${runs.length - 1} statements, killed after each of them`);
});

test("acknowledging offline messages: all of them go, or none", async () => {
  const runs = await sweep({
    actor: "gina",
    contact: "hank",
    // The answer to the ping that followed the three messages, then a ping of ours to see it
    // done (a unit that writes nothing, hence runs no statement).
    stanza: (received) => {
      const id = /<iq[^>]*id="(offline-[0-9a-f]+)"/.exec(received)?.[1];
      if (!id) throw new Error(`no offline ping among:\n${received}`);
      return `<iq type='result' id='${id}'/><iq type='get' id='after-ack'><ping xmlns='urn:xmpp:ping'/></iq>`;
    },
    done: /id="after-ack"/,
  });
  report.push(`  offline acknowledgement: ${runs.length - 1} statements, killed after each of them`);
});
