#!/bin/sh
# Usage: scripts/in-loopback-netns.sh CMD [ARGS...]
#
# Runs CMD in a new network namespace whose only interface is loopback, so a
# test can reach 127.0.0.1 and nothing else: a DNS lookup or a clearnet
# connect fails at once ("network unreachable") instead of leaving the
# machine. Needs root (CAP_SYS_ADMIN), unshare (util-linux) and ip
# (iproute2). Without them it says why on stderr, and then:
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

exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
