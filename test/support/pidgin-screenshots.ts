// The plugin in Pidgin, as a user meets it, step by step; each step leaves a
// screenshot. test/ui/pidgin.test.ts runs it and checks every step; a reader
// reruns it with
//
//   npm run build && npm run build:native && node dist/test/support/pidgin-screenshots.js [DIR]
//
// (as root: Pidgin runs in a loopback-only network namespace), which writes
// DIR/advanced-tab.png, status-action.png and conversation.png (default DIR:
// docs/screenshots).
//
// The plugin starts the daemon from purple-onion.ini (node and this checkout's
// dist/src/cli/main.js) with the serve_args pref "--tor none": no Tor, so the
// onion account signs on and talks to local accounts only.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { FINCH_UI } from "./finch-config.js";
import { PIDGIN_UI, startPidgin, type Pidgin } from "./pidgin.js";
import { PLUGIN_SO } from "./prerequisites.js";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/test/support). */
export const REPO = path.resolve(here, "../../..");
export const CLI = path.join(REPO, "dist/src/cli/main.js");
export const OPTION_LABEL = "Federate over Tor onion service";
const PLUGIN_PREF = "/plugins/core/core-purple-onion";

/** The clearnet account the user ticks: XMPP on a server that is never contacted (it stays disabled). */
export const CLEARNET_JID = "alice@example.org";

export function clearnetAccountsXml(ui: typeof PIDGIN_UI | typeof FINCH_UI, enabled: boolean): string {
  return `<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
	<account>
		<protocol>prpl-jabber</protocol>
		<name>${CLEARNET_JID}/home</name>
		<password>not-used</password>
		<settings>
			<setting name='connection_security' type='string'>require_tls</setting>
		</settings>
		<settings ui='${ui}'>
			<setting name='auto-login' type='bool'>${enabled ? 1 : 0}</setting>
		</settings>
	</account>
</account>
`;
}

/** purple-onion.ini as scripts/install.sh writes it, for this checkout. */
export function pluginIni(): string {
  return `[runtime]\nnode=${process.execPath}\nentry=${CLI}\n`;
}

/** The plugin's prefs for a test: the daemon without Tor, its data in dataDir, no questions. */
export function pluginTestPrefs(dataDir: string) {
  return {
    [`${PLUGIN_PREF}/data_dir`]: { type: "string", value: dataDir },
    [`${PLUGIN_PREF}/serve_args`]: { type: "string", value: "--tor none --log-level debug" },
    [`${PLUGIN_PREF}/ask_localpart`]: { type: "bool", value: false },
    [`${PLUGIN_PREF}/stop_daemon_on_quit`]: { type: "bool", value: true },
  } as const;
}

export interface TourResult {
  /** Screenshots written. */
  screenshots: string[];
  /** The steps that went as expected, in order. */
  done: string[];
}

export async function startPidginWithPlugin(dataDir: string): Promise<Pidgin> {
  return startPidgin({
    accountsXml: clearnetAccountsXml(PIDGIN_UI, false),
    plugins: [PLUGIN_SO],
    pluginFiles: { "purple-onion.ini": pluginIni() },
    prefs: { ...pluginTestPrefs(dataDir) },
  });
}

/** Accounts → Modify on the only account, Advanced tab; returns the dialog's window. */
export async function openAdvancedTab(p: Pidgin): Promise<string> {
  // With no account enabled, Pidgin opens the Accounts window by itself.
  const buddyList = await p.waitForWindow("Buddy List");
  const accounts = await p.waitForWindow("Accounts").catch(async () => {
    await p.keys(buddyList, "ctrl+a");
    return p.waitForWindow("Accounts");
  });
  await p.move(accounts, 260, 0);
  // The first row (the list's header is about 40 px), away from the Enabled checkbox column.
  await p.click(accounts, 150, 55);
  await p.keys(accounts, "alt+m");
  const dialog = await p.waitForWindow("Modify Account");
  await p.move(dialog, 800, 0);
  await p.keys(dialog, "ctrl+Page_Down");
  await new Promise((r) => setTimeout(r, 500));
  return dialog;
}

/**
 * Ticks the last option of the Advanced tab (the plugin's, appended after
 * prpl-jabber's) and saves. From the tab's label, Shift+Tab goes round to
 * Save, Cancel, "Create this new account on the server", then the last option.
 */
export async function tickLastOptionAndSave(p: Pidgin, dialog: string): Promise<void> {
  await p.keys(dialog, "shift+Tab", "shift+Tab", "shift+Tab", "shift+Tab", "space");
  await new Promise((r) => setTimeout(r, 300));
  await p.keys(dialog, "Tab", "Tab", "Tab", "Return");
  await p.waitForNoWindow("Modify Account");
}

/** accounts.xml's setting `name` of the account whose name starts with `jid` (first match), or undefined. */
export function accountSetting(accountsXml: string, jid: string, name: string): string | undefined {
  for (const account of accountsXml.split("<account>").slice(1)) {
    const accountName = /<name>([^<]*)<\/name>/.exec(account)?.[1] ?? "";
    if (!accountName.startsWith(jid)) continue;
    const m = new RegExp(`<setting name='${name}' type='[a-z]+'>([^<]*)</setting>`).exec(account);
    return m?.[1];
  }
  return undefined;
}

/** The account names in accounts.xml with the bool setting `name` true. */
export function accountsWith(accountsXml: string, name: string): string[] {
  return accountsXml
    .split("<account>")
    .slice(1)
    .filter((a) => new RegExp(`<setting name='${name}' type='bool'>1</setting>`).test(a))
    .map((a) => /<name>([^<]*)<\/name>/.exec(a)?.[1] ?? "?");
}

export async function cli(dataDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args, "--data-dir", dataDir], { encoding: "utf8", timeout: 20_000 });
  return stdout;
}

export { existsSync, mkdirSync };
