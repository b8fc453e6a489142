#!/usr/bin/env bash
# Lab: `lab up` twice is harmless (same gateway keeps running), `lab down`
# twice is harmless and leaves no namespace, veth, file or process behind.
# usage: lab_lifecycle_test.sh up|down
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
LAB="$ROOT/scripts/lab"
fail() { echo "FAIL: $*" >&2; exit 1; }

case $1 in
up)
    "$LAB" down >/dev/null 2>&1 || true   # start from a clean lab, whatever ran before
    "$LAB" up >/dev/null
    pid=$(cat /run/smtpgw-lab/smtpgw.pid)
    "$LAB" up >/dev/null
    [[ $(cat /run/smtpgw-lab/smtpgw.pid) == "$pid" ]] || fail "second 'lab up' restarted the gateway"
    kill -0 "$pid" || fail "gateway not running after 'lab up'"
    "$LAB" exec wan true || fail "'lab exec wan' does not work"
    echo "lab up twice: ok (gateway pid $pid)"
    ;;
down)
    pid=$(cat /run/smtpgw-lab/smtpgw.pid 2>/dev/null || echo "")
    first=$("$LAB" down 2>&1)
    echo "$first"
    grep -q "gateway stopped cleanly" <<<"$first" || fail "the gateway did not stop cleanly on SIGTERM"
    "$LAB" down
    ip netns list | grep -q smtpgw- && fail "namespaces left: $(ip netns list)"
    ip link show gw-wan >/dev/null 2>&1 && fail "veth gw-wan left"
    ip link show gw-lan >/dev/null 2>&1 && fail "veth gw-lan left"
    [[ -e /run/smtpgw-lab ]] && fail "/run/smtpgw-lab left"
    [[ -e /run/smtpgw ]] && fail "/run/smtpgw left"
    [[ -e /run/dpdk/smtpgw ]] && fail "DPDK runtime dir /run/dpdk/smtpgw left"
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && fail "gateway process $pid left"
    pgrep -f lab-lan-server >/dev/null && fail "LAN server process left"
    echo "lab down twice: nothing left"
    ;;
*) fail "usage: $0 up|down" ;;
esac
