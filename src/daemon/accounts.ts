// Account lifecycle behind the control socket: create (onion key, JID,
// password), list, remove, reset the password.
import { randomBytes } from "node:crypto";
import type { XmppServer } from "../server/xmpp-server.js";
import type { AccountRecord, Store } from "../store/store.js";
import { generateOnionSeed, onionAddressFromSeed } from "../tor/onion-address.js";
import { normalizeLocalpart, parseJid } from "../xmpp/jid.js";
import { randomPassword } from "../xmpp/sasl/password.js";
import { deriveStoredCredentials } from "../xmpp/sasl/scram.js";
import {
  ControlError,
  ERROR_CODES,
  requireStringArg,
  type AccountAddResult,
  type AccountChangedEvent,
  type AccountEnsureResult,
  type AccountListResult,
  type AccountRemoveResult,
  type AccountResetPasswordResult,
} from "./control-protocol.js";
import type { AccountOnions } from "./account-onions.js";
import type { Logger } from "./logger.js";
import { tlsIdentityKey } from "../s2s/tls-identities.js";

/** A client's stable key for one of its accounts (account.ensure). */
const LINK_KEY = /^[A-Za-z0-9._-]{16,128}$/;

/** A localpart that says nothing about its owner: the default for a new onion identity. */
function randomLocalpart(): string {
  return `u${randomBytes(5).toString("hex")}`;
}

export class AccountService {
  constructor(
    private readonly store: Store,
    private readonly server: XmppServer,
    private readonly onions: AccountOnions | undefined,
    private readonly port: () => number,
    private readonly announce: (event: AccountChangedEvent) => void,
    private readonly log: Logger,
  ) {}

  /** Serve every stored account. */
  async loadAll(): Promise<void> {
    for (const a of this.store.accounts.list()) {
      this.server.addHost(a.localpart, a.domain);
      await this.onions?.add({ domain: a.domain, seed: this.seedOf(a.jid) });
    }
  }

  private seedOf(jid: string): Buffer {
    const seed = this.store.keys.getOnionSeed(jid);
    if (!seed) throw new Error(`the onion key of ${jid} is missing from the store`);
    return seed;
  }

  async add(args: Record<string, unknown>): Promise<AccountAddResult> {
    const created = await this.create(this.localpartArg(requireStringArg(args, "localpart")));
    return { jid: created.jid, host: "127.0.0.1", port: this.port(), password: created.password, onion: created.domain };
  }

  /**
   * account.ensure: the account linked to the client's stable `key`, made (with its onion) the
   * first time. Idempotent: the same key gives the same account, its password only when created
   * (a client that lost it asks for account.reset-password).
   */
  async ensure(args: Record<string, unknown>): Promise<AccountEnsureResult> {
    const key = requireStringArg(args, "key");
    if (!LINK_KEY.test(key)) throw new ControlError(ERROR_CODES.BAD_REQUEST, "args.key must be 16 to 128 characters of letters, digits, '.', '_' or '-'");
    const linked = this.store.links.get(key);
    const existing = linked === undefined ? undefined : this.store.accounts.get(linked);
    if (existing) return { jid: existing.jid, host: "127.0.0.1", port: this.port(), onion: existing.domain, created: false };
    const wanted = args.localpart === undefined ? randomLocalpart() : this.localpartArg(requireStringArg(args, "localpart"));
    const created = await this.create(wanted, key);
    return { jid: created.jid, host: "127.0.0.1", port: this.port(), onion: created.domain, created: true, password: created.password };
  }

  private localpartArg(raw: string): string {
    const localpart = normalizeLocalpart(raw);
    if (!localpart)
      throw new ControlError(ERROR_CODES.INVALID_LOCALPART, `"${raw}" cannot be the name part of a JID: use letters, digits, '.', '-' or '_', without @ / : < > ' " & or spaces`);
    return localpart;
  }

  /** A new account with a new onion key and password, linked to `linkKey` if given, then served. */
  private async create(localpart: string, linkKey?: string): Promise<{ jid: string; domain: string; password: string }> {
    if (this.store.accounts.list().some((a) => a.localpart === localpart))
      throw new ControlError(ERROR_CODES.ACCOUNT_EXISTS, `an account named "${localpart}" already exists here: see 'purple-onion account list'`);
    const seed = generateOnionSeed();
    const domain = onionAddressFromSeed(seed);
    const password = randomPassword();
    const record: AccountRecord = { jid: `${localpart}@${domain}`, localpart, domain, createdAt: Date.now(), credentials: deriveStoredCredentials(password) };
    // The key, the link and the account are one unit: never an account without its onion key.
    this.store.transaction(() => {
      this.store.accounts.create(record);
      this.store.keys.setOnionSeed(record.jid, seed);
      if (linkKey !== undefined) this.store.links.link(linkKey, record.jid);
    });
    this.server.addHost(localpart, domain);
    await this.onions?.add({ domain, seed });
    this.log.info("account added", { jid: record.jid });
    this.announce({ jid: record.jid, change: "added" });
    return { jid: record.jid, domain, password };
  }

  list(): AccountListResult {
    return {
      accounts: this.store.accounts.list().map((a) => ({
        jid: a.jid,
        host: "127.0.0.1",
        port: this.port(),
        onion: a.domain,
        createdAt: new Date(a.createdAt).toISOString(),
      })),
    };
  }

  async remove(args: Record<string, unknown>): Promise<AccountRemoveResult> {
    const account = this.find(requireStringArg(args, "jid"));
    await this.onions?.remove(account.domain);
    this.server.removeHost(account.domain);
    // The onion's TLS identity (s2s/tls-identities.ts) goes with the account that named it.
    this.store.transaction(() => {
      this.store.accounts.remove(account.jid);
      this.store.settings.delete(tlsIdentityKey(account.domain));
    });
    this.log.info("account removed", { jid: account.jid });
    this.announce({ jid: account.jid, change: "removed" });
    return { jid: account.jid };
  }

  resetPassword(args: Record<string, unknown>): AccountResetPasswordResult {
    const account = this.find(requireStringArg(args, "jid"));
    const password = randomPassword();
    this.store.accounts.setCredentials(account.jid, deriveStoredCredentials(password));
    this.log.info("account password reset", { jid: account.jid });
    this.announce({ jid: account.jid, change: "password-reset" });
    return { jid: account.jid, password };
  }

  /** Accepts a bare JID or just the localpart (the name given to `account add`). */
  find(given: string): AccountRecord {
    const asJid = given.includes("@") ? parseJid(given)?.bare().toString() : undefined;
    const localpart = given.includes("@") ? undefined : normalizeLocalpart(given);
    const account = this.store.accounts.list().find((a) => a.jid === asJid || a.localpart === localpart);
    if (!account) throw new ControlError(ERROR_CODES.NO_SUCH_ACCOUNT, `no account ${given} here: see 'purple-onion account list'`);
    return account;
  }
}

