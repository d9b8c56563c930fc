// Real libpurple (the XMPP code Pidgin uses), as Finch, signs on to our
// daemon's account server and chats. The account is set up the way the issue
// says a user sets up Pidgin by hand: connect server 127.0.0.1, the port,
// "Use encryption if available", and NOT "Allow plaintext auth over
// unencrypted streams" (the server offers SCRAM only). Finch runs in tmux
// with nothing but loopback to talk to.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDaemon, type InProcessDaemon } from "../support/daemon.js";
import { compactText, startFinch, type Finch } from "../support/finch.js";
import { requires } from "../support/requires.js";
import { splitBareJid } from "../support/server-under-test.js";
import { connectClient, type TestClient } from "../support/xmpp-client.js";
import { xml } from "../../src/xmpp/xml.js";


/** Stanzas libpurple logged as received, e.g. `Recv (246): <message ...>`. */
function received(debugLog: string): string[] {
  return [...debugLog.matchAll(/^\(\d\d:\d\d:\d\d\) jabber: Recv \(\d+\): (.*)$/gm)].map((m) => m[1]!);
}

requires("finch", "netns").describe("libpurple (Finch) against purple-onion", () => {
  let daemon: InProcessDaemon;
  let finch: Finch | undefined;
  let bob: TestClient | undefined;

  beforeAll(async () => {
    daemon = await startDaemon(["alice", "bob"]);
  });

  afterAll(async () => {
    await bob?.close();
    await finch?.stop();
    await daemon?.stop();
  });

  // On failure, show what libpurple and the daemon last said.
  async function explained<T>(step: Promise<T>): Promise<T> {
    try {
      return await step;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${msg}\n--- finch debug log (tail) ---\n${finch?.debugTail(30) ?? "(finch not started)"}` +
          `\n--- daemon log (tail) ---\n${daemon.diagnostics?.() ?? ""}`,
      );
    }
  }

  test("signs on with the account set up as in Pidgin's dialog", async () => {
    const alice = daemon.accounts.alice!;
    finch = await startFinch({ jid: alice.jid, password: alice.password, server: { host: daemon.host, port: daemon.port } });
    const f = finch;

    // libpurple logs "Activating keepalive" when the connection reaches
    // PURPLE_CONNECTED (libpurple/connection.c), i.e. signed on; a failed
    // attempt logs "Connection error" and libpurple waits before retrying.
    await explained(
      f.waitFor("sign-on", () => {
        const log = f.debugLog();
        if (/connection: Connection error on/.test(log)) throw new Error("libpurple reported a connection error");
        return /connection: Activating keepalive/.test(log) && daemon.logText().includes("session bound");
      }),
    );

    const log = f.debugLog();
    // The bound JID is the one Finch asked for: <resource>finch</resource>.
    expect(log).toContain(`<jid>${f.fullJid}</jid>`);
    // Debian's libpurple authenticates through Cyrus SASL; it must pick a
    // SCRAM mechanism we offer rather than fall back to PLAIN.
    const mechanism = /<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='([^']+)'/.exec(log)?.[1];
    expect(mechanism).toMatch(/^SCRAM-SHA-(1|256)$/);
    expect(log).not.toMatch(/<failure xmlns=["']urn:ietf:params:xml:ns:xmpp-sasl/);
    // No TLS is offered on this loopback/onion listener; "Use encryption if
    // available" must carry on without it.
    expect(log).not.toContain("<starttls");
    // Initial presence went out and our server sent it back to Finch.
    await explained(
      f.waitFor("Finch's own available presence back from the server", () =>
        received(f.debugLog()).some((s) => s.startsWith("<presence") && s.includes(`from="${f.fullJid}"`)),
      ),
    );
    const errors = received(f.debugLog()).filter((s) => /\stype=["']error["']/.test(s) || s.startsWith("<stream:error"));
    console.log(
      `libpurple signed on: SASL ${mechanism}; error replies from our server: ${errors.length ? `\n${errors.join("\n")}` : "none"}`,
    );
  });

  test("receives bob's message in a conversation window and Finch's typed reply reaches bob", async () => {
    if (!finch) throw new Error("Finch did not start");
    const f = finch;
    const alice = daemon.accounts.alice!;
    const b = daemon.accounts.bob!;
    const bobJid = splitBareJid(b.jid);
    bob = await connectClient({
      host: daemon.host,
      port: daemon.port,
      domain: bobJid.domain,
      username: bobJid.local,
      password: b.password,
      resource: "script",
    });
    await bob.send(xml("presence"));

    const tag = randomBytes(3).toString("hex");
    const hello = `hello alice from bob ${tag}`;
    await bob.send(xml("message", { to: alice.jid, type: "chat", id: `bob-${tag}` }, xml("body", {}, hello)));

    // libpurple got it...
    await explained(
      f.waitFor("bob's message in the debug log", () =>
        received(f.debugLog()).some((s) => s.startsWith("<message") && s.includes(`<body>${hello}</body>`)),
      ),
    );
    // ...and Finch opened a conversation window with bob and shows the text.
    await explained(f.focusWindow(`bob@${bobJid.domain.slice(0, 8)}`));
    await explained(f.waitFor("bob's message on screen", async () => compactText(await f.screen()).includes(compactText(hello))));

    // A person types a reply into that window and presses Enter.
    const reply = `hi bob, finch here ${tag}`;
    await f.type(reply);
    await f.keys("Enter");
    const got = await explained(
      bob.next((s) => s.name === "message" && s.getChildText("body") === reply, 10_000),
    );
    expect(got.attrs.from).toBe(f.fullJid);
    expect(got.attrs.to).toBe(bob.jid);
    expect(got.attrs.type).toBe("chat");
    // And Finch shows its own line in the conversation too.
    await explained(f.waitFor("the reply on screen", async () => compactText(await f.screen()).includes(compactText(reply))));
    // All of it on the one connection Finch opened at sign-on: no drop, no reconnect.
    expect(f.connections()).toBe(1);
  });
});

requires("finch", "netns").describe("libpurple without Cyrus SASL's SCRAM module", () => {
  let daemon: InProcessDaemon;
  let finch: Finch | undefined;
  let empty: string;
  beforeAll(async () => {
    daemon = await startDaemon(["carol"]);
    empty = mkdtempSync(path.join(tmpdir(), "po-nosasl-"));
  });
  afterAll(async () => {
    await finch?.stop();
    await daemon?.stop();
    rmSync(empty, { recursive: true, force: true });
  });

  // What a Pidgin user sees when libsasl2-modules is missing: Cyrus has no SCRAM, so libpurple
  // (auth_cyrus.c) asks whether to allow plaintext authentication, though the server offers
  // none. Nothing is sent either way: no <auth/>, no password.
  test("cannot sign on: libpurple asks to allow plaintext authentication; no password crosses the wire", async () => {
    const carol = daemon.accounts.carol!;
    finch = await startFinch({ jid: carol.jid, password: carol.password, server: { host: daemon.host, port: daemon.port }, env: { SASL_PATH: empty } });
    const f = finch;
    const prompt = await f
      .waitFor("libpurple's question", async () => {
        const text = compactText(await f.screen());
        return /plaintext/i.test(text) ? text : undefined;
      })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${(await f.screen()).join("\n")}\n--- debug log ---\n${f.debugTail(8)}`);
      });
    // "<account> may require plaintext authentication over an unencrypted connection. Allow
    // this and continue authentication?" (squeezed by compactText, overlapped by the debug window)
    expect(prompt).toMatch(/mayrequireplaintext/);
    expect(f.debugLog()).toMatch(/sasl: No worthy mechs found/);
    expect(f.debugLog()).not.toMatch(/<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/);
    expect(daemon.logText()).not.toContain("session bound");
  });
});
