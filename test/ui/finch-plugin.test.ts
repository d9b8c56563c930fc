// The plugin in Finch (test/support/finch.ts: Finch in tmux, in a
// loopback-only namespace), loaded as a user loads it: the .so in the config
// dir's plugins/, listed in /finch/plugins/loaded, purple-onion.ini beside it.
// The plugin starts the real daemon itself (without Tor: the serve_args pref).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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
  REPO,
} from "../support/plugin-under-test.js";
import { PLUGIN_SO } from "../support/prerequisites.js";
import { requires } from "../support/requires.js";
import { canonicalXml, childElements, childText, parseXml, type XmlNode } from "./canonical-xml.js";

/** Keys one at a time: gnt redraws between them. */
async function press(finch: Finch, ...keys: string[]): Promise<void> {
  for (const key of keys) {
    await finch.keys(key);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const screenText = async (finch: Finch) => (await finch.screen()).join("\n");

/**
 * Starts Finch with the plugin and the clearnet account (enabled or not), its
 * daemon's data in dataDir; the plugin and its ini from `installed` (a
 * plugins dir scripts/install.sh filled), else from the build.
 */
function startFinchWithPlugin(dataDir: string, enabled: boolean, installed?: string): Promise<Finch> {
  return startFinch({
    jid: CLEARNET_JID,
    password: "not-used",
    resource: "home",
    // The clearnet account never reaches a server: the relay leads nowhere.
    server: { host: "127.0.0.1", port: 9 },
    accountsXml: clearnetAccountsXml(FINCH_UI, enabled),
    plugins: [installed ? path.join(installed, "purple-onion.so") : PLUGIN_SO],
    pluginFiles: { "purple-onion.ini": installed ? readFileSync(path.join(installed, "purple-onion.ini"), "utf8") : pluginIni() },
    prefs: pluginTestPrefs(dataDir),
  });
}

/** Accounts → Modify, checks the option is there, ticks it, saves; resolves with the onion account's full JID once it signed on. */
async function tickInFinch(finch: Finch): Promise<string> {
  // With no account enabled Finch opens its Accounts window by itself; else Alt+A → Accounts.
  if (!(await screenText(finch)).includes("┤Accounts├")) {
    await finch.waitFor("Finch's screen", async () => (await screenText(finch)).includes("Buddy List"));
    await press(finch, "M-a");
    await finch.waitFor("the actions menu", async () => (await screenText(finch)).includes("Accounts"));
    await press(finch, "Enter");
  }
  await finch.focusWindow("Accounts");
  await finch.waitFor("the account in the list", async () => (await screenText(finch)).includes(`${CLEARNET_JID}/home`));
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
  return finch.waitFor("the onion account signed on", () => companionOnline(finch.debugLog()), 60_000);
}

function readAccounts(finch: Finch): string {
  try {
    return readFileSync(path.join(finch.configDir, "accounts.xml"), "utf8");
  } catch {
    return "";
  }
}

async function failWithScreen(finch: Finch, err: unknown): Promise<never> {
  throw new Error(`${(err as Error).message}\nscreen:\n${await screenText(finch).catch(() => "?")}\ndebug log:\n${finch.debugTail(30)}`);
}

requires("finch", "native", "netns").test(
  `Finch: the account dialog shows "${OPTION_LABEL}"; ticking it and saving brings the onion account online`,
  async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "po-fd-"));
    const finch = await startFinchWithPlugin(dataDir, false);
    try {
      const companion = await tickInFinch(finch);
      await finch.waitFor("accounts.xml saved", () => accountSetting(readAccounts(finch), CLEARNET_JID, "onion_federation") === "1", 20_000);
      expect(accountsWith(readAccounts(finch), "purple_onion_managed")).toEqual([companion]);
      // The daemon the plugin started serves it, with Finch's session on it.
      const bare = companion.split("/")[0]!;
      const status = await cli(dataDir, "status");
      expect(status).toMatch(new RegExp(`^${bare.replace(/\./g, "\\.")}\\s+\\S+\\s+1$`, "m"));
      // Finch's Accounts window lists it, enabled.
      await finch.waitFor("the onion account enabled in the list", async () => (await screenText(finch)).includes(`[X] ${bare.slice(0, 20)}`));
    } catch (err) {
      await failWithScreen(finch, err);
    } finally {
      await finch.stop();
      // The plugin stops the daemon when Finch quits (stop_daemon_on_quit); make sure.
      await cli(dataDir, "stop").catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
  120_000,
);

requires("finch", "native", "netns").test(
  "installed by scripts/install.sh, ticked in Finch, then scripts/uninstall.sh: the account is back as it was (enabled, no onion settings), the onion account gone",
  async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "po-fd-"));
    const installHome = mkdtempSync(path.join(tmpdir(), "po-fi-"));
    const install = spawnSync(path.join(REPO, "scripts/install.sh"), ["--user-dir", installHome, "--no-apt", "--no-build"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: installHome, NODE: process.execPath },
    });
    expect({ status: install.status, out: install.stdout + install.stderr }).toMatchObject({ status: 0 });
    const finch = await startFinchWithPlugin(dataDir, true, path.join(installHome, ".purple/plugins"));
    const before = parseXml(clearnetAccountsXml(FINCH_UI, true));
    try {
      try {
        await tickInFinch(finch);
        // It started the daemon as purple-onion.ini says.
        expect(finch.debugLog()).toContain(`starting the daemon: ${process.execPath} ${path.join(REPO, "dist/src/cli/main.js")} serve`);
        // The plugin took the clearnet account offline (disabled) and remembered it was enabled.
        await finch.waitFor("accounts.xml saved", () => accountsWith(readAccounts(finch), "purple_onion_restore_enabled").length === 1, 20_000);
      } catch (err) {
        await failWithScreen(finch, err);
      }
      await finch.stop({ keepDir: true });
      const r = spawnSync(path.join(REPO, "scripts/uninstall.sh"),
        ["--user-dir", path.join(finch.dir, "home"), "--config-dir", finch.configDir, "--data-dir", dataDir], { encoding: "utf8" });
      expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
      expect(existsSync(path.join(finch.configDir, "plugins/purple-onion.so"))).toBe(false);
      expect(readFileSync(path.join(finch.configDir, "prefs.xml"), "utf8")).not.toContain("purple-onion");
      const accounts = childElements(parseXml(readAccounts(finch)), "account");
      expect(accounts.map((a) => childText(a, "name"))).toEqual([`${CLEARNET_JID}/home`]);
      // Its settings (protocol options, and Finch's: auto-login is "Enabled") are as before the tick;
      // libpurple keeps them in a hash table, so their order means nothing.
      const settings = (a: XmlNode) =>
        childElements(a, "settings")
          .map((block) => [JSON.stringify(block.attrs), ...childElements(block, "setting").map((s) => canonicalXml(s)).sort()].join(""))
          .sort();
      expect(settings(accounts[0]!)).toEqual(settings(childElements(before, "account")[0]!));
    } finally {
      await finch.stop();
      await cli(dataDir, "stop").catch(() => undefined);
      rmSync(finch.dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(installHome, { recursive: true, force: true });
    }
  },
  120_000,
);
