#!/usr/bin/env bash
# Forbids what must never appear on the per-packet path: logging, iostreams,
# locks, and heap allocation. The files are the fast-path loop and the pure
# per-frame code it calls (dataplane/README.md). A hit fails with FILE:LINE.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
FILES=(dataplane/io/worker.cc dataplane/net/l3_input.cc dataplane/net/l3_output.cc
       dataplane/net/checksum.cc dataplane/net/fault_injector.cc dataplane/tcp/tcp_input.cc
       dataplane/tcp/tcp_output.cc dataplane/tcp/tcp_timers.cc dataplane/tcp/tcp_packet.cc
       dataplane/tcp/tcp_stack.cc dataplane/filter/peer_filter.cc dataplane/filter/peer_limits.cc)
PATTERN='\b(printf|fprintf|puts|syslog|std::cout|std::cerr|iostream|std::mutex|lock_guard|unique_lock|pthread_mutex|malloc|calloc|realloc|make_unique|make_shared|rte_log|RTE_LOG)\b|\bnew\b|\bdelete\b'
status=0
for f in "${FILES[@]}"; do
    # strip // comments before matching
    if hits=$(sed 's|//.*$||' "$ROOT/$f" | grep -nE "$PATTERN"); then
        while IFS= read -r h; do echo "$f:${h%%:*}: forbidden on the fast path: ${h#*:}"; done <<<"$hits"
        status=1
    fi
done
((status == 0)) && echo "fast path clean: ${FILES[*]}"
exit $status
