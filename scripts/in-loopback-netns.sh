#!/bin/sh
# Usage: scripts/in-loopback-netns.sh CMD [ARGS...]
#
# Runs CMD in a new network namespace whose only interface is loopback, so a
# test can reach 127.0.0.1 and nothing else: a DNS lookup or a clearnet
# connect fails at once ("network unreachable") instead of leaving the
# machine. Needs root (CAP_SYS_ADMIN), unshare (util-linux) and ip
# (iproute2); without them it says why on stderr and runs CMD as it is.
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
  echo "in-loopback-netns: $reason; running $1 WITHOUT a network namespace (it can reach the network)" >&2
  exec "$@"
fi

exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
