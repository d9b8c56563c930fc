#!/usr/bin/env bash
# Undoes scripts/install.sh for the current user (under sudo: for $SUDO_USER):
# removes the plugin, purple-onion.ini and the purple-onion command, and puts
# the accounts back as they were before the first tick of "Federate over Tor
# onion service" (scripts/uninstall-accounts.py says exactly how). Keeps the
# daemon's data (onion keys, messages) unless asked to delete it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/uninstall.sh [OPTIONS]

Removes purple-onion from your Pidgin/Finch: the plugin and purple-onion.ini
from ~/.purple/plugins, the command ~/.local/bin/purple-onion, and in
~/.purple/accounts.xml the onion accounts the plugin made; each account you
had ticked loses the option and is enabled again if it was enabled before.
Quit Pidgin and Finch first. The daemon's data dir (your onion keys and
stored messages) stays unless you pass --purge.

Options:
  --user-dir DIR    uninstall from the home directory DIR instead of yours
  --config-dir DIR  libpurple's config dir (pidgin/finch -c DIR); default
                    <home>/.purple
  --prefix DIR      where the command was installed (DIR/bin); default
                    <home>/.local
  --purge           also stop the daemon and delete its data dir
  --data-dir DIR    the daemon's data dir for --purge; default
                    <home>/.local/share/purple-onion
  -h, --help        show this help
EOF
}

say() { printf 'uninstall: %s\n' "$*"; }
die() { printf 'uninstall: %s\n' "$*" >&2; exit 1; }

HERE="$(cd "$(dirname "$0")" && pwd -P)"
user_dir="" config_dir="" prefix="" purge=0 data_dir=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --user-dir) user_dir="${2:?--user-dir needs a directory}"; shift 2 ;;
    --user-dir=*) user_dir="${1#*=}"; shift ;;
    --config-dir) config_dir="${2:?--config-dir needs a directory}"; shift 2 ;;
    --config-dir=*) config_dir="${1#*=}"; shift ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --purge) purge=1; shift ;;
    --data-dir) data_dir="${2:?--data-dir needs a directory}"; shift 2 ;;
    --data-dir=*) data_dir="${1#*=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  owner="$SUDO_USER"
  owner_home="$(getent passwd "$owner" | cut -d: -f6)"
else
  owner="$(id -un)"
  owner_home="$HOME"
fi
home="${user_dir:-$owner_home}"
[ -d "$home" ] || die "no such home directory: $home"
home="$(cd "$home" && pwd -P)"
config_dir="${config_dir:-$home/.purple}"
prefix="${prefix:-$home/.local}"
data_dir="${data_dir:-$home/.local/share/purple-onion}"
plugins_dir="$config_dir/plugins"
command -v python3 >/dev/null || die "python3 is needed to edit accounts.xml safely (apt-get install python3)"

# accounts.xml and prefs.xml are rewritten by a running Pidgin or Finch: edit
# them only while none uses this config dir.
if [ -d "$config_dir" ]; then
  python3 "$HERE/uninstall-accounts.py" running "$config_dir" || exit $?
fi

# Where install.sh put the command (purple-onion.ini says), and the daemon's entry.
ini="$plugins_dir/purple-onion.ini"
ini_get() { [ -f "$ini" ] && sed -n "s/^$1=//p" "$ini" | head -n 1 | sed 's/\\\\/\\/g'; }
wrapper="$(ini_get command || true)"
wrapper="${wrapper:-$prefix/bin/purple-onion}"
node="$(ini_get node || true)"
entry="$(ini_get entry || true)"

# --- accounts and preferences --------------------------------------------------
if [ -d "$config_dir" ]; then
  python3 "$HERE/uninstall-accounts.py" accounts "$config_dir"
  python3 "$HERE/uninstall-accounts.py" prefs "$config_dir"
fi

# --- files ---------------------------------------------------------------------
for f in "$plugins_dir/purple-onion.so" "$ini"; do
  if [ -e "$f" ]; then rm -f "$f"; say "removed $f"; fi
done
# Only the wrapper install.sh wrote, never another program of that name.
if [ -f "$wrapper" ] && grep -q "installed by scripts/install.sh" "$wrapper"; then
  rm -f "$wrapper"
  say "removed $wrapper"
fi

# --- the daemon's data -----------------------------------------------------------
if [ "$purge" -eq 1 ]; then
  if [ -S "$data_dir/control.sock" ] && [ -n "$node" ] && [ -f "$entry" ]; then
    say "stopping the daemon"
    "$node" "$entry" stop --data-dir "$data_dir" || say "could not stop it (is it still running? see: ps -u $owner)"
  fi
  if [ -e "$data_dir" ]; then
    rm -rf -- "$data_dir"
    say "deleted the daemon's data dir $data_dir (onion keys and stored messages)"
  fi
else
  if [ -e "$data_dir" ]; then
    say "kept the daemon's data dir $data_dir: your onion identities (keys) and stored messages."
    [ -S "$data_dir/control.sock" ] && say "a daemon may still be running for it; ${node:+$node $entry }stop --data-dir $data_dir stops it"
    say "run again with --purge to stop the daemon and delete it"
  fi
fi
say "done"
