// The TypeScript face of purple_bridge.node: a headless libpurple core hosted in this Node
// process (one per process: libpurple is a singleton). Tests and the demo drive the very XMPP
// code Pidgin uses through it, with our plugin loaded. This file is the contract between the
// addon (native/bridge/), its loader (src/bridge/purple-bridge.ts) and the test helper that
// runs a bridge in a child process (test/support/bridge-process.ts).

/** libpurple names an account by (username, protocol id). */
export interface AccountRef {
  username: string;
  /** Default "prpl-jabber". */
  protocol?: string;
}

export type ConnectionState = "disconnected" | "connecting" | "connected";

export interface AccountInfo {
  username: string;
  protocol: string;
  alias: string | null;
  /** Enabled for this UI (libpurple's per-UI "auto-login"). */
  enabled: boolean;
  state: ConnectionState;
}

export type SettingValue = string | number | boolean;

export interface PluginInfo {
  id: string;
  name: string;
  version: string;
  path: string;
  loaded: boolean;
  /** Labels of the plugin's actions (Tools → Plugin actions in Pidgin). */
  actions: string[];
}

export interface BuddyInfo {
  name: string;
  alias: string | null;
  group: string | null;
  online: boolean;
}

export interface BridgeOptions {
  /** libpurple's user dir (accounts.xml, prefs.xml, blist.xml): like ~/.purple. */
  userDir: string;
  /** Extra plugin search paths (probed at start; plugins are loaded with loadPlugin). */
  pluginDirs?: string[];
  /** libpurple debug output to stderr. */
  debug?: boolean;
  /** The UI id libpurple keeps per-UI settings under (enabled state). Default "purple-onion-bridge". */
  ui?: string;
  /**
   * Leave /purple/network/map_ports and /purple/network/auto_ip to libpurple: its defaults (FALSE
   * for a new user since 2.14.5, TRUE before) or what prefs.xml and setPref say. By default the
   * bridge sets both FALSE before libpurple starts, so that tests never leave 127.0.0.1.
   */
  libpurpleNetworkDefaults?: boolean;
}

/** Everything libpurple tells the host, as events. `account` is always the account's ref. */
export interface BridgeEvents {
  "account-added": { account: Required<AccountRef> };
  "account-removed": { account: Required<AccountRef> };
  "account-enabled": { account: Required<AccountRef> };
  "account-disabled": { account: Required<AccountRef> };
  "account-connecting": { account: Required<AccountRef> };
  "signed-on": { account: Required<AccountRef> };
  "signed-off": { account: Required<AccountRef> };
  /** `reason` is libpurple's PurpleConnectionError number, `description` its text. */
  "connection-error": { account: Required<AccountRef>; reason: number; description: string };
  /** `text` with markup stripped; `who` as libpurple gives it (usually a full JID). */
  "received-im": { account: Required<AccountRef>; who: string; text: string; flags: number };
  "sent-im": { account: Required<AccountRef>; to: string; text: string };
  "buddy-signed-on": { account: Required<AccountRef>; buddy: string };
  "buddy-signed-off": { account: Required<AccountRef>; buddy: string };
  "buddy-added": { account: Required<AccountRef>; buddy: string };
  /** A contact asks to see our presence: answer with respondAuthorization(id, ...). Withdrawn by libpurple (e.g. the account went offline): "request-closed" with the same id. */
  "authorization-requested": { id: number; account: Required<AccountRef>; who: string; message: string | null };
  /** purple_notify_* from libpurple or a plugin. */
  notify: { kind: "message" | "formatted" | "email" | "userinfo" | "uri" | "other"; level: "error" | "warning" | "info" | null; title: string | null; primary: string | null; secondary: string | null; text: string | null };
  /**
   * purple_request_* from libpurple or a plugin. `kind` "input" has `defaultValue`; "choice" and
   * "action" have `choices` (labels, in order); "fields" has `fields` (id → current value).
   * Answer with answerRequest(id, ...) or leave it (closed when the requester cancels).
   * "file" and "folder" have the suggested path in `defaultValue`. Ids are shared with
   * authorization requests (one counter), not with file transfers.
   */
  request: { id: number; kind: "input" | "choice" | "action" | "fields" | "file" | "folder"; title: string | null; primary: string | null; secondary: string | null; defaultValue?: string | null; choices?: string[]; fields?: Record<string, SettingValue | null> };
  /** A request or authorization request is gone: answered, or withdrawn by libpurple. */
  "request-closed": { id: number };
  /** `room` is the conversation's name (for XMPP the room's bare JID), `who` the sender's nick. */
  "received-chat": { account: Required<AccountRef>; room: string; who: string; text: string };
  "chat-joined": { account: Required<AccountRef>; room: string };
  /** We are out of the room: leaveChat, close(), a kick, or the room gone. No chat-user-left follows for those still in it. */
  "chat-left": { account: Required<AccountRef>; room: string };
  /**
   * An occupant is in a room we are in: `nick` its nick there (ours too). `newArrival` false for
   * those already in the room when we joined (chat-joined comes before them), true for later joins.
   */
  "chat-user-joined": { account: Required<AccountRef>; room: string; nick: string; newArrival: boolean };
  /**
   * An occupant left a room we are still in. A nick change (libpurple's chat-buddy-renamed) is
   * neither a leave nor a join and has no event yet: chatUsers lists the new nick.
   */
  "chat-user-left": { account: Required<AccountRef>; room: string; nick: string };
  /**
   * File transfer progress: status is libpurple's PurpleXferStatusType name in lower case
   * ("not_started", "accepted", "started", "done", "cancel_local", "cancel_remote", "unknown").
   * `id` numbers transfers (its own counter); an incoming one first shows up with "not_started".
   */
  /** After close(): every event libpurple sent before (signed-off…) has been delivered. The last event. */
  closed: Record<string, never>;
  xfer: { id: number; account: Required<AccountRef>; who: string; direction: "send" | "receive"; filename: string | null; size: number; bytesSent: number; status: string };
}

export type BridgeEventName = keyof BridgeEvents;

/** What the loader exposes (src/bridge/purple-bridge.ts). */
export interface Bridge {
  /** libpurple's version, "2.14.12". */
  readonly libpurpleVersion: string;
  on<E extends BridgeEventName>(event: E, fn: (data: BridgeEvents[E]) => void): this;
  off<E extends BridgeEventName>(event: E, fn: (data: BridgeEvents[E]) => void): this;

  /**
   * Connect the accounts enabled for this UI, as saved in accounts.xml (libpurple's
   * purple_accounts_restore_current_statuses). Call it once, after loading plugins: like Pidgin,
   * a plugin must be loaded before saved accounts come online. Until start(), saved accounts stay
   * offline; setEnabled(ref, true) connects an account at once, started or not. Idempotent.
   */
  start(): void;

  /** Load a plugin by file path (a .so); returns its info. Throws with libpurple's reason. */
  loadPlugin(path: string): PluginInfo;
  /** Unload by plugin id; false when it was not loaded or refused to unload. */
  unloadPlugin(id: string): boolean;
  plugins(): PluginInfo[];
  runPluginAction(pluginId: string, label: string): void;

  /** libpurple prefs (plugins keep theirs under /plugins/core/<id>/...). */
  getPref(name: string): SettingValue | string[] | null;
  setPref(name: string, value: SettingValue): void;

  accounts(): AccountInfo[];
  /** Creates and adds (not enabled). Throws if it exists. */
  addAccount(ref: AccountRef): AccountInfo;
  removeAccount(ref: AccountRef): void;
  /** Account settings by type: a JS string, integer or boolean. null when unset. */
  getSetting(ref: AccountRef, name: string, type: "string" | "int" | "bool"): SettingValue | null;
  setSetting(ref: AccountRef, name: string, value: SettingValue): void;
  setPassword(ref: AccountRef, password: string, remember?: boolean): void;
  /** Renames the account (user@domain/resource), as Pidgin's account editor does; refs use the new name after. */
  setUsername(ref: AccountRef, username: string): void;
  setEnabled(ref: AccountRef, enabled: boolean): void;
  /**
   * Write now every file libpurple has a save pending for (accounts.xml, blist.xml, prefs.xml,
   * status.xml, pounces.xml, smileys.xml): libpurple schedules each save 5 s after a change and has
   * no public "save now"; flush runs those scheduled saves early (the same code, each file written
   * atomically through a temporary file). When flush returns, every change made before it is on
   * disk. Returns how many files were written.
   */
  flush(): number;

  sendIm(ref: AccountRef, to: string, text: string): void;
  addBuddy(ref: AccountRef, who: string, alias?: string, group?: string): void;
  buddies(ref: AccountRef): BuddyInfo[];
  respondAuthorization(id: number, accept: boolean): void;
  /**
   * For "input", "file" and "folder": a string; "choice"/"action": the index; "fields": id → value
   * (string, integer, boolean, or a choice index). null cancels (an "action" request is closed
   * without calling any action). Throws "no such request: …" for an unknown or closed id.
   */
  answerRequest(id: number, answer: string | number | Record<string, SettingValue> | null): void;

  joinChat(ref: AccountRef, room: string, nick: string): void;
  sendChat(ref: AccountRef, room: string, text: string): void;
  /** The nicks of the room's occupants, ours included, sorted. Throws "not in chat room …" unless we are in it. */
  chatUsers(ref: AccountRef, room: string): string[];
  leaveChat(ref: AccountRef, room: string): void;
  sendFile(ref: AccountRef, who: string, filePath: string): void;
  /** Accept an incoming transfer (the xfer event's id) into `destPath`, or refuse it (null). */
  acceptFile(id: number, destPath: string | null): void;

  /**
   * The account's icon from the bytes of an image file (purple_buddy_icons_set_account_icon: for
   * XMPP a vCard photo, XEP-0153, announced by hash in presence, and XEP-0084 with PEP); null clears it.
   */
  setIcon(ref: AccountRef, imagePath: string | null): void;
  /** Idle since `idleSeconds` ago (purple_presence_set_idle on the account's presence); 0: not idle. */
  setIdle(ref: AccountRef, idleSeconds: number): void;

  /**
   * Quit libpurple (signs accounts off, saves files) and stop driving GLib. While open, the bridge
   * keeps the Node process alive (like a listening server); after close() it may exit. Events
   * queued during the quit (signed-off…) are still delivered. A process can open one bridge, once.
   */
  close(): void;
}

/** Every event name, for hosts that forward them all (test/support/bridge-child.ts). */
const EVENT_NAMES: Record<BridgeEventName, true> = {
  "account-added": true,
  "account-removed": true,
  "account-enabled": true,
  "account-disabled": true,
  "account-connecting": true,
  "signed-on": true,
  "signed-off": true,
  "connection-error": true,
  "received-im": true,
  "sent-im": true,
  "buddy-signed-on": true,
  "buddy-signed-off": true,
  "buddy-added": true,
  "authorization-requested": true,
  notify: true,
  request: true,
  "request-closed": true,
  "received-chat": true,
  "chat-joined": true,
  "chat-left": true,
  "chat-user-joined": true,
  "chat-user-left": true,
  xfer: true,
  closed: true,
};
export const BRIDGE_EVENT_NAMES = Object.keys(EVENT_NAMES) as BridgeEventName[];

/** The Bridge methods (everything but events and the version), by name. */
export type BridgeMethod = Exclude<
  { [K in keyof Bridge]: Bridge[K] extends (...args: never[]) => unknown ? K : never }[keyof Bridge],
  "on" | "off"
>;
