// Federation with a real Prosody 0.12 + mod_onions on the private Tor network
// (prosody-peer.ts): two Prosody peers give the baseline (how many Tor streams
// a chat costs between two stock servers), then a purple-onion daemon talks to
// one of them: first contact from each side, subscriptions, a Prosody restart,
// mod_onions' bugs, and Prosody with its default (encrypted) s2s settings.
//
// Run by test/tor/tornet.test.ts on its network. Only these (a bare -t prosody also picks
// tests of group chat over tor whose titles name "<prosody onion>"):
//   node --experimental-vm-modules node_modules/jest/bin/jest.js --runInBand dist/test/tor/tornet.test.js -t 'prosody [a-e][0-9]*:'
//
//   Prosody p1 (client1) ── baseline ── Prosody p2 (client2) ── b-d ── our daemon (client1)
//   Prosody p3 (client2, STARTTLS required) ── e ── our daemon
import { jest } from "@jest/globals";
import type { StatusResult } from "../../src/daemon/control-protocol.js";
import type { Element } from "../../src/xmpp/xml.js";
import { bare, FedClient, FedDaemon, Phases, type FedAccount } from "./federation.js";
import { prosodyAccount, startProsodyPeer, waitReachable, type ProsodyPeer, type ProsodyPeerOptions } from "./prosody-peer.js";
import { requires } from "./requires.js";
import { unpublishedOnion } from "./s2s-raw.js";
import { TorStreamCounter } from "./tor-stream-counter.js";
import type { TorNet } from "./tornet/tornet.js";

/** First contact between two servers over Tor: dial, dialback callback, stanza. */
const FIRST_CONTACT_MS = 90_000;

const isError = (el: Element) => el.attrs.type === "error";
const withBody = (body: string) => (el: Element) => el.name === "message" && el.getChildText("body") === body;

export function prosodyScenarios(getNet: () => TorNet): void {
  jest.setTimeout(300_000);
  const strace = requires("strace");
  const phases = new Phases("prosody");
  let net: TorNet;
  let counters: TorStreamCounter[] = [];
  const peers: ProsodyPeer[] = [];
  const clients: FedClient[] = [];
  let daemon: FedDaemon | undefined;
  /** SUCCEEDED streams between two Prosody peers for one chat each way (scenario a). */
  let baseline: number | undefined;

  const login = async (account: FedAccount, resource: string) => {
    const c = await FedClient.login(account, resource);
    clients.push(c);
    // RFC 6121 2.1.6: only a resource that asked for the roster is "interested"; Prosody sends
    // subscription approvals and roster pushes to those alone.
    const id = c.nextId("roster");
    c.send(`<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`);
    const roster = await c.waitFor("the roster", (el) => el.name === "iq" && el.attrs.id === id, 10_000);
    if (roster.attrs.type !== "result") throw new Error(`${account.jid} could not get its roster: ${roster.toString()}`);
    return c;
  };
  async function peer(name: string, opts: Omit<ProsodyPeerOptions, "client"> & { clientIndex: number }): Promise<ProsodyPeer> {
    const p = await phases.run(`start Prosody ${name} on ${net.clients[opts.clientIndex]!.name} and publish its onion`, () =>
      startProsodyPeer({ ...opts, client: net.clients[opts.clientIndex]! }),
    );
    peers.push(p);
    await phases.run(`Prosody ${name}'s onion reachable through both tors`, () => waitReachable(p.onion, net.clients.slice(0, 2)));
    return p;
  }
  /** Streams the onion services accepted between `a` (its server's tor is client a.index) and `b`, since the marks. */
  function streamsBetween(a: { onion: string; index: number }, b: { onion: string; index: number }, marks: number[]): { total: number; shown: string } {
    const ab = counters[a.index]!.succeeded(b.onion, marks[a.index]);
    const ba = counters[b.index]!.succeeded(a.onion, marks[b.index]);
    const attempts = counters[a.index]!.newStreams(b.onion, marks[a.index]) + counters[b.index]!.newStreams(a.onion, marks[b.index]);
    const shown = `${ab} + ${ba} (attempts ${attempts})\n${counters[a.index]!.describe(b.onion, marks[a.index])}\n${counters[b.index]!.describe(a.onion, marks[b.index])}`;
    return { total: ab + ba, shown };
  }
  /** `sender` writes to `receiver`'s bare JID; it arrives from the sender's full JID, with no bounce. */
  async function chat(sender: FedClient, receiver: FedClient, tag: string, timeoutMs = FIRST_CONTACT_MS): Promise<Element> {
    // A session that a restart closed would swallow the message without a word.
    for (const c of [sender, receiver]) if (c.raw.closed) throw new Error(`${c.account.jid}'s c2s session (${c.jid}) is closed`);
    const body = `${tag} ${sender.account.jid} -> ${receiver.account.jid} ${Date.now()}`;
    const from = receiver.stanzas.length;
    const sent = { client: sender, from: sender.stanzas.length };
    sender.send(`<message to='${receiver.account.jid}' type='chat' id='${sender.nextId(tag)}'><body>${body}</body></message>`);
    const got = await receiver.waitFor(`"${body}"`, withBody(body), timeoutMs, { from, sender: sent }).catch(withPeerLogs);
    expect(got.attrs.from).toBe(sender.jid);
    expect([receiver.account.jid, receiver.jid]).toContain(got.attrs.to);
    expect(got.attrs.type).toBe("chat");
    return got;
  }
  /** A failure's message with the end of each Prosody peer's log: the logs go with stop(). */
  function withPeerLogs(err: Error): never {
    err.message += peers.map((p) => `\n--- Prosody ${p.onion.slice(0, 8)}… log tail ---\n${p.logTail(25)}`).join("");
    throw err;
  }
  /** RFC 6121 3.1: a asks, b approves and asks back, a approves; each then sees the other's available presence. */
  async function subscribeBothWays(a: FedClient, b: FedClient): Promise<void> {
    const noBounce = { failOn: isError };
    let bFrom = b.stanzas.length;
    a.send(`<presence to='${b.account.jid}' type='subscribe'/>`);
    const req = await b.waitFor(`${a.account.jid}'s subscription request`, (el) => el.name === "presence" && el.attrs.type === "subscribe", FIRST_CONTACT_MS, { from: bFrom, sender: { client: a, from: a.stanzas.length }, ...noBounce });
    expect(bare(req.attrs.from)).toBe(a.account.jid);

    const aFrom = a.stanzas.length;
    b.send(`<presence to='${a.account.jid}' type='subscribed'/>`);
    b.send(`<presence to='${a.account.jid}' type='subscribe'/>`);
    const approved = await a.waitFor(`${b.account.jid}'s approval`, (el) => el.name === "presence" && el.attrs.type === "subscribed", FIRST_CONTACT_MS, { from: aFrom, ...noBounce });
    expect(bare(approved.attrs.from)).toBe(b.account.jid);
    await a.waitFor(`${b.account.jid}'s subscription request`, (el) => el.name === "presence" && el.attrs.type === "subscribe" && bare(el.attrs.from) === b.account.jid, 30_000, { from: aFrom, ...noBounce });
    await a.waitFor(`${b.account.jid}'s available presence`, (el) => el.name === "presence" && el.attrs.type === undefined && el.attrs.from === b.jid, 30_000, { from: aFrom, ...noBounce });

    bFrom = b.stanzas.length;
    a.send(`<presence to='${b.account.jid}' type='subscribed'/>`);
    await b.waitFor(`${a.account.jid}'s approval`, (el) => el.name === "presence" && el.attrs.type === "subscribed" && bare(el.attrs.from) === a.account.jid, 30_000, { from: bFrom, ...noBounce });
    await b.waitFor(`${a.account.jid}'s available presence`, (el) => el.name === "presence" && el.attrs.type === undefined && el.attrs.from === a.jid, 30_000, { from: bFrom, ...noBounce });
  }
  const s2sOf = (s: StatusResult, onion: string) => s.accounts.find((a) => a.onion === onion)?.s2s;

  beforeAll(async () => {
    net = getNet();
    phases.explainFailuresWith(() => `--- the private Tor network: ${net.health()}`);
    counters = await Promise.all(net.clients.slice(0, 2).map((c) => TorStreamCounter.start(c)));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of counters) c.close();
    await Promise.all(peers.map((p) => p.stop()));
    await daemon?.dispose();
    console.log(`[prosody] phases:\n${phases.summary()}`);
  }, 60_000);

  requires("prosody-onions").describe("Prosody 0.12 + mod_onions as a peer", () => {
    let p1: ProsodyPeer; // on client1: the baseline's other side
    let p2: ProsodyPeer; // on client2: the peer of our daemon (on client1)

    beforeAll(async () => {
      [p1, p2] = await Promise.all([
        peer("p1", { clientIndex: 0, accounts: ["alice"] }),
        peer("p2", { clientIndex: 1, accounts: ["alice", "carol", "dave", "erin"] }),
      ]);
    }, 120_000);

    test("prosody a: baseline: two Prosody peers chat each way over Tor in 2 streams", async () => {
      const [a1, a2] = await phases.run("log in to both Prosody peers", () => Promise.all([login(prosodyAccount(p1, "alice"), "pa"), login(prosodyAccount(p2, "alice"), "pa")]));
      const marks = counters.map((c) => c.mark());
      await phases.run("a p1 -> p2 (first contact)", () => chat(a1, a2, "baseline"));
      await phases.run("a p2 -> p1", () => chat(a2, a1, "baseline", 30_000));
      const { total, shown } = streamsBetween({ onion: p1.onion, index: 0 }, { onion: p2.onion, index: 1 }, marks);
      baseline = total;
      console.log(`[prosody] a baseline: Tor streams between two Prosody peers for a chat each way: ${total} = ${shown}`);
      expect(total).toBeGreaterThanOrEqual(1);
      expect(total).toBeLessThanOrEqual(2);
    });

    describe("prosody b-d: a purple-onion daemon and Prosody with encryption off", () => {
      let ours: FedAccount[] = [];
      // The latest session of each: restarts (ours in d2, Prosody's in c) close them.
      let ana: FedClient;
      let ben: FedClient;
      let carol: FedClient;
      let dave: FedClient;
      beforeAll(async () => {
        daemon = new FedDaemon("daemon", net, 0, strace.missing === undefined);
        await phases.run("start our daemon on client1", () => daemon!.start());
        // Fresh domains for each first contact: one account (one onion) per direction.
        ours = [await daemon.addAccount("ana"), await daemon.addAccount("ben")];
        await phases.run("publish ana's and ben's onions", () => daemon!.waitPublished());
        await phases.run("ana's and ben's onions reachable through both tors", () => Promise.all(ours.map((a) => waitReachable(a.onion, net.clients.slice(0, 2)))));
      }, 180_000);

      /**
       * `first` makes first contact (its server dials): a message each way, subscriptions both
       * ways; the Tor streams between our onion and Prosody's, held to the baseline.
       */
      async function firstContact(tag: string, first: FedClient, second: FedClient, ourOnion: string, who: string): Promise<void> {
        const marks = counters.map((c) => c.mark());
        await phases.run(`${tag} ${first.account.jid.split("@")[0]} -> ${second.account.jid.split("@")[0]} (${who} first contact)`, () => chat(first, second, tag));
        await phases.run(`${tag} ${second.account.jid.split("@")[0]} -> ${first.account.jid.split("@")[0]}`, () => chat(second, first, tag, 30_000));
        await phases.run(`${tag} subscriptions both ways (the first contact asks)`, () => subscribeBothWays(first, second).catch(withPeerLogs));
        const { total, shown } = streamsBetween({ onion: ourOnion, index: 0 }, { onion: p2.onion, index: 1 }, marks);
        console.log(`[prosody] ${tag} Tor streams between our daemon and Prosody (${who} first contact): ${total} (baseline ${baseline}) = ${shown}`);
        expect(total).toBeGreaterThanOrEqual(1);
        expect(total).toBeLessThanOrEqual(baseline ?? 2);
      }

      test("prosody b1: we make first contact: messages both ways, subscriptions both ways, no more Tor streams than the baseline", async () => {
        [ana, carol] = await Promise.all([login(ours[0]!, "ra"), login(prosodyAccount(p2, "carol"), "pc")]);
        await firstContact("b1", ana, carol, ana.account.onion, "our");
      });

      test("prosody b2: Prosody makes first contact: messages both ways, subscriptions both ways, no more Tor streams than the baseline", async () => {
        [ben, dave] = await Promise.all([login(ours[1]!, "rb"), login(prosodyAccount(p2, "dave"), "pd")]);
        await firstContact("b2", dave, ben, ben.account.onion, "Prosody's");
      });

      strace.test("prosody b3: our daemon asked no DNS and connected nowhere but loopback (strace)", () => {
        const report = daemon!.networkReport();
        expect(report.connectPorts).toContain(daemon!.client.socksPort);
        expect(report).toMatchObject({ dnsSends: 0, dnsConnects: [], resolverConnects: [], nonLoopback: [] });
      });

      // Durable delivery: rows wait in our outbox while the peer is down and leave it only
      // when the peer confirms them (src/s2s/outbox.ts).
      test("prosody c: Prosody restarted mid-chat: what we sent while it was down arrives exactly once, and the chat goes on both ways", async () => {
        const carolAccount = prosodyAccount(p2, "carol");
        const body = `while Prosody was down ${Date.now()}`;
        const sentFrom = ana.stanzas.length;
        await phases.run("c restart Prosody p2; ana writes to carol while it is down", () =>
          p2.restart(async () => {
            ana.send(`<message to='${carolAccount.jid}' type='chat' id='${ana.nextId("down")}'><body>${body}</body></message>`);
            // Long enough for a delivery attempt to fail against the stopped Prosody.
            await new Promise((r) => setTimeout(r, 8000));
          }),
        );
        [carol, dave] = await Promise.all([login(carolAccount, "pc2"), login(prosodyAccount(p2, "dave"), "pd2")]);
        await phases.run("c the held message arrives (offline storage or live)", () => carol.waitFor(`"${body}"`, withBody(body), 180_000, { sender: { client: ana, from: sentFrom } }).catch(withPeerLogs));
        // A retry racing the first delivery would show now.
        await new Promise((r) => setTimeout(r, 10_000));
        await carol.ping();
        expect(carol.all(withBody(body))).toHaveLength(1);
        expect(ana.all(isError, sentFrom)).toEqual([]);
        await phases.run("c carol -> ana after the restart", () => chat(carol, ana, "c-after"));
        await phases.run("c ana -> carol after the restart", () => chat(ana, carol, "c-after"));
      });

      // mod_onions ignores SOCKS errors (PROSODY.md): a failed dial becomes a session on a socket
      // tor already closed. Whatever it leaves behind must not stop it, or us, from federating.
      test("prosody d1: Prosody writes to an onion nobody publishes; then to us: delivered", async () => {
        const erin = await login(prosodyAccount(p2, "erin"), "pe");
        const nowhere = `someone@${unpublishedOnion()}`;
        const from = erin.stanzas.length;
        erin.send(`<message to='${nowhere}' type='chat' id='nowhere-1'><body>to nobody</body></message>`);
        const bounce = await erin.waitFor("a bounce of the message to nowhere", (el) => el.attrs.id === "nowhere-1" && isError(el), 60_000, { from }).catch((err: Error) => err);
        console.log(`[prosody] d1 Prosody's message to an unpublished onion: ${bounce instanceof Error ? `no bounce (${bounce.message.split("\n")[0]})` : bounce.toString()}`);
        await phases.run("d1 erin -> ana afterwards", () => chat(erin, ana, "d1"));
        await phases.run("d1 ana -> erin afterwards", () => chat(ana, erin, "d1"));
      });

      // After our restart, Prosody's tor may still hold our onion's old descriptor: its dials can
      // fail (mod_onions bounces at once) or hang in SOCKS for minutes (mod_onions has no timeout),
      // and with them its dialback callbacks for our streams. Dave retries as a user does.
      test("prosody d2: Prosody writes to us while our daemon is stopped; after our restart a retry arrives, nothing twice, and our stream counts settle", async () => {
        const tag = `d2 ${Date.now()}`;
        const sent: string[] = [];
        const send = () => {
          const body = `${tag} #${sent.length}`;
          sent.push(body);
          dave.send(`<message to='${ours[1]!.jid}' type='chat' id='d2-${sent.length - 1}'><body>${body}</body></message>`);
        };
        const from = dave.stanzas.length;
        const bounced = () => dave.all((el) => (el.attrs.id ?? "").startsWith("d2-") && isError(el), from);
        const logMark = p2.logSize();
        await phases.run("d2 stop our daemon", () => daemon!.stop("SIGTERM"));
        send();
        await new Promise((r) => setTimeout(r, 10_000));
        await phases.run("d2 start our daemon again and publish", async () => {
          await daemon!.start();
          await daemon!.waitPublished();
        });
        [ana, ben] = await Promise.all([login(ours[0]!, "ra2"), login(ours[1]!, "rb2")]);
        const restarted = Date.now();
        const arrived = await phases.run("d2 dave writes to ben until one arrives (a retry after each bounce, or each minute)", async () => {
          let lastSent = 0;
          for (;;) {
            const got = ben.all((el) => el.name === "message" && (el.getChildText("body") ?? "").startsWith(tag));
            if (got.length > 0) return got[0]!;
            if (Date.now() - restarted > 420_000) throw new Error(`nothing dave sent reached ben within 7 min of our restart; ${bounced().length} bounces; Prosody's log:\n${p2.logTail(30)}`);
            if (bounced().length >= sent.length || Date.now() - lastSent > 60_000) {
              send();
              lastSent = Date.now();
            }
            await new Promise((r) => setTimeout(r, 1000));
          }
        });
        expect(bare(arrived.attrs.from)).toBe(dave.account.jid);
        await phases.run("d2 ben -> dave after our restart", () => chat(ben, dave, "d2", FIRST_CONTACT_MS));
        // Prosody queues later messages on the dial it is waiting for: let those come too.
        await new Promise((r) => setTimeout(r, 10_000));
        await ben.ping();
        const copies = sent.map((body) => ben.all(withBody(body)).length);
        const timeouts = p2.log(logMark).split("connection-timeout (stream negotiation took too long)").length - 1;
        console.log(
          `[prosody] d2 dave sent ${sent.length} (1 while we were down), ${bounced().length} bounced (${[...new Set(bounced().map((b) => b.getChild("error")?.getChildElements()[0]?.name))].join(", ")}); ` +
            `copies at ben ${JSON.stringify(copies)}; first arrival ${Math.round((Date.now() - restarted) / 1000)} s after our restart at most; ` +
            `streams of ours Prosody saw closed by our negotiation timeout: ${timeouts}`,
        );
        for (const n of copies) expect(n).toBeLessThanOrEqual(1);
        // Streams Prosody left half-open, or that never authenticated, are closed (negotiation
        // timeout, 60 s): one stream each way for the pair is what remains.
        const settled = await phases.run("d2 ben's s2s streams settle to one each way", () =>
          daemon!.waitForStatus("ben has at most one inbound and one outbound stream", (s) => {
            const s2s = s2sOf(s, ours[1]!.onion);
            return s2s !== undefined && s2s.inbound <= 1 && s2s.outbound <= 1;
          }, 150_000),
        );
        console.log(`[prosody] d2 ben's s2s after the restart: ${JSON.stringify(s2sOf(settled, ours[1]!.onion))}`);
      }, 900_000);

      // A Prosody that hangs (SIGSTOP): tor's onion service still connects to its listening socket
      // (the kernel accepts), so a new stream of ours gets no answer at all. The negotiation
      // timeout (S2sLimits.negotiationTimeoutMs, 60 s) must close it; the outbox delivers once
      // Prosody answers again.
      test("prosody d3: Prosody frozen: our stream that never gets an answer is closed by the negotiation timeout; after the thaw, ana's message arrives", async () => {
        const body = `while Prosody was frozen ${Date.now()}`;
        const from = carol.stanzas.length;
        const outputMark = daemon!.output.length;
        const frozenAt = Date.now();
        p2.freeze();
        try {
          ana.send(`<message to='${carol.account.jid}' type='chat' id='${ana.nextId("frozen")}'><body>${body}</body></message>`);
          // The ping after the message is never answered: the link is given up (iq timeout, 30 s),
          // and the next stream toward the frozen peer waits for a header that never comes.
          await phases.run("d3 a stream of ours toward the frozen Prosody is closed by the negotiation timeout", async () => {
            for (;;) {
              if (daemon!.output.slice(outputMark).includes("did not finish negotiating in time")) return;
              if (Date.now() - frozenAt > 240_000) throw new Error(`no negotiation timeout within 4 min; ana's s2s: ${JSON.stringify(s2sOf(await daemon!.status(), ana.account.onion))}; daemon output:\n${daemon!.output.slice(outputMark).slice(-3000)}`);
              await new Promise((r) => setTimeout(r, 500));
            }
          });
          console.log(`[prosody] d3 negotiation timeout ${Math.round((Date.now() - frozenAt) / 1000)} s into the freeze; ana's s2s then: ${JSON.stringify(s2sOf(await daemon!.status(), ana.account.onion))}`);
        } finally {
          p2.thaw();
        }
        await phases.run("d3 the message arrives after the thaw", () => carol.waitFor(`"${body}"`, withBody(body), 180_000, { from }).catch(withPeerLogs));
        await new Promise((r) => setTimeout(r, 10_000));
        await carol.ping();
        // At least once (outbox-link.ts): a copy sent on a stream that closed before its ping was
        // answered may come again.
        const copies = carol.all(withBody(body), from).length;
        console.log(`[prosody] d3 copies of the message sent into the freeze: ${copies}`);
        expect(copies).toBeGreaterThanOrEqual(1);
        await phases.run("d3 carol -> ana after the thaw", () => chat(carol, ana, "d3-after"));
        await phases.run("d3 ana -> carol after the thaw", () => chat(ana, carol, "d3-after"));
      });

      strace.test("prosody d4: over the whole run (restart included), our daemon asked no DNS and connected nowhere but loopback (strace)", () => {
        const report = daemon!.networkReport();
        console.log(`[prosody] daemon strace: ${JSON.stringify(report)}`);
        expect(report.runs).toBeGreaterThanOrEqual(2);
        expect(report).toMatchObject({ dnsSends: 0, dnsConnects: [], resolverConnects: [], nonLoopback: [] });
      });

      // Prosody's stock s2s: s2s_require_encryption = true, so dialback only after STARTTLS, both
      // ways (its outgoing streams try STARTTLS even when we do not offer it). Our certificate is
      // self-signed: Prosody accepts it for an onion (mod_onions) and authenticates by dialback.
      test("prosody e: Prosody with its default s2s settings (STARTTLS required): messages both ways", async () => {
        const p3 = await peer("p3 (encryption default)", { clientIndex: 1, accounts: ["fay", "gus"], encryption: "default" });
        const zoe = await daemon!.addAccount("zoe");
        await daemon!.waitPublished();
        await waitReachable(zoe.onion, net.clients.slice(0, 2));
        const [zoeC, fay, gus] = await Promise.all([login(zoe, "rz"), login(prosodyAccount(p3, "fay"), "pf"), login(prosodyAccount(p3, "gus"), "pg")]);
        const marks = counters.map((c) => c.mark());
        await phases.run("e zoe -> fay (our first contact)", () => chat(zoeC, fay, "e"));
        await phases.run("e fay -> zoe", () => chat(fay, zoeC, "e", 30_000));
        const { total, shown } = streamsBetween({ onion: zoe.onion, index: 0 }, { onion: p3.onion, index: 1 }, marks);
        console.log(`[prosody] e Tor streams between our daemon and Prosody with STARTTLS (we dialled first): ${total} (baseline ${baseline}) = ${shown}`);
        expect(total).toBeLessThanOrEqual(baseline ?? 2);
        // Prosody's first contact, to a fresh onion of ours.
        const yan = await daemon!.addAccount("yan");
        await daemon!.waitPublished();
        await waitReachable(yan.onion, net.clients.slice(0, 2));
        const yanC = await login(yan, "ry");
        await phases.run("e gus -> yan (Prosody's first contact)", () => chat(gus, yanC, "e"));
        await phases.run("e yan -> gus", () => chat(yanC, gus, "e", 30_000));
      });
    });
  });
}
