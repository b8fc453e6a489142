#!/usr/bin/env bash
# tests/bench/scan_clamscan.sh BUILD: content-scanning benchmark (issue 7) in
# one run: smtpgw-bench-scan (Hyperscan stage against raw Hyperscan, MIME
# decoding, libclamav per worker, reload memory), then clamscan on the same
# decoded parts with the same database. clamscan's own start (database load)
# is measured on an empty folder and taken off, so both figures are scan time.
# Everything runs on one core (taskset): the daemon keeps its antivirus
# workers and their scanner threads on the main lcore's core, so a part's
# hand-over to the worker process is a switch on one core, as measured here.
set -euo pipefail
build=$1
db=/var/lib/smtpgw/clamav
parts=$(mktemp -d /tmp/smtpgw-scan-parts.XXXXXX)
empty=$(mktemp -d /tmp/smtpgw-scan-empty.XXXXXX)
trap 'rm -rf "$parts" "$empty"' EXIT
out=$(taskset -c 0 "$build/tests/bench/smtpgw-bench-scan" --messages 2000 --av "$db" --write-parts "$parts")
echo "$out" | grep -v '^AVSCAN_MS'
ours_ms=$(echo "$out" | awk '/^AVSCAN_MS/ {print $2}')
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
start_ms=$(ms taskset -c 0 clamscan --no-summary --infected -d "$db" -r "$empty")
total_ms=$(ms taskset -c 0 clamscan --no-summary --infected -d "$db" -r "$parts")
scan_ms=$((total_ms - start_ms))
awk -v ours="$ours_ms" -v theirs="$scan_ms" -v start="$start_ms" 'BEGIN {
    printf "clamscan, same parts and db:   %8.1f ms (%d ms with its start)\n", theirs, theirs + start
    printf "ratio clamscan / smtpgw worker: %7.2f (above 1: the worker is faster)\n", theirs / ours }'
