"""Helpers for the lab integration tests (tests/lab/*_test.py).

Tests run as root from the root namespace; every client runs inside a lab
namespace through `scripts/lab exec`, so traffic never leaves the lab.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SMTPGW_BUILD", os.path.join(ROOT, "build", "release"))
LAB = os.path.join(ROOT, "scripts", "lab")
CLI = os.path.join(BUILD, "controlplane", "smtpgw-cli")
PY = "/usr/bin/python3"


def run(args, check=True, timeout=120, **kw):
    """Runs args, output captured; with check, a failure raises with its output
    (a bare CalledProcessError would hide why a helper script refused)."""
    env = dict(os.environ, SMTPGW_BUILD=BUILD)
    r = subprocess.run(args, check=False, timeout=timeout, capture_output=True, text=True,
                       env=env, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}\n"
                             f"stdout: {r.stdout[-4000:]}\nstderr: {r.stderr[-4000:]}")
    return r


def lab_exec(where, args, **kw):
    return run([LAB, "exec", where] + list(args), **kw)


def cli(*words, check=True):
    r = run([CLI] + list(words), check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"smtpgw-cli {' '.join(words)} failed ({r.returncode}): {r.stderr}")
    return r


def drop_counters():
    """{reason: count} for every drop reason, from `show stats all`."""
    out = cli("show", "stats", "all").stdout
    counters = {}
    for line in out.splitlines():
        m = re.match(r"^\s+([a-z0-9_]+)\s+(info|warn|error)\s+(\d+)\s", line)
        if m:
            counters[m.group(1)] = int(m.group(3))
    if not counters:
        raise AssertionError("no drop counters in `show stats all`:\n" + out)
    return counters


def port_mac(role):
    out = cli("show", "interfaces").stdout
    current = None
    for line in out.splitlines():
        if line.startswith(role + " "):
            current = role
        elif line and not line.startswith(" "):
            current = None
        m = re.match(r"^\s+mac\s+([0-9a-f:]{17})", line)
        if m and current == role:
            return m.group(1)
    raise AssertionError(f"no MAC for port {role} in:\n{out}")


def ping(where, address, count=3, interval=None):
    args = ["ping", "-n", "-c", str(count), "-W", "2"]
    if interval:
        args += ["-i", str(interval)]
    return lab_exec(where, args + [address], check=False, timeout=60)


def ping_loss(output):
    m = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    if not m:
        raise AssertionError("unparseable ping output:\n" + output)
    return int(m.group(1)) - int(m.group(2))


def tcp_status():
    """(gauges, events) from `show tcp`: gauges summed over the lcore rows
    {connections, half_open, time_wait, cookies, steered}; events {name: count}."""
    out = cli("show", "tcp").stdout
    gauges, events = None, {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(on|off)\s+(\d+)\s*$", line)
        if m:
            row = {"connections": int(m.group(2)), "half_open": int(m.group(3)),
                   "time_wait": int(m.group(4)), "cookies": m.group(5) == "on",
                   "steered": int(m.group(6))}
            if gauges is None:
                gauges = row
            else:  # several lcores: sum the gauges, any lcore in cookie mode counts
                for k in ("connections", "half_open", "time_wait", "steered"):
                    gauges[k] += row[k]
                gauges["cookies"] = gauges["cookies"] or row["cookies"]
        m = re.match(r"^\s+([a-z0-9_]+)\s+(info|warn|error)\s+(\d+)\s", line)
        if m:
            events[m.group(1)] = int(m.group(3))
    if gauges is None:
        raise AssertionError("no lcore row in `show tcp`:\n" + out)
    return gauges, events


def tcp_events():
    return tcp_status()[1]


def tcp_gauges():
    return tcp_status()[0]


def proc_status(pid):
    """/proc/PID/status as a dict of field -> text (Uid, CapEff, Seccomp, ...)."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def wait_for(predicate, timeout, interval=0.2):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def peer(where, *args, timeout=300):
    """Runs tests/lab/tcp_peer.py in a namespace; returns its JSON result."""
    import json
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_peer.py")
    r = lab_exec(where, [PY, script] + [str(a) for a in args], timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"tcp_peer {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def crafted(*args, timeout=120):
    """Runs tests/lab/tcp_crafted.py (scapy) in the WAN namespace; returns its JSON result."""
    import json
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_crafted.py")
    r = lab_exec("wan", [PY, script] + [str(a) for a in args], timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"tcp_crafted {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# The trace line the gateway puts on top of every message it relays
# (RFC 5321 4.4; smtp/smtp_proxy.h received_header).
RECEIVED = re.compile(
    rb"Received: from (?P<helo>[^ \r]+) \((?P<client>\[[^\]]+\])\)\r\n"
    rb"\tby mx\.example\.com \(smtpgw\) with (?P<with>ESMTPS?)\r\n"
    rb"(?:\t\(using (?P<tls>[^)]*)\)\r\n)?"
    rb"\tid (?P<id>[0-9A-Za-z.]+)(?:\r\n\tfor <(?P<rcpt>[^>]*)>)?; "
    rb"(?P<date>[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000)\r\n")


def split_received(data):
    """(match, rest): the gateway's Received: header at the top of `data`
    (AssertionError when missing) and the message as the sender sent it."""
    m = RECEIVED.match(data)
    if not m:
        raise AssertionError(f"no smtpgw Received: header on top of: {data[:300]!r}")
    return m, data[m.end():]
