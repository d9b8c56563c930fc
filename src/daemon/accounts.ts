// Account lifecycle behind the control socket: create (onion key, JID,
// password), list, remove, reset the password.
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
  type AccountListResult,
  type AccountRemoveResult,
  type AccountResetPasswordResult,
} from "./control-protocol.js";
import type { AccountOnions } from "./account-onions.js";
import type { Logger } from "./logger.js";

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
    const raw = requireStringArg(args, "localpart");
    const localpart = normalizeLocalpart(raw);
    if (!localpart)
      throw new ControlError(ERROR_CODES.INVALID_LOCALPART, `"${raw}" cannot be the name part of a JID: use letters, digits, '.', '-' or '_', without @ / : < > ' " & or spaces`);
    if (this.store.accounts.list().some((a) => a.localpart === localpart))
      throw new ControlError(ERROR_CODES.ACCOUNT_EXISTS, `an account named "${localpart}" already exists here: see 'purple-onion account list'`);
    const seed = generateOnionSeed();
    const domain = onionAddressFromSeed(seed);
    const password = randomPassword();
    const record: AccountRecord = { jid: `${localpart}@${domain}`, localpart, domain, createdAt: Date.now(), credentials: deriveStoredCredentials(password) };
    // The key and the account are one unit: never an account without its onion key.
    this.store.transaction(() => {
      this.store.accounts.create(record);
      this.store.keys.setOnionSeed(record.jid, seed);
    });
    this.server.addHost(localpart, domain);
    await this.onions?.add({ domain, seed });
    this.log.info("account added", { jid: record.jid });
    this.announce({ jid: record.jid, change: "added" });
    return { jid: record.jid, host: "127.0.0.1", port: this.port(), password, onion: domain };
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
    this.store.accounts.remove(account.jid);
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

