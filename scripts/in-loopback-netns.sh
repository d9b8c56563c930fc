#!/bin/sh
# Usage: scripts/in-loopback-netns.sh CMD [ARGS...]
#
# Runs CMD in a new network namespace where only loopback leads anywhere, so
# a test can reach 127.0.0.1 and nothing else: a DNS lookup or a clearnet
# connect fails at once ("network unreachable") instead of leaving the
# machine. The namespace also has decoy addresses, 10.77.77.77/24 and
# fd77::77/64, on d0, one end of a veth pair whose other end (d1) stays in
# the namespace: to a program inside they look like the machine's LAN
# addresses (libpurple lists them as its own), so a test can search what
# left a client for them (issue 9). They are exported as
# PURPLE_ONION_DECOY_ADDRS. No route leads out: there is no default route.
# It has its own host name too (a UTS namespace), po-decoy-host-77, exported
# as PURPLE_ONION_DECOY_HOSTNAME, distinctive enough to search for; as on a
# Debian install, /etc/hosts names it (127.0.1.1), through a bind mount in a
# mount namespace of its own: the machine's /etc/hosts is not touched. (Not
# in /etc/hosts, a lookup of the host name would go to DNS: Cyrus SASL makes
# one at every libpurple sign-on.)
# Needs root (CAP_SYS_ADMIN), unshare (util-linux), ip (iproute2) and veth
# support in the kernel. Without them it says why on stderr, and then:
#   * in CI (CI=true or CI=1) it exits 1 without running CMD: CI never runs
#     the suite with full network access;
#   * elsewhere it runs CMD as it is (a developer's machine, not root).
# Programs inside may make their own nested namespaces (unshare -n).
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
reason=""
if [ "$(id -u)" -ne 0 ]; then
  reason="not running as root"
elif ! command -v unshare >/dev/null 2>&1; then
  reason="unshare is not installed (apt-get install util-linux)"
elif ! command -v ip >/dev/null 2>&1; then
  reason="ip is not installed (apt-get install iproute2)"
elif ! probe=$(unshare --net -- ip link set lo up 2>&1); then
  reason="cannot create a network namespace here: $probe"
elif ! probe=$(unshare --net --uts --mount -- ip link add d0 type veth peer name d1 2>&1); then
  reason="cannot create the decoy interface (veth) in a network namespace: $probe"
fi

if [ -n "$reason" ]; then
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    true | 1)
      echo "in-loopback-netns: $reason; CI=${CI} so $1 is NOT run: CI runs the tests only where nothing but loopback can be reached (run as root with unshare and ip)" >&2
      exit 1
      ;;
  esac
  echo "in-loopback-netns: $reason; running $1 WITHOUT a network namespace (it can reach the network)" >&2
  exec "$@"
fi

PURPLE_ONION_DECOY_ADDRS="10.77.77.77 fd77::77"
PURPLE_ONION_DECOY_HOSTNAME="po-decoy-host-77"
export PURPLE_ONION_DECOY_ADDRS PURPLE_ONION_DECOY_HOSTNAME
# The namespace's /etc/hosts: removed when CMD ends (not before: a namespace
# made inside this one bind-mounts from it too).
PO_NETNS_HOSTS=$(mktemp)
trap 'rm -f "$PO_NETNS_HOSTS"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
{ cat /etc/hosts; printf '127.0.1.1\t%s\n' "$PURPLE_ONION_DECOY_HOSTNAME"; } > "$PO_NETNS_HOSTS"
export PO_NETNS_HOSTS
status=0
unshare --net --uts --mount -- sh -c '
  echo "$PURPLE_ONION_DECOY_HOSTNAME" > /proc/sys/kernel/hostname &&
  mount --bind "$PO_NETNS_HOSTS" /etc/hosts && unset PO_NETNS_HOSTS &&
  ip link set lo up &&
  ip link add d0 type veth peer name d1 &&
  ip addr add 10.77.77.77/24 dev d0 &&
  ip -6 addr add fd77::77/64 dev d0 nodad &&
  ip link set d1 up && ip link set d0 up &&
  exec "$@"' sh "$@" || status=$?
exit "$status"
