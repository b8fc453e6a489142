#!/usr/bin/python3
"""Lab soak (issue 10): a mixed load under injected faults, then the books.

    tests/lab/soak.py [--minutes M]     (scripts/soak M brings the lab up first)

For M minutes (SMTPGW_SOAK_MINUTES, default 3), eight senders in smtpgw-wan
(tests/lab/soak_load.py) send clean mail of many sizes, STARTTLS sessions,
PIPELINING and BDAT sessions, the EICAR file, smuggling attempts and relay
probes, while:
  * both gateway ports lose 5% of frames and reorder 5% (`set fault`);
  * the LAN mail server is stopped and started again every 90 s;
  * the peer list, the content rules and the antivirus database are
    reloaded every minute;
  * every minute, a SYN flood from spoofed sources of 198.18.0.0/15
    (tests/lab/soak_flood.py, at most 20,000 SYNs in 10 s).
Then it checks, and exits non-zero if any fails:
  1. every message that got a 250 is in the LAN server's store exactly
     once, byte-exact (behind the gateway's own trace headers);
  2. nothing refused reached the LAN server: no virus, no relay probe, no
     smuggled second message;
  3. the daemon never restarted (same pid, uptime only grew);
  4. memory shows no growth trend: the daemon's RSS, jemalloc's allocated
     bytes, the DPDK heap and the mbufs in use, sampled every 10 s; the last
     third's peak within 10% (plus 16 MB for RSS) of the middle third's;
  5. the counters add up: the gateway's messages_sent equals the LAN
     server's new messages, every client 250 is among them, and
     sent + rejected + deferred + aborted account for every transaction the
     clients saw answered at the end of data;
  6. during the SYN floods, at least 99% of the senders' sessions completed.
Every figure is printed; bounded in time (M minutes plus at most 3 minutes
of settling) and in packets."""
import argparse
import collections
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import labtool

STATE = "/run/smtpgw-lab"
MAILDIR = os.path.join(STATE, "lan-mail")
SOURCES = [f"198.18.200.{i}" for i in range(1, 9)]
LIST_FILE = os.path.join(STATE, "soak-blacklist.txt")


def log(msg):
    print(f"soak {time.strftime('%H:%M:%S')}: {msg}", flush=True)


def smtp_totals():
    out = labtool.cli("show", "smtp").stdout
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^\s+(messages_\w+|refusals)\s+(\d+)", out, re.M)}


def daemon_pid():
    with open(os.path.join(STATE, "smtpgw.pid")) as f:
        return int(f.read())


def uptime_s():
    m = re.search(r"uptime\s+(\d+) s", labtool.cli("show", "status").stdout)
    return int(m.group(1))


def memory_sample(pid):
    sample = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                sample["rss_kb"] = int(line.split()[1])
    out = labtool.cli("show", "memory").stdout
    for key, pattern in (("jemalloc_allocated", r"jemalloc allocated\s+(\d+)"),
                         ("dpdk_heap_allocated", r"dpdk heap allocated\s+(\d+)"),
                         ("mbufs_in_use", r"mbufs in use\s+(\d+)")):
        m = re.search(pattern, out)
        if m:
            sample[key] = int(m.group(1))
    return sample


def lan_files():
    return set(glob.glob(os.path.join(MAILDIR, "*.eml")))


def original_part(data):
    """The message as the sender sent it: from its first own header on;
    whatever precedes must be the gateway's trace headers."""
    i = data.find(b"Message-ID: <")
    j = data.find(b"X-Soak-Id: ")
    start = min(x for x in (i, j) if x >= 0) if max(i, j) >= 0 else -1
    if start < 0:
        return None, None
    prefix = data[:start]
    names = re.findall(rb"^([!-9;-~]+):", prefix, re.M)
    return data[start:], [n.decode() for n in names]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float,
                    default=float(os.environ.get("SMTPGW_SOAK_MINUTES", "3")))
    a = ap.parse_args()
    seconds = a.minutes * 60
    failures = []

    def check(ok, what):
        log(("ok: " if ok else "FAILED: ") + what)
        if not ok:
            failures.append(what)

    # Set-up: source addresses for the senders, a peer list to reload.
    for s in SOURCES:
        labtool.lab_exec("wan", ["ip", "addr", "replace", s + "/32", "dev", "lo"])
    with open(LIST_FILE, "w") as f:
        f.write("# soak: reloaded every minute\n198.18.99.0/24\n2001:db8:bad:99::/64\n")
    labtool.cli("peer-filter", "load", LIST_FILE)
    gw_mac = labtool.port_mac("wan")
    pid = daemon_pid()
    up0 = uptime_s()
    totals0 = smtp_totals()
    before = lan_files()
    samples = []
    out_file = os.path.join(STATE, "soak-outcomes.jsonl")
    log(f"{a.minutes:g} minutes, {len(SOURCES)} senders, faults on both ports")
    labtool.cli("set", "fault", "wan", "loss=5,reorder=5")
    labtool.cli("set", "fault", "lan", "loss=5,reorder=5")
    load = subprocess.Popen(
        [labtool.LAB, "exec", "wan", labtool.PY, os.path.join(os.path.dirname(__file__),
                                                              "soak_load.py"),
         "--seconds", str(seconds), "--sources", ",".join(SOURCES), "--out", out_file],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.time()
    floods = []  # (start, end)
    events = collections.Counter()
    next_reload, next_lan, next_flood, next_sample = t0 + 60, t0 + 90, t0 + 20, t0
    flood = None
    try:
        while load.poll() is None and time.time() < t0 + seconds + 180:
            now = time.time()
            if now >= next_sample:
                samples.append(memory_sample(pid))
                next_sample += 10
            if now >= next_reload:
                labtool.cli("peer-filter", "load", LIST_FILE)
                labtool.cli("rules", "reload")
                labtool.cli("av", "reload")
                events["reloads"] += 1
                next_reload += 60
            if now >= next_lan and now < t0 + seconds - 10:
                labtool.run([labtool.LAB, "lan-server", "stop"])
                time.sleep(1)
                labtool.run([labtool.LAB, "lan-server", "start"])
                events["lan_restarts"] += 1
                next_lan += 90
            if flood is None and now >= next_flood and now < t0 + seconds - 15:
                flood = subprocess.Popen(
                    [labtool.LAB, "exec", "wan", labtool.PY,
                     os.path.join(os.path.dirname(__file__), "soak_flood.py"), "--gw-mac", gw_mac,
                     "--count", "20000", "--seconds", "10", "--seed", str(len(floods) + 1),
                     "--avoid", ",".join(SOURCES)],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                floods.append([now, None])
                next_flood += 60
            if flood is not None and flood.poll() is not None:
                floods[-1][1] = time.time()
                log(flood.stdout.read().strip())
                flood = None
            time.sleep(0.5)
    finally:
        if flood is not None:
            flood.wait(30)
            floods[-1][1] = time.time()
        load.wait(300)
        labtool.cli("set", "fault", "wan", "off")
        labtool.cli("set", "fault", "lan", "off")
    load_out = load.stdout.read()
    if load.returncode != 0:
        failures.append(f"the load exited {load.returncode}: {load_out[-2000:]}")
    # Settle: the last messages reach the LAN server.
    labtool.wait_for(lambda: re.search(r"^1\s+0\s", labtool.cli("show", "smtp").stdout, re.M),
                     120)
    time.sleep(2)
    samples.append(memory_sample(pid))

    with open(out_file) as f:
        outcomes = [json.loads(line) for line in f]
    by_kind = collections.Counter((o["kind"], o["code"]) for o in outcomes)
    log(f"{len(outcomes)} transactions in {seconds:.0f} s; {dict(events)}; "
        f"{len(floods)} SYN floods")
    for (kind, code), n in sorted(by_kind.items()):
        log(f"  {kind:<10} {code:>3}: {n}")

    # 1 and 2: the LAN server's store against what the senders were told.
    new = sorted(lan_files() - before)
    store = collections.defaultdict(list)
    bad_prefix = []
    for path in new:
        with open(path, "rb") as f:
            data = f.read()
        for sid in re.findall(rb"^X-Soak-Id: (\S+)", data, re.M):
            store[sid.decode()].append(data)
    accepted = [o for o in outcomes if o["code"] == 250 and o["kind"] != "relay"]
    missing, duplicated, altered = [], [], []
    for o in accepted:
        copies = store.get(o["id"], [])
        if len(copies) == 0:
            missing.append(o["id"])
        elif len(copies) > 1:
            duplicated.append(o["id"])
        elif o["sha256"]:
            body, headers = original_part(copies[0])
            if body is None or hashlib.sha256(body).hexdigest() != o["sha256"]:
                altered.append(o["id"])
            elif any(h not in ("Received", "X-Smtpgw-Verdict") for h in headers):
                bad_prefix.append((o["id"], headers))
    check(not missing, f"every 250 is in the LAN store ({len(accepted)} messages; missing "
                       f"{missing[:5]})")
    check(not duplicated, f"exactly once (duplicated: {duplicated[:5]})")
    check(not altered and not bad_prefix,
          f"byte-exact behind the gateway's trace headers (altered {altered[:5]}, "
          f"other headers {bad_prefix[:3]})")
    refused = {o["id"] for o in outcomes if o["code"] >= 500 or o["kind"] == "relay"}
    leaked = [sid for sid in store if sid in refused or sid.startswith("smuggled-")]
    check(not leaked, f"nothing refused or smuggled reached the LAN server (leaked {leaked[:5]})")
    viruses = [o for o in outcomes if o["kind"] == "virus"]
    check(all(o["code"] != 250 for o in viruses),
          f"no virus got 250 ({len(viruses)} sent)")
    relay = [o for o in outcomes if o["kind"] == "relay"]
    check(all(o["code"] in (550, 554) for o in relay if o["code"]),
          f"every relay probe refused at RCPT ({len(relay)} probes)")

    # 3: the daemon never restarted.
    check(daemon_pid() == pid and uptime_s() >= up0 + int(seconds) - 5,
          f"the daemon never restarted (pid {pid})")

    # 4: memory has no growth trend.
    third = max(1, len(samples) // 3)
    middle, last = samples[third:2 * third], samples[2 * third:]
    for key, slack in (("rss_kb", 16 * 1024), ("jemalloc_allocated", 16 << 20),
                       ("dpdk_heap_allocated", 4 << 20), ("mbufs_in_use", 256)):
        mid = max((s.get(key, 0) for s in middle), default=0)
        end = max((s.get(key, 0) for s in last), default=0)
        series = [s.get(key, 0) for s in samples]
        check(end <= mid * 1.10 + slack,
              f"no growth of {key}: middle third peak {mid}, last third peak {end} "
              f"(first {series[0]}, final {series[-1]})")
    final = samples[-1]
    check(final.get("mbufs_in_use", 0) <= 64, f"mbufs back in the pool ({final})")

    # 5: the counters add up.
    totals = smtp_totals()
    delta = {k: totals.get(k, 0) - totals0.get(k, 0) for k in totals}
    log(f"gateway counters: {delta}; LAN server: {len(new)} new messages")
    check(delta.get("messages_sent", 0) == len(new),
          f"messages_sent {delta.get('messages_sent')} = LAN server's new messages {len(new)}")
    answered_at_end = [o for o in outcomes if o["phase"] == "data" and o["code"]]
    gateway_ends = sum(delta.get(k, 0) for k in ("messages_sent", "messages_rejected",
                                                  "messages_deferred", "messages_aborted"))
    check(gateway_ends >= len(answered_at_end) and len(accepted) <= delta.get("messages_sent", 0),
          f"sent + rejected + deferred + aborted = {gateway_ends} account for the "
          f"{len(answered_at_end)} transactions answered at the end of data, and the "
          f"{len(accepted)} client 250s are among the {delta.get('messages_sent')} sent")

    # 6: sessions during the floods.
    during = [o for o in outcomes
              if any(f0 <= o["t0"] <= (f1 or f0 + 10) for f0, f1 in floods)]
    done = [o for o in during if o["code"] != 0]
    ratio = len(done) / len(during) if during else 1.0
    check(not floods or (during and ratio >= 0.99),
          f"{len(done)} of {len(during)} sessions begun during the SYN floods completed "
          f"({100 * ratio:.1f}%, need 99%)")

    if failures:
        log(f"{len(failures)} check(s) failed")
        sys.exit(1)
    log("all checks passed")


if __name__ == "__main__":
    main()
