// The plugin in Finch (test/support/finch.ts: Finch in tmux, in a
// loopback-only namespace), loaded as a user loads it: the .so in the config
// dir's plugins/, listed in /finch/plugins/loaded, purple-onion.ini beside it.
// The plugin starts the real daemon itself (without Tor: the serve_args pref).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FINCH_UI } from "../support/finch-config.js";
import { compactText, startFinch, type Finch } from "../support/finch.js";
import {
  accountSetting,
  accountsWith,
  CLEARNET_JID,
  clearnetAccountsXml,
  cli,
  companionOnline,
  OPTION_LABEL,
  pluginIni,
  pluginTestPrefs,
} from "../support/plugin-under-test.js";
import { PLUGIN_SO } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";

/** Keys one at a time: gnt redraws between them. */
async function press(finch: Finch, ...keys: string[]): Promise<void> {
  for (const key of keys) {
    await finch.keys(key);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const screenText = async (finch: Finch) => (await finch.screen()).join("\n");

requires("finch", "native", "netns").test(
  `Finch: the account dialog shows "${OPTION_LABEL}"; ticking it and saving brings the onion account online`,
  async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "po-fd-"));
    const finch = await startFinch({
      jid: CLEARNET_JID,
      password: "not-used",
      resource: "home",
      // The clearnet account is disabled and never connects: the relay leads nowhere.
      server: { host: "127.0.0.1", port: 9 },
      accountsXml: clearnetAccountsXml(FINCH_UI, false),
      plugins: [PLUGIN_SO],
      pluginFiles: { "purple-onion.ini": pluginIni() },
      prefs: pluginTestPrefs(dataDir),
    });
    try {
      // No account enabled: Finch opens its Accounts window by itself.
      await finch.focusWindow("Accounts");
      await finch.waitFor("the account in the list", async () => (await screenText(finch)).includes(`[ ] ${CLEARNET_JID}/home`));
      // The list has the focus; Tab, Tab reaches Modify.
      await press(finch, "Tab", "Tab", "Enter");
      await finch.waitFor(`the Modify Account dialog with "${OPTION_LABEL}"`, async () =>
        compactText(await finch.screen()).includes(compactText(`[ ] ${OPTION_LABEL}`)),
      );

      // From the first field, BTab goes round to Save, Cancel, then the last option: the plugin's.
      await press(finch, "BTab", "BTab", "BTab", "Space");
      await finch.waitFor("the option ticked", async () => compactText(await finch.screen()).includes(compactText(`[X] ${OPTION_LABEL}`)));
      await press(finch, "Tab", "Tab", "Enter");
      await finch.waitFor("the dialog closed", async () => !(await screenText(finch)).includes("Modify Account"));

      const companion = await finch.waitFor("the onion account signed on", () => companionOnline(finch.debugLog()), 60_000);
      const accountsXml = () => {
        try {
          return readAccounts(finch);
        } catch {
          return "";
        }
      };
      await finch.waitFor("accounts.xml saved", () => accountSetting(accountsXml(), CLEARNET_JID, "onion_federation") === "1", 20_000);
      expect(accountsWith(accountsXml(), "purple_onion_managed")).toEqual([companion]);
      // The daemon the plugin started serves it, with Finch's session on it.
      const bare = companion.split("/")[0]!;
      const status = await cli(dataDir, "status");
      expect(status).toMatch(new RegExp(`^${bare.replace(/\./g, "\\.")}\\s+\\S+\\s+1$`, "m"));
      // Finch's Accounts window lists it, enabled.
      await finch.waitFor("the onion account enabled in the list", async () => (await screenText(finch)).includes(`[X] ${bare.slice(0, 20)}`));
    } catch (err) {
      throw new Error(`${(err as Error).message}\nscreen:\n${await screenText(finch).catch(() => "?")}\ndebug log:\n${finch.debugTail(30)}`);
    } finally {
      await finch.stop();
      // The plugin stops the daemon when Finch quits (stop_daemon_on_quit); make sure.
      await cli(dataDir, "stop").catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
  120_000,
);

function readAccounts(finch: Finch): string {
  return readFileSync(path.join(finch.configDir, "accounts.xml"), "utf8");
}
