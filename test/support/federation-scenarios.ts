// Federation end to end on the private Tor network: two purple-onion daemons,
// each attached to its own tornet client tor, accounts on both, clients logged
// in over c2s, and a raw hostile server. Each test states what RFC 6120,
// RFC 6121 and XEP-0220 say must happen. The first test checks the harness
// itself.
//
// Run by test/tor/tornet.test.ts on its network. Only these:
//   node --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/tor/tornet.test.js -t federation
import { readFileSync } from "node:fs";
import { jest } from "@jest/globals";
import type { TorReachResult } from "../../src/daemon/control-protocol.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { Element } from "../../src/xmpp/xml.js";
import { bare, controlRequest, FedClient, FedDaemon, Phases, type FedAccount } from "./federation.js";
import { requires } from "./requires.js";
import { FakeAuthoritativeServer, legacyDialbackKey, RawS2s, unpublishedOnion, type StreamErrorSeen } from "./s2s-raw.js";
import { TorStreamCounter } from "./tor-stream-counter.js";
import type { TorNet } from "./tornet/tornet.js";

/** Tor connections two Prosody servers need for a conversation with dialback: one each way. */
const MAX_STREAMS_PER_PAIR = 2;
/** First contact between two servers over Tor: dial, dialback callback, stanza. */
const FIRST_CONTACT_MS = 60_000;

const isError = (el: Element) => el.attrs.type === "error";
const stanzaCondition = (el: Element) => el.getChild("error")?.getChildElements().find((c) => c.attrs.xmlns === NS.STANZA_ERRORS && c.name !== "text")?.name;
const stanzaText = (el: Element) => el.getChild("error")?.getChildText("text") ?? undefined;

/** tor.reach, retried while the onion is still being published. */
async function reach(dir: string, from: string, onion: string, timeoutMs = 60_000): Promise<TorReachResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await controlRequest<TorReachResult>(dir, "tor.reach", { from, onion });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export function federationScenarios(getNet: () => TorNet): void {
  jest.setTimeout(300_000);
  const strace = requires("strace");
  const phases = new Phases("federation");
  let net: TorNet;
  let d1: FedDaemon;
  let d2: FedDaemon;
  let alice: FedAccount; // on d1
  let carol: FedAccount; // on d1 too: the "other account" a hostile peer must not learn about
  let bob: FedAccount; // on d2
  let aliceC: FedClient;
  let bobC: FedClient;
  let counters: TorStreamCounter[] = [];
  let fake: FakeAuthoritativeServer | undefined;
  const clients: FedClient[] = [];

  /** The raw hostile peer dials daemon 1's onions through client2's SOCKS port, as daemon 2 would. */
  const dialD1 = (onion: string) => RawS2s.dial(onion, { socksPort: net.clients[1]!.socksPort });
  const login = async (account: FedAccount, resource: string) => {
    const c = await FedClient.login(account, resource);
    clients.push(c);
    return c;
  };
  async function fakeServer(): Promise<FakeAuthoritativeServer> {
    // Published on client2, the tor the hostile peer dials through.
    fake ??= await phases.run("publish the fake authoritative server's onion", () => FakeAuthoritativeServer.start(net.clients[1]!));
    return fake;
  }
  /** A raw stream to alice's onion, authenticated by dialback as the fake server's domain. */
  async function dialbackAsFake(): Promise<RawS2s> {
    const x = await fakeServer();
    x.decide = undefined;
    x.verdict = "valid";
    const raw = await dialD1(alice.onion);
    raw.open(alice.onion, x.domain);
    expect(await raw.opened()).toBe("features");
    const verdict = await raw.dialback(x.domain, alice.onion, legacyDialbackKey());
    expect(verdict).toMatchObject({ type: "valid" });
    return raw;
  }
  /** Nothing with this body reached `client`: asked after a ping, so everything sent before has been handled. */
  async function nothingArrived(client: FedClient, body: string): Promise<void> {
    await client.ping();
    expect(client.all((el) => el.name === "message" && el.getChildText("body") === body)).toEqual([]);
  }

  beforeAll(async () => {
    net = getNet();
    phases.explainFailuresWith(() => `--- the private Tor network: ${net.health()}`);
    const underStrace = strace.missing === undefined;
    d1 = new FedDaemon("daemon1", net, 0, underStrace);
    d2 = new FedDaemon("daemon2", net, 1, underStrace);
    await phases.run("start two daemons attached to client1 and client2", () => Promise.all([d1.start(), d2.start()]));
    counters = await Promise.all(net.clients.slice(0, 2).map((c) => TorStreamCounter.start(c)));
    alice = await d1.addAccount("alice");
    carol = await d1.addAccount("carol");
    bob = await d2.addAccount("bob");
    await phases.run("publish alice's, carol's and bob's onions", () => Promise.all([d1.waitPublished(), d2.waitPublished()]));
    [aliceC, bobC] = await phases.run("log alice and bob in (c2s, SCRAM-SHA-256)", () => Promise.all([login(alice, "ra"), login(bob, "rb")]));
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of counters) c.close();
    await fake?.close();
    await Promise.all([d1?.dispose(), d2?.dispose()]);
    console.log(`[federation] phases:\n${phases.summary()}`);
  }, 60_000);

  test("harness: daemons attached and published, clients logged in, STREAM events counted, a raw s2s peer answered, no DNS", async () => {
    for (const d of [d1, d2]) {
      const s = await d.status();
      expect(s.tor).toMatchObject({ mode: "attach", state: "ready" });
      expect(s.accounts.every((a) => a.published)).toBe(true);
    }
    expect(aliceC.jid).toBe(`${alice.jid}/ra`);
    expect(bobC.jid).toBe(`${bob.jid}/rb`);
    expect((await aliceC.ping()).attrs.type).toBe("result");
    expect((await bobC.ping()).attrs.type).toBe("result");

    // tor.reach from bob's daemon is one stream on client2 toward alice's onion.
    const client2 = counters[1]!;
    const mark = client2.mark();
    await phases.run("tor.reach bob -> alice", () => reach(d2.dir, bob.jid, alice.onion));
    await client2.waitForNew(alice.onion, 1, mark);
    expect(client2.succeeded(alice.onion, mark)).toBeGreaterThanOrEqual(1);
    expect(counters[0]!.newStreams(alice.onion, 0)).toBe(0); // client1 hosts it, never dials it

    // A raw server-to-server stream through Tor gets our header and the dialback feature.
    const raw = await phases.run("raw s2s stream to alice's onion", () => dialD1(alice.onion));
    try {
      raw.open(alice.onion, unpublishedOnion());
      const answer = await raw.opened();
      console.log(`[federation] raw s2s: dial ${raw.dialMs} ms, answer ${JSON.stringify(answer)}`);
      expect(answer).toBe("features");
      expect(raw.header?.attrs.from).toBe(alice.onion);
    } finally {
      raw.close();
    }

    // The fake authoritative server answers over Tor: db:verify with the verdict
    // chosen, and refuses the daemon's own db:result (reached here from client1).
    const x = await fakeServer();
    const client1 = counters[0]!;
    const mark1 = client1.mark();
    const probe = await RawS2s.dial(x.domain, { socksPort: net.clients[0]!.socksPort });
    try {
      probe.open(x.domain, alice.onion);
      expect(await probe.opened()).toBe("features");
      expect(probe.header?.attrs.from).toBe(x.domain);
      x.verdict = "invalid";
      const key = legacyDialbackKey();
      probe.send(`<db:verify from='${alice.onion}' to='${x.domain}' id='probe-id'>${key}</db:verify>`);
      const v = await probe.waitForElement("the db:verify answer", (el) => el.is("verify", NS.DIALBACK));
      expect(v.el.attrs).toMatchObject({ from: x.domain, to: alice.onion, id: "probe-id", type: "invalid" });
      expect(await x.waitForVerify(key)).toMatchObject({ from: alice.onion, to: x.domain, id: "probe-id", verdict: "invalid" });
      expect(await probe.dialback(alice.onion, x.domain, legacyDialbackKey())).toMatchObject({ type: "invalid" });
      // One connection reached it (a dial may be retried while its descriptor spreads: NEW streams can be more).
      expect(client1.succeeded(x.domain, mark1)).toBe(1);
    } finally {
      x.verdict = "valid";
      probe.close();
    }

    if (d1.underStrace) {
      for (const d of [d1, d2]) {
        const report = d.networkReport();
        // The live trace saw real work: the daemon's connection to its tor's control port.
        expect(report.connectPorts).toContain(d.client.controlPort);
        expect(report).toMatchObject({ dnsSends: 0, dnsConnects: [], resolverConnects: [], nonLoopback: [] });
      }
    }
  });

  describe("federation a) two accounts on two daemons", () => {
    let marks: number[] = [];
    beforeAll(() => {
      marks = counters.map((c) => c.mark());
    });

    // RFC 6121 3.1 (request), 3.1.5-3.1.6 (approval, presence after approval), 4.2-4.3 (presence broadcast).
    test("federation a1: alice subscribes to bob, bob approves and subscribes back, alice approves; both see each other's presence", async () => {
      await phases.run("a1 subscriptions both ways", async () => {
        const noBounce = { failOn: isError };
        let from = bobC.stanzas.length;
        const aliceSent = { client: aliceC, from: aliceC.stanzas.length };
        aliceC.send(`<presence to='${bob.jid}' type='subscribe'/>`);
        const req = await bobC.waitFor("alice's subscription request", (el) => el.name === "presence" && el.attrs.type === "subscribe", FIRST_CONTACT_MS, { from, sender: aliceSent, ...noBounce });
        expect(req.attrs.from).toBe(alice.jid); // RFC 6121 3.1.2: the bare JID
        expect(bare(req.attrs.to)).toBe(bob.jid);

        const aFrom = aliceC.stanzas.length;
        const bobSent = { client: bobC, from: bobC.stanzas.length };
        bobC.send(`<presence to='${alice.jid}' type='subscribed'/>`);
        bobC.send(`<presence to='${alice.jid}' type='subscribe'/>`);
        const subscribed = await aliceC.waitFor("bob's approval", (el) => el.name === "presence" && el.attrs.type === "subscribed", FIRST_CONTACT_MS, { from: aFrom, sender: bobSent, ...noBounce });
        expect(bare(subscribed.attrs.from)).toBe(bob.jid);
        const bobsRequest = await aliceC.waitFor("bob's subscription request", (el) => el.name === "presence" && el.attrs.type === "subscribe", 30_000, { from: aFrom, ...noBounce });
        expect(bobsRequest.attrs.from).toBe(bob.jid);
        // RFC 6121 3.1.6: once subscribed, alice's server gets bob's available presence.
        const bobOnline = await aliceC.waitFor("bob's presence", (el) => el.name === "presence" && el.attrs.type === undefined && el.attrs.from === bobC.jid, 30_000, { from: aFrom, ...noBounce });
        expect(bare(bobOnline.attrs.to)).toBe(alice.jid);

        from = bobC.stanzas.length;
        const aliceApproved = { client: aliceC, from: aliceC.stanzas.length };
        aliceC.send(`<presence to='${bob.jid}' type='subscribed'/>`);
        const approved = await bobC.waitFor("alice's approval", (el) => el.name === "presence" && el.attrs.type === "subscribed", 30_000, { from, sender: aliceApproved, ...noBounce });
        expect(bare(approved.attrs.from)).toBe(alice.jid);
        const aliceOnline = await bobC.waitFor("alice's presence", (el) => el.name === "presence" && el.attrs.type === undefined && el.attrs.from === aliceC.jid, 30_000, { from, ...noBounce });
        expect(bare(aliceOnline.attrs.to)).toBe(bob.jid);
      });
    });

    // RFC 6121 5.2.2 / 8.5.2.1: a chat message to the bare JID reaches the available resource, from the sender's full JID.
    test("federation a2: messages both ways arrive with the right from, to and body", async () => {
      await phases.run("a2 messages both ways", async () => {
        for (const [sender, receiver] of [[aliceC, bobC], [bobC, aliceC]] as const) {
          const body = `hello ${receiver.account.jid} from ${sender.account.jid} ${Date.now()}`;
          const id = sender.nextId("msg");
          const from = receiver.stanzas.length;
          const sentFrom = sender.stanzas.length;
          sender.send(`<message to='${receiver.account.jid}' type='chat' id='${id}'><body>${body}</body></message>`);
          const got = await receiver.waitFor(`the message "${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, FIRST_CONTACT_MS, {
            from,
            sender: { client: sender, from: sentFrom },
          });
          expect(got.attrs.type).toBe("chat");
          // It crossed a jabber:server stream; Pidgin must still get it as jabber:client.
          expect(got.attrs.xmlns).toBe("jabber:client");
          expect(got.attrs.from).toBe(sender.jid);
          expect([receiver.account.jid, receiver.jid]).toContain(got.attrs.to);
          await sender.ping();
          expect(sender.all((el) => el.name === "message" && el.attrs.id === id && isError(el), sentFrom)).toEqual([]);
        }
      });
    });

    test("federation a3: at most 2 Tor connections between the two servers for all of that", () => {
      const onions = [alice.onion, bob.onion];
      // Connections are the streams tor completed; attempts (NEW) are printed too: a dial tor
      // failed and the outbox retried would show there, and is not a connection.
      const opened = counters.map((c, i) => onions.reduce((n, o) => n + c.succeeded(o, marks[i]), 0));
      const attempts = counters.map((c, i) => onions.reduce((n, o) => n + c.newStreams(o, marks[i]), 0));
      const total = opened.reduce((a, b) => a + b, 0);
      const shown = counters.map((c, i) => onions.map((o) => c.describe(o, marks[i])).join("\n")).join("\n");
      console.log(`[federation] Tor connections between the two servers during a): ${total} (client1 ${opened[0]}, client2 ${opened[1]}; attempts ${attempts.join(" + ")})\n${shown}`);
      expect(total).toBeGreaterThanOrEqual(1); // the conversation did go through Tor
      expect(total).toBeLessThanOrEqual(MAX_STREAMS_PER_PAIR);
    });

    strace.test("federation a4: neither daemon asked DNS or connected outside loopback (strace)", () => {
      for (const d of [d1, d2]) {
        const report = d.networkReport();
        expect(report.connectPorts).toContain(d.client.socksPort); // it did dial through its tor
        expect(report).toMatchObject({ dnsSends: 0, dnsConnects: [], resolverConnects: [], nonLoopback: [] });
      }
    });
  });

  // The daemons run at the default log level (info): a peer is a contact, and contacts never
  // appear there (README, "What is protected"). Own onions may; message bodies never.
  test("federation a5: at the default log level neither daemon logged the other's onion, a contact's JID or a message body", () => {
    for (const [d, peer] of [
      [d1, bob],
      [d2, alice],
    ] as const) {
      expect(d.output.length).toBeGreaterThan(0);
      expect(d.output).not.toContain(peer.onion.replace(/\.onion$/, ""));
      expect(d.output).not.toMatch(/hello \S+ from /); // the a2 bodies
    }
  });

  describe("federation b) a hostile server", () => {
    // RFC 6120 4.9.3.12 not-authorized: stanzas before the stream is authenticated; not processed.
    test("federation b1: a stanza before dialback gets stream error not-authorized and is not delivered", async () => {
      const x = await fakeServer();
      const raw = await dialD1(alice.onion);
      try {
        raw.open(alice.onion, x.domain);
        expect(await raw.opened()).toBe("features");
        const body = `before dialback ${Date.now()}`;
        raw.send(`<message from='mallory@${x.domain}' to='${alice.jid}' type='chat'><body>${body}</body></message>`);
        const err = await raw.waitForStreamError();
        expect(err.condition).toBe("not-authorized");
        await raw.waitClosed();
        await nothingArrived(aliceC, body);
      } finally {
        raw.close();
      }
    });

    // RFC 6120 4.9.3.6 host-unknown; the answer must not tell "hosted here, on another onion" from "hosted nowhere".
    test("federation b2: a stream header naming daemon 1's other account gets the same answer as an onion hosted nowhere (host-unknown)", async () => {
      const peer = unpublishedOnion();
      const answers: { name: string; text: string; error: StreamErrorSeen; dialMs: number }[] = [];
      for (const [name, to] of [["carol (same daemon, other onion)", carol.onion], ["an onion hosted nowhere", unpublishedOnion()]] as const) {
        const raw = await dialD1(alice.onion);
        try {
          raw.open(to, peer);
          const error = await raw.waitForStreamError();
          await raw.waitClosed();
          answers.push({ name, error, dialMs: raw.dialMs, text: raw.normalized([[to, "<to>"]]) });
        } finally {
          raw.close();
        }
      }
      for (const a of answers) console.log(`[federation] b2 header to ${a.name}: ${a.error.condition} after ${a.error.ms} ms (dial ${a.dialMs} ms)`);
      expect(answers[0]!.text).toBe(answers[1]!.text);
      expect(answers[0]!.error.condition).toBe("host-unknown");
    });

    // XEP-0220 2.1.2 / 2.4: a db:result whose 'to' the receiving server does not serve on this stream: host-unknown.
    test("federation b3: a db:result naming daemon 1's other account gets the same answer as one naming an onion hosted nowhere (host-unknown)", async () => {
      const x = await fakeServer();
      const answers: { name: string; text: string; error: StreamErrorSeen }[] = [];
      for (const [name, to] of [["carol", carol.onion], ["an onion hosted nowhere", unpublishedOnion()]] as const) {
        const raw = await dialD1(alice.onion);
        try {
          raw.open(alice.onion, x.domain);
          expect(await raw.opened()).toBe("features");
          const offset = raw.received.length;
          raw.send(`<db:result from='${x.domain}' to='${to}'>${legacyDialbackKey()}</db:result>`);
          const error = await raw.waitForStreamError();
          await raw.waitClosed();
          answers.push({ name, error, text: raw.received.slice(offset).split(to).join("<to>") });
        } finally {
          raw.close();
        }
      }
      for (const a of answers) console.log(`[federation] b3 db:result to ${a.name}: ${a.error.condition} after ${a.error.ms} ms`);
      expect(answers[0]!.text).toBe(answers[1]!.text);
      expect(answers[0]!.error.condition).toBe("host-unknown");
    });

    test("federation b4: after dialback, a stanza to daemon 1's other account gets the same answer as one to an onion hosted nowhere (host-unknown)", async () => {
      const answers: { name: string; text: string; error: StreamErrorSeen }[] = [];
      for (const [name, to] of [["carol", carol.onion], ["an onion hosted nowhere", unpublishedOnion()]] as const) {
        const raw = await dialbackAsFake();
        try {
          const offset = raw.received.length;
          raw.send(`<message from='mallory@${fake!.domain}' to='someone@${to}' type='chat' id='b4'><body>hi</body></message>`);
          const error = await raw.waitForStreamError();
          await raw.waitClosed();
          answers.push({ name, error, text: raw.received.slice(offset).split(to).join("<to>") });
        } finally {
          raw.close();
        }
      }
      for (const a of answers) console.log(`[federation] b4 stanza to ${a.name}: ${a.error.condition} after ${a.error.ms} ms`);
      expect(answers[0]!.text).toBe(answers[1]!.text);
      expect(answers[0]!.error.condition).toBe("host-unknown");
    });

    // XEP-0220 2.3-2.4: the receiving server asks the authoritative server (db:verify with our key and
    // the stream id it gave us); "invalid" comes back to us as db:result type='invalid'.
    test("federation b5: a wrong dialback key (the authoritative server says invalid) gets db:result type='invalid', and the stream stays unauthorized", async () => {
      const x = await fakeServer();
      const badKey = legacyDialbackKey();
      x.decide = (req) => (req.key === badKey ? "invalid" : "valid");
      const raw = await dialD1(alice.onion);
      try {
        raw.open(alice.onion, x.domain);
        expect(await raw.opened()).toBe("features");
        const verdict = await raw.dialback(x.domain, alice.onion, badKey);
        console.log(`[federation] b5 wrong key: ${JSON.stringify(verdict)}`);
        const verify = await x.waitForVerify(badKey, 1000);
        expect(verify).toMatchObject({ from: alice.onion, to: x.domain, id: raw.streamId, verdict: "invalid" });
        expect(verdict).toMatchObject({ type: "invalid" });
        // Not authorized: a stanza now is refused (not-authorized), or the stream is already gone.
        const body = `after a wrong key ${Date.now()}`;
        if (!raw.closed) {
          raw.send(`<message from='mallory@${x.domain}' to='${alice.jid}' type='chat'><body>${body}</body></message>`);
          const after = await raw.waitForStreamError().catch((err: Error) => (raw.closed ? undefined : Promise.reject(err)));
          if (after) expect(after.condition).toBe("not-authorized");
        }
        await nothingArrived(aliceC, body);
      } finally {
        x.decide = undefined;
        raw.close();
      }
    });

    // RFC 6120 4.9.3.9 invalid-from: a 'from' that does not match a domain validated on this stream.
    test("federation b6: after dialback as X, a stanza from another domain Y gets stream error invalid-from and is not delivered", async () => {
      const raw = await dialbackAsFake();
      try {
        const body = `spoofed ${Date.now()}`;
        raw.send(`<message from='eve@${unpublishedOnion()}' to='${alice.jid}' type='chat'><body>${body}</body></message>`);
        const err = await raw.waitForStreamError();
        console.log(`[federation] b6 spoofed from: ${err.condition} after ${err.ms} ms`);
        expect(err.condition).toBe("invalid-from");
        await raw.waitClosed();
        await nothingArrived(aliceC, body);
      } finally {
        raw.close();
      }
    });

    test("federation b7: afterwards both of daemon 1's accounts answer a c2s ping, and alice and bob still federate", async () => {
      const carolC = await login(carol, "rc");
      for (const c of [aliceC, carolC, bobC]) expect((await c.ping()).attrs.type).toBe("result");
      for (const [sender, receiver] of [[aliceC, bobC], [bobC, aliceC]] as const) {
        const body = `still federating ${Date.now()}`;
        const from = receiver.stanzas.length;
        const sent = { client: sender, from: sender.stanzas.length };
        sender.send(`<message to='${receiver.account.jid}' type='chat' id='${sender.nextId("b7")}'><body>${body}</body></message>`);
        const got = await receiver.waitFor(`"${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, FIRST_CONTACT_MS, { from, sender: sent });
        expect(got.attrs.from).toBe(sender.jid);
      }
    });
  });

  describe("federation c) an unreachable peer", () => {
    // RFC 6120 8.3.3.15-16: remote-server-not-found / remote-server-timeout, with tor's reason in <text/>.
    test("federation c1: an iq to a valid onion nobody publishes gets an iq error within 30 s naming tor's reason", async () => {
      const nowhere = unpublishedOnion();
      const id = aliceC.nextId("disco");
      const from = aliceC.stanzas.length;
      const started = Date.now();
      aliceC.send(`<iq type='get' id='${id}' to='${nowhere}'><query xmlns='${NS.DISCO_INFO}'/></iq>`);
      const answer = await aliceC.waitFor(`the answer to ${id}`, (el) => el.name === "iq" && el.attrs.id === id, 35_000, { from });
      const ms = Date.now() - started;
      console.log(`[federation] c1 iq to an unpublished onion: ${stanzaCondition(answer)} after ${ms} ms: ${stanzaText(answer)}`);
      expect(answer.attrs.type).toBe("error");
      expect(answer.attrs.from).toBe(nowhere);
      expect(["remote-server-not-found", "remote-server-timeout"]).toContain(stanzaCondition(answer));
      expect(stanzaText(answer)).toMatch(/not found|descriptor|offline|introduc|rendezvous/i);
      expect(ms).toBeLessThanOrEqual(30_000);
    });

    // Durable delivery (ARCHITECTURE.md): held while the peer is down, delivered once when it is back, never bounced.
    test("federation c2: a message to bob while his daemon is stopped arrives exactly once after it starts again", async () => {
      const body = `while you were away ${Date.now()}`;
      const id = aliceC.nextId("away");
      bobC.close();
      await phases.run("c2 stop daemon 2", () => d2.stop("SIGTERM"));
      const from = aliceC.stanzas.length;
      aliceC.send(`<message to='${bob.jid}' type='chat' id='${id}'><body>${body}</body></message>`);
      // Long enough for a first delivery attempt to fail.
      await new Promise((r) => setTimeout(r, 10_000));
      await aliceC.ping();
      expect(aliceC.all((el) => el.attrs.id === id && isError(el), from)).toEqual([]);

      await phases.run("c2 start daemon 2 again and publish", async () => {
        await d2.start();
        await d2.waitPublished();
      });
      bobC = await login(bob, "rb2");
      const got = await phases.run("c2 the held message arrives", () =>
        bobC.waitFor(`"${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, 180_000),
      );
      expect(bare(got.attrs.from)).toBe(alice.jid);
      // Retries that raced the first delivery would show up now.
      await new Promise((r) => setTimeout(r, 10_000));
      await bobC.ping();
      expect(bobC.all((el) => el.name === "message" && el.getChildText("body") === body)).toHaveLength(1);
      expect(aliceC.all((el) => el.attrs.id === id && isError(el), from)).toEqual([]);
    });
  });

  // Floods past each limit on account A (alice's onion) while B (carol's onion, on the same
  // daemon) is timed: bob pings carol's server over federation before and during each flood.
  // A slowdown of B would tell the flooder that A and B share a daemon (ARCHITECTURE.md,
  // "Federation"; src/server/policy-limits.ts). Figures are printed, never asserted.
  describe("federation d) floods", () => {
    interface Pinged {
      type: string;
      ms: number;
    }
    const figures: string[] = [];
    let baseline: Pinged[] = [];

    /** Bob's client pings `onion`'s server over federation; the answer's type and the round trip. */
    async function pingServer(onion: string, timeoutMs = 30_000): Promise<Pinged> {
      const id = bobC.nextId("fping");
      const from = bobC.stanzas.length;
      const started = Date.now();
      bobC.send(`<iq type='get' id='${id}' to='${onion}'><ping xmlns='${NS.PING}'/></iq>`);
      const answer = await bobC.waitFor(`the answer to ${id} from ${onion === carol.onion ? "carol's" : "alice's"} server`, (el) => el.name === "iq" && el.attrs.id === id, timeoutMs, { from });
      // The time it was parsed, not when waitFor's 50 ms poll saw it.
      const at = bobC.stanzas.find((s) => s.el === answer)?.at ?? Date.now();
      return { type: answer.attrs.type ?? "(none)", ms: at - started };
    }
    /** B's answers, one ping after another, while `busy` holds (at least `min` of them). */
    async function pingBWhile(busy: () => boolean, min = 5): Promise<Pinged[]> {
      const out: Pinged[] = [];
      while (out.length < min || busy()) {
        out.push(await pingServer(carol.onion));
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    }
    const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
    const show = (ps: Pinged[]) => {
      const ms = ps.map((p) => p.ms);
      return `n=${ms.length} median ${quantile(ms, 0.5)} ms, p95 ${quantile(ms, 0.95)} ms, max ${Math.max(...ms)} ms`;
    };
    /** Prints B's figures for one flood next to the baseline, and checks B answered every ping. */
    function report(flood: string, during: Pinged[]): void {
      const line = `${flood}: B's pings baseline ${show(baseline)} | during ${show(during)}`;
      figures.push(line);
      console.log(`[federation] ${line}`);
      expect(during.filter((p) => p.type !== "result")).toEqual([]);
    }
    /** A raw stream to `onion` with our header sent as the fake server's domain; its answer. */
    async function openAsFake(onion: string, credentials?: { username: string; password: string }): Promise<{ raw: RawS2s; answer: "features" | StreamErrorSeen }> {
      // The flooder's tor builds many circuits at once; the private network sometimes needs a
      // few attempts for one (seen in CI: one dial timing out twice). The limits under test are
      // the daemon's, not tor's, so its dials get time to retry.
      const raw = await RawS2s.dial(onion, { socksPort: net.clients[1]!.socksPort, credentials, timeoutMs: 150_000 });
      raw.open(onion, fake!.domain);
      return { raw, answer: await raw.opened() };
    }
    /** Opens streams to A until one gets features (the places a flood held are free again). */
    async function admittedAgain(timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { raw, answer } = await openAsFake(alice.onion);
        raw.close();
        if (answer === "features") return;
        if (Date.now() > deadline) throw new Error(`A still refuses streams: ${JSON.stringify(answer)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }

    afterAll(() => {
      console.log(`[federation] d) B's answer times (bob pings carol's server over Tor):\n  ${figures.join("\n  ")}`);
    });

    test("federation d0: baseline of B's answer times (bob's client pings carol's server over federation)", async () => {
      await fakeServer();
      const first = await phases.run("d0 first ping bob -> carol's server (dial and dialback both ways)", () => pingServer(carol.onion, FIRST_CONTACT_MS));
      expect(first.type).toBe("result");
      baseline = await phases.run("d0 baseline pings", () => pingBWhile(() => false, 20));
      expect(baseline.filter((p) => p.type !== "result")).toEqual([]);
      figures.push(`baseline: first ping ${first.ms} ms (connecting), then ${show(baseline)}`);
      console.log(`[federation] d0 ${figures.at(-1)}`);
    });

    // RFC 6120 4.9.3.14 policy-violation; S2sLimits.maxUnauthenticatedPerOnion (8).
    test("federation d1: more than 8 unauthenticated streams to A: the extras get policy-violation; B admits a stream and dialback meanwhile", async () => {
      const tries = 12;
      // 4 streams per circuit, as in d2: 12 rendezvous circuits at once is more than the private
      // network reliably builds under a loaded CI machine (seen: every dial timing out for 150 s).
      // The limit under test counts streams, not circuits.
      const run = Date.now();
      const circuit = (i: number) => ({ username: `d1-${run}-${Math.floor(i / 4)}`, password: "x" });
      const held = await phases.run(`d1 ${tries} unauthenticated streams to A`, () => Promise.all(Array.from({ length: tries }, (_, i) => openAsFake(alice.onion, circuit(i)))));
      try {
        const admitted = held.filter((h) => h.answer === "features").length;
        const refused = held.map((h) => h.answer).filter((a): a is StreamErrorSeen => a !== "features");
        console.log(`[federation] d1 ${tries} streams to A: ${admitted} admitted, refused: ${JSON.stringify(refused.map((r) => `${r.condition}: ${r.text}`))}`);
        expect(admitted).toBeLessThanOrEqual(8);
        expect(refused.length).toBeGreaterThanOrEqual(tries - 8);
        for (const r of refused) expect(r).toMatchObject({ condition: "policy-violation", text: expect.stringMatching(/unauthenticated/) });

        const during = pingBWhile(() => false, 10);
        const b = await openAsFake(carol.onion);
        try {
          expect(b.answer).toBe("features");
          expect(await b.raw.dialback(fake!.domain, carol.onion, legacyDialbackKey())).toMatchObject({ type: "valid" });
        } finally {
          b.raw.close();
        }
        report("d1 8 unauthenticated streams held on A", await during);
      } finally {
        for (const h of held) h.raw.close();
      }
      await phases.run("d1 A admits again once they closed", () => admittedAgain());
    });

    // S2sLimits.maxInboundStreamsPerOnion (32), authenticated or not.
    test("federation d2: more than 32 streams to A (each authenticated by dialback): the next gets policy-violation; B keeps serving", async () => {
      const held: RawS2s[] = [];
      let refusal: StreamErrorSeen | undefined;
      let inboundAtRefusal: number | undefined;
      const key = () => legacyDialbackKey();
      // 4 streams per circuit: a rendezvous circuit per stream (33 at once) is more than the private
      // network reliably builds (dials time out), and the daemon's onions allow ONION_MAX_STREAMS (8)
      // per circuit (tor closes a circuit past it). The limit under test counts streams.
      const run = Date.now();
      let dialed = 0;
      const circuit = () => ({ username: `d2-${run}-${Math.floor(dialed++ / 4)}`, password: "x" });
      try {
        await phases.run("d2 fill A's inbound streams, 4 at a time (one circuit), dialback on each", async () => {
          while (!refusal && held.length < 40) {
            const batch = await Promise.all(Array.from({ length: 4 }, () => openAsFake(alice.onion, circuit())));
            for (const { raw, answer } of batch) {
              if (answer !== "features") {
                raw.close();
                refusal ??= answer;
                continue;
              }
              held.push(raw);
              // Verifications per claimed domain are limited (2): one at a time.
              expect(await raw.dialback(fake!.domain, alice.onion, key())).toMatchObject({ type: "valid" });
            }
          }
          inboundAtRefusal = (await d1.status()).accounts.find((a) => a.onion === alice.onion)?.s2s?.inbound;
        });
        console.log(`[federation] d2 ${held.length} authenticated streams held on A, status says ${inboundAtRefusal} inbound; then ${JSON.stringify(refusal)}`);
        expect(refusal).toMatchObject({ condition: "policy-violation", text: expect.stringMatching(/too many server connections/) });
        expect(held.length).toBeLessThanOrEqual(32);
        expect(inboundAtRefusal).toBe(32);

        const during = pingBWhile(() => false, 10);
        const b = await openAsFake(carol.onion);
        try {
          expect(b.answer).toBe("features");
          expect(await b.raw.dialback(fake!.domain, carol.onion, key())).toMatchObject({ type: "valid" });
        } finally {
          b.raw.close();
        }
        report(`d2 ${held.length} authenticated streams held on A`, await during);
      } finally {
        for (const r of held) r.close();
      }
      await phases.run("d2 A admits again once they closed", () => admittedAgain());
    });

    // RFC 6120 4.9.3.14; S2sLimits.stream.maxStanzaBytes (128 KiB) and maxChildren (64).
    test("federation d3: after dialback as X, a stanza over 128 KiB and one with 65 children get policy-violation; a fresh stream still delivers", async () => {
      const x = fake!;
      const big = `too big ${Date.now()}`;
      const many = `too many children ${Date.now()}`;
      for (const [what, stanza, body] of [
        ["130 KiB", `<message from='mallory@${x.domain}' to='${alice.jid}' type='chat'><body>${big} ${"x".repeat(130 * 1024)}</body></message>`, big],
        ["65 children", `<message from='mallory@${x.domain}' to='${alice.jid}' type='chat'><body>${many}</body>${"<x xmlns='urn:example:flood'/>".repeat(64)}</message>`, many],
      ] as const) {
        const raw = await dialbackAsFake();
        try {
          raw.send(stanza);
          const err = await raw.waitForStreamError();
          console.log(`[federation] d3 a stanza with ${what}: ${err.condition} (${err.text}) after ${err.ms} ms`);
          expect(err.condition).toBe("policy-violation");
          await raw.waitClosed();
        } finally {
          raw.close();
        }
        await nothingArrived(aliceC, body);
      }
      const raw = await dialbackAsFake();
      try {
        const body = `after the oversized ones ${Date.now()}`;
        const from = aliceC.stanzas.length;
        raw.send(`<message from='mallory@${x.domain}' to='${alice.jid}' type='chat'><body>${body}</body></message>`);
        await aliceC.waitFor(`"${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, 30_000, { from });
      } finally {
        raw.close();
      }
    });

    // S2sLimits.stanzasPerSecondPerOnion (50/s, burst 200): A's streams pause, nothing is dropped.
    test("federation d4: X floods A with 600 messages: throttled, all delivered; B answers every ping meanwhile; A serves afterwards", async () => {
      const count = 600;
      const raw = await dialbackAsFake();
      const tag = `flood ${Date.now()}`;
      const isFlood = (el: Element) => el.name === "message" && (el.getChildText("body") ?? "").startsWith(`${tag} `);
      let batch = "";
      for (let i = 0; i < count; i++) batch += `<message from='flooder${i % 10}@${fake!.domain}' to='${alice.jid}' type='chat' id='f${i}'><body>${tag} ${i}</body></message>`;
      const from = aliceC.stanzas.length;
      let arrived = 0;
      const started = Date.now();
      try {
        raw.send(batch);
        const allArrived = aliceC.waitFor(`the last flood message`, (el) => isFlood(el) && el.getChildText("body") === `${tag} ${count - 1}`, 90_000, { from }).then(() => Date.now() - started);
        let floodMs: number | undefined;
        void allArrived.then((ms) => (floodMs = ms)).catch(() => undefined);
        // A's own answer time during the flood, for contrast (bob's stream into A is paused too).
        const aPing = new Promise((r) => setTimeout(r, 1000)).then(() => pingServer(alice.onion, 60_000)).catch((err: Error) => ({ type: `failed: ${err.message.split("\n")[0]}`, ms: NaN }));
        const during = await phases.run(`d4 B's pings while ${count} messages flood A`, () => pingBWhile(() => floodMs === undefined && Date.now() - started < 90_000, 10));
        floodMs = await allArrived;
        arrived = aliceC.all(isFlood, from).length;
        const a = await aPing;
        console.log(`[federation] d4 ${arrived}/${count} flood messages reached alice in ${floodMs} ms (${Math.round((count * 1000) / floodMs)}/s); A's ping from bob during it: ${a.type} after ${a.ms} ms`);
        report(`d4 ${count} messages flood A (${floodMs} ms)`, during);
        expect(arrived).toBe(count);
      } finally {
        raw.close();
      }
      // A still serves: its client answers, and bob's next message arrives.
      expect((await aliceC.ping()).attrs.type).toBe("result");
      const body = `after the flood ${Date.now()}`;
      const aFrom = aliceC.stanzas.length;
      const sent = { client: bobC, from: bobC.stanzas.length };
      bobC.send(`<message to='${alice.jid}' type='chat' id='${bobC.nextId("d4")}'><body>${body}</body></message>`);
      await aliceC.waitFor(`"${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, FIRST_CONTACT_MS, { from: aFrom, sender: sent });
    });

    // S2sLimits.maxPendingSubscriptionsPerPeer (8), src/server/policy.ts; RFC 6121 3.1.3.
    test("federation d5: 20 subscription requests from X's JIDs reach alice 8 at most (now and at a later login); bob's still does", async () => {
      const raw = await dialbackAsFake();
      const x = fake!.domain;
      const fromX = (el: Element) => el.name === "presence" && el.attrs.type === "subscribe" && bare(el.attrs.from).endsWith(`@${x}`);
      const from = aliceC.stanzas.length;
      const marker = `after 20 requests ${Date.now()}`;
      try {
        for (let i = 0; i < 20; i++) raw.send(`<presence from='asker${i}@${x}' to='${alice.jid}' type='subscribe'/>`);
        // Same stream, handled in order: once this arrives, all 20 were handled.
        raw.send(`<message from='asker0@${x}' to='${alice.jid}' type='chat'><body>${marker}</body></message>`);
        await aliceC.waitFor(`"${marker}"`, (el) => el.name === "message" && el.getChildText("body") === marker, 30_000, { from });
      } finally {
        raw.close();
      }
      const seen = aliceC.all(fromX, from).length;
      const later = await login(alice, "rd5");
      await later.ping();
      const atLogin = later.all(fromX).length;
      console.log(`[federation] d5 subscription requests from X: ${seen} reached alice's client, ${atLogin} shown at a later login`);
      expect(seen).toBe(8);
      expect(atLogin).toBe(8);

      // Another domain is not affected: bob cancels his subscription to alice and asks again.
      const aFrom = aliceC.stanzas.length;
      const sent = { client: bobC, from: bobC.stanzas.length };
      bobC.send(`<presence to='${alice.jid}' type='unsubscribe'/>`);
      bobC.send(`<presence to='${alice.jid}' type='subscribe'/>`);
      const req = await aliceC.waitFor("bob's new subscription request", (el) => el.name === "presence" && el.attrs.type === "subscribe" && bare(el.attrs.from) === bob.jid, FIRST_CONTACT_MS, { from: aFrom, sender: sent });
      expect(req.attrs.from).toBe(bob.jid);
    });

    test("federation d6: B answered throughout; at the default log level neither daemon named a peer's onion during the floods", async () => {
      expect((await pingServer(carol.onion)).type).toBe("result");
      for (const [d, peers] of [
        [d1, [bob.onion, fake!.domain]],
        [d2, [alice.onion, carol.onion]],
      ] as const) {
        for (const onion of peers) expect(d.output).not.toContain(onion.replace(/\.onion$/, ""));
      }
      // A figure, not a check: each daemon's resident memory after federating and being flooded.
      for (const d of [d1, d2]) {
        const { pid } = await d.status();
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
        figures.push(`${d.name} RSS after the floods: ${rss ? (Number(rss) / 1024).toFixed(1) : "?"} MB`);
        console.log(`[federation] ${figures[figures.length - 1]}`);
      }
    });
  });

  // Last, because the other scenarios share that tor (the fake server, the flooder's dials): a
  // tor that was just restarted took minutes to build circuits again in one CI run.
  describe("federation e) a tor restart", () => {
    // Tor itself goes away under daemon 2 (not the daemon): the onion disappears with tor's
    // control connection, alice's stream breaks, and the outbox must carry the message over.
    // Bob writes back once his tor is up: his server reaching alice ends her backoff at once.
    test("federation e1: a message sent while bob's tor is down arrives exactly once after tor comes back", async () => {
      const body = `while tor was away ${Date.now()}`;
      const reply = `and I am back ${Date.now()}`;
      const id = aliceC.nextId("tordown");
      const name = d2.client.name;
      await phases.run("e1 stop bob's tor", () => net.stopClient(name));
      const from = aliceC.stanzas.length;
      const bobFrom = bobC.stanzas.length;
      aliceC.send(`<message to='${bob.jid}' type='chat' id='${id}'><body>${body}</body></message>`);
      await aliceC.ping();
      expect(aliceC.all((el) => el.attrs.id === id && isError(el), from)).toEqual([]);
      await phases.run("e1 start bob's tor again; daemon 2 re-adds its onion", async () => {
        await net.startClient(name);
        await d2.waitForStatus("tor ready and the onion published again", (st) => st.tor.state === "ready" && st.accounts.every((a) => a.published === true));
      });
      bobC.send(`<message to='${alice.jid}' type='chat' id='${bobC.nextId("back")}'><body>${reply}</body></message>`);
      const got = await phases.run("e1 the held message arrives", () =>
        bobC.waitFor(`"${body}"`, (el) => el.name === "message" && el.getChildText("body") === body, 300_000),
      );
      await aliceC.waitFor(`"${reply}"`, (el) => el.name === "message" && el.getChildText("body") === reply, 300_000);
      expect(bare(got.attrs.from)).toBe(alice.jid);
      await bobC.ping();
      await aliceC.ping();
      expect(bobC.all((el) => el.name === "message" && el.getChildText("body") === body, bobFrom)).toHaveLength(1);
      expect(aliceC.all((el) => el.name === "message" && el.getChildText("body") === reply, from)).toHaveLength(1);
      expect(aliceC.all((el) => el.attrs.id === id && isError(el), from)).toEqual([]);
    }, 720_000);
  });

  strace.test("federation: over the whole run (restart included), neither daemon asked DNS or connected outside loopback (strace)", async () => {
    await Promise.all([d1.stop("SIGTERM"), d2.stop("SIGTERM")]);
    for (const d of [d1, d2]) {
      const report = d.networkReport();
      console.log(`[federation] ${d.name} strace: ${JSON.stringify(report)}`);
      expect(report.connectPorts).toContain(d.client.controlPort);
      expect(report).toMatchObject({ dnsSends: 0, dnsConnects: [], resolverConnects: [], nonLoopback: [] });
    }
  });
}
