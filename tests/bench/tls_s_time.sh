#!/usr/bin/env bash
# tests/bench/tls_s_time.sh CERT KEY: the outside baseline for STARTTLS
# handshakes: `openssl s_server` on loopback driven by `openssl s_time` for 5 s,
# full (-new) and resumed (-reuse), TLS 1.3 and 1.2. Prints handshakes per
# second of s_server CPU (from /proc: its user+system time during the run),
# the figure smtpgw-bench-tls gives for smtpgw. Loopback only; stops itself.
set -euo pipefail
cert=${1:?cert} key=${2:?key}
port=44330
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf 'openssl s_server + s_time over loopback (5 s each), handshakes per second of s_server CPU:\n'
for version in -tls1_3 -tls1_2; do
    openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -key "$key" -www -quiet -num_tickets 1 \
        "$version" >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 50); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
    for mode in -new -reuse; do
        before=$(cpu_ticks "$server")
        out=$(timeout 30 openssl s_time -connect "127.0.0.1:$port" "$mode" -time 5 2>&1 || true)
        after=$(cpu_ticks "$server")
        count=$(awk '/connections in .* real seconds/ {print $1; exit}' <<<"$out")
        cpu=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}')
        awk -v c="${count:-0}" -v s="$cpu" -v v="$version" -v m="$mode" 'BEGIN {
            printf "  %s %-6s %6d handshakes, s_server CPU %.2f s: %8.0f/s\n", v, m, c, s, (s > 0 ? c / s : 0) }'
    done
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
done
