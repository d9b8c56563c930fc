// The files a libpurple client reads from its config dir (`finch -c DIR`),
// written the way Pidgin/Finch 2.x write them themselves (libpurple/account.c
// and libpurple/prefs.c): one XMPP account that signs on by itself, and
// preferences that keep the client quiet and off the network.

export interface FinchAccount {
  /** Bare JID, e.g. alice@<onion>. */
  jid: string;
  password: string;
  /** Resource Finch binds; it asks for exactly this one. */
  resource: string;
  /** "Connect server" on the Advanced tab: never resolved through DNS SRV. */
  connectServer: string;
  port: number;
}

/** libpurple's id of Finch's UI: account settings under it belong to Finch. */
export const FINCH_UI = "gnt-purple";

function esc(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/'/g, "&apos;")
    .replace(/"/g, "&quot;");
}

/**
 * accounts.xml with the account as a user sets it up in Pidgin's dialog:
 * Advanced tab "Connection security: Use encryption if available"
 * (connection_security=opportunistic_tls), "Allow plaintext auth over
 * unencrypted streams" left unticked (auth_plain_in_clear: the server offers
 * SCRAM only, which Cyrus SASL does with libsasl2-modules), "Connect port" and
 * "Connect server". The setting names are those of libpurple/protocols/jabber/jabber.c.
 * A UI-specific "auto-login" setting is how libpurple stores "Enabled"
 * (purple_account_set_enabled in libpurple/account.c).
 */
export function accountsXml(a: FinchAccount): string {
  return `<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
	<account>
		<protocol>prpl-jabber</protocol>
		<name>${esc(`${a.jid}/${a.resource}`)}</name>
		<password>${esc(a.password)}</password>
		<settings>
			<setting name='connect_server' type='string'>${esc(a.connectServer)}</setting>
			<setting name='port' type='int'>${a.port}</setting>
			<setting name='connection_security' type='string'>opportunistic_tls</setting>
			<setting name='auth_plain_in_clear' type='bool'>0</setting>
		</settings>
		<settings ui='${FINCH_UI}'>
			<setting name='auto-login' type='bool'>1</setting>
		</settings>
	</account>
</account>
`;
}

export type Pref =
  | { type: "bool"; value: boolean }
  | { type: "int"; value: number }
  | { type: "string"; value: string }
  | { type: "path"; value: string }
  // A list of file paths, e.g. /pidgin/plugins/loaded and /finch/plugins/loaded.
  | { type: "pathlist"; value: string[] };

// Only what differs from libpurple's and Finch's defaults (they fill in the
// rest). Keys are libpurple pref paths.
export const QUIET_PREFS: Readonly<Record<string, Pref>> = {
  // No chat logs in the config dir: nothing outlives the test.
  "/purple/logging/log_ims": { type: "bool", value: false },
  "/purple/logging/log_chats": { type: "bool", value: false },
  "/purple/logging/log_system": { type: "bool", value: false },
  // Nothing on the network but the account's connection: no UPnP/NAT-PMP
  // port mapping, no STUN, no public-IP discovery, no proxy.
  "/purple/network/map_ports": { type: "bool", value: false },
  "/purple/network/auto_ip": { type: "bool", value: false },
  "/purple/network/stun_server": { type: "string", value: "" },
  "/purple/network/turn_server": { type: "string", value: "" },
  "/purple/proxy/type": { type: "string", value: "none" },
  // Stay "Available" however long a run takes.
  "/purple/away/idle_reporting": { type: "string", value: "none" },
  "/purple/away/away_when_idle": { type: "bool", value: false },
  // Silence: no sound method at all, and muted.
  "/finch/sound/actprofile": { type: "string", value: "default" },
  "/finch/sound/profiles/default/method": { type: "string", value: "nosound" },
  "/finch/sound/profiles/default/mute": { type: "bool", value: true },
};

/**
 * The files that load a libpurple plugin in a config dir: the plugin in
 * <configDir>/plugins (where Pidgin and Finch look) and its path in the UI's
 * list of plugins loaded at start (`ui`: "pidgin" or "finch").
 */
export function pluginPrefs(ui: "pidgin" | "finch", pluginPaths: string[]): Record<string, Pref> {
  return { [`/${ui}/plugins/loaded`]: { type: "pathlist", value: pluginPaths } };
}

/** prefs.xml in libpurple's nested <pref name=...> form. */
export function prefsXml(prefs: Readonly<Record<string, Pref>> = QUIET_PREFS): string {
  interface Node {
    children: Map<string, Node>;
    leaf?: Pref;
  }
  const root: Node = { children: new Map() };
  for (const [key, pref] of Object.entries(prefs)) {
    let node = root;
    for (const part of key.split("/").filter(Boolean)) {
      let child = node.children.get(part);
      if (!child) node.children.set(part, (child = { children: new Map() }));
      node = child;
    }
    node.leaf = pref;
  }
  const render = (name: string, node: Node, depth: number): string => {
    const pad = "\t".repeat(depth);
    if (node.leaf?.type === "pathlist") {
      const items = node.leaf.value.map((item) => `${pad}\t<item value='${esc(item)}'/>\n`).join("");
      return `${pad}<pref name='${esc(name)}' type='pathlist'>\n${items}${pad}</pref>\n`;
    }
    if (node.leaf) {
      const v = node.leaf.type === "bool" ? (node.leaf.value ? "1" : "0") : esc(String(node.leaf.value));
      return `${pad}<pref name='${esc(name)}' type='${node.leaf.type}' value='${v}'/>\n`;
    }
    const inner = [...node.children].map(([n, c]) => render(n, c, depth + 1)).join("");
    return `${pad}<pref name='${esc(name)}'>\n${inner}${pad}</pref>\n`;
  };
  const body = [...root.children].map(([n, c]) => render(n, c, 1)).join("");
  return `<?xml version='1.0' encoding='UTF-8' ?>\n\n<pref version='1' name='/'>\n${body}</pref>\n`;
}
