#!/usr/bin/env bash
# Sets up a fresh Debian machine for purple-onion: system packages, npm
# dependencies, build. Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the runtime needs: nothing beyond Node 20. What the tests and the
# benchmark need: real peers and clients from Debian.
PACKAGES=(
  prosody          # reference XMPP server: harness validation and benchmark comparison
  prosody-modules  # mod_onions: Prosody as a federation peer over Tor in the tests
  python3-slixmpp  # a real third-party XMPP client for the tests
  finch            # libpurple's terminal client: the XMPP code Pidgin uses, signing on in tests
  tmux             # drives Finch's screen in tests
  iproute2         # loopback-only network namespaces for test clients
  util-linux       # unshare/nsenter for those namespaces
  tor              # launch mode's tor, and the private Tor network of the tests (tor, tor-gencert)
  strace           # tests prove the daemon sends nothing to DNS or outside loopback
  libsasl2-modules # SCRAM for libpurple (Cyrus SASL): without it Pidgin/Finch cannot log in, the server offers SCRAM only
  # The native half (npm run build:native): the libpurple plugin and the bridge addon.
  libpurple-dev    # libpurple's headers and pkg-config file
  libjson-glib-dev # the plugin reads and writes the daemon's JSON control protocol with it
  cmake            # cmake-js drives it
  g++
  make
  pkg-config
  pidgin           # the plugin in Pidgin's own UI, under Xvfb (screenshots in docs/)
  xvfb
  xdotool
  imagemagick      # import: screenshots of Pidgin's windows
  python3          # scripts/uninstall.sh edits accounts.xml with it (tested in test/ui/install.test.ts)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]} with apt-get"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  # policy-rc.d or not, the test suites never use the system services; they start their own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
fi

node -e 'const [maj] = process.versions.node.split("."); if (+maj < 20) { console.error(`setup: Node ${process.versions.node} is too old: purple-onion needs Node 20 or newer`); process.exit(1); }'

echo "setup: installing npm dependencies"
npm ci --no-audit --no-fund
echo "setup: building"
npm run build
echo "setup: building the libpurple plugin and the bridge addon"
npm run build:native
