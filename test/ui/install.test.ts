// scripts/install.sh and scripts/uninstall.sh, run as a user would, into a
// temp HOME (--user-dir) without apt (--no-apt) and with the checkout's own
// build (--no-build: the suite runs from dist/, which a build would replace).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PLUGIN_SO, lookupUser } from "../support/prerequisites.js";
import { repoRoot, requires } from "../support/requires.js";
import { canonicalXml } from "./canonical-xml.js";

const INSTALL = path.join(repoRoot, "scripts/install.sh");
const UNINSTALL = path.join(repoRoot, "scripts/uninstall.sh");
const ENTRY = path.join(repoRoot, "dist/src/cli/main.js");

let home: string;
beforeEach(() => {
  home = mkdtempSync(path.join(tmpdir(), "po-install-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(script, args, {
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: home, NODE: process.execPath, ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const install = (...args: string[]) => runScript(INSTALL, ["--user-dir", home, "--no-apt", "--no-build", ...args]);
const uninstall = (...args: string[]) => runScript(UNINSTALL, ["--user-dir", home, ...args]);
const mode = (file: string) => statSync(file).mode & 0o777;

test("install.sh --help and uninstall.sh --help say what they do", () => {
  const i = runScript(INSTALL, ["--help"]);
  expect(i.status).toBe(0);
  expect(i.out).toMatch(/Usage: scripts\/install\.sh/);
  expect(i.out).toMatch(/--no-apt/);
  const u = runScript(UNINSTALL, ["--help"]);
  expect(u.status).toBe(0);
  expect(u.out).toMatch(/--purge/);
  expect(runScript(INSTALL, ["--bogus"]).status).not.toBe(0);
});

test("install.sh refuses a Node older than 20 and says how to get 20", () => {
  // A "node" that says it is Debian 12's.
  const fakeNode = path.join(home, "node");
  writeFileSync(fakeNode, "#!/bin/sh\necho 18.19.0\n");
  chmodSync(fakeNode, 0o755);
  const r = runScript(INSTALL, ["--user-dir", home, "--no-apt", "--no-build"], { NODE: fakeNode });
  expect(r.status).toBe(1);
  expect(r.out).toMatch(/is Node 18\.19\.0; purple-onion needs Node 20 or newer \(Debian 12 ships 18\)/);
  expect(r.out).toMatch(/NodeSource/);
  expect(existsSync(path.join(home, ".purple"))).toBe(false);
});

requires("native").describe("install.sh into a temp HOME", () => {
  test("puts the plugin, its ini and the command in place, and says what to do next", () => {
    const r = install();
    expect(r).toMatchObject({ status: 0 });
    expect(r.out).toMatch(/Tools → Plugins/);
    expect(r.out).toMatch(/Federate over Tor onion service/);

    const plugins = path.join(home, ".purple/plugins");
    const so = path.join(plugins, "purple-onion.so");
    expect(readFileSync(so).equals(readFileSync(PLUGIN_SO))).toBe(true);
    expect(mode(so)).toBe(0o644);
    expect(mode(path.join(home, ".purple"))).toBe(0o700);

    const ini = readFileSync(path.join(plugins, "purple-onion.ini"), "utf8");
    expect(mode(path.join(plugins, "purple-onion.ini"))).toBe(0o644);
    const runtime = iniSection(ini, "runtime");
    expect(runtime).toEqual({ node: process.execPath, entry: ENTRY });
    expect(path.isAbsolute(runtime.node!) && existsSync(runtime.entry!)).toBe(true);

    const wrapper = path.join(home, ".local/bin/purple-onion");
    expect(mode(wrapper)).toBe(0o755);
    const help = spawnSync("purple-onion", ["--help"], {
      encoding: "utf8",
      env: { PATH: `${path.dirname(wrapper)}:/usr/bin:/bin`, HOME: home },
    });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: purple-onion COMMAND/);
  });

  test("is idempotent: a second run leaves the same files", () => {
    expect(install().status).toBe(0);
    const before = snapshot(home);
    expect(install().status).toBe(0);
    expect(snapshot(home)).toEqual(before);
  });

  test("--config-dir and --prefix choose where the plugin and the command go", () => {
    const config = path.join(home, "pidgin-config");
    expect(install("--config-dir", config, "--prefix", path.join(home, "opt")).status).toBe(0);
    expect(existsSync(path.join(config, "plugins/purple-onion.so"))).toBe(true);
    expect(existsSync(path.join(home, "opt/bin/purple-onion"))).toBe(true);
    expect(existsSync(path.join(home, ".purple"))).toBe(false);
  });
});

requires("native", "other-user").test("under sudo the files belong to SUDO_USER", () => {
  const nobody = lookupUser("nobody")!;
  const r = runScript(INSTALL, ["--user-dir", home, "--no-apt", "--no-build"], { SUDO_USER: "nobody" });
  expect(r).toMatchObject({ status: 0 });
  for (const f of [".purple", ".purple/plugins", ".purple/plugins/purple-onion.so", ".purple/plugins/purple-onion.ini", ".local", ".local/bin", ".local/bin/purple-onion"]) {
    expect([f, statSync(path.join(home, f)).uid]).toEqual([f, nobody.uid]);
  }
});

// --- uninstall -----------------------------------------------------------------

// An XMPP account as Pidgin wrote it before the user ticked the option, and an
// IRC account the plugin never touched.
const CLEARNET_BEFORE = `
	<account>
		<protocol>prpl-jabber</protocol>
		<name>alice@example.org/pidgin</name>
		<password>secret</password>
		<settings>
			<setting name='connection_security' type='string'>require_tls</setting>
			<setting name='custom_smileys' type='bool'>1</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>1</setting>
		</settings>
		<current_error/>
	</account>`;
const OTHER = `
	<account>
		<protocol>prpl-irc</protocol>
		<name>alice@irc.example.net</name>
		<settings>
			<setting name='port' type='int'>6697</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
	</account>`;
// The same after the tick: option and key set, disabled; and its companion
// (the settings of native/plugin/po.h).
const CLEARNET_TICKED = `
	<account>
		<protocol>prpl-jabber</protocol>
		<name>alice@example.org/pidgin</name>
		<password>secret</password>
		<settings>
			<setting name='connection_security' type='string'>require_tls</setting>
			<setting name='custom_smileys' type='bool'>1</setting>
			<setting name='onion_federation' type='bool'>1</setting>
			<setting name='purple_onion_key' type='string'>po-7f3c9e2a41d05b867f3c9e2a41d05b86</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
		<current_error/>
	</account>`;
const COMPANION = `
	<account>
		<protocol>prpl-jabber</protocol>
		<name>u4f09a1c2e3@zgkbv4onnsc2ylxsmj6n2lmqxrgpqavr3cgkrqsodaqfoyvggsxjroad.onion/pidgin</name>
		<password>Yp3v9s2QmL8xKc4T</password>
		<settings>
			<setting name='connect_server' type='string'>127.0.0.1</setting>
			<setting name='port' type='int'>5222</setting>
			<setting name='purple_onion_managed' type='bool'>1</setting>
			<setting name='purple_onion_companion_of' type='string'>po-7f3c9e2a41d05b867f3c9e2a41d05b86</setting>
			<setting name='purple_onion_restore_enabled' type='bool'>1</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>1</setting>
		</settings>
	</account>`;
const accountsXml = (...accounts: string[]) =>
  `<?xml version='1.0' encoding='UTF-8' ?>\n\n<account version='1.0'>${accounts.join("")}\n</account>\n`;

function writeConfig(accounts: string): string {
  const config = path.join(home, ".purple");
  mkdirSync(config, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(config, "accounts.xml"), accounts, { mode: 0o600 });
  writeFileSync(
    path.join(config, "prefs.xml"),
    `<?xml version='1.0' encoding='UTF-8' ?>
<pref version='1' name='/'>
	<pref name='pidgin'>
		<pref name='plugins'>
			<pref name='loaded' type='pathlist'>
				<item value='/usr/lib/x86_64-linux-gnu/pidgin/ticker.so'/>
				<item value='${config}/plugins/purple-onion.so'/>
			</pref>
		</pref>
	</pref>
	<pref name='plugins'>
		<pref name='core'>
			<pref name='core-purple-onion'>
				<pref name='data_dir' type='path' value='/somewhere'/>
			</pref>
		</pref>
	</pref>
</pref>
`,
    { mode: 0o600 },
  );
  return config;
}

requires("native").describe("uninstall.sh", () => {
  test("removes the onion companion and restores the ticked account exactly as before the tick", () => {
    const config = writeConfig(accountsXml(OTHER, CLEARNET_TICKED, COMPANION));
    expect(install().status).toBe(0);
    const dataDir = path.join(home, ".local/share/purple-onion");
    mkdirSync(dataDir, { recursive: true });

    const r = uninstall();
    expect(r).toMatchObject({ status: 0 });
    const after = readFileSync(path.join(config, "accounts.xml"), "utf8");
    expect(canonicalXml(after)).toBe(canonicalXml(accountsXml(OTHER, CLEARNET_BEFORE)));
    expect(mode(path.join(config, "accounts.xml"))).toBe(0o600);
    // The plugin is gone from prefs.xml; the other plugin stays loaded.
    const prefs = readFileSync(path.join(config, "prefs.xml"), "utf8");
    expect(prefs).not.toMatch(/purple-onion/);
    expect(prefs).toMatch(/ticker\.so/);
    // What install put there is gone; the daemon's data stays, and it says so.
    for (const f of [".purple/plugins/purple-onion.so", ".purple/plugins/purple-onion.ini", ".local/bin/purple-onion"]) {
      expect([f, existsSync(path.join(home, f))]).toEqual([f, false]);
    }
    expect(existsSync(dataDir)).toBe(true);
    expect(r.out).toMatch(/kept the daemon's data dir/);
    // Running it again changes nothing.
    expect(uninstall().status).toBe(0);
    expect(readFileSync(path.join(config, "accounts.xml"), "utf8")).toBe(after);
  });

  test("leaves a ticked account disabled when it was disabled before the tick", () => {
    const config = writeConfig(accountsXml(CLEARNET_TICKED, COMPANION.replace(/.*purple_onion_restore_enabled.*\n/, "")));
    expect(uninstall().status).toBe(0);
    const before = CLEARNET_BEFORE.replace("<setting name='auto-login' type='bool'>1", "<setting name='auto-login' type='bool'>0");
    expect(canonicalXml(readFileSync(path.join(config, "accounts.xml"), "utf8"))).toBe(canonicalXml(accountsXml(before)));
  });

  test("refuses while a Finch uses the config dir, and touches nothing", async () => {
    const config = writeConfig(accountsXml(CLEARNET_TICKED, COMPANION));
    const fake = await fakeClient("finch", ["-c", config]);
    try {
      const r = uninstall();
      expect(r.status).toBe(3);
      expect(r.out).toMatch(/Finch \(pid \d+\) is running/);
      expect(canonicalXml(readFileSync(path.join(config, "accounts.xml"), "utf8"))).toBe(
        canonicalXml(accountsXml(CLEARNET_TICKED, COMPANION)),
      );
    } finally {
      await stopProcess(fake);
    }
    // A Finch on another config dir is no reason to refuse.
    const other = await fakeClient("finch", ["-c", path.join(home, "elsewhere")]);
    try {
      expect(uninstall().status).toBe(0);
    } finally {
      await stopProcess(other);
    }
  });

  test("--purge deletes the daemon's data dir", () => {
    expect(install().status).toBe(0);
    const dataDir = path.join(home, ".local/share/purple-onion");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path.join(dataDir, "store.sqlite"), "");
    const r = uninstall("--purge");
    expect(r).toMatchObject({ status: 0 });
    expect(existsSync(dataDir)).toBe(false);
    expect(r.out).toMatch(/deleted the daemon's data dir/);
  });
});

/** A process named `name` (its /proc comm) with these arguments: a shell script of that name. */
async function fakeClient(name: string, args: string[]): Promise<ChildProcess> {
  const dir = mkdtempSync(path.join(home, "bin-"));
  const script = path.join(dir, name);
  writeFileSync(script, "#!/bin/sh\necho up\nwhile :; do sleep 1; done\n");
  chmodSync(script, 0o755);
  const child = spawn(script, args, { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise((resolve) => child.stdout!.once("data", resolve));
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

function iniSection(text: string, section: string): Record<string, string> {
  const values: Record<string, string> = {};
  let current = "";
  for (const line of text.split("\n")) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) current = header[1]!;
    else if (current === section && /^[^#=]+=/.test(line)) {
      const i = line.indexOf("=");
      values[line.slice(0, i).trim()] = line.slice(i + 1);
    }
  }
  return values;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const st = statSync(full);
      const rel = path.relative(dir, full);
      if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o777).toString(8)}`;
        walk(full);
      } else out[rel] = `${(st.mode & 0o777).toString(8)} ${readFileSync(full).toString("base64")}`;
    }
  };
  walk(dir);
  return out;
}
