// What every test harness needs to know about an XMPP server it drives,
// whichever server it is (Prosody in test/support/prosody.ts, our daemon in
// test/support/daemon.ts). The harness never creates accounts itself: the
// server-specific starter does, and lists them here.

export interface TestAccount {
  /** Bare JID, e.g. "alice@<56 chars>.onion". */
  jid: string;
  password: string;
}

export interface ServerUnderTest {
  /** Loopback address and port of the c2s listener (plain TCP, no TLS). */
  host: string;
  port: number;
  /** Accounts by short name ("alice", "bob"), as conversations refer to them. */
  accounts: Record<string, TestAccount>;
  /** Optional: text appended to failure reports, e.g. the server's log tail. */
  diagnostics?: () => string;
}

/** Split a bare JID into local part and domain. */
export function splitBareJid(jid: string): { local: string; domain: string } {
  const at = jid.indexOf("@");
  if (at <= 0 || at === jid.length - 1 || jid.includes("/")) {
    throw new Error(`"${jid}" is not a bare JID of the form local@domain`);
  }
  return { local: jid.slice(0, at), domain: jid.slice(at + 1) };
}

/** A syntactically valid, never resolvable v3 onion name (56 base32 chars). */
export function fakeOnionDomain(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let name = "";
  for (let i = 0; i < 56; i++) name += alphabet[Math.floor(Math.random() * alphabet.length)];
  return `${name}.onion`;
}
