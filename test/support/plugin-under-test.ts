// What the tests of the plugin in a real client (Pidgin, Finch) share: the
// account a user ticks, the plugin's files and prefs for a test (the daemon it
// starts runs without Tor, its data in a temp dir), and reading what the
// client wrote (accounts.xml, its debug log).
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Pref } from "./finch-config.js";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/test/support). */
export const REPO = path.resolve(here, "../../..");
export const CLI = path.join(REPO, "dist/src/cli/main.js");
export const OPTION_LABEL = "Federate over Tor onion service";
const PLUGIN_PREF = "/plugins/core/core-purple-onion";

/** The clearnet account the user ticks: XMPP on a server that is never contacted (it stays disabled). */
export const CLEARNET_JID = "alice@example.org";

/**
 * accounts.xml with that account, enabled or not in `ui` ("gtk-gaim" for
 * Pidgin, "gnt-purple" for Finch), with every setting the account dialog
 * writes when saved (as for an account made in that dialog), so that saving
 * it again changes nothing but what the plugin adds.
 */
export function clearnetAccountsXml(ui: string, enabled: boolean): string {
  return `<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
	<account>
		<protocol>prpl-jabber</protocol>
		<name>${CLEARNET_JID}/home</name>
		<password>not-used</password>
		<settings>
			<setting name='connection_security' type='string'>require_tls</setting>
			<setting name='auth_plain_in_clear' type='bool'>0</setting>
			<setting name='port' type='int'>5222</setting>
			<setting name='connect_server' type='string'></setting>
			<setting name='ft_proxies' type='string'></setting>
			<setting name='bosh_url' type='string'></setting>
			<setting name='custom_smileys' type='bool'>1</setting>
			<setting name='check-mail' type='bool'>0</setting>
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
export function pluginTestPrefs(dataDir: string): Record<string, Pref> {
  return {
    [`${PLUGIN_PREF}/data_dir`]: { type: "string", value: dataDir },
    [`${PLUGIN_PREF}/serve_args`]: { type: "string", value: "--tor none --log-level debug" },
    [`${PLUGIN_PREF}/ask_localpart`]: { type: "bool", value: false },
    [`${PLUGIN_PREF}/stop_daemon_on_quit`]: { type: "bool", value: true },
  };
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

/** The companion's full JID once it has signed on (its initial presence in the debug log). */
export function companionOnline(debugLog: string): string | undefined {
  return /jabber: Sending \(([^)@]+@[a-z2-7]{56}\.onion\/[^)]*)\): <presence/.exec(debugLog)?.[1];
}

