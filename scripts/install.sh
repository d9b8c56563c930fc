#!/usr/bin/env bash
# Installs purple-onion for the current user (under sudo: for $SUDO_USER):
# the Debian packages it needs, a build of this checkout, the libpurple plugin
# in ~/.purple/plugins, and a `purple-onion` command in ~/.local/bin.
# Safe to run again: it puts the same files in the same places.
# scripts/uninstall.sh undoes it.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install.sh [OPTIONS]

Installs purple-onion from this checkout for you (run with sudo, for the user
who ran sudo): the Debian packages it needs (apt-get), the build (npm ci,
npm run build, npm run build:native), the Pidgin/Finch plugin in
~/.purple/plugins (with purple-onion.ini, which tells the plugin how to start
the daemon) and the command ~/.local/bin/purple-onion.

Options:
  --user-dir DIR    install for the home directory DIR instead of yours
                    (the plugin goes to DIR/.purple/plugins, the command to
                    DIR/.local/bin); for tests and staging
  --config-dir DIR  libpurple's config dir (pidgin/finch -c DIR); default
                    <home>/.purple
  --prefix DIR      put the command in DIR/bin; default <home>/.local
  --no-apt          do not install Debian packages (you have them)
  --no-build        use the build already in the checkout as it is
  --rebuild         build even if the build in the checkout is up to date
  -h, --help        show this help

Needs: Debian 12 or newer, Node 20 or newer (NODE=/path/to/node to choose one).
EOF
}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

CHECKOUT="$(cd "$(dirname "$0")/.." && pwd -P)"
user_dir="" config_dir="" prefix="" apt=1 build=auto
while [ "$#" -gt 0 ]; do
  case "$1" in
    --user-dir) user_dir="${2:?--user-dir needs a directory}"; shift 2 ;;
    --user-dir=*) user_dir="${1#*=}"; shift ;;
    --config-dir) config_dir="${2:?--config-dir needs a directory}"; shift 2 ;;
    --config-dir=*) config_dir="${1#*=}"; shift ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --no-apt) apt=0; shift ;;
    --no-build) build=never; shift ;;
    --rebuild) build=always; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

# --- whose install this is ---------------------------------------------------
# Under sudo the files belong to the user who ran sudo, not to root.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  owner="$SUDO_USER"
  owner_home="$(getent passwd "$owner" | cut -d: -f6)"
else
  owner="$(id -un)"
  owner_home="$HOME"
fi
owner_group="$(id -gn "$owner")"
home="${user_dir:-$owner_home}"
[ -n "$home" ] || die "cannot tell your home directory (give --user-dir DIR)"
mkdir -p "$home"
home="$(cd "$home" && pwd -P)"
config_dir="${config_dir:-$home/.purple}"
prefix="${prefix:-$home/.local}"
plugins_dir="$config_dir/plugins"
bin_dir="$prefix/bin"

# Creates a directory (and its missing parents) owned by the owner.
make_dir() {
  local dir="$1" mode="$2" missing=()
  while [ ! -d "$dir" ]; do
    missing=("$dir" "${missing[@]}")
    dir="$(dirname "$dir")"
  done
  for dir in "${missing[@]}"; do
    install -d -m "$mode" "$dir"
    [ "$(id -un)" = "$owner" ] || chown "$owner:$owner_group" "$dir"
  done
}

# Writes stdin to $1 with mode $2, owned by the owner, replacing it atomically.
write_file() {
  local target="$1" mode="$2" tmp
  tmp="$(mktemp "$target.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  [ "$(id -un)" = "$owner" ] || chown "$owner:$owner_group" "$tmp"
  mv -f "$tmp" "$target"
}

# --- Debian packages ---------------------------------------------------------
PACKAGES=(
  tor                 # the daemon launches its own tor (or attaches to yours)
  libsasl2-modules    # SCRAM for libpurple: the daemon offers SCRAM only
  libjson-glib-1.0-0  # the plugin speaks the daemon's JSON control protocol
  python3             # scripts/uninstall.sh edits accounts.xml with it
  # To build the plugin (npm run build:native):
  libpurple-dev libjson-glib-dev cmake g++ make pkg-config
)
if [ "$apt" -eq 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "installing ${missing[*]} needs root: run this as root or with sudo, or install them and pass --no-apt"
      SUDO="sudo"
    fi
    say "installing ${missing[*]} with apt-get"
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
  else
    say "Debian packages: all there"
  fi
fi

# --- Node 20 -----------------------------------------------------------------
node="${NODE:-$(command -v node || true)}"
[ -n "$node" ] && [ -x "$node" ] || die "Node.js is not installed. purple-onion needs Node 20 or newer; Debian 12's nodejs is 18.
  Get Node 20 from NodeSource (https://github.com/nodesource/distributions: their setup_20.x script, then apt-get install nodejs)
  or from https://nodejs.org/en/download, then run this again (NODE=/path/to/node $0 picks a node not on PATH)."
node="$(readlink -f "$node")"
node_version="$("$node" -p process.versions.node)"
[ "${node_version%%.*}" -ge 20 ] || die "$node is Node $node_version; purple-onion needs Node 20 or newer (Debian 12 ships 18).
  Get Node 20 from NodeSource (https://github.com/nodesource/distributions: their setup_20.x script, then apt-get install nodejs)
  or from https://nodejs.org/en/download, then run this again (NODE=/path/to/node $0 picks a node not on PATH)."
npm="$(dirname "$node")/npm"
[ -x "$npm" ] || npm="$(command -v npm || true)"

# --- the build ---------------------------------------------------------------
ENTRY="$CHECKOUT/dist/src/cli/main.js"
PLUGIN_SO="$CHECKOUT/build/native/Release/purple-onion.so"
# Newer sources than the build, or no build: build again.
stale() {
  local artifact="$1"; shift
  [ -e "$artifact" ] || return 0
  [ -n "$(cd "$CHECKOUT" && find "$@" -newer "$artifact" -type f -print -quit 2>/dev/null)" ]
}
checkout_owner="$(stat -c %U "$CHECKOUT")"
in_checkout() {
  if [ "$(id -un)" = "$checkout_owner" ]; then
    (cd "$CHECKOUT" && "$@")
  else
    (cd "$CHECKOUT" && runuser -u "$checkout_owner" -- env PATH="$(dirname "$node"):$PATH" "$@")
  fi
}
if [ "$build" != never ]; then
  [ -n "$npm" ] || die "npm is not installed (it comes with Node 20 from NodeSource or nodejs.org)"
  export PATH="$(dirname "$node"):$PATH"
  if [ "$build" = always ] || stale node_modules/.package-lock.json package-lock.json; then
    say "installing npm dependencies (npm ci)"
    in_checkout "$npm" ci --no-audit --no-fund
  fi
  if [ "$build" = always ] || stale "$ENTRY" src tsconfig.json; then
    say "building the daemon (npm run build)"
    in_checkout "$npm" run build
  else
    say "the daemon's build is up to date"
  fi
  if [ "$build" = always ] || stale "$PLUGIN_SO" native plugin-manifest; then
    say "building the plugin (npm run build:native)"
    in_checkout "$npm" run build:native
  else
    say "the plugin's build is up to date"
  fi
fi
[ -f "$ENTRY" ] || die "$ENTRY is missing: build first (npm ci && npm run build), or drop --no-build"
[ -f "$PLUGIN_SO" ] || die "$PLUGIN_SO is missing: build it first (npm run build:native), or drop --no-build"

# --- the plugin --------------------------------------------------------------
make_dir "$config_dir" 0700
make_dir "$plugins_dir" 0700
write_file "$plugins_dir/purple-onion.so" 0644 <"$PLUGIN_SO"
# GKeyFile syntax: a backslash in a value is written \\.
ini_value() { printf '%s' "$1" | sed 's/\\/\\\\/g'; }
write_file "$plugins_dir/purple-onion.ini" 0644 <<EOF
# Written by purple-onion's scripts/install.sh; the plugin reads it to start
# the daemon. scripts/uninstall.sh removes it.
[runtime]
node=$(ini_value "$node")
entry=$(ini_value "$ENTRY")

[installed]
command=$(ini_value "$bin_dir/purple-onion")
EOF
say "installed the plugin: $plugins_dir/purple-onion.so"

# --- the command ---------------------------------------------------------------
make_dir "$bin_dir" 0755
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
write_file "$bin_dir/purple-onion" 0755 <<EOF
#!/bin/sh
# purple-onion (installed by scripts/install.sh from $CHECKOUT)
exec $(quote "$node") $(quote "$ENTRY") "\$@"
EOF
say "installed the command: $bin_dir/purple-onion"

case ":${PATH}:" in
  *":$bin_dir:"*) ;;
  *) say "note: $bin_dir is not on your PATH (Debian's ~/.profile adds ~/.local/bin at your next login if it exists)" ;;
esac

cat <<EOF

Next:
  1. Start Pidgin (or restart it if it is running) and enable the plugin:
     Tools → Plugins → tick "Purple Onion".
     (Finch: Alt+A → Plugins, select Purple Onion, press Space.)
  2. Accounts → Manage Accounts → select your XMPP account → Modify →
     Advanced tab → tick "Federate over Tor onion service" → Save.
     The plugin starts the purple-onion daemon and signs on your onion
     identity; the clearnet account stays offline meanwhile.
  purple-onion --help shows what the daemon is doing (purple-onion status).
  To remove it all: $CHECKOUT/scripts/uninstall.sh
EOF
