#!/usr/bin/env python3
"""Part of scripts/uninstall.sh: puts libpurple's accounts.xml back as it was
before the first tick of "Federate over Tor onion service".

  uninstall-accounts.py running CONFIG_DIR        exit 3 and say who, if a Pidgin
                                                  or Finch uses CONFIG_DIR
  uninstall-accounts.py accounts CONFIG_DIR       edit CONFIG_DIR/accounts.xml
  uninstall-accounts.py prefs CONFIG_DIR          drop the plugin from prefs.xml

What the plugin leaves in accounts.xml (libpurple/account.c's format:
<settings> holds the protocol's settings, <settings ui='gtk-gaim'> Pidgin's,
<settings ui='gnt-purple'> Finch's, and "auto-login" there is "Enabled"):

* a companion account for each ticked account, marked with the bool setting
  purple_onion_managed = 1, and purple_onion_restore_enabled = 1 when the
  clearnet account was enabled before the tick (the plugin disabled it);
* on the ticked (clearnet) account, the option onion_federation and the key
  purple_onion_key (docs/control-protocol.md, account.ensure), and possibly
  other purple_onion_* settings.

A companion belongs to the clearnet account whose purple_onion_key its
purple_onion_companion_of names (native/plugin/po.h; or, failing that, to the
only clearnet account left without one). The companion is removed; the
clearnet account loses onion_federation and every purple_onion_* setting, and
is enabled again, for the UIs the companion was enabled in, if the companion
says it was enabled before.
"""
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

PREFIX = "purple_onion_"
OPTION = "onion_federation"
CLIENTS = {"pidgin": "Pidgin", "finch": "Finch"}


def real(path):
    return os.path.realpath(path)


# --- is a client using the config dir? --------------------------------------

def config_dir_of(pid, args):
    """The config dir a pidgin/finch process uses: -c DIR, --config=DIR, else ~/.purple."""
    chosen = None
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--config="):
            chosen = arg[len("--config="):]
        elif arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            chosen = arg[2:]
    if chosen is None:
        home = None
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                for var in f.read().split(b"\0"):
                    if var.startswith(b"HOME="):
                        home = os.fsdecode(var[5:])
        except OSError:
            pass
        if home is None:
            return None
        chosen = os.path.join(home, ".purple")
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = "/"
    return real(os.path.join(cwd, os.path.expanduser(chosen)))


def running(config_dir):
    target = real(config_dir)
    try:
        dir_uid = os.stat(target).st_uid
    except OSError:
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            if comm not in CLIENTS:
                continue
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, not yet reaped
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [os.fsdecode(a) for a in f.read().split(b"\0") if a]
        except OSError:
            continue  # gone meanwhile
        used = config_dir_of(pid, args[1:])
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        # One whose environment we may not read might use it if it is the dir's owner's.
        if used == target or (used is None and uid == dir_uid):
            found.append(f"{CLIENTS[comm]} (pid {pid})")
    return found


# --- accounts.xml -------------------------------------------------------------

def settings_blocks(account, ui=None):
    return [s for s in account.findall("settings") if s.get("ui") == ui]


def setting(account, name, ui=None):
    for block in settings_blocks(account, ui):
        for s in block.findall("setting"):
            if s.get("name") == name:
                return s
    return None


def is_true(el):
    if el is None:
        return False
    try:
        return int((el.text or "0").strip()) != 0  # libpurple reads bools with atoi
    except ValueError:
        return False


def text_of(el):
    return None if el is None else (el.text or "").strip()


def uis_with(account, name):
    """The UIs (ui attribute values) in whose settings `name` is set."""
    return [b.get("ui") for b in account.findall("settings") if b.get("ui") is not None
            and any(s.get("name") == name for s in b.findall("setting"))]


def enable(account, ui):
    blocks = settings_blocks(account, ui)
    block = blocks[0] if blocks else ET.SubElement(account, "settings", {"ui": ui})
    el = setting(account, "auto-login", ui)
    if el is None:
        el = ET.SubElement(block, "setting", {"name": "auto-login", "type": "bool"})
    el.set("type", "bool")
    el.text = "1"


def name_of(account):
    return text_of(account.find("name")) or "?"


def restore_accounts(config_dir):
    path = os.path.join(config_dir, "accounts.xml")
    if not os.path.exists(path):
        print(f"uninstall: no {path}: no accounts to restore")
        return
    tree = ET.parse(path)
    root = tree.getroot()
    accounts = root.findall("account")
    companions = [a for a in accounts if is_true(setting(a, PREFIX + "managed"))]
    clearnet = [a for a in accounts if a not in companions
                and (setting(a, OPTION) is not None or any(
                    s.get("name", "").startswith(PREFIX) for b in a.findall("settings") for s in b.findall("setting")))]

    # Pair each companion with its clearnet account.
    owner = {}
    for c in companions:
        key = text_of(setting(c, PREFIX + "companion_of"))
        for a in clearnet:
            if key and text_of(setting(a, PREFIX + "key")) == key:
                owner[id(c)] = a
                break
    unpaired = [c for c in companions if id(c) not in owner]
    free = [a for a in clearnet if a not in owner.values()]
    if len(unpaired) == 1 and len(free) == 1:
        owner[id(unpaired[0])] = free[0]

    for c in companions:
        a = owner.get(id(c))
        uis = set()
        # restore_enabled in the protocol settings: for the UIs the companion ran in;
        # in a UI's settings: for that UI.
        for block in c.findall("settings"):
            el = next((s for s in block.findall("setting") if s.get("name") == PREFIX + "restore_enabled"), None)
            if not is_true(el):
                continue
            if block.get("ui") is not None:
                uis.add(block.get("ui"))
            else:
                uis.update(uis_with(c, "auto-login") or (uis_with(a, "auto-login") if a is not None else []))
        root.remove(c)
        print(f"uninstall: removed the onion account {name_of(c)}")
        if a is None:
            if uis:
                print(f"uninstall: warning: found no clearnet account for {name_of(c)}, so none was enabled again")
            continue
        for ui in sorted(uis):
            enable(a, ui)
        if uis:
            print(f"uninstall: enabled {name_of(a)} again (as it was before the onion account)")

    for a in clearnet:
        for block in a.findall("settings"):
            for s in list(block.findall("setting")):
                if s.get("name") == OPTION or s.get("name", "").startswith(PREFIX):
                    block.remove(s)
        print(f"uninstall: {name_of(a)} no longer has the onion option")

    if not companions and not clearnet:
        print("uninstall: no account uses the plugin")
        return
    st = os.stat(path)
    backup = path + ".before-uninstall"
    write_like(backup, open(path, "rb").read(), st)
    ET.indent(tree, space="\t")
    fd, tmp = tempfile.mkstemp(dir=config_dir, prefix=".accounts.xml.")
    with os.fdopen(fd, "wb") as f:
        tree.write(f, encoding="UTF-8", xml_declaration=True)
        f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())
    own_like(tmp, st)
    os.replace(tmp, path)
    print(f"uninstall: wrote {path} (the previous one is {backup})")


def own_like(path, st):
    os.chmod(path, st.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)


def write_like(path, data, st):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    own_like(path, st)


# --- prefs.xml ----------------------------------------------------------------

def drop_prefs(config_dir):
    """Forget the plugin in prefs.xml: its own prefs and its entry in the UIs' loaded lists."""
    path = os.path.join(config_dir, "prefs.xml")
    if not os.path.exists(path):
        return
    tree = ET.parse(path)
    changed = False
    for parent in tree.getroot().iter("pref"):
        for child in list(parent.findall("pref")):
            if parent.get("name") == "core" and child.get("name") == "core-purple-onion":
                parent.remove(child)
                changed = True
        if parent.get("name") == "loaded" and parent.get("type") == "pathlist":
            for item in list(parent.findall("item")):
                if os.path.basename(item.get("value", "")) == "purple-onion.so":
                    parent.remove(item)
                    changed = True
    if not changed:
        return
    st = os.stat(path)
    ET.indent(tree, space="\t")
    fd, tmp = tempfile.mkstemp(dir=config_dir, prefix=".prefs.xml.")
    with os.fdopen(fd, "wb") as f:
        tree.write(f, encoding="UTF-8", xml_declaration=True)
        f.write(b"\n")
    own_like(tmp, st)
    os.replace(tmp, path)
    print(f"uninstall: removed the plugin's preferences from {path}")


def main(argv):
    if len(argv) >= 2 and argv[0] == "running":
        found = running(argv[1])
        if found:
            print(f"uninstall: {', '.join(found)} is running with {argv[1]}: quit it first "
                  "(Pidgin: Buddy List → Quit; Finch: Alt+Q), then run this again", file=sys.stderr)
            return 3
        return 0
    if len(argv) == 2 and argv[0] == "accounts":
        restore_accounts(argv[1])
        return 0
    if len(argv) == 2 and argv[0] == "prefs":
        drop_prefs(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
