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
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PIDGIN_UI, startPidgin, type Pidgin } from "./pidgin.js";
import { addAccount } from "./daemon.js";
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
} from "./plugin-under-test.js";
import { findProgram, missing, PLUGIN_SO } from "./prerequisites.js";

export { OPTION_LABEL, REPO };

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export async function startPidginWithPlugin(dataDir: string): Promise<Pidgin> {
  return startPidgin({
    accountsXml: clearnetAccountsXml(PIDGIN_UI, false),
    plugins: [PLUGIN_SO],
    pluginFiles: { "purple-onion.ini": pluginIni() },
    prefs: pluginTestPrefs(dataDir),
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
 * prpl-jabber's). From the tab's label, Shift+Tab goes round to Save, Cancel,
 * "Create this new account on the server", then the last option. No
 * mnemonic: Pidgin gives "Federate..." F, as it gives "File transfer proxies".
 */
export async function tickLastOption(p: Pidgin, dialog: string): Promise<void> {
  await p.keys(dialog, "shift+Tab", "shift+Tab", "shift+Tab", "shift+Tab", "space");
  await new Promise((r) => setTimeout(r, 300));
}

/** With the focus on the last option: Save (three Tabs on), and the dialog closes. */
export async function saveFromLastOption(p: Pidgin, dialog: string): Promise<void> {
  await p.keys(dialog, "Tab", "Tab", "Tab", "Return");
  await p.waitForNoWindow("Modify Account");
}

/**
 * The whole tour: tick the option (advanced-tab.png), the onion account signs
 * on, the plugin's status action (status-action.png), a conversation with
 * another account of the daemon (conversation.png). Throws at the first step
 * that does not happen, saying which; `tour.done` lists those that did.
 */
export async function runPidginTour(outDir: string, tour: { done: string[]; screenshots: string[] }): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), "po-pd-"));
  const p = await startPidginWithPlugin(dataDir);
  const step = (what: string) => tour.done.push(what);
  const shot = async (id: string, name: string) => tour.screenshots.push(await p.screenshot(id, path.join(outDir, name)));
  try {
    const dialog = await openAdvancedTab(p);
    step("Accounts → Modify → Advanced tab opened");
    await tickLastOption(p, dialog);
    await shot(dialog, "advanced-tab.png");
    await saveFromLastOption(p, dialog);
    await p.waitFor(
      `"${OPTION_LABEL}" saved as onion_federation=1 in accounts.xml`,
      () => accountSetting(p.accountsXml(), CLEARNET_JID, "onion_federation") === "1",
      20_000,
    );
    step(`the Advanced tab's last option is "${OPTION_LABEL}": ticking it saved onion_federation=1`);

    const companion = await p.waitFor("the onion account signed on", () => companionOnline(p.debugLog()), 60_000);
    await p.waitFor("the onion account in accounts.xml, marked managed", () => accountsWith(p.accountsXml(), "purple_onion_managed").length === 1, 20_000);
    step(`the onion account ${companion} signed on`);

    const buddyList = await p.waitForWindow("Buddy List");
    // Tools is the Buddy List's third menu; the plugin's submenu is its last item.
    await p.keys(buddyList, "alt+t", "Up", "Right", "Return");
    const status = await p.waitForWindow("Onion federation status");
    await p.move(status, 260, 340);
    await new Promise((r) => setTimeout(r, 500));
    await shot(status, "status-action.png");
    await p.keys(status, "Return");
    await p.waitForNoWindow("Onion federation status");
    step("Tools → Purple Onion → Onion federation status… showed the daemon's state");

    const bob = await addAccount(dataDir, "bob");
    await p.keys(buddyList, "ctrl+m");
    const ask = await p.waitForWindow("New Instant Message");
    await p.type(ask, bob.jid);
    await p.keys(ask, "Return");
    const conversation = await p.waitForWindow(bob.jid);
    await p.move(conversation, 0, 420);
    await x11Resize(p, conversation, 560, 380);
    const hello = "Hello Bob! This went from my onion to yours, and no clearnet server saw it.";
    await p.type(conversation, hello);
    await p.keys(conversation, "Return");
    await p.waitFor("the message sent", () => p.debugLog().includes(`<body>${hello}</body>`));
    const reply = "Hi Alice, got it. Nobody in the middle knows we talk.";
    await run(findProgram("nsenter")!, [`--net=${p.nsPath}`, "--", process.execPath, path.join(here, "../ui/xmpp-say.js"),
      bob.host, String(bob.port), bob.jid, bob.password, companion.split("/")[0]!, reply], { timeout: 30_000 });
    await p.waitFor("the reply shown", () => p.debugLog().split("\n").some((l) => l.includes("Recv") && l.includes(reply)));
    await new Promise((r) => setTimeout(r, 700));
    await shot(conversation, "conversation.png");
    step(`a conversation with ${bob.jid}: sent, and the reply arrived`);
  } finally {
    await p.stop();
    // The plugin stops the daemon when Pidgin quits (stop_daemon_on_quit); make sure.
    await cli(dataDir, "stop").catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function x11Resize(p: Pidgin, id: string, width: number, height: number): Promise<void> {
  await run(findProgram("xdotool")!, ["windowsize", id, String(width), String(height)], { env: { ...process.env, DISPLAY: p.display } });
}

// `node dist/test/support/pidgin-screenshots.js [DIR]`
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = path.resolve(process.argv[2] ?? path.join(REPO, "docs/screenshots"));
  const why = missing("pidgin") ?? missing("netns") ?? missing("native");
  if (why) {
    process.stderr.write(`pidgin-screenshots: ${why}\n`);
    process.exit(1);
  }
  const tour = { done: [] as string[], screenshots: [] as string[] };
  try {
    await runPidginTour(outDir, tour);
  } catch (err) {
    for (const d of tour.done) process.stdout.write(`ok  ${d}\n`);
    process.stderr.write(`pidgin-screenshots: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  for (const d of tour.done) process.stdout.write(`ok  ${d}\n`);
  for (const f of tour.screenshots) process.stdout.write(`wrote ${path.relative(process.cwd(), f)}\n`);
}
