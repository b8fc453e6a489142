#!/usr/bin/env bash
# tests/bench/smtp_baselines.sh: the SMTP benchmark of issue 5 on a private copy
# of the lab's topology, with the same load generator and the same LAN sink for
# every scenario:
#   ideal    (c) a kernel router in the gateway's place: the generator talks to
#                the sink (198.51.100.25) directly
#   postfix  (b) Postfix as a before-queue proxy gateway on 203.0.113.1:25
#                (postscreen + smtpd, smtpd_proxy_filter to the sink, relay only
#                for example.com: scripts/lab-postfix start gw)
#   smtpgw   (a) smtpgw in the gateway's place: see scenario_smtpgw below (not
#                measured until the SMTP engine exists)
# Generator: Postfix's smtp-source, 2 KB messages, one message per connection,
# 20 sessions; it gives msg/s. Latency: tests/bench/smtp_bench.py latency, which
# sends the same bytes the same way (one message per connection, same 20
# sessions, closed loop) and times each message from connect() to the 250 after
# its "."; run as a second pass right after. Sink: Postfix's smtp-sink on
# 198.51.100.25:25. CPU: the gateway's processes (all of Postfix's, from
# /proc/<pid>/stat over the smtp-source pass) and the whole machine (/proc/stat).
#
#   smtp_baselines.sh [--messages N] [--sessions N] [--rounds N] [--only ideal|postfix|smtpgw]...
#   smtp_baselines.sh --check-postfix   verify scripts/lab-postfix's three roles end to end
#
# Topology (never the real lab: its own namespaces, veths b-*, the lab's addresses):
#   smtpgw-bwan: b-wan0 203.0.113.254/24, client 203.0.113.10/32 on lo (source of all mail)
#   smtpgw-bgw:  b-gw-wan 203.0.113.1/24, b-gw-lan 198.51.100.1/24 (kernel router,
#                Postfix gateway host, or no addresses at all for smtpgw's DPDK)
#   smtpgw-blan: b-lan0 198.51.100.25/24, default via 198.51.100.1 (the sink)
# Offloads are off on all four veth ends in every scenario, as in the lab (smtpgw's
# af_packet needs it), so every scenario runs on the same wires. Everything is
# torn down at the end, also on failure or interrupt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../scripts/lib/common.sh"
require_root "$0" "$@"

ROOT=$SMTPGW_ROOT
PY=/usr/bin/python3
HELPER=$here/smtp_bench.py
LAB_POSTFIX=$ROOT/scripts/lab-postfix
STATE=/run/smtpgw-bench
NS_WAN=smtpgw-bwan
NS_GW=smtpgw-bgw
NS_LAN=smtpgw-blan
CLIENT=203.0.113.10
GW_WAN=203.0.113.1
SINK=198.51.100.25
FROM=sender@example.org
TO=rcpt@example.com
LENGTH=2048

MESSAGES=10000
SESSIONS=20
ROUNDS=3
ONLY=()
CHECK_POSTFIX=0
usage() { die "usage: smtp_baselines.sh [--messages N] [--sessions N] [--rounds N] [--only ideal|postfix|smtpgw]... | --check-postfix"; }
while (($#)); do
    case $1 in
    --messages) MESSAGES=${2:?}; shift ;;
    --sessions) SESSIONS=${2:?}; shift ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    --only) ONLY+=("${2:?}"); shift ;;
    --check-postfix) CHECK_POSTFIX=1 ;;
    *) usage ;;
    esac
    shift
done
[[ $MESSAGES =~ ^[0-9]+$ && $MESSAGES -ge 100 ]] || die "--messages: at least 100"
[[ $SESSIONS =~ ^[0-9]+$ && $SESSIONS -ge 1 && $SESSIONS -le 200 ]] || die "--sessions: 1..200"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 20 ]] || die "--rounds: 1..20"
# Every run is bounded: no pass may take longer than this (at least 50 msg/s).
PASS_TIMEOUT=$((30 + MESSAGES / 50))

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# --- teardown (also on failure) ---------------------------------------------
SINK_PID=""
SMTPGW_PID=""
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -n $SMTPGW_PID ]] && stop_smtpgw
    [[ -n $SINK_PID ]] && stop_sink
    [[ -d $STATE ]] && LAB_POSTFIX_STATE_DIR=$STATE "$LAB_POSTFIX" stop --all >/dev/null 2>&1
    for ns in $NS_WAN $NS_GW $NS_LAN; do ns_exists $ns && ip netns del $ns; done
    rm -rf "$STATE"
    rm -f /run/smtpgw-bench.lock
    ((rc == 0)) || log "smtp_baselines: failed (exit $rc); torn down"
    exit $rc
}

# Only one benchmark at a time owns the b-* namespaces; leftovers of a killed run are ours to clear.
exec 9>/run/smtpgw-bench.lock
flock -n 9 || die "another smtp_baselines.sh is running (lock /run/smtpgw-bench.lock)"
trap teardown EXIT
trap 'exit 130' INT TERM
for ns in $NS_WAN $NS_GW $NS_LAN; do ns_exists $ns && ip netns del $ns; done
rm -rf "$STATE"
mkdir -p "$STATE"
chmod 755 "$STATE"

# --- topology ------------------------------------------------------------------
offloads_off() { in_ns "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }

topology_up() {
    ip netns add $NS_WAN
    ip netns add $NS_GW
    ip netns add $NS_LAN
    ip link add b-wan0 netns $NS_WAN type veth peer name b-gw-wan netns $NS_GW
    ip link add b-lan0 netns $NS_LAN type veth peer name b-gw-lan netns $NS_GW
    local ns
    for ns in $NS_WAN $NS_GW $NS_LAN; do
        ip -n $ns link set lo up
        in_ns $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done
    ip -n $NS_WAN link set b-wan0 up
    ip -n $NS_WAN addr add 203.0.113.254/24 dev b-wan0
    ip -n $NS_WAN addr add $CLIENT/32 dev lo
    in_ns $NS_WAN sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.b-wan0.rp_filter=0
    # Every connection leaves from the lab's default client address.
    ip -n $NS_WAN route add $GW_WAN/32 dev b-wan0 src $CLIENT
    ip -n $NS_WAN route add 198.51.100.0/24 via $GW_WAN src $CLIENT
    ip -n $NS_GW link set b-gw-wan up
    ip -n $NS_GW link set b-gw-lan up
    ip -n $NS_LAN link set b-lan0 up
    ip -n $NS_LAN addr add $SINK/24 dev b-lan0
    ip -n $NS_LAN route add default via 198.51.100.1
    offloads_off $NS_WAN b-wan0
    offloads_off $NS_GW b-gw-wan
    offloads_off $NS_GW b-gw-lan
    offloads_off $NS_LAN b-lan0
}

gw_mode() { # router | host | bare: what smtpgw-bgw's kernel does
    local mode=$1
    ip -n $NS_GW addr flush dev b-gw-wan
    ip -n $NS_GW addr flush dev b-gw-lan
    in_ns $NS_GW sysctl -qw net.ipv4.ip_forward=0
    if [[ $mode != bare ]]; then
        ip -n $NS_GW addr add $GW_WAN/24 dev b-gw-wan
        ip -n $NS_GW addr add 198.51.100.1/24 dev b-gw-lan
        ip -n $NS_GW route replace default via 203.0.113.254
    fi
    [[ $mode == router ]] && in_ns $NS_GW sysctl -qw net.ipv4.ip_forward=1
    # Forget neighbors learned in another mode (smtpgw has its own MAC).
    ip -n $NS_WAN neigh flush all
    ip -n $NS_LAN neigh flush all
}

# --- the sink (smtp-sink on 198.51.100.25:25 in smtpgw-blan) ---------------------
SINK_COUNTS=$STATE/sink.counters
start_sink() {
    : >"$SINK_COUNTS"
    # -c: running counters (sess, quit, mesg) prove every message reached the LAN.
    ip netns exec $NS_LAN timeout $((PASS_TIMEOUT * 12 + 600)) smtp-sink -u postfix -c $SINK:25 1024 >"$SINK_COUNTS" 2>"$STATE/sink.err" &
    SINK_PID=$!
    wait_banner $NS_LAN $SINK 25 "smtp-sink" || { cat "$STATE/sink.err" >&2; die "smtp-sink did not start"; }
}
stop_sink() { kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; SINK_PID=""; }
sink_messages() { tr '\r' '\n' <"$SINK_COUNTS" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 | grep . || echo 0; }

wait_banner() { # NS ADDR PORT WHAT: until something answers 220 there (30 s at most)
    local ns=$1 addr=$2 port=$3 what=$4 deadline=$((SECONDS + 30))
    until in_ns "$ns" $PY -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)
s.settimeout(15)
d = s.recv(512)
s.sendall(b"QUIT\r\n"); s.close()
sys.exit(0 if d.startswith(b"220") else 1)' "$addr" "$port" 2>/dev/null; do
        ((SECONDS < deadline)) || { log "smtp_baselines: $what did not answer on $addr:$port in 30 s"; return 1; }
        sleep 0.2
    done
}

# --- one measurement ------------------------------------------------------------
# measure NAME TARGET GW_CPU_FN: warm-up, the smtp-source pass (msg/s, CPU), the
# latency pass (p50/p99). GW_CPU_FN prints the gateway's cumulative CPU seconds
# ("-" when there is no gateway process, the kernel router).
declare -A R_RANGE R_ROUNDS R_MSGS R_SECS R_RATE R_P50 R_P99 R_LRATE R_GWCPU R_ALLCPU R_GENCPU R_SINKCPU R_CMD R_LCMD R_NOTE
SCENARIOS=()
machine_cpu() { $PY "$HELPER" machine; }
tree_cpu() { $PY "$HELPER" cpu "$@"; }
fsub() { $PY -c 'import sys; a,b=sys.argv[1:]; print("-" if "-" in (a,b) else "%.3f" % (float(b)-float(a)))' "$1" "$2"; }
per_msg_ms() { $PY -c 'import sys; s,n=sys.argv[1:]; print("-" if s=="-" else "%.3f" % (float(s)*1000/int(n)))' "$1" "$2"; }
median() { # values ("-" stays "-"): the median, the lower one of an even count
    $PY -c 'import sys; v=sys.argv[1:]
print("-" if "-" in v else sorted(v, key=float)[(len(v)-1)//2])' "$@"; }
range() { $PY -c 'import sys; v=sorted(map(float, sys.argv[1:])); print("%.0f-%.0f" % (v[0], v[-1]))' "$@"; }
jget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); 
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }

measure() {
    local name=$1 target=$2 gwcpu_fn=$3
    local out=$STATE/$name
    mkdir -p "$out"
    local gen=(smtp-source -l "$LENGTH" -m "$MESSAGES" -s "$SESSIONS" -f "$FROM" -t "$TO" -M "[$CLIENT]" "$target:25")
    local lat=("$PY" "$HELPER" latency --server "$target" --port 25 --messages "$MESSAGES" --sessions "$SESSIONS"
        --length "$LENGTH" --from "$FROM" --to "$TO" --helo "[$CLIENT]" --timeout "$PASS_TIMEOUT")
    R_CMD[$name]="ip netns exec $NS_WAN ${gen[*]}"
    R_LCMD[$name]="ip netns exec $NS_WAN ${lat[*]/#$HELPER/tests/bench/smtp_bench.py}"

    # Warm-up (not measured): one message alone (Postfix's postscreen makes a new
    # client wait its greet time once), then 2 x sessions messages in parallel.
    log "smtp_baselines: $name: warm-up"
    in_ns $NS_WAN timeout 60 $PY "$HELPER" latency --server "$target" --messages 1 --sessions 1 --timeout 50 >"$out/warmup1.json" ||
        { cat "$out/warmup1.json" >&2; die "$name: warm-up failed"; }
    in_ns $NS_WAN timeout 60 $PY "$HELPER" latency --server "$target" --messages $((2 * SESSIONS)) --sessions "$SESSIONS" --timeout 50 >"$out/warmup2.json" ||
        { cat "$out/warmup2.json" >&2; die "$name: warm-up failed"; }

    local r v_secs="" v_rate="" v_gw="" v_all="" v_gen="" v_sink="" v_p50="" v_p99="" v_lrate=""
    for ((r = 1; r <= ROUNDS; r++)); do
        # Pass 1: smtp-source, the load generator of record: msg/s and CPU.
        log "smtp_baselines: $name: round $r/$ROUNDS: smtp-source, $MESSAGES messages, $SESSIONS sessions"
        local s0 g0 m0 k0 s1 g1 m1 k1
        s0=$(sink_messages); g0=$($gwcpu_fn); k0=$(tree_cpu "$SINK_PID"); m0=$(machine_cpu)
        if ! in_ns $NS_WAN timeout "$PASS_TIMEOUT" $PY "$HELPER" run "$out/source.$r.json" -- "${gen[@]}" >"$out/source.$r.out" 2>&1; then
            cat "$out/source.$r.out" >&2
            die "$name: smtp-source failed or took over $PASS_TIMEOUT s: ${gen[*]}"
        fi
        m1=$(machine_cpu); g1=$($gwcpu_fn); k1=$(tree_cpu "$SINK_PID")
        sleep 0.2
        s1=$(sink_messages)
        ((s1 - s0 == MESSAGES)) || die "$name: the sink counted $((s1 - s0)) messages, smtp-source sent $MESSAGES"
        local secs; secs=$(jget "$out/source.$r.json" seconds)
        v_secs+=" $secs"
        v_rate+=" $($PY -c "print('%.0f' % ($MESSAGES / $secs))")"
        v_gw+=" $(per_msg_ms "$(fsub "$g0" "$g1")" "$MESSAGES")"
        v_all+=" $(per_msg_ms "$(fsub "$m0" "$m1")" "$MESSAGES")"
        v_gen+=" $(per_msg_ms "$(jget "$out/source.$r.json" cpu_s)" "$MESSAGES")"
        v_sink+=" $(per_msg_ms "$(fsub "$k0" "$k1")" "$MESSAGES")"

        # Pass 2: the measuring client, same bytes, same sessions: latency.
        log "smtp_baselines: $name: round $r/$ROUNDS: latency pass, $MESSAGES messages, $SESSIONS sessions"
        s0=$(sink_messages)
        if ! in_ns $NS_WAN timeout $((PASS_TIMEOUT + 10)) "${lat[@]}" >"$out/latency.$r.json"; then
            cat "$out/latency.$r.json" >&2
            die "$name: latency pass failed: ${lat[*]}"
        fi
        sleep 0.2
        s1=$(sink_messages)
        ((s1 - s0 == MESSAGES)) || die "$name: the sink counted $((s1 - s0)) messages in the latency pass, $MESSAGES sent"
        v_p50+=" $(jget "$out/latency.$r.json" accept_ms.p50)"
        v_p99+=" $(jget "$out/latency.$r.json" accept_ms.p99)"
        v_lrate+=" $(jget "$out/latency.$r.json" msgs_per_s)"
    done
    R_MSGS[$name]="${ROUNDS}x$MESSAGES"
    R_SECS[$name]=$(median $v_secs)
    R_RATE[$name]=$(median $v_rate)
    R_RANGE[$name]=$(range $v_rate)
    R_GWCPU[$name]=$(median $v_gw)
    R_ALLCPU[$name]=$(median $v_all)
    R_GENCPU[$name]=$(median $v_gen)
    R_SINKCPU[$name]=$(median $v_sink)
    R_P50[$name]=$(median $v_p50)
    R_P99[$name]=$(median $v_p99)
    R_LRATE[$name]=$(median $v_lrate)
    R_ROUNDS[$name]="msg/s$v_rate | p50$v_p50 | p99$v_p99 | gw CPU$v_gw"
    SCENARIOS+=("$name")
}

# --- (c) the ideal wire -------------------------------------------------------
no_gw_cpu() { echo -; }
scenario_ideal() {
    gw_mode router
    measure "ideal (c)" $SINK no_gw_cpu
    R_NOTE["ideal (c)"]="kernel router in $NS_GW, generator -> $SINK:25 directly"
}

# --- (b) Postfix as a before-queue proxy gateway ---------------------------------
postfix_master() { tr -d ' \n' <"$STATE/postfix-bench-gw/queue/pid/master.pid"; }
postfix_cpu() { tree_cpu "$(postfix_master)"; } # master + every child, with reaped children's time
scenario_postfix() {
    gw_mode host
    LAB_POSTFIX_STATE_DIR=$STATE "$LAB_POSTFIX" start gw --netns $NS_GW --name bench-gw \
        --addr $GW_WAN --next-hop $SINK:25 >/dev/null
    measure "postfix (b)" $GW_WAN postfix_cpu
    R_NOTE["postfix (b)"]="postscreen+smtpd, smtpd_proxy_filter=$SINK:25 (scripts/lab-postfix start gw)"
    grep -E 'warning|fatal|error' "$STATE/postfix-bench-gw/maillog" | head -5 >&2 || true
    LAB_POSTFIX_STATE_DIR=$STATE "$LAB_POSTFIX" stop bench-gw >/dev/null
}

# ================================================================================
# (a) smtpgw: PLUG THE SMTP ENGINE IN HERE.
# Same generator, same sink, same wires, same measure(): only the thing in
# smtpgw-bgw changes. What is left to do when the SMTP engine answers on port 25:
#   1. set SMTPGW_SMTP_READY=1 (or detect it), and add the SMTP keys the engine
#      needs to bench_board() (relay domain example.com, LAN server 198.51.100.25:25);
#   2. make smtpgw_cpu print the fast path's *busy* time in seconds (per-lcore
#      busy cycles from `smtpgw-cli show stats`, divided by the TSC rate) instead
#      of the process CPU time it prints now (which counts idle polling and naps);
#   3. the peer filter's per-peer limits (10/s, 20 concurrent) would refuse the
#      benchmark's single client: bench_board() raises them.
# ================================================================================
SMTPGW_SMTP_READY=${SMTPGW_SMTP_READY:-1}
SMTPGW_BIN=$SMTPGW_BUILD/dataplane/smtpgw
SMTPGW_CLI=$SMTPGW_BUILD/controlplane/smtpgw-cli
SMTPGW_SOCK=$STATE/smtpgw-control.sock
bench_board() { # the virtual board on the benchmark's veths, its own control socket, no lab extras
    sed -e 's/iface=gw-wan/iface=b-gw-wan/' -e 's/iface=gw-lan/iface=b-gw-lan/' \
        -e "s|^control.socket = .*|control.socket = $SMTPGW_SOCK|" \
        -e 's|^peer_filter.state_file = .*|peer_filter.state_file = none|' \
        -e 's/^tcp.lab_services = on/tcp.lab_services = off/' \
        -e 's/^fastpath.fault_injection = on/fastpath.fault_injection = off/' \
        -e "s|^smtp.log_file = .*|smtp.log_file = $STATE/mail.log|" \
        -e '/^port\.[a-z]*\.ipv6/d' -e '/^port\.[a-z]*\.gateway6/d' -e '/^tcp\.relay_/d' \
        "$ROOT/board/virtual/board.conf"
    cat <<EOF
board.name = bench
peer_filter.rate_per_second = 1000000
peer_filter.burst = 1000000
peer_filter.max_concurrent = 10000
peer_filter.max_half_open = 10000
EOF
}
# The fast path's busy time in seconds (cycles of loop iterations that moved
# frames, summed over lcores, at the TSC rate measured once at start), not
# the process CPU time (which counts idle polling).
smtpgw_cycles() { # "busy per_lcore_total": busy summed over lcores, total per lcore
    "$SMTPGW_CLI" -s "$SMTPGW_SOCK" show stats | $PY -c 'import re,sys
b=t=n=0
for m in re.finditer(r"busy_cycles (\d+)\s+idle_cycles (\d+)", sys.stdin.read()):
    b+=int(m.group(1)); t+=int(m.group(1))+int(m.group(2)); n+=1
print(b, t // max(n, 1))'
}
smtpgw_tsc_hz() { # per-lcore cycles advance at the TSC rate: measure over 1 s
    local a b
    read -r _ a < <(smtpgw_cycles); sleep 1; read -r _ b < <(smtpgw_cycles)
    SMTPGW_TSC_HZ=$((b - a))
}
smtpgw_cpu() {
    local busy
    read -r busy _ < <(smtpgw_cycles)
    $PY -c 'import sys; print("%.6f" % (int(sys.argv[1]) / int(sys.argv[2])))' "$busy" "$SMTPGW_TSC_HZ"
}
stop_smtpgw() {
    kill -TERM "$SMTPGW_PID" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$SMTPGW_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SMTPGW_PID" 2>/dev/null || true # already gone after TERM: fine
    wait "$SMTPGW_PID" 2>/dev/null || true
    SMTPGW_PID=""
}
scenario_smtpgw() {
    if [[ $SMTPGW_SMTP_READY != 1 ]]; then
        log "smtp_baselines: smtpgw (a): not measured: the SMTP engine is not in yet (issue 5; see scenario_smtpgw)"
        return 0
    fi
    [[ -x $SMTPGW_BIN ]] || die "no gateway binary at $SMTPGW_BIN: scripts/build release"
    gw_mode bare # smtpgw's DPDK owns b-gw-wan/b-gw-lan, the namespace's kernel has no address there
    bench_board >"$STATE/bench.board.conf"
    "$SMTPGW_BIN" --board "$STATE/bench.board.conf" --check >/dev/null || die "bench board refused"
    ip netns exec $NS_GW "$SMTPGW_BIN" --board "$STATE/bench.board.conf" >"$STATE/smtpgw.log" 2>&1 </dev/null &
    SMTPGW_PID=$!
    wait_banner $NS_WAN $GW_WAN 25 smtpgw || { tail -20 "$STATE/smtpgw.log" >&2; die "smtpgw did not answer"; }
    smtpgw_tsc_hz
    measure "smtpgw (a)" $GW_WAN smtpgw_cpu
    R_NOTE["smtpgw (a)"]="smtpgw on af_packet in $NS_GW (board $STATE/bench.board.conf)"
    "$SMTPGW_CLI" -s "$SMTPGW_SOCK" show stats >"$STATE/smtpgw.stats" 2>&1 || true
    stop_smtpgw
}
# ================================================================================

# --- --check-postfix: the three roles of scripts/lab-postfix, end to end -------------
check_postfix() {
    gw_mode host
    local pf=(env "LAB_POSTFIX_STATE_DIR=$STATE" "$LAB_POSTFIX")
    "${pf[@]}" start lan --netns $NS_LAN
    "${pf[@]}" start gw --netns $NS_GW
    "${pf[@]}" start wan --netns $NS_WAN
    local mail=$STATE/postfix-lan/mail
    # 1) straight to the LAN server, 2) the wan MTA -> Postfix gateway -> LAN server.
    # (Sent from smtpgw-bgw, the one namespace that reaches both sides.)
    local rc=0
    in_ns $NS_GW $PY - "$mail" "$SINK" "$CLIENT" <<'EOF' || rc=$?
import glob, os, random, smtplib, sys, time
mail, lan, wan = sys.argv[1:]
random.seed(5)
def message(tag):
    lines = [b"Subject: lab-postfix check " + tag, b"From: <a@example.org>", b"To: <x@example.com>", b""]
    for _ in range(200):
        lines.append(bytes(random.choice(b".abc XYZ\t\xc3\xa9") for _ in range(random.randint(0, 998))))
    lines += [b".", b"..", b". x", b""]
    return b"\r\n".join(lines) + b"\r\n"
def wait_file(tag, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for f in glob.glob(os.path.join(mail, "*.eml")):
            data = open(f, "rb").read()
            if b"Subject: lab-postfix check " + tag + b"\r\n" in data:
                return f, data
        time.sleep(0.2)
    sys.exit("FAIL: %s never reached the LAN server's mail folder" % tag.decode())
ok = True
for tag, server, exact in ((b"direct", lan, True), (b"chain", wan, False)):
    msg = message(tag)
    s = smtplib.SMTP(server, 25, timeout=30)
    s.sendmail("a@example.org", ["x@example.com", "y@example.com"], msg)
    s.quit()
    f, got = wait_file(tag)
    body_ok = got.split(b"\r\n\r\n", 1)[1] == msg.split(b"\r\n\r\n", 1)[1]
    whole_ok = got == msg
    print("%-7s via %-13s -> %s: body byte-exact %s, whole DATA byte-exact %s" % (
        tag.decode(), server, os.path.basename(f), body_ok, whole_ok))
    ok &= body_ok and (whole_ok or not exact)
# The LAN server and the gateway refuse foreign domains.
for server in (lan, "203.0.113.1"):
    s = smtplib.SMTP(server, 25, timeout=30)
    s.ehlo("check.example.org"); s.mail("a@example.org")
    code, reply = s.rcpt("x@example.net")
    s.quit()
    print("RCPT x@example.net at %-13s -> %d %s" % (server, code, reply.decode()))
    ok &= code == 554
sys.exit(0 if ok else 1)
EOF
    "${pf[@]}" status
    # Nothing may listen in the root namespace.
    if ss -ltnH | grep -E ':25\b' >/dev/null; then log "FAIL: something listens on port 25 in the root namespace"; rc=1; fi
    ((rc == 0)) && log "smtp_baselines: lab-postfix roles lan, gw, wan: OK" || die "lab-postfix check failed"
}

# --- the run ----------------------------------------------------------------------
topology_up
if ((CHECK_POSTFIX)); then
    check_postfix
    exit 0
fi
start_sink
want() { ((${#ONLY[@]} == 0)) || [[ " ${ONLY[*]} " == *" $1 "* ]]; }
t_start=$SECONDS
want ideal && scenario_ideal
want postfix && scenario_postfix
want smtpgw && scenario_smtpgw

# --- the table ----------------------------------------------------------------------
base="ideal (c)"
added() { # NAME KEY
    local v=$2
    if [[ -n ${R_P50[$base]:-} && $1 != "$base" ]]; then
        if [[ $v == p50 ]]; then $PY -c "print('%+.2f' % (${R_P50[$1]} - ${R_P50[$base]}))"
        else $PY -c "print('%+.2f' % (${R_P99[$1]} - ${R_P99[$base]}))"; fi
    else echo "-"; fi
}
fmt='%-12s %8s %7s %6s %11s | %7s %7s %7s %7s %9s | %7s %7s %7s %7s\n'
echo
echo "SMTP baselines: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ); smtp-source -l $LENGTH,"
echo "one message per connection, $SESSIONS sessions; sink smtp-sink; medians of $ROUNDS rounds; $((SECONDS - t_start)) s"
printf "$fmt" scenario msgs seconds msg/s "msg/s range" "p50" "p99" "+p50" "+p99" "lat msg/s" "gw CPU" "all CPU" "gen CPU" "sink CPU"
printf "$fmt" "" "" "" "" "" ms ms ms ms "" ms/msg ms/msg ms/msg ms/msg
for n in "${SCENARIOS[@]}"; do
    printf "$fmt" "$n" "${R_MSGS[$n]}" "${R_SECS[$n]}" "${R_RATE[$n]}" "${R_RANGE[$n]}" \
        "${R_P50[$n]}" "${R_P99[$n]}" "$(added "$n" p50)" "$(added "$n" p99)" "${R_LRATE[$n]}" \
        "${R_GWCPU[$n]}" "${R_ALLCPU[$n]}" "${R_GENCPU[$n]}" "${R_SINKCPU[$n]}"
done
if want smtpgw && [[ $SMTPGW_SMTP_READY != 1 ]]; then
    printf '%-12s %s\n' "smtpgw (a)" "not measured yet: the SMTP engine is not in (issue 5)"
fi
echo
echo "msgs: rounds x messages per pass. seconds, msg/s, CPU: the smtp-source pass. p50/p99: the latency pass"
echo "(tests/bench/smtp_bench.py latency: the same message bytes, one message per connection, the same sessions),"
echo "connect() to the 250 after \".\"; +p50/+p99: minus the ideal wire's; lat msg/s: that pass's own rate."
echo "gw CPU: the gateway's processes (Postfix: master and all its children); all CPU: the whole machine"
echo "(/proc/stat: generator, sink, kernel, and whatever else runs on it); gen/sink CPU: smtp-source, smtp-sink."
echo
echo "per round:"
for n in "${SCENARIOS[@]}"; do echo "  $n: ${R_ROUNDS[$n]}"; done
echo
echo "reproduce: tests/bench/smtp_baselines.sh --messages $MESSAGES --sessions $SESSIONS --rounds $ROUNDS [--only ideal|postfix|smtpgw]"
for n in "${SCENARIOS[@]}"; do
    echo "$n: ${R_NOTE[$n]}"
    echo "    load:    ${R_CMD[$n]}"
    echo "    latency: ${R_LCMD[$n]}"
done
echo "    sink:    ip netns exec $NS_LAN smtp-sink -u postfix -c $SINK:25 1024"
